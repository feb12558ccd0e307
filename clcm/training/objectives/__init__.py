"""Training objectives, one module per method, resolved lazily by registry name (see base.py for the interface)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from clcm.errors import UsageError

if TYPE_CHECKING:
    from clcm.training.objectives.base import BuildContext, Objective

OBJECTIVES: dict[str, str] = {
    "baseline": "clcm.training.objectives.baseline:BaselineObjective",
    "nrccr": "clcm.training.objectives.nrccr:NRCCRObjective",
    "cl2cm": "clcm.training.objectives.cl2cm:CL2CMObjective",
    "nrf": "clcm.training.objectives.nrf:NRFObjective",
}


def objective_class(name: str) -> type[Objective]:
    """The Objective class registered as ``name``; a clear UsageError when unknown or not importable."""
    if name not in OBJECTIVES:
        raise UsageError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}")
    module_name, _, cls_name = OBJECTIVES[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise UsageError(f"objective {name!r} is registered but not available yet ({module_name} is missing)") from exc
    return getattr(module, cls_name)


def build_objective(name: str, ctx: BuildContext) -> Objective:
    """Instantiate the objective ``name`` with its build context."""
    return objective_class(name)(ctx)
