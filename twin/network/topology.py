"""Scale-out fabric graph at rack-level aggregation: racks, leaves, spines and cores as nodes, links as arrays.

Nodes 0..n_racks-1 are racks (each rack's NICs aggregated into one host node); switch nodes follow, in the order
of the backend rows of ``model.switches``. Every link joins a node of tier k to one of tier k+1 (0 rack,
1 leaf, 2 spine, 3 core) and carries ``ports`` parallel switch ports of ``port_gbps`` each, so its capacity is
``cap_gbps = ports * port_gbps`` in each direction (full duplex).

Wiring (a folded Clos, Clos 1953; fat tree of Al-Fares et al., SIGCOMM 2008, generalised to any radix / port
count):

* rack -> leaf (rail-optimised): racks fill leaf groups of ``rails`` leaves in order of their host ports
  (exactly as ``twin.model`` sizes them); a rack whose ports straddle two groups is wired to both. Within a
  group each rack spreads its ports evenly over the ``rails`` leaves, one leaf per rail plane.
* leaf -> spine: a leaf uses ``u`` whole uplink ports (its used share of its uplinks, rounded up to whole
  ports, never above its uplink count) dealt over the ``n`` spines of its pod (3 tiers) or hall (2 tiers) as
  whole cables: ``m = min(u, n)`` spines, ``floor(u/m)`` ports each plus one on ``u mod m`` of them. The deal
  is one round robin over the pod's leaves (leaf i starts where leaf i-1 stopped), so with equal leaves leaf
  i is wired to spines ``(i*m + j) mod n`` (every spine when ``u >= n``: full bipartite, as in a k-ary fat
  tree, its extra ports rotated by i), and the spines of a pod end up within one port of each other.
* spine -> core: spine uplinks are dealt out to the cores as whole cables, round-robin, one lap per pod: a
  pod's uplink ports (its spines in order) are cut into ``n_core`` consecutive whole blocks (equal but for
  one extra port on some, rotated from pod to pod), block q to core q, so a spine is wired to the consecutive
  cores its share covers, at most one link per (spine, core). Every pod reaches every core and every core
  gets floor or ceil of (site uplinks) / n_core ports, so no core exceeds its radix and no spine loses
  uplinks while the core ports suffice; for ``k/2`` spines of ``k/2`` uplinks per pod and ``k^2/4`` cores
  this is the Al-Fares core wiring. Only if the spines' uplinks exceed the cores' ports are the core links
  cut to the radix in whole ports (those spine uplinks stay dark), and ``Fabric.warnings`` says so.

Every switch-to-switch link carries a whole number of ports; a rack's host ports are spread evenly over its
rails (whole for the shipped layouts).

The graph is kept as link arrays (``lo``, ``hi``, ``ports``, ``cap_gbps``) and exposed as scipy.sparse
node-link incidence and node-node adjacency matrices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from twin.network.sizing import leaf_ports

if TYPE_CHECKING:
    import scipy.sparse as sp

    from twin.model import FacilityModel

TIER_NAMES = ("rack", "leaf", "spine", "core")


@dataclass
class Fabric:
    """A scale-out fabric at rack level. Arrays over nodes (racks first, then switches) and over links.

    node_tier: 0 rack, 1 leaf, 2 spine, 3 core.  switch_row: row of ``model.switches`` (-1 for racks).
    lo, hi: link end nodes (tier(hi) = tier(lo) + 1).  ports: parallel switch ports on the link (float
    array; whole for switch-switch links, a rack's ports are spread evenly over its rails).  port_gbps: line rate of one port.
    node_rail: rail plane of each leaf (-1 for other nodes); rack traffic stays on its rail.
    node_alive, link_alive: False for failed elements (routing ignores them).
    """

    n_racks: int
    node_tier: np.ndarray
    switch_row: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    ports: np.ndarray
    port_gbps: float
    node_names: np.ndarray | None = None
    node_pod: np.ndarray | None = None
    node_hall: np.ndarray | None = None
    node_rail: np.ndarray | None = None
    node_alive: np.ndarray = field(default=None)  # type: ignore[assignment]
    link_alive: np.ndarray = field(default=None)  # type: ignore[assignment]
    topology: str = ""
    rack_namer: object = field(default=None, repr=False)  # callable -> rack names, built on first use
    warnings: list = field(default_factory=list)  # wiring compromises (e.g. a core clamped to its radix)

    def __post_init__(self) -> None:
        self.node_tier = np.asarray(self.node_tier, dtype=np.int64)
        self.lo = np.asarray(self.lo, dtype=np.int64)
        self.hi = np.asarray(self.hi, dtype=np.int64)
        self.ports = np.asarray(self.ports, dtype=float)
        if self.node_alive is None:
            self.node_alive = np.ones(self.n_nodes, dtype=bool)
        if self.link_alive is None:
            self.link_alive = np.ones(self.n_links, dtype=bool)
        if self.node_rail is None:
            self.node_rail = np.where(self.node_tier == 1, 0, -1)
        if np.any(self.node_tier[self.hi] != self.node_tier[self.lo] + 1):
            raise ValueError("every link must join adjacent tiers (rack-leaf, leaf-spine, spine-core)")

    # sizes -------------------------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.node_tier)

    @property
    def n_links(self) -> int:
        return len(self.lo)

    @property
    def n_tiers(self) -> int:
        """Switch tiers (2 for leaf-spine, 3 for a 3-tier fat tree)."""
        return int(self.node_tier.max())

    @property
    def cap_gbps(self) -> np.ndarray:
        return self.ports * self.port_gbps

    @property
    def usable(self) -> np.ndarray:
        """Links that carry traffic: alive, and both end nodes alive."""
        return self.link_alive & self.node_alive[self.lo] & self.node_alive[self.hi]

    # arcs: link l as arc l (up, lo -> hi) and arc l + n_links (down, hi -> lo) --------------------------
    @property
    def arc_src(self) -> np.ndarray:
        return np.concatenate([self.lo, self.hi])

    @property
    def arc_dst(self) -> np.ndarray:
        return np.concatenate([self.hi, self.lo])

    @property
    def arc_cap_gbps(self) -> np.ndarray:
        c = self.cap_gbps * self.usable
        return np.concatenate([c, c])

    def names(self) -> np.ndarray:
        if self.node_names is None:
            self.node_names = np.array(
                [f"{TIER_NAMES[t]}-{i}" for i, t in enumerate(self.node_tier)], dtype=object
            )
        return self.node_names

    def link_names(self, idx: np.ndarray | None = None) -> np.ndarray:
        n = self.names()
        idx = np.arange(self.n_links) if idx is None else np.asarray(idx)
        return np.array(
            [f"{n[a]}~{n[b]}" for a, b in zip(self.lo[idx], self.hi[idx], strict=True)], dtype=object
        )

    # sparse views --------------------------------------------------------------------------------------
    def incidence(self) -> sp.csr_matrix:
        """Node x link incidence (+1 at the upper end, -1 at the lower end) of usable links."""
        import scipy.sparse as sp  # imported on use: building a fabric (and its power) needs numpy only

        u = self.usable.astype(float)
        rows = np.concatenate([self.hi, self.lo])
        cols = np.concatenate([np.arange(self.n_links)] * 2)
        vals = np.concatenate([u, -u])
        return sp.csr_matrix((vals, (rows, cols)), shape=(self.n_nodes, self.n_links))

    def adjacency(self) -> sp.csr_matrix:
        """Symmetric node x node capacity matrix (Gb/s) of usable links (parallel links summed)."""
        import scipy.sparse as sp

        c = self.cap_gbps * self.usable
        a = sp.csr_matrix((c, (self.lo, self.hi)), shape=(self.n_nodes, self.n_nodes))
        return (a + a.T).tocsr()

    def rack_capacity_gbps(self) -> np.ndarray:
        """Injection capacity of each rack (sum of its usable uplinks), Gb/s."""
        m = self.node_tier[self.lo] == 0
        c = self.cap_gbps * self.usable
        return np.bincount(self.lo[m], weights=c[m], minlength=self.n_racks)

    def tier_counts(self) -> dict[str, int]:
        return {TIER_NAMES[t]: int(np.sum(self.node_tier == t)) for t in range(1, self.n_tiers + 1)}

    def bisection_gbps(self) -> float:
        """Bisection bandwidth of a folded Clos: half the smallest tier cut (one direction), Gb/s.

        In a Clos every host-to-host path crossing a balanced cut of the hosts uses one link of each tier
        boundary below its turning point; with hosts split in halves that share no top-tier subtree, the cut
        capacity is half of the smallest boundary capacity (hosts->leaf, leaf->spine, spine->core).
        For a k-ary fat tree this is (k^3/4) * r / 2 (Al-Fares et al. 2008: full bisection). A fabric whose
        top tier is split into disconnected parts (leaf-spine spines per hall) has no site-wide bisection:
        returned as 0.
        """
        c = self.cap_gbps * self.usable
        t_lo = self.node_tier[self.lo]
        cuts = [c[t_lo == t].sum() for t in range(self.n_tiers)]
        if self.components() > 1:
            return 0.0
        return 0.5 * float(min(cuts)) if cuts else 0.0

    def components(self) -> int:
        """Connected parts of the usable fabric that contain racks."""
        from scipy.sparse.csgraph import connected_components

        _, lab = connected_components(self.adjacency(), directed=False)
        return int(len(np.unique(lab[: self.n_racks])))


def rack_host_ports(model: FacilityModel, port_gbps: float) -> np.ndarray:
    """Scale-out host ports of every rack in switch-port units (a 1.6T NIC fills two 800G ports)."""
    rt = model.rack_types
    t = model.racks["rack_type"].to_numpy()
    return (rt["nic_ports"].to_numpy() * rt["nic_gbps"].to_numpy() / port_gbps)[t]


def _rotation(n_from: np.ndarray, local: np.ndarray, n_to: np.ndarray, first_to: np.ndarray, up: np.ndarray):
    """Deal item i's ``up`` whole ports over its group of ``n_to`` targets: a round robin over the group.

    Items are in group order (``local`` = index in the group, groups contiguous). Port t of item i goes to
    target (P_i + t) mod n_to, P_i being the ports dealt to the group's earlier items, so item i is wired to
    m = min(up, n_to) targets with floor(up/m) ports each plus one on up mod m of them (the extras rotate
    with the item's position), and the targets of a group end up within one port of each other. With equal
    items P_i = i*up: targets (i*m + j) mod n_to when up < n_to, every target when up >= n_to.
    Returns (src_item, dst_target, ports) for all items at once; ports are whole.
    """
    up = np.asarray(up, dtype=np.int64)
    n_to = np.asarray(n_to, dtype=np.int64)
    m = np.minimum(up, n_to)
    cum = np.cumsum(up) - up
    # stream position of the item within its group: ports dealt to the group's earlier items
    grp_start = np.flatnonzero(local == 0)
    first = np.repeat(grp_start, np.diff(np.append(grp_start, len(up))))
    p0 = (cum - cum[first]) % np.maximum(n_to, 1)
    src = np.repeat(n_from, m)
    j = np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)
    nt, pp, uu = np.repeat(n_to, m), np.repeat(p0, m), np.repeat(up, m)
    full = uu >= nt  # every target, in target order
    off = np.where(full, j, (pp + j) % np.maximum(nt, 1))
    tgt = np.repeat(first_to, m) + off
    ports = uu // np.maximum(nt, 1) + ((off - pp) % np.maximum(nt, 1) < uu % np.maximum(nt, 1))
    ports = np.where(full, ports, 1)
    return src, tgt, ports.astype(np.int64)


@dataclass
class _Nodes:
    """Node numbering of a model's backend fabric: racks 0..R-1, then the backend switches in row order.

    Arrays ``s_*`` are over the backend switches (rows ``back`` of ``model.switches``); ``leaves``, ``spines``,
    ``cores`` are node ids. ``leaf_first[p]`` is the node of the first leaf of pod p (leaves are contiguous per
    pod); ``rack_pod`` is the pod of every rack.
    """

    n_racks: int
    port_gbps: float  # Gb/s per switch port
    down: int  # host-facing (down) ports per leaf
    rails: int
    topology: str
    back: np.ndarray
    node_tier: np.ndarray
    switch_row: np.ndarray
    s_pod: np.ndarray
    s_hall: np.ndarray
    s_up: np.ndarray  # uplink ports of every backend switch
    leaves: np.ndarray
    spines: np.ndarray
    cores: np.ndarray
    rack_pod: np.ndarray
    leaf_first: np.ndarray

    @property
    def n_nodes(self) -> int:
        return len(self.node_tier)


_Links = tuple[np.ndarray, np.ndarray, np.ndarray]  # (lower node, upper node, ports) per link


def build_fabric(model: FacilityModel) -> Fabric:
    """Build the backend scale-out fabric of a compiled model: racks, leaves, spines, cores and their links.

    The wiring rules are in the module docstring. Steps: number the nodes, wire racks to leaves (rail
    groups), leaves to spines (rotation), spines to cores (dealt round-robin per pod), assemble.

    Parameters
    ----------
    model : FacilityModel
        Compiled facility; its backend rows of ``model.switches`` become the switch nodes, and the catalog
        switch of ``layout.network.scale_out`` gives the port rate.

    Returns
    -------
    Fabric
        Rack-level fabric: ``model.n_racks`` rack nodes then the backend switches, links with ``ports``
        parallel switch ports of ``port_gbps`` Gb/s each (capacity ``ports * port_gbps`` Gb/s per direction),
        leaf rails, node names, and ``warnings`` for core links clamped to a core's radix.
    """
    nodes = _number_nodes(model)
    racks = _wire_racks_to_leaves(model, nodes)
    leaf_spine = _wire_leaves_to_spines(nodes, racks)
    spine_core, warnings = _wire_spines_to_cores(model, nodes, [racks, leaf_spine])
    links = [racks, leaf_spine] + ([spine_core] if spine_core is not None else [])
    return _assemble_fabric(model, nodes, links, warnings)


def _number_nodes(model: FacilityModel) -> _Nodes:
    """Node ids, tiers, pods and halls of the racks and backend switches."""
    net = model.layout.network
    so = net.scale_out
    sw_cat = model.catalog.get("switches", so.switch)
    down, _ = leaf_ports(sw_cat.ports, so.oversubscription)
    R = model.n_racks
    sw = model.switches
    back = np.flatnonzero((sw["plane"] == "backend").to_numpy())
    tier_of = {"leaf": 1, "spine": 2, "core": 3}
    s_tier = np.array([tier_of[t] for t in sw["tier"].to_numpy()[back]], dtype=np.int64)
    s_pod = sw["pod"].to_numpy()[back].astype(np.int64)
    node_of = R + np.arange(len(back))  # node id of each backend switch
    leaves = node_of[s_tier == 1]
    n_pods = len(model.pods)
    leaf_pod = s_pod[leaves - R]
    return _Nodes(
        n_racks=R,
        port_gbps=float(sw_cat.port_gbps),
        down=down,
        rails=int(so.rails),
        topology=so.topology,
        back=back,
        node_tier=np.concatenate([np.zeros(R, np.int64), s_tier]),
        switch_row=np.concatenate([np.full(R, -1, np.int64), back]),
        s_pod=s_pod,
        s_hall=sw["hall"].to_numpy()[back].astype(np.int64),
        s_up=sw["ports_up"].to_numpy()[back].astype(float),
        leaves=leaves,
        spines=node_of[s_tier == 2],
        cores=node_of[s_tier == 3],
        rack_pod=model.racks["pod"].to_numpy().astype(np.int64),
        leaf_first=leaves[0] + np.searchsorted(leaf_pod, np.arange(n_pods)),  # leaves contiguous per pod
    )


def _wire_racks_to_leaves(model: FacilityModel, nodes: _Nodes) -> _Links:
    """Rack -> leaf links: racks fill rail groups of ``rails`` leaves in host-port order, one leaf per rail."""
    R, rails, pod = nodes.n_racks, nodes.rails, nodes.rack_pod
    n_pods = len(model.pods)
    ports = rack_host_ports(model, nodes.port_gbps)
    first_rack = np.searchsorted(pod, np.arange(n_pods))
    cum = np.cumsum(ports) - ports
    c0 = cum - cum[np.minimum(first_rack, R - 1)][pod]  # first host port of the rack within its pod
    c1 = c0 + ports
    G = float(nodes.down * rails)  # host ports per rail group
    g0 = np.floor(c0 / G).astype(np.int64)
    g1 = np.ceil(c1 / G - 1e-9).astype(np.int64) - 1
    span = g1 - g0 + 1
    rack = np.repeat(np.arange(R), span)
    g = np.repeat(g0, span) + (np.arange(int(span.sum())) - np.repeat(np.cumsum(span) - span, span))
    piece = np.minimum(c1[rack], (g + 1) * G) - np.maximum(c0[rack], g * G)
    r_lo = np.repeat(rack, rails)
    r_hi = np.repeat(nodes.leaf_first[pod[rack]] + g * rails, rails) + np.tile(np.arange(rails), len(rack))
    r_ports = np.repeat(piece / rails, rails)
    return r_lo, r_hi, r_ports


def _wire_leaves_to_spines(nodes: _Nodes, racks: _Links) -> _Links:
    """Leaf -> spine links: each leaf's used share of its uplinks in whole ports, dealt over its pod's/hall's spines."""
    R, leaves, spines = nodes.n_racks, nodes.leaves, nodes.spines
    # spines per pod (3 tiers) or per hall (2 tiers)
    group_key = nodes.s_pod if nodes.topology == "fat-tree-3" else nodes.s_hall
    lk = group_key[leaves - R]
    sk = group_key[spines - R]
    order = np.argsort(sk, kind="stable")
    sp_sorted = spines[order]
    n_keys = int(max(lk.max(initial=-1), sk.max(initial=-1))) + 1
    n_sp = np.bincount(sk, minlength=n_keys)
    first_sp = np.cumsum(n_sp) - n_sp
    leaf_local = np.arange(len(leaves)) - np.searchsorted(lk, lk)  # leaves sorted by key within tier
    if np.any(np.diff(lk) < 0):
        raise ValueError("leaves must be ordered by pod/hall")
    # a partly filled leaf (the last of its pod) needs only its share of uplinks: up * used_down / down
    _, r_hi, r_ports = racks
    leaf_down = np.bincount(r_hi, weights=r_ports, minlength=nodes.n_nodes)[leaves]
    s_up = nodes.s_up[leaves - R]
    # in whole ports: the used share rounded up (a cable fills a port), never above the leaf's uplinks
    leaf_up = np.minimum(s_up, np.ceil(leaf_down * s_up / max(nodes.down, 1) - 1e-9)).astype(np.int64)
    has = n_sp[lk] > 0
    s, t, p = _rotation(leaves[has], leaf_local[has], n_sp[lk[has]], first_sp[lk[has]], leaf_up[has])
    return s, sp_sorted[t], p


def _wire_spines_to_cores(
    model: FacilityModel, nodes: _Nodes, below: list[_Links]
) -> tuple[_Links | None, list[str]]:
    """Spine -> core links (None without cores), whole cables dealt round-robin per pod; cut to the cores' radix.

    ``below``: the rack-leaf and leaf-spine links, whose ports into each spine set its used uplinks.
    """
    warnings: list[str] = []
    cores, spines, R = nodes.cores, nodes.spines, nodes.n_racks
    if not len(cores):
        return None, warnings
    sw, back = model.switches, nodes.back
    n_c = len(cores)
    hi_below = np.concatenate([h for _, h, _ in below])
    pp_below = np.concatenate([p for _, _, p in below])
    sp_down = np.bincount(hi_below, weights=pp_below, minlength=nodes.n_nodes)[spines]
    sp_dn_ports = sw["ports_down"].to_numpy()[back][spines - R]
    s_up = nodes.s_up[spines - R]
    sp_up = np.minimum(s_up, np.ceil(sp_down * s_up / np.maximum(sp_dn_ports, 1) - 1e-9)).astype(np.int64)
    src, core_of, p_core = _deal_to_cores(spines, nodes.s_pod[spines - R], sp_up, n_c)
    core_of = cores[core_of]
    # a core cannot take more cables than it has ports: only when the spines' uplinks exceed the cores'
    # ports are its links cut to fit, in whole ports (the spines keep those uplinks dark), and that is reported
    radix = sw["ports"].to_numpy()[back][core_of - R].astype(np.int64)
    p_fit = _fit_to_radix(core_of, p_core, radix)
    if np.any(p_fit < p_core):
        n_clamped = len(np.unique(core_of[p_fit < p_core]))
        dark = int(np.sum(p_core - p_fit))
        warnings.append(
            f"{n_clamped} core switch(es) have more spine uplinks than ports: {dark:,} spine uplink "
            f"ports left dark ({sp_up.sum():,} uplinks for {_radix_total(sw, back, cores - R):,.0f} "
            "core ports); add cores or lower the spines' uplinks"
        )
    return (src, core_of, p_fit), warnings


def _fit_to_radix(core: np.ndarray, ports: np.ndarray, radix: np.ndarray) -> np.ndarray:
    """Whole port counts of links into cores, cut in proportion where a core's links exceed its radix.

    ``core``, ``ports``, ``radix``: per link (core node, whole ports, the core's port count). An
    overloaded core keeps exactly ``radix`` ports: each of its links floor(ports * radix / load), the ports
    left over going one each to the links with the largest remainders (largest-remainder rounding).
    """
    load = np.bincount(core, weights=ports, minlength=int(core.max(initial=-1)) + 1).astype(np.int64)[core]
    over = load > radix
    if not over.any():
        return ports
    exact = np.where(over, ports * (radix / np.maximum(load, 1)), ports)
    fit = np.floor(exact + 1e-9).astype(np.int64)
    rem = np.where(over, exact - fit, 0.0)
    short = np.bincount(core, weights=fit, minlength=int(core.max()) + 1)[core]
    deficit = np.where(over, np.rint(radix - short), 0).astype(np.int64)  # < links of the core
    order = np.lexsort((-rem, core))
    c_sorted = core[order]
    rank = np.arange(len(core)) - np.searchsorted(c_sorted, c_sorted)
    fit[order] += (rank < deficit[order]).astype(np.int64)
    return fit


def _assemble_fabric(model: FacilityModel, nodes: _Nodes, links: list[_Links], warnings: list[str]) -> Fabric:
    """The Fabric of the numbered nodes and wired links, with switch names, rails and a lazy rack namer."""
    R, sw = nodes.n_racks, model.switches
    names = np.concatenate([np.full(R, None, dtype=object), sw["name"].to_numpy()[nodes.back].astype(object)])
    fab = Fabric(
        n_racks=R,
        node_tier=nodes.node_tier,
        switch_row=nodes.switch_row,
        lo=np.concatenate([lo for lo, _, _ in links]),
        hi=np.concatenate([hi for _, hi, _ in links]),
        ports=np.concatenate([p for _, _, p in links]),
        port_gbps=nodes.port_gbps,
        node_pod=np.concatenate([nodes.rack_pod, nodes.s_pod]),
        node_hall=np.concatenate([model.racks["hall"].to_numpy().astype(np.int64), nodes.s_hall]),
        topology=nodes.topology,
    )
    fab.node_names = names
    fab.warnings = warnings
    leaves = nodes.leaves
    rail = np.full(nodes.n_nodes, -1, dtype=np.int64)
    # leaf k of a pod serves rail k mod rails
    rail[leaves] = (leaves - nodes.leaf_first[nodes.s_pod[leaves - R]]) % nodes.rails
    fab.node_rail = rail
    fab.rack_namer = model.rack_names  # rack names are built only when needed
    return fab


def _deal_to_cores(spines: np.ndarray, pod: np.ndarray, up: np.ndarray, n_c: int):
    """Deal spine uplinks out to the ``n_c`` cores as whole cables, round-robin, one lap per pod.

    A pod's U_p uplink ports (its spines in order) form a stream cut into ``n_c`` consecutive whole blocks,
    block q to core q: floor(U_p / n_c) ports each plus one on U_p mod n_c of them, the extra blocks rotating
    from pod to pod (starting where the previous pod's extras ended), so every core gets floor or ceil of
    (site uplinks) / n_c ports: no core exceeds its radix and no spine loses an uplink whenever the site's core
    ports suffice. A spine is wired to the consecutive cores its share of the stream covers, at most one link
    per (spine, core), each a whole number of ports. Every pod reaches every core when U_p >= n_c. With
    k/2 spines of k/2 uplinks per pod and k^2/4 cores, blocks are 1 port and spine j of every pod gets cores
    j*k/2 .. j*k/2 + k/2 - 1: the Al-Fares core wiring. Returns (spine node, core index, ports) per link.
    """
    up = np.maximum(np.rint(np.asarray(up, dtype=float)), 0).astype(np.int64)
    order = np.argsort(pod, kind="stable")  # spines of a pod form one contiguous stretch of the stream
    sp_o, pod_o, up_o = spines[order], pod[order], up[order]
    n_pod = int(pod.max(initial=-1)) + 1
    pod_up = np.bincount(pod_o, weights=up_o, minlength=n_pod).astype(np.int64)
    base, extra = pod_up // n_c, pod_up % n_c
    rot = (np.cumsum(extra) - extra) % n_c  # first core of the pod's extra blocks
    q = np.arange(n_c)
    size = base[:, None] + (((q[None, :] - rot[:, None]) % n_c) < extra[:, None])  # (pod, core) block sizes
    blk_end = np.cumsum(size.ravel())  # blocks of every pod in stream order (pods in order)
    sp_end = np.cumsum(up_o)
    # the two partitions of the stream (spines, blocks) cut it into pieces: one link per non-empty piece
    cuts = np.sort(np.concatenate([sp_end, blk_end]), kind="stable")  # repeated cuts: empty pieces, dropped
    a = np.concatenate([[0], cuts[:-1]])
    n = cuts - a
    keep = n > 0
    a, n = a[keep], n[keep]
    s_i = np.searchsorted(sp_end, a, side="right")
    b_i = np.searchsorted(blk_end, a, side="right")
    return sp_o[s_i], b_i % n_c, n


def _radix_total(sw: pd.DataFrame, back: np.ndarray, rows: np.ndarray) -> float:
    """Total ports of the given backend switch rows."""
    return float(sw["ports"].to_numpy()[back][rows].sum())


def _fill_rack_names(fab: Fabric) -> None:
    fn = fab.rack_namer
    if fn is not None and fab.node_names is not None and fab.n_racks and fab.node_names[0] is None:
        fab.node_names[: fab.n_racks] = fn()


def node_names(fab: Fabric) -> np.ndarray:
    """All node names (rack names 'hall/pod/row/NN' built on first use)."""
    _fill_rack_names(fab)
    return fab.names()


def fat_tree(k: int, link_gbps: float = 800.0) -> Fabric:
    """The k-ary fat tree of Al-Fares et al. (SIGCOMM 2008) with one host per rack node.

    k pods of k/2 edge (leaf) and k/2 aggregation (spine) switches, (k/2)^2 cores; k^3/4 hosts. Edge switch e
    of pod p serves hosts; every edge connects to every aggregation switch of its pod; aggregation switch j
    connects to cores j*(k/2) .. j*(k/2) + k/2 - 1.
    """
    if k < 2 or k % 2:
        raise ValueError("k must be an even integer >= 2")
    h = k // 2
    n_host, n_edge, n_agg, n_core = k**3 // 4, k * h, k * h, h * h
    host = np.arange(n_host)
    edge0, agg0, core0 = n_host, n_host + n_edge, n_host + n_edge + n_agg
    edge_of_host = edge0 + host // h
    e = np.arange(n_edge)
    e_pod = e // h
    # edge -> every agg of its pod
    el = np.repeat(edge0 + e, h)
    eh = agg0 + np.repeat(e_pod * h, h) + np.tile(np.arange(h), n_edge)
    a = np.arange(n_agg)
    a_j = a % h
    al = np.repeat(agg0 + a, h)
    ah = core0 + np.repeat(a_j * h, h) + np.tile(np.arange(h), n_agg)
    tier = np.concatenate([np.zeros(n_host), np.ones(n_edge), np.full(n_agg, 2), np.full(n_core, 3)]).astype(
        np.int64
    )
    pod = np.concatenate([host // (h * h), e_pod, a // h, np.full(n_core, -1)])
    lo = np.concatenate([host, el, al])
    hi = np.concatenate([edge_of_host, eh, ah])
    return Fabric(
        n_racks=n_host,
        node_tier=tier,
        switch_row=np.concatenate([np.full(n_host, -1), np.arange(n_edge + n_agg + n_core)]),
        lo=lo,
        hi=hi,
        ports=np.ones(len(lo)),
        port_gbps=link_gbps,
        node_pod=pod,
        topology="fat-tree-3",
    )


def fabric_from_links(
    tiers: list[int] | np.ndarray, links: list[tuple[int, int, float]], port_gbps: float = 1.0, names=None
) -> Fabric:
    """A small fabric from explicit (lower node, upper node, ports) links, for hand-solved cases."""
    tiers = np.asarray(tiers, dtype=np.int64)
    arr = np.asarray(links, dtype=float).reshape(-1, 3)
    n_r = int(np.sum(tiers == 0))
    if np.any(tiers[:n_r] != 0):
        raise ValueError("rack nodes (tier 0) must come first")
    return Fabric(
        n_racks=n_r,
        node_tier=tiers,
        switch_row=np.where(tiers == 0, -1, np.arange(len(tiers)) - n_r),
        lo=arr[:, 0].astype(np.int64),
        hi=arr[:, 1].astype(np.int64),
        ports=arr[:, 2],
        port_gbps=port_gbps,
        node_names=None if names is None else np.asarray(names, dtype=object),
    )


def links_table(fab: Fabric) -> pd.DataFrame:
    """One row per link: end names, tiers, ports, capacity, alive."""
    n = node_names(fab)
    return pd.DataFrame(
        dict(
            lo=n[fab.lo],
            hi=n[fab.hi],
            tier_lo=np.array(TIER_NAMES, dtype=object)[fab.node_tier[fab.lo]],
            tier_hi=np.array(TIER_NAMES, dtype=object)[fab.node_tier[fab.hi]],
            ports=fab.ports,
            cap_gbps=fab.cap_gbps,
            alive=fab.usable,
        )
    )


def nvlink_domains(model: FacilityModel) -> pd.DataFrame:
    """Scale-up (NVLink) domains by rack type, from the catalog: one row per rack type in use.

    nvlink_gbps_per_gpu = nvlink_tb_s * 8000 / gpus (TB/s of the rack's all-to-all NVLink bandwidth shared by
    its GPUs); scale_out_gbps_per_gpu = NIC ports * NIC rate / gpus; their ratio is how much faster a GPU talks
    inside its domain than across the scale-out fabric.
    """
    rt = model.rack_types
    t = model.racks["rack_type"].to_numpy()
    n = np.bincount(t, minlength=len(rt))
    rows = []
    for i, name in enumerate(rt["name"]):
        if n[i] == 0:
            continue
        r = model.catalog.rack(name)
        nv = r.nvlink_tb_s * 8000.0 / r.gpus
        so = float(rt["nic_ports"].iat[i] * rt["nic_gbps"].iat[i] / r.gpus)
        rows.append(
            dict(
                rack_type=name,
                racks=int(n[i]),
                gpus_per_rack=r.gpus,
                domain_gpus=r.nvlink_domain_gpus,
                domains=int(n[i] * -(-r.gpus // r.nvlink_domain_gpus)),
                nvlink_switch_trays=int(n[i] * r.nvlink_switch_trays),
                nvlink_tb_s_per_rack=r.nvlink_tb_s,
                nvlink_gbps_per_gpu=nv,
                scale_out_gbps_per_gpu=so,
                scale_up_to_out_ratio=nv / so if so > 0 else float("inf"),
            )
        )
    return pd.DataFrame(rows)
