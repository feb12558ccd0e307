"""Length-bucketed batching: sort texts by token length and cut batches under a token budget.

Padding is the main waste when translating short captions of mixed length; sorting first makes every batch
nearly rectangular, and the token budget bounds memory for long outliers.
"""

from __future__ import annotations

from collections.abc import Sequence


def length_batches(
    lengths: Sequence[int], max_tokens: int, max_size: int, groups: Sequence[int] | None = None
) -> list[list[int]]:
    """Indices of ``lengths`` grouped into batches of similar length.

    A batch holds at most ``max_size`` items and at most ``max_tokens`` padded tokens (items x longest length);
    a single item longer than the budget still gets its own batch. Every index appears exactly once.

    Args:
        lengths: token length of each item.
        max_tokens: padded-token budget per batch.
        max_size: most items per batch.
        groups: optional group of each item (e.g. its output-length budget); groups never share a batch, so a
            text's translation never depends on which other texts it was batched with.
    """
    if max_tokens < 1 or max_size < 1:
        raise ValueError(f"max_tokens and max_size must be >= 1, got {max_tokens}, {max_size}")
    group = groups if groups is not None else [0] * len(lengths)
    order = sorted(range(len(lengths)), key=lambda i: (group[i], lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = max(lengths[i], 1)  # sorted ascending: the new item is the longest so far
        full = len(current) + 1 > max_size or (len(current) + 1) * longest > max_tokens
        if current and (full or group[current[-1]] != group[i]):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
