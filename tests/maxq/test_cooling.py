"""``twin.maxq.cooling``: facility-water supply setpoints co-optimised with the Max-Q caps.

Bounds (W-class, dew point), the trade at a hot ambient where trim chillers run, never fewer tokens/s than the
fixed setpoints, every limit honoured, the energy mode, and a brute-force search over each hall's setpoint that
finds nothing better by more than 0.1 % (one representative case by default, the full set with ``-m slow``)."""

from __future__ import annotations

import numpy as np
import pytest

from twin.coupled import solve_coupled
from twin.errors import InputError
from twin.maxq.cooling import (
    W_CLASS_MAX_C,
    least_power_for_tokens,
    optimize_cooling,
    setpoint_bounds,
)
from twin.maxq.optimize import optimize_maxq
from twin.thermal import solve_thermal
from twin.thermal.properties import dew_point_c


def check_limits(model, res, bounds, ambient_c=None):
    """Every junction at or below throttle, setpoints within bounds, energy balance closed, within budget."""
    cp = res.maxq.coupled
    rr = cp.res_racks
    on = rr["on"].to_numpy()
    assert np.all(rr["margin_k"].to_numpy()[on] >= -1e-6)
    assert res.maxq.kpis["over_temperature_racks"] == 0
    s = res.setpoints["chosen_c"].to_numpy()
    assert np.all(s >= bounds["lower_c"].to_numpy() - 1e-9) and np.all(
        s <= bounds["upper_c"].to_numpy() + 1e-9
    )
    q = res.setpoints["tcs_flow_lpm_per_kw_chosen"].to_numpy()
    assert np.all(q >= 1.25 - 1e-9) and np.all(q <= 2.0 + 1e-9)  # OCP range
    assert cp.thermal.kpis["racks_valve_saturated"] == 0 and cp.thermal.kpis["loops_pump_limited"] == 0
    assert cp.thermal.kpis["energy_balance_rel_error"] <= 1e-6
    assert res.maxq.kpis["facility_power_mw"] <= res.maxq.budget_mw * (1 + 1e-12)
    # re-checked independently: the coupled solve at the returned caps and setpoints
    f = q / bounds["design_flow_lpm_per_kw"].to_numpy()
    again = solve_coupled(
        model,
        gpu_cap_w=res.maxq.gpu_cap_w,
        racks_on=res.maxq.racks_on,
        supply_c=s,
        ambient_c=ambient_c,
        tcs_flow_scale=f,
    )
    assert again.facility_power_w <= res.maxq.budget_mw * 1e6 * (1 + 1e-6)


def test_bounds_are_the_w_class_and_the_dew_point(pod_model):
    b = setpoint_bounds(pod_model)
    assert b["upper_c"].iat[0] == W_CLASS_MAX_C[pod_model.fws["w_class"].iat[0]] == 45.0
    site = pod_model.layout.site
    dew = dew_point_c(site.design_ambient_c, site.design_wet_bulb_c)
    assert b["lower_c"].iat[0] == pytest.approx(dew + 2.0)
    cold = setpoint_bounds(pod_model, ambient_c=-20.0)
    assert cold["lower_c"].iat[0] == 5.0  # the model's lowest setpoint


def test_per_hall_setpoints_in_the_thermal_solve(campus_model):
    n_h = len(campus_model.halls)
    s = np.full(n_h, 45.0)
    s[0] = 40.0
    th = solve_thermal(campus_model, supply_c=s, it_load=0.8)
    sp = th.res_halls["fws_setpoint_c"].to_numpy()
    assert sp[0] == 40.0 and np.all(sp[1:] == 45.0)
    with pytest.raises(InputError, match="one per hall"):
        solve_thermal(campus_model, supply_c=[40.0, 45.0])
    with pytest.raises(InputError, match="within 5 and 70"):
        solve_thermal(campus_model, supply_c=np.full(n_h, 80.0))


