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

    Attributes
    ----------
    res_nodes : DataFrame
        One row per ``model.elec`` node (same index): name, kind, units, units_in_service, powered,
        power_in_w, loss_w, feeder_loss_w, loading_pct, feeder_loading_pct, voltage_pu, current_a,
        conductor_temp_c.
    res_racks : DataFrame
        One row per rack (same index as ``model.racks``): rack_power_w (IT power at 54 VDC),
        input_power_w and input_reactive_power_var at the busway tap, conversion_loss_w,
        conversion_load_pct, voltage_v, voltage_pu, busway_drop_pct, powered.
    kpis : dict
        facility_power_mw (drawn from the grid), grid_limit_mw, it_power_mw (racks), network_power_mw
        (switches fed on the busways), cooling_power_mw (pumps, fans, chillers), electrical_loss_mw,
        electrical_loss_pct (of facility power), losses_mw_by_stage, losses_pct_by_stage (``STAGES``),
        efficiency_it_pct, balance_error_w, converged, iterations, min_rack_voltage_pu, racks_unpowered,
        electrical_violations (count), violations (list of dicts: component, kind, value, limit, message).
        The same names as the coupled solve's KPIs for the same quantities.
    grid_power_w : float
        Power drawn from the utility, W (``kpis["facility_power_mw"]`` in W).
    violations : list of dict
        As ``kpis["violations"]``.
    """

    res_nodes: pd.DataFrame
    res_racks: pd.DataFrame
    kpis: dict
    grid_power_w: float
    violations: list[dict] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return bool(self.kpis["converged"])
