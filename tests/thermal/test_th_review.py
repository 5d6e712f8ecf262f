"""Regression tests for the steady-state review: chiller lift and map, CDU UA vs flow, facility-water system curve,
independent energy balance, wet bulb from the design humidity ratio, air density at the actual ambient, property
evaluation only where needed."""

from __future__ import annotations

import CoolProp.CoolProp as CP
import numpy as np
import pytest

from twin.catalog import load_catalog
from twin.thermal import cdu, properties, solve_thermal
from twin.thermal import solve as solve_mod
from twin.thermal.heat_rejection import (
    chiller_condenser_approach_k,
    chiller_operating_point,
    dry_cooler_heat_w,
    dry_cooler_rating,
)


def _dcs(m):
    hr = m.heat_rejection
    return list(hr["name"][hr["kind"] == "dry_cooler"])


# ---- 1. chiller: physical lift, catalog COP cap, map reported
def test_chiller_lift_never_collapses_and_cap_is_reported():
    ch = load_catalog().get("chillers", "trim-chiller-2mw")
    op = chiller_operating_point(45.0, np.array([-40.0, -10.0, 20.0, 40.0, 55.0]), ch)
    assert np.all(np.isfinite(op["cop"])) and np.all(op["cop"] <= ch.cop_max) and np.all(op["cop"] > 1)
    # hand calculation at -10 C: T_e = 42 C, T_c = max(-10, 45) + dT_cond
    d = chiller_condenser_approach_k(ch)
    te = 45.0 - ch.evaporator_approach_k + 273.15
    assert op["cop"][1] == pytest.approx(ch.carnot_fraction * te / (45.0 + d + 273.15 - te), rel=1e-12)
    assert list(op["outside_map"]) == [True, False, False, False, True]
    # a chiller whose Carnot-fraction COP exceeds its catalog maximum is capped and says so
    small = ch.model_copy(update={"cop_max": 5.0, "cop_rated": 5.0})
    op2 = chiller_operating_point(60.0, 0.0, small)  # warmer evaporator than the rating: higher COP
    assert bool(op2["capped"]) and float(op2["cop"]) == 5.0 and float(op2["cop_model"]) > 5.0


def test_chiller_at_cold_ambient_with_dry_coolers_lost(pod_model):
    # the reviewer's case: all dry coolers failed at -10 C; the chiller must cost real power (was 0.014 W)
    res = solve_thermal(pod_model, ambient_c=-10.0, failed=_dcs(pod_model))
    h = res.res_halls.iloc[0]
    ch = load_catalog().get("chillers", "trim-chiller-2mw")
    assert h["chiller_heat_w"] > 1e6
    assert h["chiller_power_w"] >= h["chiller_heat_w"] / ch.cop_max
    assert res.kpis["energy_balance_rel_error"] <= 1e-6
    cold = solve_thermal(pod_model, ambient_c=-15.0, failed=_dcs(pod_model))
    assert "outside its operating map" in cold.res_halls["stage_reason"].iat[0]
    assert cold.kpis["chillers_outside_map"] == 1 and res.kpis["chillers_outside_map"] == 0


# ---- 2. CDU UA scales with flow on both sides
def test_cdu_ua_follows_flow_by_hand():
    n = 0.7
    assert float(cdu.ua_at_flow_w_per_k(4e5, 1.0, 1.0, n)) == pytest.approx(4e5, rel=1e-14)
    assert float(cdu.ua_at_flow_w_per_k(4e5, 0.3, 1.0, n)) == pytest.approx(
        4e5 / (0.5 * 0.3**-n + 0.5), rel=1e-14
    )
    assert float(cdu.ua_at_flow_w_per_k(4e5, 0.0, 1.0, n)) == 0.0
    ua = cdu.ua_at_flow_w_per_k(4e5, np.linspace(0.2, 1.5, 9), 1.0, n)
    assert np.all(np.diff(ua) > 0)