def test_tcs_flow_setpoint_in_the_thermal_solve(pod_model):
    """The valves hold the flow per kW times the factor; less flow: less TCS pump power, warmer junctions."""
    a = solve_thermal(pod_model, it_load=1.0)
    b = solve_thermal(pod_model, it_load=1.0, tcs_flow_scale=1.25 / 1.5)
    assert np.allclose(a.res_racks["flow_lpm_per_kw"], 1.5, rtol=1e-3)
    assert np.allclose(b.res_racks["flow_lpm_per_kw"], 1.25, rtol=1e-3)
    assert b.kpis["tcs_pumps_mw"] < a.kpis["tcs_pumps_mw"]
    assert b.kpis["max_junction_c"] > a.kpis["max_junction_c"]
    assert b.kpis["energy_balance_rel_error"] <= 1e-6
    with pytest.raises(InputError, match="tcs_flow_scale"):
        solve_thermal(pod_model, tcs_flow_scale=3.0)


def test_hot_ambient_trade_chillers_for_gpus(pod_model):
    """44 C outside, fixed supply 30 C (a W32-style design): trim chillers run. Raising the supply stops them;
    the MW saved go to the GPUs within the same budget; the table says so."""
    res = optimize_cooling(pod_model, budget_mw=3.5, ambient_c=44.0, supply_c=30.0)
    row = res.setpoints.iloc[0]
    assert "chiller" in row["stage_fixed"]
    assert row["chiller_power_fixed_mw"] > 0.3
    k = res.kpis
    assert k["chiller_power_saved_mw"] > 0.3
    assert k["gpu_power_gained_mw"] > 0.3
    assert k["tokens_per_s_gained"] > 0 and k["tokens_gain_pct"] > 10
    assert row["chosen_c"] > 33.0
    assert k["cooling_setpoints"] == [
        {
            "hall": "hall-1",
            "supply_c": float(row["chosen_c"]),
            "tcs_flow_lpm_per_kw": float(row["tcs_flow_lpm_per_kw_chosen"]),
        }
    ]
    check_limits(pod_model, res, setpoint_bounds(pod_model, 44.0), ambient_c=44.0)


@pytest.mark.parametrize(("ambient_c", "supply_c"), [(None, None), (10.0, 35.0)])
def test_never_fewer_tokens_than_fixed(pod_model, ambient_c, supply_c):
    res = optimize_cooling(pod_model, budget_mw=3.5, ambient_c=ambient_c, supply_c=supply_c)
    fixed = optimize_maxq(pod_model, budget_mw=3.5, ambient_c=ambient_c, supply_c=supply_c)
    assert res.maxq.kpis["tokens_per_s"] >= fixed.kpis["tokens_per_s"] * (1 - 1e-12)
    assert res.kpis["tokens_per_s_fixed"] == pytest.approx(fixed.kpis["tokens_per_s"], rel=1e-12)
    check_limits(pod_model, res, setpoint_bounds(pod_model, ambient_c), ambient_c=ambient_c)


def test_energy_mode_needs_less_power_with_cooling(pod_model):
    """The least facility power serving 95 % of the tokens/s of the fixed setpoints at 3.5 MW: less with the
    setpoints co-optimised, and the requirement met."""
    kw = dict(ambient_c=44.0, supply_c=30.0)
    need = 0.95 * optimize_maxq(pod_model, budget_mw=3.5, **kw).kpis["tokens_per_s"]
    b_fix, r_fix = least_power_for_tokens(
        pod_model, tokens_per_s=need, optimize_setpoints=False, rel_tol=1e-3, **kw
    )
    b_cool, r_cool = least_power_for_tokens(pod_model, tokens_per_s=need, rel_tol=1e-3, **kw)
    assert r_fix.kpis["tokens_per_s"] >= need * (1 - 1e-3)
    assert r_cool.maxq.kpis["tokens_per_s"] >= need * (1 - 1e-3)
    assert b_fix < 3.5
    assert b_cool < b_fix * 0.95
    with pytest.raises(InputError, match="not reachable"):
        least_power_for_tokens(pod_model, tokens_per_s=1e12, optimize_setpoints=False)


