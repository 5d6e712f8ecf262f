"""``twin.maxq.optimize``: failed units in the limits, uniform floor case, convergence required and reported
(also by ``twin maxq``), metered facility row, rack-mean weights in shedding.

Policy ordering, budgets, shadow prices and junction/loop limits are in ``test_optimize_policies.py``; the
array-level optimizer (``twin.maxq.core``) is in ``test_core.py``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import twin.maxq.optimize as opt
from twin.coupled import solve_coupled
from twin.errors import InputError
from twin.maxq.optimize import optimize_maxq

BLOCK = "hall-1/pod-1/blk-1"  # 4 x 3 MVA, 2 spares: firm 6 MVA; 3 failed -> 1 unit (3 MVA) in service


def test_failed_block_units_limit_the_caps(pod_model):
    """Three of the block's four units failed: the optimizer must hold the block within the one unit left
    (the old firm rating, units less spares, let it load 148 % of it)."""
    failed = (BLOCK,) * 3
    r = optimize_maxq(pod_model, budget_mw=4.9, failed=failed)
    assert r.feasible and r.kpis["outer_converged"]
    # re-checked by the coupled solve on the returned caps: no overload, the block at most 100 % of 1 unit
    cp = solve_coupled(pod_model, gpu_cap_w=r.gpu_cap_w, racks_on=r.racks_on, failed=failed)
    assert [v for v in cp.electrical.violations if v["kind"] == "overload"] == []
    rn = cp.electrical.res_nodes.set_index("name")
    assert rn.loc[BLOCK, "units_in_service"] == 1
    assert rn.loc[BLOCK, "loading_pct"] <= 100.0 + 1e-6
    assert rn.loc[BLOCK, "loading_pct"] >= 99.0  # the limit is used, not left idle
    assert any(b["kind"] == "block" and b["name"] == BLOCK for b in r.kpis["binding_constraints"])
    # uniform and Max-P respect it too
    for pol in ("uniform", "maxp"):
        u = optimize_maxq(pod_model, budget_mw=4.9, failed=failed, policy=pol)
        cpu = solve_coupled(pod_model, gpu_cap_w=u.gpu_cap_w, racks_on=u.racks_on, failed=failed)
        assert [v for v in cpu.electrical.violations if v["kind"] == "overload"] == [], pol


def test_uniform_without_a_verified_cap_returns_the_floor(pod_model, monkeypatch):
    """When the search finds no cap fraction within the limits, the answer is the floor caps with the floor
    state (verified), labelled by what was over, not unchecked caps labelled 'local'."""
    monkeypatch.setattr(opt, "_bisect_scalar", lambda evaluate, lo, *a, **k: (lo, None))
    r = optimize_maxq(pod_model, budget_mw=4.0, policy="uniform")
    assert r.feasible
    pmin = pod_model.racks["gpu_power_min_w"].to_numpy()
    np.testing.assert_allclose(r.gpu_cap_w, pmin)
    cp = solve_coupled(pod_model, gpu_cap_w=r.gpu_cap_w)
    assert r.kpis["facility_power_mw"] == pytest.approx(cp.kpis["facility_power_mw"], rel=1e-12)
    assert r.kpis["facility_power_mw"] == pytest.approx(r.floor_mw, rel=1e-12)
    # what failed above the floor was the grid budget (4.47 MW at Max-P > 4 MW)
    assert r.kpis["binding_constraints"] == [{"kind": "facility", "name": "grid budget"}]


def test_outer_non_convergence_is_reported(pod_model):
    """One linearisation lands inside the 3.5 MW budget but not within a 1e-9 tolerance of it: the verified
    caps come back, flagged as not converged."""
    r = optimize_maxq(pod_model, budget_mw=3.5, tol=1e-9, max_outer=1)
    assert r.feasible and r.kpis["outer_converged"] is False
    assert 3.5 * (1 - 1e-3) < r.kpis["facility_power_mw"] <= 3.5
    assert any("did not converge" in w for w in r.kpis["warnings"])
    ok = optimize_maxq(pod_model, budget_mw=4.0)
    assert ok.kpis["outer_converged"] is True


def test_non_converged_inner_solve_is_never_accepted(pod_model, monkeypatch):
    real = opt.solve_caps

    def unconverged(pb, **kw):
        sol = real(pb, **kw)
        sol.converged = False
        return sol

    monkeypatch.setattr(opt, "solve_caps", unconverged)
    with pytest.raises(InputError, match="did not find caps"):
        optimize_maxq(pod_model, budget_mw=4.0)


def test_cli_warns_on_non_convergence(layouts_dir, monkeypatch):
    from twin.cli import app  # here, so the other tests of this module do not depend on the CLI importing

    real = opt.optimize_maxq
    monkeypatch.setattr(opt, "optimize_maxq", lambda m, **kw: real(m, **{**kw, "tol": 1e-9}))
    args = ["maxq", str(layouts_dir / "pod_small.yaml"), "--budget-mw", "3.5", "--max-outer", "1", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output  # feasible: not an error
    d = json.loads(res.stdout)
    assert d["outer_converged"] is False and "over_temperature_racks" in d
    assert "did not converge" in res.stderr and "Traceback" not in res.output


def test_facility_row_shows_metered_power_and_budget(pod_model):
    r = optimize_maxq(pod_model, budget_mw=4.0)
    row = r.res_constraints[r.res_constraints["kind"] == "facility"].iloc[0]
    assert row["name"] == "grid budget"
    assert row["load_mw"] == pytest.approx(r.kpis["facility_power_mw"], rel=1e-12)
    assert row["limit_mw"] == pytest.approx(4.0, rel=1e-12)
    assert row["binding"]


def test_shedding_uses_rack_mean_throughput_multipliers(pod_model):
    """Per-GPU variation with the same rack means must shed the same racks at the same prices: the shedding
    model uses each rack's mean multiplier (it used the rack's first GPU: 15 racks off instead of 3 when the
    first GPU of every rack is a slow one)."""
    from twin.maxq.core import solve_caps
    from twin.perf import perf_model

    failed = ("hall-1/pod-1/tcs-1/cdu-1", "hall-1/pod-1/tcs-1/cdu-2")  # the loop limit binds
    m = pod_model
    perf = perf_model(m)
    n_r, g = m.n_racks, 72
    flat = np.ones(n_r * g)
    skew = np.full((n_r, g), 1.0 + 0.9 / (g - 1))
    skew[:, 0] = 0.1  # first GPU far below its rack's mean (1.0)
    floor = solve_coupled(m, gpu_cap_w=perf.gpu_power_min_w, failed=failed)
    cp = solve_coupled(m, gpu_cap_w=1700.0, failed=failed)
    sheds, sol = [], None
    for v in (flat, skew.ravel()):
        fac = opt._Facility(m, perf, v, failed)
        fac.meter_limits = {"grid budget": 4.9e6}
        opt._excuse(fac, floor)
        pb = fac.problem(cp, 1.1, cp.facility_power_w, fac.gpu_power_total(cp), 4.9e6)
        if sol is None:
            # the same prices for both: the loop's multiplier from the solve, and a facility price of
            # 0.2 tokens/s per W at the meter (a binding budget)
            sol = solve_caps(pb)
            sol.multipliers[0] = np.array([0.2])
        sheds.append(opt._shed(fac, pb, sol, 1.1))
    assert sheds[0].any()
    np.testing.assert_array_equal(sheds[1], sheds[0])


def test_binding_blocks_are_used_to_the_tolerance(hall_ac_model):
    """hall_100mw_ac at 100 MW: every block's firm rating binds (the budget does not). Max-Q used to stop at
    its first linearisation with the blocks at 99.92 % (the budget was slack, so nothing asked for more) and
    modelled the pod's fabric switches on its first busway (the electrical solve spreads them over the pod's
    busways by rack power), and came out below the uniform cap. Binding local limits are now met to the
    tolerance, like the facility limit, and Max-Q is not below the uniform cap."""
    from twin.maxq.optimize import _apparent_w, _firm

    m = hall_ac_model
    q = optimize_maxq(m, budget_mw=100.0)
    u = optimize_maxq(m, budget_mw=100.0, policy="uniform")
    assert q.kpis["outer_converged"]
    assert q.kpis["tokens_per_s"] >= u.kpis["tokens_per_s"]
    rn = q.coupled.electrical.res_nodes
    load = _apparent_w(m.elec, rn) / _firm(m.elec, rn["units_in_service"].to_numpy())
    binding = [b["name"] for b in q.kpis["binding_constraints"] if b["kind"] == "block"]
    assert len(binding) == 16
    used = load[m.elec["name"].isin(binding).to_numpy()]
    assert used.max() <= 1 + 1e-9 and used.min() >= 1 - 1e-5
