"""ECMP routing: flow conservation at every switch, hand-computed re-routing after failures, stranding."""

from __future__ import annotations

import numpy as np
import pytest

from tests.layout_edit import base, write
from twin.model import load_model
from twin.network import solve_network
from twin.network.failures import apply_failures
from twin.network.rates import max_min_rates
from twin.network.routing import Router, node_balance
from twin.network.topology import build_fabric, fabric_from_links
from twin.network.traffic import all_to_all, ring_allreduce


@pytest.mark.parametrize("fixture", ["pod_model", "hall_ac_model"])
@pytest.mark.parametrize("pattern", ["ring", "a2a"])
def test_flow_conservation_at_every_switch(fixture, pattern, request):
    model = request.getfixturevalue(fixture)
    fab = build_fabric(model)
    tr = ring_allreduce(model) if pattern == "ring" else all_to_all(model, group_racks=6)
    src, dst = tr["src"].to_numpy(), tr["dst"].to_numpy()
    rt = Router(fab).route(src, dst)
    assert np.all(rt.stranded == 0)
    res = max_min_rates(rt.matrix, fab.arc_cap_gbps, tr["demand_gbps"].to_numpy())
    bal = node_balance(fab, res.load)
    scale = res.load.max()
    assert np.abs(bal[fab.n_racks :]).max() <= 1e-9 * scale  # switches: in = out
    # racks: net outflow = what they send - what they receive
    sent = np.bincount(src, weights=res.rate, minlength=fab.n_racks)
    recv = np.bincount(dst, weights=res.rate, minlength=fab.n_racks)
    assert np.allclose(-bal[: fab.n_racks], sent - recv, atol=1e-9 * scale)
    # each flow leaves its rack and enters its destination with fraction 1
    A = rt.matrix.tocsc()
    L = fab.n_links
    up_from_rack = np.asarray(A[:L][fab.node_tier[fab.lo] == 0].sum(axis=0)).ravel()
    down_to_rack = np.asarray(A[L:][fab.node_tier[fab.lo] == 0].sum(axis=0)).ravel()
    assert np.allclose(up_from_rack, 1.0) and np.allclose(down_to_rack, 1.0)
    assert np.all(res.load <= fab.arc_cap_gbps * (1 + 1e-9))


def _small(n_spines: int):
    """Racks a, b on leaf L0; racks c, d on leaf L1; every leaf has one 100G port to each spine."""
    tiers = [0, 0, 0, 0, 1, 1] + [2] * n_spines
    names = ["a", "b", "c", "d", "L0", "L1"] + [f"S{i}" for i in range(n_spines)]
    links = [(0, 4, 1), (1, 4, 1), (2, 5, 1), (3, 5, 1)]
    links += [(leaf, 6 + s, 1) for leaf in (4, 5) for s in range(n_spines)]
    return fabric_from_links(tiers, links, port_gbps=100.0, names=names)


def _solve(fab, src, dst, demand):
    rt = Router(fab).route(np.array(src), np.array(dst))
    res = max_min_rates(rt.matrix, fab.arc_cap_gbps, np.array(demand, float) * rt.routed)
    L = fab.n_links
    util = np.maximum(res.load[:L], res.load[L:]) / fab.cap_gbps
    return rt, res, util


def test_spine_failure_reroutes_as_computed_by_hand():
    fab = _small(3)
    up_links = np.flatnonzero(fab.node_tier[fab.lo] == 1)
    # a->c and b->d at 60G: L0 splits 120G over 3 spines -> 40G per uplink, utilisation 0.4
    _, res, util = _solve(fab, [0, 1], [2, 3], [60, 60])
    assert np.allclose(res.rate, 60)
    assert np.allclose(util[up_links], 0.4)
    # S2 fails: 120G over 2 spines -> 60G per surviving uplink (0.6), none on S2's links
    f1, _ = apply_failures(fab, None, ["S2"])
    _, res, util = _solve(f1, [0, 1], [2, 3], [60, 60])
    alive = f1.usable[up_links]
    assert np.allclose(res.rate, 60)
    assert np.allclose(util[up_links][alive], 0.6) and np.all(util[up_links][~alive] == 0)
    # S1 fails too: one 100G uplink for 120G -> max-min gives 50G each, utilisation 1, slowdown 1.2
    f2, info = apply_failures(fab, None, ["S2", "S1"])
    assert info["switches"] == ["S2", "S1"]
    _, res, util = _solve(f2, [0, 1], [2, 3], [60, 60])
    assert np.allclose(res.rate, 50)
    assert np.allclose(util[up_links][f2.usable[up_links]], 1.0)


