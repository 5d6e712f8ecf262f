"""twin.thermal.transient (simulate_transient): equilibrium at rest, convergence to the new steady state, energy
storage, ride-through, throttling and shutdown."""

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
    assert fin["coolant_return_c"].to_numpy() == pytest.approx(
        post.res_racks["coolant_return_c"].to_numpy()[fin["rack"]], abs=1e-3
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
    d_sup = lt["coolant_supply_c"].iat[-1] - lt["coolant_supply_c"].iat[0]
    d_ret = lt["coolant_return_c"].iat[-1] - lt["coolant_return_c"].iat[0]
    d_rack = r.res_racks_final["coolant_return_c"].to_numpy() - pre.res_racks["coolant_return_c"].to_numpy()
    # dies: heat capacity per GPU = tau_die / R_design (catalog), 72 GPUs per rack
    rt = pod_model.catalog.rack(pod_model.rack_types["name"].iat[0])
    c_die = racks["gpus"].to_numpy() * rt.die_time_constant_s / racks["cold_plate_r_k_per_w"].to_numpy()
    d_die = r.res_racks_final["junction_c"].to_numpy() - pre.res_racks["junction_c"].to_numpy()
    stored = (c_racks / len(racks)) * d_rack.sum() + 0.5 * c_vol * (d_sup + d_ret) + c_die @ d_die
    assert e_in == pytest.approx(stored, rel=2e-3)
    # the solver's own energy counters close to round-off and agree with the quadrature above
    assert r.kpis["energy_balance_rel_error"] < 1e-9
    assert s["energy_stored_j"].iat[-1] == pytest.approx(stored, rel=2e-3)
    assert s["energy_in_j"].iat[-1] - s["energy_removed_j"].iat[-1] == pytest.approx(e_in, rel=2e-3)


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


def test_die_heat_capacity_lags_a_load_step(pod_model, hall_ac_model):
    # right after a 30 -> 100 % step the die warms at dT_j/dt = (P_1 - P_0) / C_die, C_die = tau / R_design
    r = simulate_transient(
        pod_model, "load-step", load_from=0.3, load_to=1.0, duration_s=1.5, t_event_s=1.0, dt_out_s=0.002
    )
    racks = pod_model.racks
    rt = pod_model.catalog.rack(pod_model.rack_types["name"].iat[0])
    c_die = rt.die_time_constant_s / racks["cold_plate_r_k_per_w"].iat[0]
    p0 = (0.3 * racks["power_maxp_w"].iat[0] - racks["other_power_w"].iat[0]) / racks["gpus"].iat[0]
    p1 = (racks["power_maxp_w"].iat[0] - racks["other_power_w"].iat[0]) / racks["gpus"].iat[0]
    s = r.series
    k = int(np.searchsorted(s["time_s"], 1.0))
    slope = (s["max_junction_c"].iat[k + 1] - s["max_junction_c"].iat[k]) / 0.002
    assert slope == pytest.approx((p1 - p0) / c_die, rel=1e-2)
    # the full step on the 100 MW hall: no instantaneous jump to the throttle limit any more
    full = simulate_transient(hall_ac_model, "load-step", load_from=0.3, load_to=1.0, duration_s=120.0)
    assert full.kpis["ride_through_s"] is None or full.kpis["ride_through_s"] > 1.0
    assert full.kpis["peak_junction_c"] < full.res_racks_final["junction_c"].max() + 10.0
    assert full.kpis["energy_balance_rel_error"] < 1e-9


def test_pump_trip_throttles_then_shuts_down(pod_model):
    r = simulate_transient(pod_model, "pump-trip", duration_s=120.0)
    k, s, fin = r.kpis, r.series, r.res_racks_final
    racks = pod_model.racks
    n_gpu = int(racks["gpus"].sum())
    assert k["solver_success"]
    assert 0 < k["ride_through_s"] < k["time_to_shutdown_s"]
    # bounded: the junction peaks at the shutdown limit (before the fix it ran away to ~1e9 C)
    t_sd = racks["t_shutdown_c"].to_numpy()
    assert k["peak_junction_c"] <= t_sd.max() + 1e-6
    assert fin["junction_peak_c"].to_numpy() == pytest.approx(t_sd, abs=1.5)
    # power bookkeeping: running + throttled away + shut down = command
    cmd = np.where(s["time_s"] >= 30.0, (racks["power_maxp_w"] - racks["other_power_w"]).sum(), np.nan)
    post = s["time_s"] >= 30.0
    total = s["gpu_power_w"] + s["gpu_power_throttled_w"] + s["gpu_power_shut_down_w"]
    assert total[post].to_numpy() == pytest.approx(cmd[post], rel=1e-12)
    # throttling never goes below the GPU minimum power while the GPUs run
    running = s["racks_shut_down"] == 0
    p_min = racks["gpu_power_min_w"].iat[0]
    assert np.all(s.loc[running, "gpu_power_w"] >= n_gpu * p_min * (1 - 1e-9))
    assert s.loc[running, "gpu_power_throttled_w"].max() > 0
    # latched: once off, off for the rest of the run even though the die has cooled below the limits
    assert np.all(np.diff(s["racks_shut_down"]) >= 0)
    assert fin["shut_down"].all() and np.all(fin["gpu_power_w"] == 0.0)
    assert np.all(fin["margin_k"] > 0)
    assert fin["time_to_shutdown_s"].min() == pytest.approx(k["time_to_shutdown_s"])
    assert np.all(fin["time_to_throttle_s"] < fin["time_to_shutdown_s"])
    assert np.all(s.loc[s["time_s"] >= 30.0 + k["time_to_shutdown_s"] + 1, "gpu_power_w"] == 0.0)
    assert k["energy_balance_rel_error"] < 1e-9


def test_pump_trip_shuts_whole_racks_and_bounds_the_coolant(pod_model, hall_ac_model):
    # the rack controller powers the whole rack off (GPUs and other power) at a GPU shutdown alarm, so the
    # stagnant coolant of a tripped loop stops heating (before: +1 K/s, ~167 C after 120 s)
    import CoolProp.CoolProp as CP

    from twin.thermal.properties import LOOP_PRESSURE_PA

    # PG25 boils above water at the same pressure (boiling-point elevation): water's T_sat is a safe bound
    t_boil = CP.PropsSI("T", "P", LOOP_PRESSURE_PA, "Q", 0, "Water") - 273.15
    r = simulate_transient(pod_model, "pump-trip", duration_s=300.0)
    k, s, fin = r.kpis, r.series, r.res_racks_final
    racks = pod_model.racks
    assert k["solver_success"] and k["racks_shut_down"] == len(racks)
    assert k["peak_coolant_c"] < t_boil - 20.0
    lt = r.res_loops_ts
    assert (
        max(lt["coolant_supply_c"].max(), lt["coolant_return_c"].max(), fin["coolant_return_c"].max())
        <= k["peak_coolant_c"]
    )
    # once every rack is off, the loop has no heat source but the decaying pump work: the hottest coolant and
    # die only cool (max principle; 1e-4 K for the residual pump work and the ODE tolerance)
    after = s["time_s"] > 30.0 + fin["time_to_shutdown_s"].max()
    assert after.sum() > 200
    assert np.all(np.diff(s.loc[after, "max_coolant_c"]) <= 1e-4)
    assert np.all(np.diff(s.loc[after, "max_junction_c"]) <= 1e-4)
    assert s.loc[after, "max_coolant_c"].iat[-1] < s.loc[after, "max_coolant_c"].iat[0]
    # the whole IT power is off: none of it is in the heat input any more, and the bookkeeping closes
    assert np.all(s.loc[after, "it_power_w"] == 0.0)
    post = s["time_s"] >= 30.0
    cmd = racks["power_maxp_w"].sum()
    total = (
        s["it_power_w"]
        + s["gpu_power_throttled_w"]
        + s["gpu_power_shut_down_w"]
        + s["other_power_shut_down_w"]
    )
    assert total[post].to_numpy() == pytest.approx(np.full(post.sum(), cmd), rel=1e-12)
    assert k["it_power_shut_down_mw"] == pytest.approx(cmd / 1e6, rel=1e-12)
    assert k["energy_balance_rel_error"] < 1e-9
    # on the 100 MW hall exactly the racks of the tripped loop go off; the other loops run on untouched
    big = simulate_transient(hall_ac_model, "pump-trip", duration_s=120.0)
    bf = big.res_racks_final
    tripped = bf["loop"] == bf["loop"].iat[0]
    assert bf.loc[tripped, "shut_down"].all() and not bf.loc[~tripped, "shut_down"].any()
    assert big.kpis["peak_coolant_c"] < t_boil - 20.0
    it_after = big.series["it_power_w"].iat[-1]
    hall_racks = hall_ac_model.racks.iloc[bf["rack"]]
    assert it_after == pytest.approx(
        hall_racks["power_maxp_w"].to_numpy()[~tripped.to_numpy()].sum(), rel=1e-9
    )
    assert big.kpis["energy_balance_rel_error"] < 1e-9


def test_lost_pump_power_scales_with_running_count(pod_model):
    # cdu-loss on a loop of 3 CDUs: until failover the 2 survivors hold speed and duty point, so shaft power
    # ramps (pump_ramp_s lag) to 2/3 of the initial, not (2/3)^3 = 0.30 (affinity law, for a speed change)
    r = simulate_transient(pod_model, "cdu-loss", duration_s=200.0, dt_out_s=0.5)
    assert len(pod_model.cdus) == 3 and len(r.kpis["failed"]) == 1
    pre = solve_thermal(pod_model)
    post = solve_thermal(pod_model, failed=r.kpis["failed"])
    w0 = pre.res_loops["pump_power_w"].iat[0]
    lt = r.res_loops_ts
    cat = pre.state["cat"]
    tau, fo = float(cat["pump_ramp_s"][0]), float(cat["failover_s"][0])
    t = lt["time_s"].to_numpy()
    mid = (t > 30.0) & (t < 30.0 + fo)
    hand = w0 * (2.0 / 3.0 + (1.0 / 3.0) * np.exp(-(t[mid] - 30.0) / tau))
    assert lt["pump_power_w"].to_numpy()[mid] == pytest.approx(hand, rel=1e-9)
    just_before = lt["pump_power_w"].to_numpy()[t == 30.0 + fo - 0.5][0] / w0
    assert just_before == pytest.approx(2 / 3 + np.exp(-(fo - 0.5) / tau) / 3, rel=1e-9)
    assert just_before > 0.7  # the cube law gave 0.30 + 0.70 * 0.16 ~ 0.41
    # the flow follows the same share: 2/3 of the initial flow just before failover (same ramp)
    q0 = lt["flow_m3_s"].iat[0]
    assert lt["flow_m3_s"].to_numpy()[t == 30.0 + fo - 0.5][0] / q0 == pytest.approx(just_before, rel=1e-9)
    # after failover the loop settles on the re-solved steady state with 2 pumps
    assert lt["pump_power_w"].iat[-1] == pytest.approx(post.res_loops["pump_power_w"].iat[0], rel=1e-6)
    assert r.kpis["energy_balance_rel_error"] < 1e-9


def test_throttled_steady_state_matches_hand_calculation(pod_model):
    # a 6 K warmer facility water pushes the junctions into the throttle band; at the end
    # P = P_cmd - (P_cmd - P_min) (T_j - T_throttle) / band  and  T_j = T_out + P R(V)
    runs = {
        band: simulate_transient(pod_model, "supply-step", step_k=6.0, duration_s=400.0, throttle_band_k=band)
        for band in (1.0, 4.0)
    }
    racks = pod_model.racks
    fin = runs[1.0].res_racks_final
    tj, tout, p = (
        fin["junction_c"].to_numpy(),
        fin["coolant_return_c"].to_numpy(),
        fin["gpu_power_w"].to_numpy(),
    )
    cmd, p_min = fin["gpu_power_command_w"].to_numpy(), racks["gpu_power_min_w"].to_numpy()
    t_thr = racks["t_throttle_c"].to_numpy()
    assert np.all((tj > t_thr) & (tj < t_thr + 1.0))
    assert p == pytest.approx(cmd - (cmd - p_min) * (tj - t_thr) / 1.0, rel=1e-12)
    assert np.all((p > p_min) & (p < cmd))
    q, qd = fin["flow_m3_s"].to_numpy(), racks["design_flow_m3_s"].to_numpy()
    r_d, f = racks["cold_plate_r_k_per_w"].to_numpy(), racks["cold_plate_r_conv_fraction"].to_numpy()
    assert tj - tout == pytest.approx(p * r_d * ((1 - f) + f * qd / q), abs=1e-3)
    # a wider band is a weaker controller: hotter junctions, less power taken away
    assert runs[4.0].series["max_junction_c"].iat[-1] > runs[1.0].series["max_junction_c"].iat[-1]
    assert (
        runs[4.0].series["gpu_power_throttled_w"].iat[-1] < runs[1.0].series["gpu_power_throttled_w"].iat[-1]
    )
    assert runs[1.0].kpis["racks_shut_down"] == 0
    assert runs[1.0].kpis["energy_balance_rel_error"] < 1e-9


def test_hot_start_begins_throttled_not_shut_down(pod_model):
    # 55 C facility water: the unthrottled steady junctions are above the limit, the GPUs run throttled
    r = simulate_transient(pod_model, "load-step", load_from=1.0, load_to=1.0, supply_c=55.0, duration_s=60.0)
    k, s = r.kpis, r.series
    t_thr = pod_model.racks["t_throttle_c"].iat[0]
    assert k["racks_throttled_initially"] == len(pod_model.racks) and k["racks_shut_down"] == 0
    assert k["ride_through_s"] == 0.0
    assert np.all((s["max_junction_c"] > t_thr) & (s["max_junction_c"] < t_thr + 2.0))
    assert np.all(s["gpu_power_throttled_w"] > 0)
    assert k["energy_balance_rel_error"] < 1e-9


def test_bad_transient_inputs(pod_model):
    with pytest.raises(InputError, match="scenario"):
        simulate_transient(pod_model, "meteor")
    with pytest.raises(InputError, match="hall"):
        simulate_transient(pod_model, "load-step", hall="nope")
    with pytest.raises(InputError, match="target"):
        simulate_transient(pod_model, "cdu-loss", target="nope")
    with pytest.raises(InputError, match="duration_s"):
        simulate_transient(pod_model, "load-step", duration_s=-5)
    with pytest.raises(InputError, match="throttle_band_k"):
        simulate_transient(pod_model, "pump-trip", throttle_band_k=0.0)
