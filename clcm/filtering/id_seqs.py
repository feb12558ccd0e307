"""Many short word-id sequences in one flat array (sentence ``i`` is ``ids[offsets[i]:offsets[i + 1]]``).

A corpus held as one small numpy array per sentence costs ~100 bytes of object overhead per sentence on top of its
ids, and its token lists of ``str`` ~60 bytes per word: at 29,000 caption pairs that was ~45 MB for a few MB of ids.
The fits build these directly from the texts, one text at a time, so no per-sentence object outlives its text.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IdSeqs:
    """Sequences of int32 ids, flat: ``offsets`` (int64, one more than there are sequences) bounds each."""

    ids: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, seqs: Sequence[Sequence[int] | np.ndarray]) -> IdSeqs:
        """From a list of sequences (tests, small inputs)."""
        lens = np.array([len(s) for s in seqs], dtype=np.int64)
        flat = np.concatenate([np.asarray(s, dtype=np.int32) for s in seqs]) if len(seqs) else np.zeros(0, np.int32)
        return cls(flat.astype(np.int32), np.concatenate(([0], np.cumsum(lens))).astype(np.int64))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def span(self, lo: int, hi: int) -> IdSeqs:
        """Sequences ``lo`` to ``hi - 1`` (views, no copy)."""
        return IdSeqs(self.ids[self.offsets[lo] : self.offsets[hi]], self.offsets[lo : hi + 1] - self.offsets[lo])

    def take(self, index: np.ndarray) -> IdSeqs:
        """The sequences at ``index``, in that order (a copy)."""
        lens = self.lengths()[index]
        starts = self.offsets[:-1][index]
        pos = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
        return IdSeqs(self.ids[pos], np.concatenate(([0], np.cumsum(lens))).astype(np.int64))


def as_flat(seqs: Sequence[np.ndarray] | IdSeqs) -> IdSeqs:
    """``seqs`` as :class:`IdSeqs` (as it is if it already is one)."""
    return seqs if isinstance(seqs, IdSeqs) else IdSeqs.of(seqs)


def encode(texts: Iterable[str], ids_of: Callable[[str], list[int]]) -> IdSeqs:
    """The :class:`IdSeqs` of ``ids_of(text)`` for each text, built text by text (nothing per text is kept)."""
    flat, lens = array("i"), array("q")
    for text in texts:
        ids = ids_of(text)
        flat.extend(ids)
        lens.append(len(ids))
    offsets = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(np.frombuffer(lens, dtype=np.int64), out=offsets[1:])
    return IdSeqs(np.frombuffer(flat, dtype=np.int32), offsets)
