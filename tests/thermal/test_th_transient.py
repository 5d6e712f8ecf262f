"""Transients: equilibrium at rest, convergence to the new steady state, energy storage, ride-through."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import InputError
from twin.thermal import simulate_transient, solve_thermal


def test_steady_start_stays_steady(pod_model):
    r = simulate_transient(pod_model, "load-step", load_from=1.0, load_to=1.0, duration_s=60.0)
    s = r.series
    assert r.kpis["solver_success"]
    assert np.ptp(s["max_junction_c"]) < 1e-6
    assert np.ptp(s["heat_to_fws_w"]) / s["heat_to_fws_w"].iat[0] < 1e-8
    assert r.kpis["ride_through_s"] is None


def test_load_step_settles_on_the_new_steady_state(pod_model):
    r = simulate_transient(pod_model, "load-step", load_from=0.3, load_to=1.0, duration_s=300.0)
    post = solve_thermal(pod_model, it_load=1.0)
    fin = r.res_racks_final
    assert fin["t_outlet_c"].to_numpy() == pytest.approx(
        post.res_racks["t_outlet_c"].to_numpy()[fin["rack"]], abs=1e-3
    )
    assert fin["margin_k"].to_numpy() == pytest.approx(
        post.res_racks["margin_k"].to_numpy()[fin["rack"]], abs=1e-3
    )
    # heat into the facility water lags the IT step (coolant volumes store heat) and then catches up
    s = r.series
    k = int(np.searchsorted(s["time_s"], 31.0))
    assert s["heat_to_fws_w"].iat[k] < s["it_power_w"].iat[k]
    assert s["heat_to_fws_w"].iat[-1] == pytest.approx(post.res_loops["heat_w"].sum(), rel=1e-4)


def test_supply_step_moves_junctions_by_the_step(pod_model):
    r = simulate_transient(pod_model, "supply-step", step_k=3.0, duration_s=400.0)
    s = r.series
    # every temperature of the loop follows the facility water (the pump work changes by < 0.1 %)
    assert s["max_junction_c"].iat[-1] - s["max_junction_c"].iat[0] == pytest.approx(3.0, abs=5e-3)
    assert np.all(np.diff(s["max_junction_c"]) >= -1e-5)  # no overshoot (to the ODE tolerance, atol 1e-6 K)


def test_energy_stored_matches_heat_in_minus_heat_out(pod_model):
    # integral of (IT liquid heat + pump work - CDU heat) = change of stored enthalpy sum C dT
    r = simulate_transient(pod_model, "supply-step", step_k=5.0, duration_s=120.0, dt_out_s=0.05)
    s = r.series
    net = s["it_power_w"] + s["pump_power_w"] - s["heat_to_fws_w"]
    e_in = np.trapezoid(net, s["time_s"])
    # stored: the racks, return and supply volumes all end 5 K warmer at a steady state
    pre = solve_thermal(pod_model)
    lp = pre.res_loops
    racks = pod_model.racks
    c_racks = (2.0 * racks["design_flow_m3_s"] * lp["rho_kg_m3"].iat[0] * lp["cp_j_kg_k"].iat[0]).sum()
    c_vol = pod_model.loops["volume_m3"].iat[0] * lp["rho_kg_m3"].iat[0] * lp["cp_j_kg_k"].iat[0]
    lt = r.res_loops_ts
    d_sup = lt["t_supply_c"].iat[-1] - lt["t_supply_c"].iat[0]
    d_ret = lt["t_return_c"].iat[-1] - lt["t_return_c"].iat[0]
    d_rack = r.res_racks_final["t_outlet_c"].to_numpy() - pre.res_racks["t_outlet_c"].to_numpy()
    stored = (c_racks / len(racks)) * d_rack.sum() + 0.5 * c_vol * (d_sup + d_ret)
    assert e_in == pytest.approx(stored, rel=2e-3)


def test_cdu_loss_and_pump_trip_ride_through(hall_ac_model):
    loss = simulate_transient(hall_ac_model, "cdu-loss", duration_s=400.0)
    trip = simulate_transient(hall_ac_model, "pump-trip", duration_s=120.0)
    assert loss.kpis["solver_success"] and trip.kpis["solver_success"]
    assert loss.kpis["initial_min_margin_k"] > 0
    assert trip.kpis["ride_through_s"] is not None and trip.kpis["ride_through_s"] > 0
    if loss.kpis["ride_through_s"] is not None:
        assert trip.kpis["ride_through_s"] < loss.kpis["ride_through_s"]
    # after failover the loop settles on the steady state with the failed unit
    post = solve_thermal(hall_ac_model, failed=loss.kpis["failed"])
    fin = loss.res_racks_final
    assert fin["margin_k"].to_numpy() == pytest.approx(
        post.res_racks["margin_k"].to_numpy()[fin["rack"]], abs=1e-3
    )
    # only the racks of the tripped loop lose flow
    lt = trip.res_loops_ts
    last = lt[lt["time_s"] == lt["time_s"].max()]
    assert (last["flow_m3_s"] < 1e-3 * last["flow_m3_s"].max()).sum() == 1


def test_bad_transient_inputs(pod_model):
    with pytest.raises(InputError, match="scenario"):
        simulate_transient(pod_model, "meteor")
    with pytest.raises(InputError, match="hall"):
        simulate_transient(pod_model, "load-step", hall="nope")
    with pytest.raises(InputError, match="target"):
        simulate_transient(pod_model, "cdu-loss", target="nope")
    with pytest.raises(InputError, match="duration_s"):
        simulate_transient(pod_model, "load-step", duration_s=-5)