def test_cdu_part_load_approach_stays_physical(pod_model):
    full = solve_thermal(pod_model).res_loops.iloc[0]
    part = solve_thermal(pod_model, it_load=0.3).res_loops.iloc[0]
    c = load_catalog().get("cdus", "coolit-chx2000")
    ua_r = c.capacity_kw * 1e3 / c.approach_k
    # UA per exchanger at the solved flows, by hand
    c_r = c.flow_lpm / 60000 * part["rho_kg_m3"] * part["cp_j_kg_k"]
    xh = part["flow_m3_s"] * part["rho_kg_m3"] * part["cp_j_kg_k"] / (part["units_hx_running"] * c_r)
    xc = part["fws_capacity_rate_w_per_k"] / (part["units_hx_running"] * c_r)
    ua = part["units_hx_running"] * ua_r / (0.5 * xh**-c.ua_flow_exponent + 0.5 * xc**-c.ua_flow_exponent)
    assert part["ua_w_per_k"] == pytest.approx(ua, rel=1e-12)
    assert part["ua_w_per_k"] < full["ua_w_per_k"]
    # with a flow-independent UA the effectiveness was 0.999 and the approach 0.008 K
    assert part["effectiveness"] < 0.99
    assert part["coolant_supply_c"] - part["fws_supply_c"] > 0.05


# ---- 3. facility-water system curve anchored at the design flow and loop head
def test_facility_water_pump_power_at_design_flow(pod_model):
    res = solve_thermal(pod_model)
    h = res.res_halls.iloc[0]
    pm = load_catalog().get("pumps", pod_model.fws["pump"].iat[0])
    # no failures: every installed CDU draws its rated primary flow = the design flow -> dp = design head
    assert h["fws_flow_m3_s"] == pytest.approx(h["fws_design_flow_m3_s"], rel=1e-12)
    assert h["fws_pump_power_w"] == pytest.approx(
        pm.system_head_kpa * 1e3 * h["fws_flow_m3_s"] / pm.efficiency, rel=1e-12
    )
    # ~1 % of the heat, not 745 W for 3.6 MW
    assert 15e3 < h["fws_pump_power_w"] < 60e3
    # a failed CDU takes its primary flow away: the quadratic system curve by hand
    one = solve_thermal(pod_model, failed=[pod_model.cdus["name"].iat[0]]).res_halls.iloc[0]
    r = one["fws_flow_m3_s"] / one["fws_design_flow_m3_s"]
    assert r == pytest.approx(2 / 3, rel=1e-12)
    assert one["fws_pump_power_w"] == pytest.approx(h["fws_pump_power_w"] * r**3, rel=1e-12)


# ---- 4. the energy balance is an independent check: it catches a wrong solution
@pytest.mark.parametrize("defect", ["cdu", "fan"])
def test_energy_balance_catches_a_wrong_solution(pod_model, monkeypatch, defect):
    assert solve_thermal(pod_model).kpis["energy_balance_rel_error"] <= 1e-6
    if defect == "cdu":  # CDU inversion off by 0.5 K
        real = cdu.hot_inlet_for_duty_c

        def wrong(*a, **k):
            t, e = real(*a, **k)
            return t + 0.5, e

        monkeypatch.setattr(solve_mod.cdu_mod, "hot_inlet_for_duty_c", wrong)
    else:  # dry-cooler fans 5 % off the speed that holds the setpoint
        real = solve_mod.solve_heat_rejection

        def wrong(**k):
            out = real(**k)
            out["fan_speed"] = out["fan_speed"] * 1.05
            return out

        monkeypatch.setattr(solve_mod, "solve_heat_rejection", wrong)
    assert solve_thermal(pod_model).kpis["energy_balance_rel_error"] > 1e-4


