"""Result containers of the thermal solver (tables ``res_*`` as pandas DataFrames, KPIs as a dict)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class ThermalResult:
    """Steady state of the whole facility.

    res_racks (one row per model rack, same index), res_loops (TCS loops), res_cdus (CDU units),
    res_heat_rejection (dry cooler / chiller units), res_halls, kpis, and mech_power_w_by_hall (n_halls,) W:
    TCS pumps + facility-water pumps + dry-cooler fans + chillers + air-side fans per hall.
    """

    res_racks: pd.DataFrame
    res_loops: pd.DataFrame
    res_cdus: pd.DataFrame
    res_heat_rejection: pd.DataFrame
    res_halls: pd.DataFrame
    kpis: dict
    mech_power_w_by_hall: np.ndarray
    converged: bool = True
    state: dict = field(default_factory=dict, repr=False)  # arrays the transient solver starts from


@dataclass
class TransientResult:
    """Time series of a transient scenario.

    series: one row per output time (hall totals, hottest GPU, margins); res_loops_ts: long table
    (time_s, loop, t_supply_c, t_return_c, flow_m3_s); kpis: ride_through_s (None if the throttle limit is never
    reached), peak junction, final margin, solver statistics.
    """

    scenario: str
    series: pd.DataFrame
    res_loops_ts: pd.DataFrame
    kpis: dict
    res_racks_final: pd.DataFrame = field(default_factory=pd.DataFrame)
