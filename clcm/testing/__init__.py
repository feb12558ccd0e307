"""Builders of tiny random models (offline) for tests, the README quickstart and benchmarks."""

from __future__ import annotations
