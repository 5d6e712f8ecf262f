"""twin.thermal.heat_rejection: dry-cooler rating and eps-NTU, chiller COP from the Carnot fraction, and the
staging of solve_heat_rejection (dry, adiabatic, chillers, floating supply) checked by hand."""

from __future__ import annotations

import CoolProp.CoolProp as CP
import numpy as np
import pytest

from twin.catalog import load_catalog
from twin.errors import InputError
from twin.thermal import cdu, properties, solve_thermal
from twin.thermal.heat_rejection import (
    chiller_carnot_fraction,
    chiller_cop,
    chiller_operating_point,
    dry_cooler_heat_w,
    dry_cooler_rating,
    solve_heat_rejection,
)


def test_dry_cooler_rating_point_and_affinity_law():
    dc = load_catalog().get("dry_coolers", "drycooler-1500")
    rat = dry_cooler_rating(dc, 4180.0)
    q = float(
        dry_cooler_heat_w(
            1.0,
            rat["ua_w_per_k"],
            rat["c_air_w_per_k"],
            dc.ua_airflow_exponent,
            rat["c_water_w_per_k"],
            dc.rating_water_in_c,
            dc.rating_ambient_c,
        )
    )
    assert q == pytest.approx(dc.capacity_kw * 1e3, rel=1e-9)
    # less air, less heat; hotter air, less heat
    q_half = float(
        dry_cooler_heat_w(
            0.5, rat["ua_w_per_k"], rat["c_air_w_per_k"], 0.8, rat["c_water_w_per_k"], 56.0, 35.0
        )
    )
    q_hot = float(
        dry_cooler_heat_w(
            1.0, rat["ua_w_per_k"], rat["c_air_w_per_k"], 0.8, rat["c_water_w_per_k"], 56.0, 40.0
        )
    )
    assert q_half < q and q_hot < q


def test_chiller_cop_meets_rating_and_falls_with_lift():
    ch = load_catalog().get("chillers", "trim-chiller-2mw")
    assert float(chiller_cop(ch.rating_leaving_c, ch.rating_ambient_c, ch)) == pytest.approx(
        ch.cop_rated, rel=1e-12
    )
    # condensing on ambient air, not on the leaving water: the COP falls with every degree of ambient, also
    # below the leaving water (before: flat at max(T_amb, T_leaving) + approach for T_amb < 45 C)
    amb = np.array([36.0, 38.0, 40.0, 42.0, 45.0, 48.0, 50.0])
    cops = chiller_cop(45.0, amb, ch)
    assert np.all(np.diff(cops) < 0)
    # by hand at 45 C leaving, 36 C ambient: T_e = 45 - 3 = 42 C, T_c = 36 + 15 = 51 C (lift 9 K);
    # eta_c = 5.5 (40 + 15 - 42) / 315.15 = 0.22688 from the rating; COP = eta_c 315.15 / 9 = 5.5 * 13 / 9
    assert ch.evaporator_approach_k == 3.0 and ch.condenser_approach_k == 15.0 and ch.cop_rated == 5.5
    assert chiller_carnot_fraction(ch) == pytest.approx(5.5 * 13.0 / 315.15, rel=1e-12)
    assert float(cops[0]) == pytest.approx(5.5 * 13.0 / 9.0, rel=1e-12)  # 7.944
    op = chiller_operating_point(45.0, 36.0, ch)
    assert float(op["t_condensing_c"]) == pytest.approx(51.0) and float(op["t_evaporating_c"]) == 42.0


