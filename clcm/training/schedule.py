"""NRCCR's learning-rate schedule and early stopping (methods.md §1.4), as a small state machine.

After every epoch: lr *= decay. If the epoch did not improve the validation metric: ``no_impr`` += 1 (stop when it
exceeds ``patience``) and, when ``lr_counter > halve_after``, lr *= 0.5 and the counter resets. ``lr_counter``
increments every epoch and resets only on a halving.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class Schedule:
    lr: float
    decay: float = 0.99
    halve_after: int = 2
    patience: int = 10
    best: float = -math.inf
    lr_counter: int = 0
    no_impr: int = 0
    halvings: int = 0

    def end_epoch(self, metric: float | None) -> tuple[bool, bool]:
        """Update after an epoch with its validation metric (None = no validation: every epoch counts as best).

        Returns:
            (is_best, stop).
        """
        is_best = metric is None or metric > self.best
        if metric is not None:
            self.best = max(self.best, metric)
        self.lr_counter += 1
        self.lr *= self.decay
        stop = False
        if is_best:
            self.no_impr = 0
        else:
            self.no_impr += 1
            stop = self.no_impr > self.patience
            if self.lr_counter > self.halve_after:
                self.lr *= 0.5
                self.halvings += 1
                self.lr_counter = 0
        return is_best, stop

    def state_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