def test_link_failure_shifts_traffic_to_other_spine():
    fab = _small(2)
    f1, info = apply_failures(fab, None, ["L1~S0"])
    assert info["links"] == ["L1~S0"]
    rt, res, util = _solve(f1, [0], [2], [80])
    # S0 no longer reaches L1, so L0 sends everything via S1: 80G on L0-S1 and S1-L1, nothing via S0
    i = {tuple(x): k for k, x in enumerate(zip(f1.lo, f1.hi, strict=True))}
    L = f1.n_links
    assert res.load[i[(4, 7)]] == pytest.approx(80) and res.load[L + i[(5, 7)]] == pytest.approx(80)
    assert res.load[i[(4, 6)]] == pytest.approx(0)
    assert rt.stranded[0] == 0


def test_isolated_rack_traffic_is_stranded():
    fab = _small(2)
    f1, _ = apply_failures(fab, None, ["L1"])
    rt, res, _ = _solve(f1, [0, 1], [2, 0], [10, 10])
    # a->c cannot reach c (its only leaf failed); b->a stays on L0
    assert rt.stranded[0] == pytest.approx(1.0) and rt.stranded[1] == 0
    assert res.rate[0] == 0 and res.rate[1] == pytest.approx(10)


def test_leaf_spine_halls_are_not_connected(kyber_model):
    # spines of a leaf-spine fabric serve one hall: a fabric with one hall is connected
    fab = build_fabric(kyber_model)
    assert fab.components() == 1 and fab.bisection_gbps() > 0


def test_rail_fallback_when_destination_rail_is_down():
    # racks a, b with two rails each: a on A0 (rail 0) and A1 (rail 1), b on B0 and B1; one spine S
    tiers = [0, 0, 1, 1, 1, 1, 2]
    names = ["a", "b", "A0", "A1", "B0", "B1", "S"]
    links = [(0, 2, 1), (0, 3, 1), (1, 4, 1), (1, 5, 1), (2, 6, 1), (3, 6, 1), (4, 6, 1), (5, 6, 1)]
    fab = fabric_from_links(tiers, links, port_gbps=100.0, names=names)
    fab.node_rail = np.array([-1, -1, 0, 1, 0, 1, -1])
    _, res, _ = _solve(fab, [0], [1], [200])
    assert res.rate[0] == pytest.approx(200)  # 100G per rail, rail-aligned
    f1, _ = apply_failures(fab, None, ["b~B0"])
    rt, res, _ = _solve(f1, [0], [1], [200])
    # b keeps one 100G link: the rail-0 half crosses A0 -> S -> B1 and the flow is limited to 100G
    i = {tuple(x): k for k, x in enumerate(zip(f1.lo, f1.hi, strict=True))}
    L = f1.n_links
    assert rt.stranded[0] == 0 and res.rate[0] == pytest.approx(100)
    assert res.load[i[(2, 6)]] == pytest.approx(50) and res.load[i[(3, 6)]] == pytest.approx(50)
    assert res.load[L + i[(5, 6)]] == pytest.approx(100) and res.load[L + i[(1, 5)]] == pytest.approx(100)
    assert res.load[L + i[(4, 6)]] == pytest.approx(0)


