"""twin.thermal.solve (solve_thermal): conservation, trends, OCP design points, failures, and the solve's use
of the CDU, facility-water and heat-rejection models (chiller at cold ambient, part-load approach, system
curve, independent energy balance, wet bulb at the design humidity ratio)."""

from __future__ import annotations

import CoolProp.CoolProp as CP
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.layout_edit import base, write
from twin.catalog import load_catalog
from twin.errors import InputError
from twin.model import load_model
from twin.thermal import cdu, hydraulics, solve_thermal
from twin.thermal import solve as solve_mod
from twin.thermal.properties import coolant_properties

REF = ["pod_small_model", "hall_ac_model", "kyber_model", "campus_model"]


def _no_nan(res):
    for name in ("res_racks", "res_loops", "res_cdus", "res_heat_rejection", "res_halls"):
        df = getattr(res, name)
        num = df.select_dtypes(include=[np.number])
        assert not num.isna().any().any(), f"NaN in {name}"


@pytest.fixture(scope="module")
def pod_small_model(pod_model):
    return pod_model


@pytest.mark.parametrize("fixture", REF)
@pytest.mark.parametrize("it_load", [0.3, 1.0])
def test_energy_balance_on_reference_layouts(request, fixture, it_load):
    model = request.getfixturevalue(fixture)
    res = solve_thermal(model, it_load=it_load)
    assert res.converged
    assert res.kpis["energy_balance_rel_error"] <= 1e-6
    # independent check: IT + pumps + air fans = heat rejected by dry coolers and chillers
    h = res.res_halls
    rejected = h["heat_rejected_w"].sum() + h["heat_unremoved_w"].sum()
    heat_in = (
        h["it_power_w"].sum()
        + h["tcs_pump_power_w"].sum()
        + h["fws_pump_power_w"].sum()
        + h["air_fan_power_w"].sum()
    )
    assert rejected == pytest.approx(heat_in, rel=1e-6)
    # per loop: rack flows add up to the pump flow, rack heat m cp dT adds up to the liquid heat
    r, lp = res.res_racks, res.res_loops
    q = np.bincount(r["loop"], weights=r["flow_m3_s"], minlength=len(lp))
    assert q == pytest.approx(lp["flow_m3_s"].to_numpy(), rel=1e-9)
    mcdt = (
        r["flow_m3_s"]
        * lp["rho_kg_m3"].to_numpy()[r["loop"]]
        * lp["cp_j_kg_k"].to_numpy()[r["loop"]]
        * r["coolant_rise_k"]
    )
    assert mcdt.to_numpy() == pytest.approx(r["liquid_heat_w"].to_numpy(), rel=1e-9)
    assert res.mech_power_w_by_hall.shape == (len(model.halls),)
    assert res.mech_power_w_by_hall == pytest.approx(h["mech_power_w"].to_numpy())
    _no_nan(res)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fractions=st.lists(st.floats(0.0, 1.2), min_size=16, max_size=16),
    ambient=st.floats(-10.0, 48.0),
    supply=st.floats(30.0, 50.0),
    n_failed=st.integers(0, 3),
    n_dc_failed=st.integers(0, 4),
)
def test_energy_balance_hypothesis(pod_model, fractions, ambient, supply, n_failed, n_dc_failed):
    m = pod_model
    p = np.array(fractions) * m.racks["power_maxp_w"].to_numpy()
    failed = list(m.cdus["name"][:n_failed]) + list(
        m.heat_rejection["name"][m.heat_rejection["kind"] == "dry_cooler"][:n_dc_failed]
    )
    res = solve_thermal(
        m, rack_power_w=p, ambient_c=ambient, wet_bulb_c=min(ambient, 20.0), supply_c=supply, failed=failed
    )
    assert res.kpis["energy_balance_rel_error"] <= 1e-6
    assert res.res_racks["heat_unremoved_w"].sum() >= 0
    if n_failed == 3:  # all CDUs of the only loop: every rack loses cooling, and says so
        assert res.kpis["racks_cooling_lost"] == 16
        assert res.res_racks["heat_unremoved_w"].to_numpy() == pytest.approx(p)
    _no_nan(res)