# ---- chiller: physical lift, catalog COP cap, map reported
def test_chiller_lift_never_collapses_and_cap_is_reported():
    ch = load_catalog().get("chillers", "trim-chiller-2mw")
    op = chiller_operating_point(45.0, np.array([-40.0, -10.0, 20.0, 40.0, 55.0]), ch)
    assert np.all(np.isfinite(op["cop"])) and np.all(op["cop"] <= ch.cop_max) and np.all(op["cop"] > 1)
    # at -10 C and 20 C the condenser could condense below the evaporator: head-pressure control holds the
    # condensing temperature at the map's minimum lift eta_c T_e / COP_max, where COP = COP_max (reported)
    eta = chiller_carnot_fraction(ch)
    te = 45.0 - ch.evaporator_approach_k + 273.15
    assert list(op["capped"]) == [True, True, True, False, False]
    assert op["cop"][1] == pytest.approx(ch.cop_max, rel=1e-12)
    assert op["t_condensing_c"][1] == pytest.approx(te + eta * te / ch.cop_max - 273.15, rel=1e-12)
    assert op["cop"][4] == pytest.approx(eta * te / (55.0 + 15.0 + 273.15 - te), rel=1e-12)
    assert list(op["outside_map"]) == [True, False, False, False, True]
    # above the map's highest leaving water the MOP valve holds the evaporating temperature: the COP of a
    # floating supply falls with the ambient (the lift grows 1 K/K) and the chiller reports it is off its map
    hot = chiller_operating_point(np.array([44.0, 50.0, 56.0]), np.array([38.0, 44.0, 50.0]), ch)
    assert list(hot["outside_map"]) == [False, True, True]
    assert list(hot["t_evaporating_c"]) == [41.0, 42.0, 42.0]
    assert np.all(np.diff(hot["cop"]) < 0)
    assert hot["cop"][2] == pytest.approx(eta * te / (50.0 + 15.0 - 42.0), rel=1e-12)
    # a rating the Carnot-fraction model cannot meet is a clear input error
    with pytest.raises(InputError, match="Carnot fraction"):
        chiller_carnot_fraction(ch.model_copy(update={"cop_rated": 30.0, "cop_max": 40.0}))
    with pytest.raises(InputError, match="condensing"):
        chiller_carnot_fraction(ch.model_copy(update={"condenser_approach_k": 1.0}))


def test_hall_chiller_cop_falls_over_an_ambient_sweep(hall_ac_model):
    # the review's case: hall_100mw_ac at its 45 C setpoint in saturated air (wet bulb = dry bulb: the pads do
    # nothing), 36 -> 48 C; chillers trim from 36 C, the setpoint is lost from 39 C. Before, the chiller condensed
    # at the leaving water + 22.8 K and its COP rose 5.50 -> 5.70 with the floating supply.
    cops, stages = [], []
    for amb in (36.0, 39.0, 42.0, 45.0, 48.0):
        res = solve_thermal(hall_ac_model, ambient_c=amb, wet_bulb_c=amb)
        hr = res.res_heat_rejection
        running = hr[(hr["kind"] == "chiller") & (hr["cop"] > 0)]
        assert len(running) > 0
        cops.append(float(running["cop"].iat[0]))
        stages.append(res.res_halls["stage"].iat[0])
        h = res.res_halls.iloc[0]
        assert h["chiller_power_w"] == pytest.approx(h["chiller_heat_w"] / cops[-1], rel=1e-12)
    assert stages[0] == "dry+chiller" and stages[-1] == "setpoint lost"
    assert np.all(np.diff(cops) < 0), cops
    assert cops[0] == pytest.approx(5.5 * 13.0 / 9.0, rel=1e-9)  # held at 45 C: by hand above
    # at 48 C the supply floats above the map (56 C): T_e held at 42 C, T_c = 63 C, COP = 5.5 * 13 / 21
    assert cops[-1] == pytest.approx(5.5 * 13.0 / 21.0, rel=1e-9)


# ---- dry-cooler air at the actual ambient density
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


def _one_hall(heat_w, ambient_c, wet_bulb_c, n_dry=2, chiller=None, setpoint_c=40.0):
    """solve_heat_rejection on one hall of drycooler-1500 units (at their rated water flow each)."""
    cat = load_catalog()
    dc = cat.get("dry_coolers", "drycooler-1500")
    rat = dry_cooler_rating(dc, 4180.0)
    ch = cat.get("chillers", chiller) if chiller else None
    c_w = rat["c_water_w_per_k"] * max(n_dry, 1)
    out = solve_heat_rejection(
        heat_w=np.array([heat_w]),
        c_water_w_per_k=np.array([c_w]),
        setpoint_c=np.array([setpoint_c]),
        ambient_c=ambient_c,
        wet_bulb_c=wet_bulb_c,
        n_dry=np.array([n_dry]),
        ua_rated=np.array([rat["ua_w_per_k"]]),
        c_air_rated=np.array([rat["c_air_w_per_k"]]),
        exponent=np.array([dc.ua_airflow_exponent]),
        fan_power_rated_w=np.array([rat["fan_power_w"]]),
        adiabatic_ok=np.array([dc.adiabatic]),
        adiabatic_eff=np.array([dc.adiabatic_effectiveness]),
        chiller_capacity_w=np.array([ch.capacity_kw * 1e3 if ch else 0.0]),
        chillers=[ch],
    )
    return {k: v[0] for k, v in out.items()}, rat, dc, ch, c_w


def _unit_heat(rat, dc, speed, c_w_unit, t_water_in, t_air_in):
    return float(
        dry_cooler_heat_w(
            speed,
            rat["ua_w_per_k"],
            rat["c_air_w_per_k"],
            dc.ua_airflow_exponent,
            c_w_unit,
            t_water_in,
            t_air_in,
        )
    )


