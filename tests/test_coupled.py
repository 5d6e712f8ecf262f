"""Coupled thermal-electrical-network steady state: convergence, energy balance, throttling, trends."""

from __future__ import annotations

import numpy as np
import pytest

from twin.coupled import solve_coupled
from twin.errors import InputError
from twin.model import load_model


@pytest.mark.parametrize("name", ["pod_small", "hall_100mw_ac", "hall_kyber", "campus_1gw"])
def test_converges_and_balances_on_every_reference_layout(layouts_dir, name):
    m = load_model(layouts_dir / f"{name}.yaml")
    r = solve_coupled(m)
    k = r.kpis
    assert r.converged and k["iterations"] <= 10
    assert k["thermal_converged"] and k["electrical_converged"]
    fac_w = k["facility_power_mw"] * 1e6
    # power balance at the meter: grid = IT + fabric + cooling + losses
    parts = (k["it_power_mw"] + k["network_power_mw"] + k["cooling_power_mw"] + k["electrical_loss_mw"]) * 1e6
    assert abs(fac_w - parts) <= 1e-6 * fac_w
    assert abs(k["balance_error_w"]) <= 1e-6 * fac_w
    # IT power is GPUs + the rest of the rack from the catalog, at Max-P
    it = (m.racks["other_power_w"] + m.racks["gpus"] * m.racks["gpu_power_max_w"]).sum()
    assert k["it_power_mw"] * 1e6 == pytest.approx(it, rel=1e-12)
    assert 1.0 < k["pue"] < 1.5
    assert k["tokens_per_joule"] == pytest.approx(k["tokens_per_s"] / fac_w)
    assert r.res_racks["tokens_per_s"].sum() == pytest.approx(k["tokens_per_s"])


def test_max_p_tokens_hand_calc(pod_model):
    r = solve_coupled(pod_model)
    # 16 racks x 72 Rubin x 1,800 tokens/s at full power (catalog)
    assert r.kpis["tokens_per_s"] == pytest.approx(16 * 72 * 1800.0, rel=1e-12)
    assert r.kpis["throttled_racks"] == 0 and r.kpis["min_margin_k"] > 0


def test_lower_caps_less_power_fewer_tokens_more_tokens_per_joule(pod_model):
    prev = None
    for cap in (2300.0, 2000.0, 1786.0, 1400.0, 1000.0):
        k = solve_coupled(pod_model, gpu_cap_w=cap).kpis
        if prev is not None:
            assert k["facility_power_mw"] < prev["facility_power_mw"]
            assert k["cooling_power_mw"] <= prev["cooling_power_mw"] + 1e-12
            assert k["tokens_per_s"] < prev["tokens_per_s"]
            assert k["max_junction_c"] < prev["max_junction_c"]
        prev = k
    # Max-Q point (1,786 W) makes more tokens per joule than Max-P (concave throughput, fixed overheads)
    kq = solve_coupled(pod_model, gpu_cap_w=1786.0).kpis
    kp = solve_coupled(pod_model).kpis
    assert kq["tokens_per_joule"] > kp["tokens_per_joule"]


def test_throttling_holds_the_junction_at_its_limit(pod_model):
    """Warm facility water: GPUs at the throttle temperature run at the power that keeps them there."""
    r = solve_coupled(pod_model, supply_c=53.0)
    rr = r.res_racks
    assert r.converged
    thr = rr["throttled"].to_numpy()
    assert thr.any()
    t_thr = pod_model.racks["t_throttle_c"].to_numpy()
    np.testing.assert_allclose(rr["junction_c"].to_numpy()[thr], t_thr[thr], atol=0.05)
    assert np.all(rr["gpu_power_w"].to_numpy()[thr] < 2300.0)
    assert np.all(rr["margin_k"].to_numpy()[~thr] >= -0.05)
    assert r.kpis["tokens_per_s"] < solve_coupled(pod_model).kpis["tokens_per_s"]


def test_per_gpu_caps_and_racks_off(pod_model):
    m = pod_model
    caps = np.full(m.n_gpus, 2000.0)
    caps[:72] = 1000.0  # first rack lower
    r = solve_coupled(m, gpu_cap_w=caps)
    assert r.res_racks["gpu_power_w"].iat[0] == pytest.approx(1000.0)
    assert r.res_racks["gpu_power_w"].iat[1] == pytest.approx(2000.0)
    off = solve_coupled(m, racks_on=np.zeros(m.n_racks, bool))
    assert off.kpis["it_power_mw"] == 0.0 and off.kpis["tokens_per_s"] == 0.0
    assert off.kpis["facility_power_mw"] > 0  # fabric, pumps, no-load losses


def test_bad_caps_are_input_errors(pod_model):
    with pytest.raises(InputError, match="minimum power limit"):
        solve_coupled(pod_model, gpu_cap_w=100.0)
    with pytest.raises(InputError):
        solve_coupled(pod_model, gpu_cap_w=np.ones(5) * 2000.0)
    with pytest.raises(InputError):
        solve_coupled(pod_model, gpu_cap_w=float("nan"))


def test_per_gpu_caps_score_each_gpu_on_its_own_cap(pod_model):
    """Tokens of per-GPU caps are the sum over GPUs of f(own cap), not f(rack mean) (f is concave)."""
    from twin.perf import concave_curve

    m = pod_model
    caps = np.tile(np.r_[np.full(36, 1000.0), np.full(36, 2300.0)], m.n_racks)
    r = solve_coupled(m, gpu_cap_w=caps)
    g = m.catalog.gpu("rubin")
    c = g.throughput_curves["inference"]
    f = concave_curve(c.power_fraction, c.relative_throughput)
    per_rack = 1800.0 * 36 * (f.value(np.array([1000.0 / 2300.0]))[0] + 1.0)
    assert r.kpis["tokens_per_s"] == pytest.approx(m.n_racks * per_rack, rel=1e-12)
    # same mean power per rack, but the uniform split makes more tokens (concavity)
    assert solve_coupled(m, gpu_cap_w=1650.0).kpis["tokens_per_s"] > r.kpis["tokens_per_s"]