def test_trend_ambient_raises_cooling_power(campus_model):
    power = [
        solve_thermal(campus_model, ambient_c=a, wet_bulb_c=min(a, 22.0)).kpis["cooling_power_mw"]
        for a in (0, 15, 25, 30, 33, 40, 46)
    ]
    assert np.all(np.diff(power) >= -1e-9)
    assert power[-1] > power[0] * 1.5


def test_trend_ambient_with_chillers(pod_model):
    # saturated air (wet bulb = dry bulb, pads useless): dry coolers, then trim chillers; power keeps rising
    power, stages = [], []
    for a in (30.0, 38.0, 42.0, 46.0, 50.0):
        k = solve_thermal(pod_model, ambient_c=a, wet_bulb_c=a).kpis
        power.append(k["cooling_power_mw"])
        stages.append(k["stages"])
    assert np.all(np.diff(power) > 0)
    assert any(k.endswith("chiller") or k == "setpoint lost" for s in stages for k in s)


def test_trend_supply_setpoint(campus_model):
    lo = solve_thermal(campus_model, supply_c=40.0, ambient_c=30.0).kpis
    hi = solve_thermal(campus_model, supply_c=45.0, ambient_c=30.0).kpis
    assert hi["cooling_power_mw"] < lo["cooling_power_mw"]
    assert hi["max_junction_c"] > lo["max_junction_c"]
    assert hi["min_margin_k"] < lo["min_margin_k"]


def test_load_raises_loop_temperatures_and_pump_power(pod_model):
    a = solve_thermal(pod_model, it_load=0.5)
    b = solve_thermal(pod_model, it_load=1.0)
    assert b.kpis["tcs_pumps_mw"] > a.kpis["tcs_pumps_mw"]
    assert b.kpis["max_junction_c"] > a.kpis["max_junction_c"]


def _rack_layout(tmp_path, rack_name):
    rt = load_catalog().rack(rack_name)
    if "ac" in rt.power_inputs and rt.power_maxp_kw < 300:
        data = base("pod_small.yaml")
    else:
        data = base("hall_kyber.yaml")
    for hall in data["halls"]:
        if rt.liquid_fraction < 1:  # the residual air heat needs air-side units
            hall["air_side"] = {"unit": "fanwall-500", "units": 4, "redundancy": "N+1"}
        for pod in hall["pods"]:
            for row in pod["rows"]:
                row["rack_type"] = rack_name
    return load_model(write(tmp_path, data, f"{rack_name}.yaml"))


@pytest.mark.parametrize("rack_name", load_catalog().names("racks"))
def test_ocp_design_point_of_every_catalog_rack(tmp_path, rack_name):
    m = _rack_layout(tmp_path, rack_name)
    res = solve_thermal(m, it_load=1.0)
    r = res.res_racks
    assert r["flow_lpm_per_kw"].between(1.25, 2.0).all()
    if load_catalog().rack(rack_name).liquid_fraction > 0:
        assert r["coolant_rise_k"].between(8.0, 12.0).all()
    else:  # an air-cooled rack puts no heat in the coolant loop
        assert (r["coolant_rise_k"] == 0).all() and (r["air_heat_w"] > 0).all()
    assert res.kpis["energy_balance_rel_error"] <= 1e-6
    air = r["air_heat_w"].sum()
    assert res.kpis["air_side_mw"] > 0 if air > 0 else res.kpis["air_side_mw"] == 0
    assert res.kpis["air_heat_unserved_mw"] == 0


