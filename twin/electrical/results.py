"""Result containers of the electrical solver."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# stage keys of ``kpis["losses_mw_by_stage"]``, from the rack up to the grid
STAGES = (
    "rack_conversion",  # rack power shelves (AC -> 54 VDC) or rack DC/DC (800 -> 54 VDC)
    "busways",  # LV AC busways / 800 VDC busducts (I^2 R)
    "ups",  # double-conversion UPS (AC)
    "lv_transformers",  # MV/LV unit-substation transformers (AC blocks)
    "rectifiers",  # MV rectifiers / solid-state transformers (800 VDC blocks)
    "mv_feeders",  # MV cables from the substation to each block (I^2 R)
    "mech_transformers",  # transformers feeding pumps, fans, chillers
    "substation",  # HV/MV substation transformers
)


@dataclass
class ElectricalResult:
    """Tables and KPIs of one electrical solve.

    res_nodes: one row per ``model.elec`` node (same index): units in service, power in / out, losses,
      loading %, voltage, conductor current and temperature, powered.
    res_racks: one row per rack (same index as ``model.racks``): IT power, input power at the busway tap,
      conversion loss, voltage (V and per unit of nominal), drop along the busway %, powered.
    kpis: grid_power_mw, it_power_mw, mech_power_mw, extra_it_power_mw, loss_mw, loss_pct,
      losses_mw_by_stage, losses_pct_by_stage, efficiency_it_pct, converged, iterations, violations (list of
      dicts: component, kind, value, limit, message), n_violations, racks_unpowered, min_rack_voltage_pu.
    grid_power_w: power drawn from the utility, W.
    """

    res_nodes: pd.DataFrame
    res_racks: pd.DataFrame
    kpis: dict
    grid_power_w: float
    violations: list[dict] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return bool(self.kpis["converged"])
