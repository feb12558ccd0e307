"""`clcm-data score` and `filter`: noise scores for every pair, and explainable selection."""

from __future__ import annotations

from clcm.cli.common import not_built


def score_cmd() -> None:
    """Score pair shards for translation noise (one score_<name> column per scorer + noise_score)."""
    not_built("clcm-data score", "issue 4")


def filter_cmd() -> None:
    """Select pairs from scored shards by threshold/keep-fraction/rules; write kept, dropped, report and plots."""
    not_built("clcm-data filter", "issue 4")