def test_failed_cdu_without_redundancy_hits_exactly_its_racks(tmp_path):
    data = base("pod_small.yaml")
    pod = data["halls"][0]["pods"][0]
    pod["cooling_loops"] = [
        {"name": "tcs-1", "cdu": "coolit-chx2000", "units": 1, "redundancy": "N", "manifold_length_m": 20},
        {"name": "tcs-2", "cdu": "coolit-chx2000", "units": 1, "redundancy": "N", "manifold_length_m": 20},
    ]
    pod["rows"][1]["cooling_loop"] = "tcs-2"
    m = load_model(write(tmp_path, data))
    ok = solve_thermal(m)
    served = (m.racks["loop"] == 0).to_numpy()
    for failed in (["hall-1/pod-1/tcs-1/cdu-1"], ["hall-1/pod-1/tcs-1/cdu-1/pump"]):
        bad = solve_thermal(m, failed=failed)
        assert bad.kpis["energy_balance_rel_error"] <= 1e-6
        d = bad.res_racks["margin_k"].to_numpy() - ok.res_racks["margin_k"].to_numpy()
        assert np.all(d[served] < 0)  # the racks it served lose (all) margin
        assert np.allclose(d[~served], 0.0, atol=1e-9)  # the others do not change
        assert not bad.res_racks["cooled"][served].any()
        assert bad.res_racks["heat_unremoved_w"][served].sum() == pytest.approx(
            ok.res_racks["liquid_heat_w"][served].sum()
        )
        assert bad.kpis["racks_cooling_lost"] == served.sum()
        _no_nan(bad)


def test_redundant_cdu_picks_up_with_less_margin(campus_model):
    ok = solve_thermal(campus_model, it_load=0.8)
    name = campus_model.cdus["name"].iat[0]
    bad = solve_thermal(campus_model, it_load=0.8, failed=[name])
    served = (campus_model.racks["loop"] == 0).to_numpy()
    d = bad.res_racks["margin_k"].to_numpy() - ok.res_racks["margin_k"].to_numpy()
    assert bad.kpis["racks_cooling_lost"] == 0
    assert np.all(d[served] < 0) and np.allclose(d[~served], 0.0, atol=1e-9)
    assert bad.res_loops["units_hx_running"].iat[0] == 4
    assert bad.res_cdus["heat_w"].iat[0] == 0.0


def test_dry_coolers_lost_is_reported_not_nan(pod_model):
    dcs = list(pod_model.heat_rejection["name"][pod_model.heat_rejection["kind"] == "dry_cooler"])
    res = solve_thermal(pod_model, failed=dcs)
    h = res.res_halls.iloc[0]
    assert h["stage"] == "setpoint lost" and not h["setpoint_held"]
    assert res.kpis["heat_unremoved_mw"] > 0
    assert res.kpis["energy_balance_rel_error"] <= 1e-6
    _no_nan(res)


def test_bad_inputs_raise_input_error(pod_model):
    with pytest.raises(InputError, match="unknown unit"):
        solve_thermal(pod_model, failed=["hall-1/nope"])
    with pytest.raises(InputError, match="rack_power_w"):
        solve_thermal(pod_model, rack_power_w=np.ones(3))
    with pytest.raises(InputError, match="rack_power_w"):
        solve_thermal(pod_model, rack_power_w=np.full(16, np.nan))
    with pytest.raises(InputError, match="ambient_c"):
        solve_thermal(pod_model, ambient_c=float("nan"))
    with pytest.raises(InputError, match="supply_c"):
        solve_thermal(pod_model, supply_c=99)
    with pytest.raises(InputError, match="extra_air"):
        solve_thermal(pod_model, extra_air_heat_w_by_hall=[-1.0])


def test_air_heat_beyond_air_units_is_reported(pod_model):
    # pod_small has 3 x 500 kW air units: 2 MW of air heat leaves 0.5 MW unserved, 50 kW none
    assert solve_thermal(pod_model, extra_air_heat_w_by_hall=[50e3]).kpis["air_heat_unserved_mw"] == 0.0
    res = solve_thermal(pod_model, extra_air_heat_w_by_hall=[2.0e6])
    assert res.kpis["air_heat_unserved_mw"] == pytest.approx(0.5)
    assert res.kpis["energy_balance_rel_error"] <= 1e-6


def test_facility_water_pumps_lost(pod_model):
    one = solve_thermal(pod_model, failed=["hall-1/fw-pump-1"])  # N+1: the other pump carries the flow
    assert one.kpis["racks_cooling_lost"] == 0 and not one.res_halls["fws_flow_limited"].iat[0]
    both = solve_thermal(pod_model, failed=["hall-1/fw-pump-1", "hall-1/fw-pump-2"])
    assert both.kpis["racks_cooling_lost"] == 16
    assert both.kpis["energy_balance_rel_error"] <= 1e-6
    assert both.res_loops["status"].str.startswith("no facility water flow").all()
    _no_nan(both)


