"""Learning-rate schedules and early stopping (methods.md §1.4, §2.2), as one small state machine per stage.

``policy="nrccr"`` (NRCCR's rule): after every epoch lr *= decay; if the epoch did not improve the validation
metric and ``lr_counter > halve_after``, lr *= 0.5 and the counter resets (``lr_counter`` increments every epoch
and resets only on a halving).

``policy="linear_warmup"`` (CL2CM): per optimizer step k = 1 … T of the stage, lr = base · k / W during the W
warm-up steps, then falls linearly, base · (T − k + 1) / (T − W + 1), to base / (T − W + 1) at the last step.
No per-epoch decay or halving.

Both: an epoch that does not improve increments ``no_impr``; training stops when it exceeds ``patience``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

POLICIES = ("nrccr", "linear_warmup")


@dataclass
class Schedule:
    lr: float
    decay: float = 0.99
    halve_after: int = 2
    patience: int = 10
    policy: str = "nrccr"
    total_steps: int = 0  # linear_warmup: optimizer steps in the stage
    warmup_steps: int = 0  # linear_warmup: of which warm-up
    steps: int = 0  # linear_warmup: steps taken so far
    best: float = -math.inf
    lr_counter: int = 0
    no_impr: int = 0
    halvings: int = 0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"schedule policy must be one of {POLICIES}, not {self.policy!r}")

    def next_step_lr(self) -> float:
        """The base lr of the next optimizer step (advances the step counter of ``linear_warmup``)."""
        if self.policy == "nrccr":
            return self.lr
        self.steps += 1
        k, warm, total = self.steps, self.warmup_steps, max(self.total_steps, self.steps)
        if k <= warm:
            return self.lr * k / warm
        return self.lr * (total - k + 1) / (total - warm + 1)

    def end_epoch(self, metric: float | None) -> tuple[bool, bool]:
        """Update after an epoch with its validation metric (None = no validation: every epoch counts as best).

        Returns:
            (is_best, stop).
        """
        is_best = metric is None or metric > self.best
        if metric is not None:
            self.best = max(self.best, metric)
        nrccr = self.policy == "nrccr"
        self.lr_counter += 1
        if nrccr:
            self.lr *= self.decay
        stop = False
        if is_best:
            self.no_impr = 0
        else:
            self.no_impr += 1
            stop = self.no_impr > self.patience
            if nrccr and self.lr_counter > self.halve_after:
                self.lr *= 0.5
                self.halvings += 1
                self.lr_counter = 0
        return is_best, stop

    def state_dict(self) -> dict[str, float | int | str]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, float | int | str]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
