"""Scale-out network fabric: topology, traffic, ECMP routing, max-min rates, failures and power.

Public API (docs/architecture.md):
    fabric_power(model, optics=None) -> dict      # switch_power_w, power_w_by_pod, total_w, breakdown
    solve_network(model, *, traffic="allreduce", failed=(), optics=None) -> NetworkResult
Closed-form sizing (used by twin.model) is in ``twin.network.sizing``.
"""

from twin.network.power import fabric_power
from twin.network.solver import NetworkResult, solve_network

__all__ = ["NetworkResult", "fabric_power", "solve_network"]