def test_cold_winter_day(pod_model):
    res = solve_thermal(pod_model, ambient_c=-35.0)
    assert res.kpis["stages"] == {"dry": 1}
    assert res.res_halls["fan_speed"].iat[0] < 0.2
    assert res.kpis["energy_balance_rel_error"] <= 1e-6


def _dcs(m):
    hr = m.heat_rejection
    return list(hr["name"][hr["kind"] == "dry_cooler"])


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
    # with a flow-independent UA the effectiveness was 0.999 and the approach 0.008 K; at 30 % TCS flow against
    # the full primary flow (Cr 0.26, NTU ~6) it is 0.992 and the approach 0.08 K
    assert part["effectiveness"] < 0.995
    assert part["coolant_supply_c"] - part["fws_supply_c"] > 0.05


# ---- facility-water system curve anchored at the design flow and loop head, pumps on their curve
def _fw_pump_power_by_hand(pm, q, head, n_avail):
    """Least power over the pump counts: per pump Q_n / n with Q_n = max(Q, phi Q_r n), speed on the quadratic
    curve, efficiency from the catalog curve at the similar point, P = H Q_n / eta."""
    curve = pm.efficiency_curve
    h0, kp = (
        pm.shutoff_head_ratio * pm.head_kpa * 1e3,
        (pm.shutoff_head_ratio - 1) * pm.head_kpa * 1e3 / pm.flow_m3_s**2,
    )
    best = (np.inf, 0, 0.0)
    for n in range(1, n_avail + 1):
        q_n = max(q, pm.min_flow_fraction * pm.flow_m3_s * n)
        s2 = (head + kp * (q_n / n) ** 2) / h0
        if s2 > 1:
            continue
        x = q_n / n / (np.sqrt(s2) * pm.flow_m3_s)
        eta = pm.efficiency * float(
            hydraulics.efficiency_ratio(x, curve.flow_fraction, curve.efficiency_ratio)
        )
        if head * q_n / eta < best[0]:
            best = (head * q_n / eta, n, eta)
    return best


def test_facility_water_pumps_on_their_curve_by_hand(pod_model, tmp_path):
    res = solve_thermal(pod_model)
    h = res.res_halls.iloc[0]
    pm = load_catalog().get("pumps", pod_model.fws["pump"].iat[0])
    # no failures: every installed CDU draws its rated primary flow = the design flow -> dp = design head
    assert h["fws_flow_m3_s"] == pytest.approx(h["fws_design_flow_m3_s"], rel=1e-12)
    assert h["fws_pump_dp_kpa"] == pytest.approx(pm.system_head_kpa, rel=1e-12)
    power, n, eta = _fw_pump_power_by_hand(pm, h["fws_flow_m3_s"], pm.system_head_kpa * 1e3, 2)
    assert h["fws_pump_power_w"] == pytest.approx(power, rel=1e-9)
    assert (h["fws_pumps_running"], h["fws_pump_efficiency"]) == (n, pytest.approx(eta, rel=1e-9))
    # pod_small's pump is sized to the pod (fw-pump-120): it runs near its best point, ~1 % of the heat
    small = load_catalog().get("pumps", "fw-pump-120")
    assert pm.name == "fw-pump-120" and h["fws_pump_efficiency"] > 0.97 * small.efficiency
    assert 15e3 < h["fws_pump_power_w"] < 60e3
    # a 750 L/s pump on the same pod moves 106 L/s: far left of its best point, several times the power
    data = base("pod_small.yaml")
    data["halls"][0]["facility_water"]["pump"] = "fw-pump-750"
    big_h = solve_thermal(load_model(write(tmp_path, data))).res_halls.iloc[0]
    big = load_catalog().get("pumps", "fw-pump-750")
    assert big_h["fws_flow_m3_s"] / big.flow_m3_s == pytest.approx(0.14, abs=0.01)
    assert big_h["fws_pump_efficiency"] < 0.7 * big.efficiency
    assert big_h["fws_pump_power_w"] > 60e3 > h["fws_pump_power_w"]
    # a failed CDU takes its primary flow away: the quadratic system curve by hand
    one = solve_thermal(pod_model, failed=[pod_model.cdus["name"].iat[0]]).res_halls.iloc[0]
    r = one["fws_flow_m3_s"] / one["fws_design_flow_m3_s"]
    assert r == pytest.approx(2 / 3, rel=1e-9)
    assert one["fws_pump_dp_kpa"] == pytest.approx(pm.system_head_kpa * r**2, rel=1e-9)
    power1, _, _ = _fw_pump_power_by_hand(pm, one["fws_flow_m3_s"], one["fws_pump_dp_kpa"] * 1e3, 2)
    assert one["fws_pump_power_w"] == pytest.approx(power1, rel=1e-9)


