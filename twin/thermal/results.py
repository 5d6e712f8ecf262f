"""Result containers of the thermal solver (tables ``res_*`` as pandas DataFrames, KPIs as a dict).

Column names carry their unit (``_w`` W, ``_c`` C, ``_k`` K, ``_m3_s`` m3/s, ``_kpa`` kPa, ``_s`` s) and each
quantity has one name in every table: ``rack_power_w``, ``coolant_supply_c`` / ``coolant_return_c`` (TCS coolant
into / out of a rack or loop), ``coolant_rise_k``, ``junction_c`` (hottest GPU junction), ``fws_supply_c`` /
``fws_return_c`` (facility water).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: a KPI value: a figure, a count, a flag, a note, the failed unit names or the count of halls per stage
KpiValue = float | int | bool | str | None | list[str] | dict[str, int]
Kpis = dict[str, KpiValue]
#: the arrays a transient starts from: per rack / loop / hall arrays and the loops' CDU catalog figures
SteadyState = dict[str, np.ndarray | dict[str, np.ndarray]]


@dataclass
class ThermalResult:
    """Steady state of the whole facility (``twin.thermal.solve_thermal``).

    Attributes
    ----------
    res_racks : pandas.DataFrame
        One row per model rack (same index as ``model.racks``): loop, hall, rack_power_w, liquid_heat_w and
        air_heat_w (W), flow_m3_s, flow_lpm, flow_lpm_per_kw, flow_setpoint_m3_s (what the rack's flow-control
        valve holds), valve_saturated (valve fully open below its setpoint), dp_kpa (cold plates) and valve_dp_kpa
        (flow-control valve), coolant_supply_c and coolant_return_c (C), coolant_rise_k (K), gpu_power_w (W per
        GPU), r_cold_plate_k_per_w (K/W at the solved flow), junction_c (hottest GPU, C), t_throttle_c (C),
        margin_k (t_throttle_c - junction_c, K), cooled, heat_unremoved_w (W). Racks without cooling have inf
        temperatures; a rack that is off (valve shut, no flow) sits at its coolant supply temperature.
    res_loops : pandas.DataFrame
        One row per TCS loop: units (installed / exchangers and pumps available), pumps_running (staged), racks,
        heat_w (liquid heat + pump power, W), liquid_heat_w, flow_setpoint_m3_s (sum of the valves' setpoints),
        flow_m3_s and flow_lpm (pump flow through the exchangers: racks + bypass), bypass_flow_m3_s,
        dp_setpoint_kpa and index_dp_kpa (header differential at the index rack), valves_saturated, pump_speed (of
        rated), pump_limited, pump_head_kpa, pump_efficiency, pump_power_w, t_properties_c (supply / return mean),
        rho_kg_m3, cp_j_kg_k, ua_w_per_k, effectiveness, coolant_supply_c, coolant_return_c (mixed rack outlets
        and bypass, C), fws_supply_c and fws_return_c (facility water into / out of the loop's CDUs, C),
        fws_capacity_rate_w_per_k, firm_capacity_w, cooled, status (why a loop is not cooled, e.g. every CDU
        failed).
    res_cdus : pandas.DataFrame
        One row per CDU unit: exchanger_running, pump_available, pump_running (staged on), heat_w, flow_m3_s,
        pump_power_w, capacity_w, load_fraction.
    res_heat_rejection : pandas.DataFrame
        One row per dry cooler / chiller unit: running, fan_speed, heat_w, power_w, cop, t_air_in_c,
        water_use_kg_s, capacity_w.
    res_halls : pandas.DataFrame
        One row per hall: IT, liquid and air heat (W), facility water (setpoint, supply, return in C; flow, design
        flow in m3/s; pump dp in kPa; pumps running, their speed and efficiency), heat-rejection stage and reason,
        power of every cooling consumer (W),
        water_use_kg_s, heat_unremoved_w, max_junction_c.
    kpis : dict
        Facility figures (MW, C, K, m3/h), counts, energy_balance_rel_error, the wet bulb used and its source.
    mech_power_w_by_hall : numpy.ndarray, shape (n_halls,)
        Cooling power per hall, W: TCS pumps + facility-water pumps + dry-cooler fans + chillers + air-side fans.
    converged : bool
        The hydraulic solve converged.
    state : dict
        Arrays the transient solver starts from (rack and loop flows, powers, temperatures, CDU UA, catalog
        figures), in SI units.
    """

    res_racks: pd.DataFrame
    res_loops: pd.DataFrame
    res_cdus: pd.DataFrame
    res_heat_rejection: pd.DataFrame
    res_halls: pd.DataFrame
    kpis: Kpis
    mech_power_w_by_hall: np.ndarray
    converged: bool = True
    state: SteadyState = field(default_factory=dict, repr=False)
    # the coolant property temperatures the solve ended at (per loop, per hall), C: a warm start of the next solve
    property_temps_c: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)


@dataclass
class TransientResult:
    """Time series of a transient scenario on one hall (``twin.thermal.simulate_transient``).

    Attributes
    ----------
    scenario : str
        One of ``twin.thermal.SCENARIOS``.
    series : pandas.DataFrame
        One row per output time (time_s, s): hall totals in W (it_power_w as run, gpu_power_w,
        gpu_power_throttled_w taken away by throttling, gpu_power_shut_down_w and other_power_shut_down_w of racks
        shut down, liquid_heat_w / air_heat_w, heat_to_fws_w, pump_power_w), fws_supply_c, the hottest GPU
        (max_junction_c in C, min_margin_k in K, hottest_rack), max_rack_outlet_c and max_coolant_c (racks and
        loop volumes, C), min_loop_flow_m3_s, rack counts (racks_over_throttle, racks_throttling,
        racks_shut_down) and the energy counters in J (energy_in_j = energy_removed_j + energy_stored_j +
        energy_balance_residual_j).
    res_loops_ts : pandas.DataFrame
        Long table, one row per output time and loop of the hall: time_s, loop, name, coolant_supply_c and
        coolant_return_c (supply / return volume, C), flow_m3_s, pump_power_w, heat_to_fws_w.
    kpis : dict
        ride_through_s (event to the first GPU at its throttle limit, s; None if never reached),
        time_to_shutdown_s (None if no rack shut down), racks_throttled (+ _initially), racks_shut_down,
        it_power_shut_down_mw, peak_gpu_power_throttled_mw, peak_junction_c, peak_coolant_c, initial / minimum /
        final margins (K), energy in / removed / stored (MJ), energy_balance_rel_error, solver statistics, a note.
    res_racks_final : pandas.DataFrame
        One row per rack of the hall at the end: rack, loop, coolant_return_c (C), flow_m3_s, junction_c and
        junction_peak_c (hottest GPU at the end and its peak over the run, C), margin_k (K), gpu_power_w (final),
        gpu_power_min_w (minimum over the run), gpu_power_command_w (W per GPU), time_to_throttle_s and
        time_to_shutdown_s after the event (s, inf: not reached) and shut_down (a GPU reached t_shutdown_c: the
        whole rack, GPUs and other power, is off, latched).
    """

    scenario: str
    series: pd.DataFrame
    res_loops_ts: pd.DataFrame
    kpis: Kpis
    res_racks_final: pd.DataFrame = field(default_factory=pd.DataFrame)