def test_dry_stage_fan_speed_rejects_the_heat_exactly():
    r, rat, dc, _, c_w = _one_hall(2.0e6, 20.0, 15.0)
    assert r["stage"] == "dry" and r["setpoint_held"] and 0 < r["fan_speed"] < 1
    # return = setpoint + Q / C_w; two coolers at the solved speed reject exactly Q (eps-NTU by hand)
    assert r["return_c"] == pytest.approx(40.0 + 2.0e6 / c_w, rel=1e-12)
    assert 2 * _unit_heat(rat, dc, r["fan_speed"], c_w / 2, r["return_c"], 20.0) == pytest.approx(
        2.0e6, rel=1e-9
    )
    # fan affinity law: P = P_r s^3 per running cooler
    assert r["fan_power_w"] == pytest.approx(2 * rat["fan_power_w"] * r["fan_speed"] ** 3, rel=1e-12)
    assert r["water_kg_s"] == 0.0 and r["chiller_heat_w"] == 0.0


def test_adiabatic_stage_pads_wetted_just_enough():
    r, rat, dc, _, c_w = _one_hall(2.5e6, 32.0, 20.0)
    assert r["stage"] == "dry+adiabatic" and r["fan_speed"] == 1.0 and r["adiabatic_on"]
    # the air inlet lies between the dry bulb and the fully wetted pads T_db - eta (T_db - T_wb)
    assert 32.0 - dc.adiabatic_effectiveness * (32.0 - 20.0) <= r["air_in_c"] < 32.0
    assert 2 * _unit_heat(rat, dc, 1.0, c_w / 2, r["return_c"], r["air_in_c"]) == pytest.approx(
        2.5e6, rel=1e-9
    )
    # water evaporated m_w = m_a c_p (T_db - T_in) / h_fg, h_fg of water at the wet bulb (IAPWS-95)
    h_fg = CP.PropsSI("H", "T", 293.15, "Q", 1, "Water") - CP.PropsSI("H", "T", 293.15, "Q", 0, "Water")
    hand = 2 * rat["c_air_w_per_k"] * (32.0 - r["air_in_c"]) / h_fg
    assert r["water_kg_s"] == pytest.approx(hand, rel=1e-9)
    # pads are drained at a wet bulb <= 1 C (frost): no water, chillers or a lost setpoint instead
    cold, *_ = _one_hall(2.5e6, 32.0, 0.5)
    assert not cold["adiabatic_on"] and cold["water_kg_s"] == 0.0


def test_chiller_stage_cools_the_rest_at_its_cop():
    r, rat, dc, ch, c_w = _one_hall(2.5e6, 36.0, 36.0, chiller="trim-chiller-2mw")
    assert r["stage"] == "dry+chiller" and r["fan_speed"] == 1.0 and r["setpoint_held"]
    # in series: the dry coolers at full speed, the chiller takes the rest down to the setpoint
    q_dry = 2 * _unit_heat(rat, dc, 1.0, c_w / 2, r["return_c"], 36.0)
    assert r["dry_heat_w"] == pytest.approx(q_dry, rel=1e-12)
    assert r["chiller_heat_w"] == pytest.approx(2.5e6 - q_dry, rel=1e-9)
    assert r["chiller_heat_w"] == pytest.approx(c_w * (r["dry_out_c"] - 40.0), rel=1e-9)
    cop = float(chiller_cop(40.0, 36.0, ch))
    assert cop == pytest.approx(chiller_carnot_fraction(ch) * 310.15 / (36.0 + 15.0 - 37.0), rel=1e-12)
    assert r["chiller_cop"] == cop and r["chiller_power_w"] == pytest.approx(
        r["chiller_heat_w"] / cop, rel=1e-12
    )


def test_setpoint_lost_supply_floats_to_the_heat_balance():
    # one cooler, no chiller, saturated air: the supply rises until the cooler at full speed rejects Q
    r, rat, dc, _, c_w = _one_hall(4.0e6, 30.0, 30.0, n_dry=1)
    assert r["stage"] == "setpoint lost" and not r["setpoint_held"]
    assert r["supply_c"] > 40.0 and r["return_c"] - r["supply_c"] == pytest.approx(4.0e6 / c_w, rel=1e-9)
    assert _unit_heat(rat, dc, 1.0, c_w, r["return_c"], 30.0) == pytest.approx(4.0e6, rel=1e-9)
    # without any running dry cooler there is no steady state
    none, *_ = _one_hall(2.0e6, 30.0, 20.0, n_dry=0)
    assert none["supply_c"] == np.inf and none["fan_speed"] == 0.0