# ---- the energy balance is an independent check: it catches a wrong solution
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


# ---- wet bulb follows the dry bulb at the design humidity ratio
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


# ---- coolant follows rack power: flow-control valves and a dp-controlled pump (issue 10, item 1)
def _lpm_per_kw(m):
    r = m.racks
    return float(r["design_flow_m3_s"].iat[0] * 60000 / (r["power_maxp_w"].iat[0] / 1e3))


def test_full_rack_among_idle_racks_keeps_its_design_flow_per_kw(pod_model):
    # one rack at Max-P among 15 at floor power (every GPU at its minimum limit): with fixed balancing it got
    # 0.77 L/min/kW and reached 108 C (throttle 89 C); its valve now holds its design flow per kW
    r = pod_model.racks
    p = r["power_floor_w"].to_numpy().copy()
    p[0] = r["power_maxp_w"].iat[0]
    res = solve_thermal(pod_model, rack_power_w=p)
    rr = res.res_racks
    design = _lpm_per_kw(pod_model)  # 1.5 L/min/kW
    assert rr["flow_lpm_per_kw"].iat[0] == pytest.approx(design, rel=1e-6)
    assert rr["flow_lpm_per_kw"].iloc[1:].to_numpy() == pytest.approx(design, rel=1e-3)  # floor 48 % > 20 %
    assert rr["margin_k"].iat[0] > 0 and res.kpis["racks_over_throttle"] == 0
    assert not rr["valve_saturated"].any()
    assert res.kpis["energy_balance_rel_error"] <= 1e-6


def test_half_the_racks_off_leaves_the_others_at_design_flow(pod_model):
    # every other rack off (power 0): their valves shut, the others keep 1.5 L/min/kW (was 0.75, 109 C)
    r = pod_model.racks
    p = r["power_maxp_w"].to_numpy().copy()
    p[1::2] = 0.0
    res = solve_thermal(pod_model, rack_power_w=p)
    rr = res.res_racks
    on = p > 0
    assert rr["flow_lpm_per_kw"][on].to_numpy() == pytest.approx(_lpm_per_kw(pod_model), rel=1e-6)
    assert (rr["flow_m3_s"][~on] == 0).all() and (rr["heat_unremoved_w"] == 0).all()
    assert (rr["margin_k"][on] > 0).all() and res.kpis["racks_over_throttle"] == 0
    assert rr["cooled"].all() and res.kpis["racks_cooling_lost"] == 0
    # the pumps deliver what the valves ask for
    lp = res.res_loops.iloc[0]
    assert lp["flow_m3_s"] - lp["bypass_flow_m3_s"] == pytest.approx(rr["flow_setpoint_m3_s"].sum(), rel=1e-9)
    assert res.kpis["energy_balance_rel_error"] <= 1e-6
    _no_nan(res)