def test_leaf_spine_across_halls_is_stranded(tmp_path):
    # two copies of the small hall with a leaf-spine fabric: spines serve one hall, so a site-wide ring
    # strands the two hall-crossing hops and the fabric has no site-wide bisection
    d = base()
    d["halls"][0]["repeat"] = 2
    d["halls"][0]["pitch_m"] = [100, 0]
    d["site"]["grid_limit_mw"] = 2 * d["site"]["grid_limit_mw"]
    m = load_model(write(tmp_path, d))
    r = solve_network(m, traffic="allreduce")
    n = m.n_racks // 2
    cross = (r.routing.src < n) != (r.routing.dst < n)
    assert cross.sum() == 2
    assert np.allclose(r.routing.stranded[cross], 1.0) and np.all(r.routing.stranded[~cross] == 0)
    assert r.kpis["stranded_flows"] == 2 and r.kpis["bisection_tbps"] == 0
    assert r.kpis["stranded_tbps"] == pytest.approx(r.res_flows["demand_gbps"][cross].sum() / 1e3)
    # per-hall ring: nothing stranded
    r2 = solve_network(m, traffic="allreduce", traffic_options={"scope": "hall"})
    assert r2.kpis["stranded_flows"] == 0


def test_random_failures_keep_conservation_and_capacity():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from twin.network.topology import fat_tree

    fab = fat_tree(4, link_gbps=100.0)
    n_sw = fab.n_nodes - fab.n_racks

    @settings(max_examples=40, deadline=None)
    @given(
        dead_sw=st.sets(st.integers(0, n_sw - 1), max_size=4),
        dead_links=st.sets(st.integers(0, fab.n_links - 1), max_size=6),
        pairs=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15)), min_size=1, max_size=30),
    )
    def check(dead_sw, dead_links, pairs):
        f = fat_tree(4, link_gbps=100.0)
        f.node_alive[[f.n_racks + s for s in dead_sw]] = False
        f.link_alive[list(dead_links)] = False
        src = np.array([p[0] for p in pairs])
        dst = np.array([p[1] for p in pairs])
        keep = src != dst
        if not keep.any():
            return
        src, dst = src[keep], dst[keep]
        rt = Router(f).route(src, dst)
        ok = rt.routed > 1e-12
        scale = np.where(ok, 1.0 / np.where(ok, rt.routed, 1.0), 0.0)
        A = rt.matrix.multiply(scale[None, :]).tocsr()
        res = max_min_rates(A, f.arc_cap_gbps, 100.0 * rt.routed)
        assert np.all(res.load <= f.arc_cap_gbps * (1 + 1e-9) + 1e-9)  # no dead or full arc overloaded
        bal = node_balance(f, res.load)
        assert np.abs(bal[f.n_racks :]).max(initial=0) <= 1e-9 * max(1.0, res.load.max(initial=0))
        assert np.all((rt.stranded >= 0) & (rt.stranded <= 1))
        assert np.all(res.rate <= 100.0 * rt.routed * (1 + 1e-9))

    check()


def _two_leaf_rack():
    """Rack a wired to leaves L0 and L1 (one port each), rack b to L1 only; both leaves have one port to S."""
    tiers = [0, 0, 1, 1, 2]
    names = ["a", "b", "L0", "L1", "S"]
    links = [(0, 2, 1), (0, 3, 1), (1, 3, 1), (2, 4, 1), (3, 4, 1)]
    return fabric_from_links(tiers, links, port_gbps=100.0, names=names)