def test_per_gpu_caps_on_a_throttled_rack_sum_to_the_solved_power(pod_model):
    """Warm water throttles the racks; each GPU moves from its cap towards the minimum limit by the same
    fraction, so the GPU powers stay in [p_min, cap] and their mean is the rack's solved GPU power (hand calc of
    the tokens from the curve)."""
    from twin.perf import perf_model

    m = pod_model
    perf = perf_model(m)
    caps = np.full((m.n_racks, 72), 2300.0)
    caps[:, :8] = 660.0  # eight GPUs per rack at their minimum limit
    cp = solve_coupled(m, gpu_cap_w=caps.ravel(), supply_c=53.0)
    rr = cp.res_racks
    assert rr["throttled"].all()
    p = rr["gpu_power_w"].to_numpy()
    pmin, pmax = perf.gpu_power_min_w[:, None], perf.gpu_power_max_w[:, None]
    t = (p[:, None] - pmin) / (caps.mean(axis=1)[:, None] - pmin)
    pg = pmin + t * (caps - pmin)
    np.testing.assert_allclose(pg.mean(axis=1), p, rtol=1e-12)
    assert np.all(pg >= pmin - 1e-9) and np.all(pg <= caps + 1e-9)
    rel = perf.curves[0].value(pg / pmax)
    expected = (perf.tokens_full_per_gpu[:, None] * rel).sum(axis=1)
    np.testing.assert_allclose(rr["tokens_per_s"].to_numpy(), expected, rtol=1e-12)


def test_unpowered_racks_draw_nothing_and_make_no_tokens(pod_model):
    """Both feeds of one busway failed: its racks lose supply; they are off in IT power and tokens and the
    balance still closes."""
    m = pod_model
    failed = ("hall-1/pod-1/bw-a",) * 2
    cp = solve_coupled(m, failed=failed)
    k, rr = cp.kpis, cp.res_racks
    lost = ~cp.electrical.res_racks["powered"].to_numpy()
    assert lost.any() and (~lost).any()
    assert k["racks_unpowered"] == int(lost.sum()) and k["racks_on"] == int((~lost).sum())
    assert np.all(rr["tokens_per_s"].to_numpy()[lost] == 0) and np.all(
        rr["rack_power_w"].to_numpy()[lost] == 0
    )
    assert not rr["powered"].to_numpy()[lost].any()
    # the same state as switching those racks off
    off = solve_coupled(m, racks_on=~lost)
    assert k["tokens_per_s"] == pytest.approx(off.kpis["tokens_per_s"], rel=1e-6)
    assert k["it_power_mw"] == pytest.approx(off.kpis["it_power_mw"], rel=1e-6)
    fac_w = k["facility_power_mw"] * 1e6
    assert abs(k["balance_error_w"]) <= 1e-6 * fac_w


def test_pue_by_the_green_grid_definition(pod_model):
    """PUE = facility / IT equipment input (the racks' power shelves are IT equipment); TUE = facility / power
    at the IT components; ITUE = IT input / component power; TUE = ITUE x PUE (hand calculation from tables)."""
    from twin.coupled import solve_coupled

    c = solve_coupled(pod_model)
    k = c.kpis
    conv_w = c.electrical.res_racks["conversion_loss_w"].sum()
    it_in_w = c.electrical.res_racks["input_power_w"].sum() + k["network_power_mw"] * 1e6
    assert it_in_w == pytest.approx(
        c.res_racks["rack_power_w"].sum() + conv_w + k["network_power_mw"] * 1e6, rel=1e-12
    )
    assert k["pue"] == pytest.approx(k["facility_power_mw"] * 1e6 / it_in_w, rel=1e-12)
    assert k["tue"] == pytest.approx(
        k["facility_power_mw"] / (k["it_power_mw"] + k["network_power_mw"]), rel=1e-12
    )
    assert k["tue"] == pytest.approx(k["itue"] * k["pue"], rel=1e-12)
    assert k["rack_conversion_loss_mw"] == pytest.approx(conv_w / 1e6, rel=1e-12)
    assert 1.0 < k["pue"] < k["tue"]


def test_a_loop_without_cdus_switches_its_racks_off(layouts_dir):
    """Every CDU of the pod's loop failed: its racks have no cooling, their GPUs' thermal protection shuts them
    down; the coupled solve says so (no NaN, no error) and the energy balance still closes."""
    from twin import Scenario, run

    fails = tuple(f"hall-1/pod-1/tcs-1/cdu-{i}" for i in (1, 2, 3))
    r = run(Scenario(layout=str(layouts_dir / "pod_small.yaml"), failures=fails))
    k = r.kpis
    assert r.status == "ok" and k["racks_uncooled"] == 16 and k["racks_on"] == 0 and k["tokens_per_s"] == 0
    assert k["racks_unpowered"] == 0 and any("no cooling" in w for w in r.warnings)
    total = k["it_power_mw"] + k["network_power_mw"] + k["cooling_power_mw"] + k["electrical_loss_mw"]
    assert k["facility_power_mw"] == pytest.approx(total, rel=1e-9) and np.isfinite(k["facility_power_mw"])