def test_pump_power_falls_with_the_flow_the_valves_ask_for(pod_model):
    loads = [1.0, 0.9, 0.75, 0.6, 0.45, 0.3, 0.2]
    runs = [solve_thermal(pod_model, it_load=x) for x in loads]
    power = [k.kpis["tcs_pumps_mw"] for k in runs]
    flow = [k.res_loops["flow_setpoint_m3_s"].iat[0] for k in runs]
    assert np.all(np.diff(flow) < 0) and np.all(np.diff(power) < 0)
    # the head never drops below the index setpoint: the pumps hold dp_set, the header losses fall with flow
    lp = [k.res_loops.iloc[0] for k in runs]
    assert all(x["index_dp_kpa"] == pytest.approx(x["dp_setpoint_kpa"], rel=1e-9) for x in lp)
    assert np.all(np.diff([x["pump_head_kpa"] for x in lp]) < 0)


def test_tcs_pump_head_and_power_by_hand(pod_model):
    # pod_small at Max-P: 16 VR NVL72 racks, 340.5 L/min each, 20 m of 200 mm header, 3 CoolIT CHx2000 pumps
    res = solve_thermal(pod_model)
    lp = res.res_loops.iloc[0]
    m = pod_model
    c = load_catalog().get("cdus", "coolit-chx2000")
    qd = m.racks["design_flow_m3_s"].to_numpy()
    n = len(qd)
    # commissioned dp setpoint: rack cold plates 90 kPa / (1 - authority 0.2) = 112.5 kPa at the design flow,
    # taken at the valve's full-power setpoint Q_d (1 + phi^8)^(1/8) (3e-7 above: cold plates ^1.9, valve ^2)
    q_valve = qd * (1 + c.rack_min_flow_fraction**8) ** 0.125
    r = q_valve[0] / qd[0]
    dp_set = 90.0 * r**1.9 + 90.0 * c.valve_authority / (1 - c.valve_authority) * r**2
    assert lp["dp_setpoint_kpa"] == pytest.approx(dp_set, rel=1e-12)
    assert dp_set == pytest.approx(112.5, rel=1e-6)
    assert lp["valves_saturated"] == 0 and lp["index_dp_kpa"] == pytest.approx(dp_set, rel=1e-12)
    # head = dp_set + supply and return drops of the 16 segments of 1.25 m, segment k carrying racks k..16
    seg_q = q_valve[::-1].cumsum()[::-1]
    rho, mu = lp["rho_kg_m3"], float(coolant_properties("PG25", lp["t_properties_c"])["mu_pa_s"])
    drops = hydraulics.pipe_dp_pa(seg_q, 20.0 / n, 0.2, 4.5e-5, rho, mu)
    head = lp["dp_setpoint_kpa"] * 1e3 + 2 * drops.sum()
    assert lp["pump_head_kpa"] * 1e3 == pytest.approx(head, rel=1e-9)
    # three pumps (the least power), on the quadratic curve through 2,125 L/min at 241 kPa, shut-off 1.25 x
    q = q_valve.sum()
    assert lp["flow_m3_s"] == pytest.approx(q, rel=1e-12) and lp["pumps_running"] == 3
    q_r, h_r = c.flow_lpm / 60000, c.pump_head_kpa * 1e3
    h0, kp = 1.25 * h_r, 0.25 * h_r / q_r**2
    s = np.sqrt((head + kp * (q / 3) ** 2) / h0)
    x = q / 3 / (s * q_r)
    eta = c.pump_efficiency * float(
        hydraulics.efficiency_ratio(
            x, c.pump_efficiency_curve.flow_fraction, c.pump_efficiency_curve.efficiency_ratio
        )
    )
    assert lp["pump_speed"] == pytest.approx(s, rel=1e-9)
    assert lp["pump_efficiency"] == pytest.approx(eta, rel=1e-9)
    assert lp["pump_power_w"] == pytest.approx(head * q / eta, rel=1e-9)
    # the figures: ~117 kPa, 0.73 speed, ~59 % efficiency, ~18 kW
    assert (head / 1e3, s, eta, head * q / eta / 1e3) == (
        pytest.approx(117.4, abs=0.1),
        pytest.approx(0.732, abs=1e-3),
        pytest.approx(0.586, abs=1e-3),
        pytest.approx(18.2, abs=0.1),
    )