def test_stranded_piece_is_taken_off_its_own_leaf_only():
    # a -> b leaves a half over L0 and half over L1, both towards b's leaf L1. With L0~S down the L0 half is
    # stranded at L0 (both racks still have live leaf links); the L1 half goes a -> L1 -> b untouched.
    fab = _two_leaf_rack()
    f1, _ = apply_failures(fab, None, ["L0~S"])
    rt = Router(f1).route(np.array([0]), np.array([1]))
    assert rt.stranded[0] == pytest.approx(0.5)
    col = rt.matrix[:, 0].toarray().ravel()
    i = {tuple(x): k for k, x in enumerate(zip(f1.lo, f1.hi, strict=True))}
    L = f1.n_links
    assert col[i[(0, 2)]] == pytest.approx(0.0, abs=1e-12)  # nothing enters L0: it cannot forward
    assert col[i[(0, 3)]] == pytest.approx(0.5) and col[L + i[(1, 3)]] == pytest.approx(0.5)
    bal = node_balance(f1, col)
    assert np.allclose(bal[f1.n_racks :], 0.0, atol=1e-12)
    assert bal[0] == pytest.approx(-0.5) and bal[1] == pytest.approx(0.5)  # routed share = 1 - stranded


def test_leaf_without_uplinks_conserves_flow_on_pod_small(pod_model):
    # reviewer's case: every uplink of leaf-b-0 failed; rack 1 is wired to both leaf groups, so its pieces
    # via leaf-b-0 strand while its pieces via leaf-b-8 towards the same destination leaf must not change
    from twin.network.topology import node_names

    fab = build_fabric(pod_model)
    names = node_names(fab)
    leaf0 = int(np.flatnonzero(names == "leaf-b-0")[0])
    ups = np.flatnonzero(fab.lo == leaf0)
    assert len(ups) == 32
    f1, _ = apply_failures(fab, pod_model, [f"{names[fab.lo[u]]}~{names[fab.hi[u]]}" for u in ups])
    tr = ring_allreduce(pod_model)
    src, dst = tr["src"].to_numpy(), tr["dst"].to_numpy()
    rt = Router(f1).route(src, dst)
    assert (rt.stranded > 0).sum() == 3 and np.all(rt.stranded < 1)
    # per flow, unit rate: every switch balances, the source emits and the destination absorbs 1 - stranded
    bal = np.stack([node_balance(f1, rt.matrix[:, k].toarray().ravel()) for k in range(len(src))])
    assert np.abs(bal[:, f1.n_racks :]).max() <= 1e-12
    assert np.allclose(-bal[np.arange(len(src)), src], rt.routed)
    assert np.allclose(bal[np.arange(len(src)), dst], rt.routed)
    # with max-min rates as in solve_network: switch balance to 1e-9 of the largest load
    ok = rt.routed > 1e-12
    A = rt.matrix.multiply(np.where(ok, 1.0 / np.where(ok, rt.routed, 1.0), 0.0)[None, :]).tocsr()
    res = max_min_rates(A, f1.arc_cap_gbps, tr["demand_gbps"].to_numpy() * rt.routed)
    assert np.abs(node_balance(f1, res.load)[f1.n_racks :]).max() <= 1e-9 * res.load.max()


def test_double_counted_stranding_raises(monkeypatch):
    # the stranded share of a flow is a sum of disjoint pieces; a count above 1 is an internal error that must
    # surface, not be clipped to 1
    fab = _two_leaf_rack()
    f1, _ = apply_failures(fab, None, ["L0~S"])
    r = Router(f1)
    orig = r._pairs

    def pairs_counting_twice(src, dst):
        out = list(orig(src, dst))
        out[-1] = out[-1] + 0.75  # pretend the same mass was already stranded before the leaf tier
        return tuple(out)

    monkeypatch.setattr(r, "_pairs", pairs_counting_twice)
    with pytest.raises(RuntimeError, match="counted twice"):
        r.route(np.array([0]), np.array([1]))


def test_source_rack_without_leaf_link_is_stranded():
    # a's only leaf link is down: a -> c has no route at all (it used to get an empty column, routed = 1 and
    # its full demand as rate without loading any link)
    fab = _small(2)
    f1, _ = apply_failures(fab, None, ["a~L0"])
    rt, res, _ = _solve(f1, [0, 1], [2, 3], [10, 10])
    assert rt.stranded[0] == pytest.approx(1.0) and rt.matrix[:, 0].nnz == 0
    assert res.rate[0] == 0 and res.rate[1] == pytest.approx(10) and rt.stranded[1] == 0
