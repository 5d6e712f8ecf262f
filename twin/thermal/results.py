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
    """Time series of a transient scenario on one hall (``twin.thermal.transient.simulate_transient``).

    series: one row per output time: hall totals (it_power_w as run, gpu_power_w, gpu_power_throttled_w taken
    away by throttling, gpu_power_shut_down_w and other_power_shut_down_w of racks shut down, liquid / air heat,
    heat_to_fws_w, pump_power_w), hottest GPU (max_junction_c, min_margin_k, hottest_rack), max_rack_outlet_c and
    max_coolant_c (racks and loop volumes), rack counts (racks_over_throttle, racks_throttling, racks_shut_down)
    and the energy counters (energy_in_j = energy_removed_j + energy_stored_j + energy_balance_residual_j).
    res_loops_ts: long table (time_s, loop, name, t_supply_c, t_return_c, flow_m3_s, pump_power_w, heat_to_fws_w).
    res_racks_final: one row per rack of the hall: final outlet, flow, junction and margin, peak junction,
    GPU power (final, minimum, command), time_to_throttle_s and time_to_shutdown_s after the event (inf: not
    reached) and shut_down (a GPU reached t_shutdown_c: the whole rack, GPUs and other power, is off, latched).
    kpis: ride_through_s (event to the first GPU at its throttle limit; None if never reached),
    time_to_shutdown_s (None if no rack shut down), racks_throttled (+ _initially), racks_shut_down,
    it_power_shut_down_mw, peak_gpu_power_throttled_mw, peak_junction_c, peak_coolant_c, initial / minimum / final
    margins, energy in / removed / stored (MJ), energy_balance_rel_error, solver statistics and a note.
    """

    scenario: str
    series: pd.DataFrame
    res_loops_ts: pd.DataFrame
    kpis: dict
    res_racks_final: pd.DataFrame = field(default_factory=pd.DataFrame)