# ---- 5. wet bulb follows the dry bulb at the design humidity ratio
def test_wet_bulb_from_design_humidity_ratio(pod_model):
    site = pod_model.layout.site
    w = CP.HAPropsSI(
        "W", "T", site.design_ambient_c + 273.15, "B", site.design_wet_bulb_c + 273.15, "P", 101325
    )
    hot = solve_thermal(pod_model, ambient_c=50.0).kpis
    ref = CP.HAPropsSI("B", "T", 50.0 + 273.15, "W", w, "P", 101325) - 273.15
    assert (
        hot["wet_bulb_c"] == pytest.approx(ref, abs=1e-9) and hot["wet_bulb_c"] > site.design_wet_bulb_c + 2
    )
    assert "humidity ratio" in hot["wet_bulb_source"]
    # the design moisture cannot stay in 10 C air: saturated, wet bulb = dry bulb
    cold = solve_thermal(pod_model, ambient_c=10.0).kpis
    assert cold["wet_bulb_c"] == 10.0 and "saturated" in cold["wet_bulb_source"]
    assert solve_thermal(pod_model).kpis["wet_bulb_c"] == site.design_wet_bulb_c
    assert solve_thermal(pod_model, ambient_c=40.0, wet_bulb_c=21.0).kpis["wet_bulb_c"] == 21.0


# ---- 6. dry-cooler air at the actual ambient density
def test_dry_cooler_air_density_at_actual_ambient(pod_model):
    dc = load_catalog().get("dry_coolers", "drycooler-1500")
    rat = dry_cooler_rating(dc, 4180.0)
    cold = properties.air_properties(-20.0)
    mr = float(cold["rho_kg_m3"]) / rat["air_rho_kg_m3"]
    cr = float(cold["cp_j_kg_k"]) / rat["air_cp_j_kg_k"]
    assert mr > 1.2  # -20 C air is ~21 % denser than the rating's 35 C air
    q1 = dry_cooler_heat_w(
        0.5, rat["ua_w_per_k"], rat["c_air_w_per_k"], 0.8, rat["c_water_w_per_k"], 56.0, -20.0
    )
    q2 = dry_cooler_heat_w(
        0.5, rat["ua_w_per_k"], rat["c_air_w_per_k"], 0.8, rat["c_water_w_per_k"], 56.0, -20.0, mr, cr
    )
    # by hand: C_a and UA of the denser air
    ca = rat["c_air_w_per_k"] * 0.5 * mr * cr
    cmin, cmax = min(ca, rat["c_water_w_per_k"]), max(ca, rat["c_water_w_per_k"])
    eps = cdu.effectiveness_counterflow(rat["ua_w_per_k"] * (0.5 * mr) ** 0.8 / cmin, cmin / cmax)
    assert float(q2) == pytest.approx(float(eps) * cmin * 76.0, rel=1e-12) and q2 > q1
    # in the solve: the fan speed that holds the setpoint in -20 C air, by hand with the dense air's C_a and UA
    res = solve_thermal(pod_model, ambient_c=-20.0)
    h = res.res_halls.iloc[0]
    n_dc = h["dry_coolers_running"]
    cw = h["heat_rejected_w"] / (h["fws_return_c"] - h["fws_supply_c"]) / n_dc
    q_hand = dry_cooler_heat_w(
        h["fan_speed"], rat["ua_w_per_k"], rat["c_air_w_per_k"], 0.8, cw, h["fws_return_c"], -20.0, mr, cr
    )
    assert float(q_hand) * n_dc == pytest.approx(h["heat_rejected_w"], rel=1e-9)
    assert res.kpis["energy_balance_rel_error"] <= 1e-6


# ---- 7. properties are evaluated only at the temperatures the solve needs
def test_properties_only_at_needed_temperatures(campus_model):
    for memo in properties._MEMO.values():
        memo.clear()
    solve_thermal(campus_model)
    n = sum(len(m) for m in properties._MEMO.values())
    assert 0 < n <= 20  # a few distinct temperatures, not a 0.5 K grid (~900 points)
    p = properties.coolant_properties("PG25", np.array([45.0, 50.0, 45.0]))
    ref = CP.PropsSI("D", "T", 50.0 + 273.15, "P", 3e5, "INCOMP::MPG[0.25]")
    assert p["rho_kg_m3"][1] == ref and p["rho_kg_m3"][0] == p["rho_kg_m3"][2]