def test_facility_power_is_smooth_in_rack_power(pod_model):
    # Max-Q linearises the cooling power around the coupled solve: no steps as one rack's power moves
    p0 = pod_model.racks["power_maxp_w"].to_numpy() * 0.7
    x = np.linspace(0.45, 1.0, 56)
    mech = []
    for f in x:
        p = p0.copy()
        p[3] = f * pod_model.racks["power_maxp_w"].iat[3]
        mech.append(solve_thermal(pod_model, rack_power_w=p).kpis["cooling_power_mw"])
    d = np.diff(mech)
    assert np.all(d > 0)
    assert np.max(np.abs(np.diff(d))) < 0.2 * np.median(np.abs(d))


# ---- coolant properties at each stream's mean temperature (issue 10, item 5)
@pytest.mark.parametrize("it_load", [0.4, 1.0])
def test_water_side_energy_balance_at_the_stream_mean_temperature(pod_model, campus_model, it_load):
    # an independent check with CoolProp called here: volume flow x rho c_p at the stream's mean temperature x
    # its temperature change equals the heat the stream carries (was 0.17 % off with properties at the setpoint)
    for m in (pod_model, campus_model):
        res = solve_thermal(m, it_load=it_load)
        lp, h = res.res_loops, res.res_halls
        t_mean = (lp["coolant_supply_c"] + lp["coolant_return_c"]) / 2
        tk = t_mean.to_numpy() + 273.15
        rho = CP.PropsSI("D", "T", tk, "P", 3e5, "INCOMP::MPG[0.25]")
        cp = CP.PropsSI("C", "T", tk, "P", 3e5, "INCOMP::MPG[0.25]")
        carried = lp["flow_m3_s"] * rho * cp * (lp["coolant_return_c"] - lp["coolant_supply_c"])
        assert carried.to_numpy() == pytest.approx(lp["liquid_heat_w"].to_numpy(), rel=1e-6)
        tw = (h["fws_supply_c"] + h["fws_return_c"]).to_numpy() / 2 + 273.15
        rho_w = CP.PropsSI("D", "T", tw, "P", 3e5, "Water")
        cp_w = CP.PropsSI("C", "T", tw, "P", 3e5, "Water")
        water = h["fws_flow_m3_s"] * rho_w * cp_w * (h["fws_return_c"] - h["fws_supply_c"])
        into = h["heat_rejected_w"]  # everything the facility water takes in leaves through heat rejection
        assert water.to_numpy() == pytest.approx(into.to_numpy(), rel=1e-6)
        assert res.kpis["property_temperature_residual_k"] < 1e-4


# ---- every CDU of a loop failed: the solve goes on, the loop and its racks say they have no cooling
def test_every_cdu_of_a_loop_failed_is_reported_not_an_error(pod_model):
    cdus = list(pod_model.cdus["name"])
    res = solve_thermal(pod_model, failed=cdus)
    lp = res.res_loops.iloc[0]
    assert lp["status"] == "all 3 CDUs failed: its racks have no cooling" and not lp["cooled"]
    assert res.kpis["loops_cooling_lost"] == 1 and res.kpis["racks_cooling_lost"] == 16
    rr = res.res_racks
    assert not rr["cooled"].any() and (rr["flow_m3_s"] == 0).all()
    assert rr["heat_unremoved_w"].to_numpy() == pytest.approx(rr["liquid_heat_w"].to_numpy())
    assert np.isinf(rr["junction_c"]).all()
    assert res.kpis["energy_balance_rel_error"] <= 1e-6
    _no_nan(res)
    # the same when only the pumps or only the exchangers are gone
    pumps = solve_thermal(pod_model, failed=[f"{c}/pump" for c in cdus]).res_loops.iloc[0]
    assert pumps["status"] == "no CDU pump running: its racks have no cooling"


def test_bad_rack_power_names_the_rack(pod_model):
    p = pod_model.racks["power_maxp_w"].to_numpy().copy()
    p[[2, 5]] = np.nan
    with pytest.raises(InputError, match=r"2 of 16 are not \(first: hall-1/pod-1/row-a/03 = nan\)"):
        solve_thermal(pod_model, rack_power_w=p)