def brute_force_gap(model, budget_mw, ambient_c, step_k, n_flow, supply_c=None):
    """(optimiser result, best objective of Max-Q over a grid of the hall's supply setpoint x TCS flow factor,
    gap = best / ours - 1)."""
    res = optimize_cooling(model, budget_mw=budget_mw, ambient_c=ambient_c, supply_c=supply_c)
    b = setpoint_bounds(model, ambient_c)
    assert len(b) == 1  # one hall: the grid is over its setpoints
    lo, hi = float(b["lower_c"].iat[0]), float(b["upper_c"].iat[0])
    grid = np.append(np.arange(lo, hi, step_k), hi)
    flows = np.linspace(float(b["flow_scale_lower"].iat[0]), float(b["flow_scale_upper"].iat[0]), n_flow)
    best = 0.0
    for s in grid:
        for f in np.append(flows, 1.0):
            try:
                q = optimize_maxq(
                    model, budget_mw=budget_mw, ambient_c=ambient_c, supply_c=s, tcs_flow_scale=f
                )
            except InputError:  # no verified caps at this point: not a candidate
                continue
            if q.feasible and q.coupled.thermal.kpis["racks_valve_saturated"] == 0:
                best = max(best, q.kpis["objective_per_s"])
    ours = res.maxq.kpis["objective_per_s"]
    return res, best, best / ours - 1.0


def test_brute_force_finds_nothing_better_pod_hot(pod_model):
    res, best, gap = brute_force_gap(pod_model, 3.5, 44.0, 2.0, 3, supply_c=30.0)
    assert gap <= 1e-3
    check_limits(pod_model, res, setpoint_bounds(pod_model, 44.0), ambient_c=44.0)


@pytest.mark.slow
@pytest.mark.parametrize("ambient_c", [10.0, None, 46.0])
@pytest.mark.parametrize(
    ("layout", "budget_mw"),
    [("pod", 3.0), ("pod", 4.2), ("hall", 80.0), ("hall", 100.0)],
)
def test_brute_force_finds_nothing_better(pod_model, hall_ac_model, layout, budget_mw, ambient_c):
    model = pod_model if layout == "pod" else hall_ac_model
    step, n_flow = (0.5, 7) if layout == "pod" else (1.0, 5)
    res, best, gap = brute_force_gap(model, budget_mw, ambient_c, step, n_flow)
    assert gap <= 1e-3, (best, res.maxq.kpis["objective_per_s"])
    check_limits(model, res, setpoint_bounds(model, ambient_c), ambient_c=ambient_c)


def test_bad_arguments(pod_model):
    with pytest.raises(InputError, match="max_rounds"):
        optimize_cooling(pod_model, budget_mw=3.5, max_rounds=0)
    with pytest.raises(InputError, match="one per hall"):
        optimize_cooling(pod_model, budget_mw=3.5, supply_c=[40.0, 41.0])


def test_campus_halls_choose_their_own_setpoints(campus_model):
    """Hot day, one hall designed at 36 C and the others at 45 C: that hall's setpoint rises until its chillers
    (nearly) stop; every limit holds, tokens/s rise."""
    n_h = len(campus_model.halls)
    fixed = np.full(n_h, 45.0)
    fixed[0] = 36.0
    res = optimize_cooling(campus_model, budget_mw=1000.0, ambient_c=44.0, supply_c=fixed)
    t = res.setpoints
    assert (
        t["chosen_c"].iat[0] > 38.0
    )  # dry + adiabatic hold it from ~39.5 C (the cooling power is flat above)
    assert (
        t["chiller_power_fixed_mw"].iat[0] > 0
        and t["chiller_power_chosen_mw"].iat[0] < 0.5 * t["chiller_power_fixed_mw"].iat[0]
    )
    # the other halls may move within their plateau (dry + adiabatic at full speed: the cooling power is
    # nearly flat in the setpoint there); they never cost tokens: the verified total rises
    assert res.kpis["tokens_per_s_gained"] > 0
    check_limits(campus_model, res, setpoint_bounds(campus_model, 44.0), ambient_c=44.0)
