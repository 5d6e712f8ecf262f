"""Fabric graph: k-ary fat-tree counts and bisection (Al-Fares et al. 2008) and the fabric built from layouts."""

from __future__ import annotations

import numpy as np
import pytest

from twin.network.rates import max_min_rates
from twin.network.routing import Router
from twin.network.sizing import fabric_switch_counts, max_hosts
from twin.network.topology import build_fabric, fat_tree


@pytest.mark.parametrize("k", [4, 8, 16])
def test_fat_tree_counts_match_closed_form(k):
    fab = fat_tree(k, link_gbps=400.0)
    assert fab.n_racks == k**3 // 4  # hosts
    assert fab.tier_counts() == {"leaf": k * k // 2, "spine": k * k // 2, "core": k * k // 4}
    assert fab.n_links == 3 * k**3 // 4  # host-edge, edge-agg, agg-core: k^3/4 each
    # every switch uses all k ports; a core reaches every pod exactly once
    used = np.bincount(fab.lo, minlength=fab.n_nodes) + np.bincount(fab.hi, minlength=fab.n_nodes)
    assert np.all(used[fab.n_racks :] == k)
    # the sizing closed forms used by the compiled model give the same fabric
    assert max_hosts(k, 3) == k**3 // 4
    assert fabric_switch_counts(k**3 // 4, k, 3) == {
        "leaf": k * k // 2,
        "spine": k * k // 2,
        "core": k * k // 4,
    }
    assert max_hosts(k, 2) == k * k // 2
    assert fabric_switch_counts(k * k // 2, k, 2) == {"leaf": k, "spine": k // 2, "core": 0}


@pytest.mark.parametrize("k", [4, 8])
def test_fat_tree_bisection_closed_form_and_measured(k):
    r = 400.0
    fab = fat_tree(k, link_gbps=r)
    hosts = k**3 // 4
    assert fab.bisection_gbps() == pytest.approx(hosts / 2 * r)  # full bisection: k^3/8 links of rate r
    # measured: every host of one half sends to a host of the other half at line rate; ECMP + max-min
    # delivers all of it (a fat tree is rearrangeably non-blocking in the fluid limit)
    src = np.arange(hosts)
    dst = (src + hosts // 2) % hosts
    rt = Router(fab).route(src, dst)
    res = max_min_rates(rt.matrix, fab.arc_cap_gbps, np.full(hosts, r))
    assert np.allclose(res.rate, r, rtol=1e-9)
    across = res.rate[src < hosts // 2].sum()
    assert across == pytest.approx(fab.bisection_gbps())


def test_oversubscribed_fabric_has_less_bisection():
    from twin.network.topology import fabric_from_links

    # 4 racks on 2 leaves, one spine port per leaf: 2:1 oversubscribed; bisection = 1 port
    links = [(0, 4, 1), (1, 4, 1), (2, 5, 1), (3, 5, 1), (4, 6, 1), (5, 6, 1)]
    fab = fabric_from_links([0, 0, 0, 0, 1, 1, 2], links, port_gbps=100.0)
    assert fab.bisection_gbps() == pytest.approx(0.5 * 200.0)


@pytest.mark.parametrize("fixture", ["pod_model", "hall_ac_model", "kyber_model", "campus_model"])
def test_fabric_from_layout_matches_model(fixture, request):
    model = request.getfixturevalue(fixture)
    fab = build_fabric(model)
    back = model.switches[model.switches["plane"] == "backend"]
    assert fab.tier_counts() == {t: int((back["tier"] == t).sum()) for t in fab.tier_counts()}
    # every rack's links carry exactly its NIC bandwidth
    rt = model.rack_types
    t = model.racks["rack_type"].to_numpy()
    nic = (rt["nic_ports"] * rt["nic_gbps"]).to_numpy()[t]
    assert np.allclose(fab.rack_capacity_gbps(), nic)
    # the rack's first leaf is the one the compiled model records
    first_leaf = np.full(fab.n_racks, np.iinfo(np.int64).max)
    m = fab.node_tier[fab.lo] == 0
    np.minimum.at(first_leaf, fab.lo[m], fab.hi[m])
    assert np.array_equal(first_leaf - fab.n_racks, model.racks["leaf"].to_numpy())
    # no switch uses more ports than it has
    used = np.bincount(fab.lo, weights=fab.ports, minlength=fab.n_nodes) + np.bincount(
        fab.hi, weights=fab.ports, minlength=fab.n_nodes
    )
    radix = model.switches["ports"].to_numpy()[fab.switch_row[fab.n_racks :]]
    assert np.all(used[fab.n_racks :] <= radix * (1 + 1e-12))
    # non-blocking leaves (1:1): uplink capacity equals used downlink capacity
    leaf = fab.node_tier == 1
    dn = np.bincount(fab.hi[m], weights=fab.cap_gbps[m], minlength=fab.n_nodes)[leaf]
    m1 = fab.node_tier[fab.lo] == 1
    up = np.bincount(fab.lo[m1], weights=fab.cap_gbps[m1], minlength=fab.n_nodes)[leaf]
    assert np.allclose(up, dn)
    assert fab.components() == 1
    # sparse views: incidence columns sum to zero, adjacency symmetric
    inc = fab.incidence()
    assert np.allclose(np.asarray(inc.sum(axis=0)).ravel(), 0.0)
    adj = fab.adjacency()
    assert abs(adj - adj.T).max() == 0


def test_nvlink_domains_from_catalog(campus_model):
    from twin.network.topology import nvlink_domains

    d = nvlink_domains(campus_model).set_index("rack_type")
    cat = campus_model.catalog
    vr = cat.rack("vr-nvl72")
    row = d.loc["vr-nvl72"]
    assert (
        row["domains"] == row["racks"] and row["nvlink_switch_trays"] == row["racks"] * vr.nvlink_switch_trays
    )
    # 260 TB/s over 72 GPUs = 28.9 Tb/s per GPU, vs one 1.6T NIC per GPU: ~18x
    assert row["nvlink_gbps_per_gpu"] == pytest.approx(vr.nvlink_tb_s * 8000 / 72)
    assert row["scale_out_gbps_per_gpu"] == pytest.approx(1600.0)
    assert row["scale_up_to_out_ratio"] == pytest.approx(vr.nvlink_tb_s * 8000 / 72 / 1600.0)
    assert d["racks"].sum() == campus_model.n_racks


@pytest.mark.parametrize("fixture", ["hall_ac_model", "campus_model"])
def test_core_wiring_keeps_every_spine_uplink(fixture, request):
    # campus_1gw: pods of 24 and 36 spines, 1,488 cores of 512 ports, 256 uplinks per spine. Dealt round-robin
    # in whole cables, every core gets 511 or 512 ports (761,472 / 1,488 = 511.74), no spine uplink is dark, and
    # the bisection is the design value 761,472 ports x 800G / 2.
    model = request.getfixturevalue(fixture)
    fab = build_fabric(model)
    tl = fab.node_tier[fab.lo]
    spines, cores = np.flatnonzero(fab.node_tier == 2), np.flatnonzero(fab.node_tier == 3)
    sc = tl == 2
    down = np.bincount(fab.hi[tl == 1], weights=fab.ports[tl == 1], minlength=fab.n_nodes)[spines]
    up = np.bincount(fab.lo[sc], weights=fab.ports[sc], minlength=fab.n_nodes)[spines]
    assert np.allclose(up, down, rtol=1e-9)  # 1:1 spines: every uplink wired
    core_ports = np.bincount(fab.hi[sc], weights=fab.ports[sc], minlength=fab.n_nodes)[cores]
    radix = model.switches["ports"].to_numpy()[fab.switch_row[cores]]
    assert np.all(core_ports <= radix * (1 + 1e-12))
    share = up.sum() / len(cores)  # equal share per core, to a whole port
    assert np.all((core_ports == np.floor(share)) | (core_ports == np.ceil(share)))
    # every pod reaches every core
    pairs = np.unique(fab.node_pod[fab.lo[sc]].astype(np.int64) * fab.n_nodes + fab.hi[sc])
    assert len(pairs) == len(model.pods) * len(cores)
    # bisection: half the smallest tier cut, now the leaf->spine and spine->core cuts are equal
    assert fab.bisection_gbps() == pytest.approx(0.5 * up.sum() * fab.port_gbps, rel=1e-9)
    assert fab.warnings == []
    if fixture == "campus_model":
        assert fab.bisection_gbps() / 1e3 == pytest.approx(761_472 * 0.8 / 2, rel=1e-9)  # 304,588.8 Tb/s


def test_core_deal_is_al_fares_wiring_for_k_ary_fat_tree():
    from twin.network.topology import _deal_to_cores

    k = 8
    h = k // 2
    spines = np.arange(k * h)  # k pods of k/2 spines, k/2 uplinks each
    pod = spines // h
    s, c, p = _deal_to_cores(spines, pod, np.full(len(spines), float(h)), h * h)
    assert np.allclose(p, 1.0) and len(s) == k * h * h
    j = s % h  # spine j of every pod -> cores j*k/2 .. j*k/2 + k/2 - 1
    assert np.array_equal(c // h, j)
    assert np.array_equal(np.bincount(c), np.full(h * h, k))  # every core uses its k ports, one per pod


def test_core_clamp_is_reported_when_core_ports_are_short(hall_ac_model):
    import dataclasses

    sw = hall_ac_model.switches.copy()
    core = (sw["plane"] == "backend") & (sw["tier"] == "core")
    fab0 = build_fabric(hall_ac_model)
    sc = fab0.node_tier[fab0.lo] == 2
    need = fab0.ports[sc].sum() / int(core.sum())  # ports each core gets
    sw.loc[core, "ports"] = int(np.floor(need * 0.9))
    m = dataclasses.replace(hall_ac_model, switches=sw)  # a compiled model is immutable: derive a changed one
    fab = build_fabric(m)
    sc = fab.node_tier[fab.lo] == 2
    cores = np.flatnonzero(fab.node_tier == 3)
    core_ports = np.bincount(fab.hi[sc], weights=fab.ports[sc], minlength=fab.n_nodes)[cores]
    assert np.all(core_ports <= np.floor(need * 0.9) * (1 + 1e-12))
    assert np.array_equal(fab.ports[sc], np.round(fab.ports[sc]))  # cut in whole ports
    assert np.all(core_ports == np.floor(need * 0.9))  # an overloaded core keeps all its ports
    assert len(fab.warnings) == 1 and "left dark" in fab.warnings[0]


@pytest.mark.parametrize("fixture", ["pod_model", "hall_ac_model", "kyber_model", "campus_model"])
def test_fabric_cables_whole_ports(fixture, request):
    # campus_1gw: 256 uplinks per leaf over 24 or 36 spines (10.67, 7.11 per spine) and 128/244-port leaves
    # of partly filled pods; spine uplinks over 1,488 cores. Cables fill whole ports on every switch link.
    model = request.getfixturevalue(fixture)
    fab = build_fabric(model)
    tl = fab.node_tier[fab.lo]
    sw = tl >= 1
    assert np.array_equal(fab.ports[sw], np.round(fab.ports[sw])) and np.all(fab.ports[sw] >= 1)
    pair = fab.lo[sw] * fab.n_nodes + fab.hi[sw]
    assert len(np.unique(pair)) == int(sw.sum())  # at most one link per switch pair
    # per-leaf uplinks conserved: the used share of the leaf's uplinks rounded up to whole ports, capped
    leaves = np.flatnonzero(fab.node_tier == 1)
    row = fab.switch_row[leaves]
    p_up = model.switches["ports_up"].to_numpy()[row]
    p_dn = model.switches["ports_down"].to_numpy()[row]
    dn = np.bincount(fab.hi[tl == 0], weights=fab.ports[tl == 0], minlength=fab.n_nodes)[leaves]
    up = np.bincount(fab.lo[tl == 1], weights=fab.ports[tl == 1], minlength=fab.n_nodes)[leaves]
    assert np.array_equal(up, np.minimum(p_up, np.ceil(dn * p_up / p_dn - 1e-9)))
    # no switch (core included) over its radix
    used = np.bincount(fab.lo, weights=fab.ports, minlength=fab.n_nodes) + np.bincount(
        fab.hi, weights=fab.ports, minlength=fab.n_nodes
    )
    radix = model.switches["ports"].to_numpy()[fab.switch_row[fab.n_racks :]]
    assert np.all(used[fab.n_racks :] <= radix)
    # balanced spines: within a pod (3 tiers) or hall (2 tiers) their leaf ports differ by at most one
    spines = np.flatnonzero(fab.node_tier == 2)
    s_dn = np.bincount(fab.hi[tl == 1], weights=fab.ports[tl == 1], minlength=fab.n_nodes)[spines]
    key = (fab.node_pod if fab.topology == "fat-tree-3" else fab.node_hall)[spines]
    for k in np.unique(key):
        assert np.ptp(s_dn[key == k]) <= 1
    if (tl == 2).any():  # spines pass every used downlink up to the cores (1:1)
        s_up = np.bincount(fab.lo[tl == 2], weights=fab.ports[tl == 2], minlength=fab.n_nodes)[spines]
        assert np.array_equal(s_up, s_dn)


def test_leaf_rotation_deals_whole_ports_balanced():
    from twin.network.topology import _rotation

    # 5 leaves of a pod with 7 spines: 4 full leaves of 10 uplinks (1 per spine + 3 extras), a partial one of 4
    up = np.array([10, 10, 10, 10, 4])
    n = len(up)
    s, t, p = _rotation(np.arange(n), np.arange(n), np.full(n, 7), np.zeros(n, np.int64), up)
    assert p.dtype.kind == "i" and np.array_equal(np.bincount(s, weights=p), up)
    per_spine = np.bincount(t, weights=p, minlength=7)
    assert per_spine.sum() == up.sum() and np.ptp(per_spine) <= 1
    for i in range(4):  # a full leaf: every spine, floor(10/7) = 1 each plus one on 3 of them
        assert np.array_equal(np.sort(t[s == i]), np.arange(7)) and sorted(p[s == i]) == [1] * 4 + [2] * 3
    assert len(t[s == 4]) == 4 and np.all(p[s == 4] == 1)
    # when the ports divide evenly it is the plain rotation (i*m + j) mod n
    s, t, p = _rotation(np.arange(3), np.arange(3), np.full(3, 8), np.zeros(3, np.int64), np.full(3, 3))
    assert np.array_equal(t, (np.repeat(np.arange(3), 3) * 3 + np.tile(np.arange(3), 3)) % 8)
    assert np.all(p == 1)


def test_core_deal_whole_cables_uneven_pods():
    from twin.network.topology import _deal_to_cores

    # pods of 3 and 2 spines with 5 uplinks each, 4 cores: pod blocks of 15/4 and 10/4 ports, whole
    spines = np.arange(5)
    pod = np.array([0, 0, 0, 1, 1])
    s, c, p = _deal_to_cores(spines, pod, np.full(5, 5.0), 4)
    assert p.dtype.kind == "i" and np.all(p >= 1)
    assert np.array_equal(np.bincount(s, weights=p), np.full(5, 5))  # no spine uplink lost
    assert len(np.unique(s * 4 + c)) == len(s)  # at most one link per (spine, core)
    per_core = np.bincount(c, weights=p, minlength=4)
    assert per_core.sum() == 25 and set(per_core) <= {6, 7}  # 25 / 4 = 6.25: floor or ceil
    for q in range(2):  # every pod reaches every core
        assert len(np.unique(c[pod[s] == q])) == 4
