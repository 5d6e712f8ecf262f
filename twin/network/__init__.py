"""Scale-out network fabric: topology, traffic, ECMP routing, max-min rates, failures and power.

Public API (docs/architecture.md):
    fabric_power(model, optics=None) -> dict      # switch_power_w, power_w_by_pod, total_w, breakdown
    solve_network(model, *, traffic="allreduce", failed=(), optics=None) -> NetworkResult
Closed-form sizing (used by twin.model) is in ``twin.network.sizing``.

The public names are imported on first access (PEP 562 module ``__getattr__``): ``twin.model`` imports
``twin.network.sizing`` while compiling a layout, and that must not load the solver and scipy.sparse.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.network.power import fabric_power
    from twin.network.solver import NetworkResult, solve_network

__all__ = ["NetworkResult", "fabric_power", "solve_network"]

_LAZY = {
    "fabric_power": "twin.network.power",
    "NetworkResult": "twin.network.solver",
    "solve_network": "twin.network.solver",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
