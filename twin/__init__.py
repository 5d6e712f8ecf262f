"""AI-factory digital twin: facility layouts, equipment catalog and the compiled facility model.

Data flows one way: layout YAML -> validated schema -> compiled arrays (:class:`twin.model.FacilityModel`)
-> solvers -> result tables.

``FacilityModel``, ``compile_layout`` and ``load_model`` are imported on first access (PEP 562 module
``__getattr__``), so ``import twin`` (and ``twin --help``) does not load pandas, pydantic and the catalog.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from twin.errors import InputError, LayoutError, Problem

if TYPE_CHECKING:
    from twin.model import FacilityModel, compile_layout, load_model
    from twin.result import RunResult
    from twin.runner import run, run_many
    from twin.scenario import Scenario

__all__ = [
    "FacilityModel",
    "InputError",
    "LayoutError",
    "Problem",
    "RunResult",
    "Scenario",
    "compile_layout",
    "load_model",
    "run",
    "run_many",
]
__version__ = "0.1.0"

_LAZY = {
    "FacilityModel": "twin.model",
    "compile_layout": "twin.model",
    "load_model": "twin.model",
    "Scenario": "twin.scenario",
    "run": "twin.runner",
    "run_many": "twin.runner",
    "RunResult": "twin.result",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
