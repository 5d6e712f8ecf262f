"""ECMP routing over shortest valley-free paths, as a sparse arc x flow routing matrix.

Routing follows the BGP-in-the-data-centre design of RFC 7938 (Lapukhov et al., 2016): every switch forwards a
packet to the next hops that lie on a shortest path to the destination and splits traffic over them (equal-cost
multi-path); because all spines of a tier share an AS number, a path never goes down and up again
("valley-free"): a packet climbs until it reaches a switch from which the destination is reachable downward,
then descends. Flows are rack-to-rack aggregates, so a switch's split is the fluid limit of per-flow hashing:
proportional to the number of parallel ports towards each next hop (one ECMP member per port).

Rails: a rack's NICs are pinned to their leaves (one NIC per rail plane), so a rack's traffic leaves over its
live leaf links in proportion to their ports and, rail by rail, arrives on the destination rack's leaves of the
same rail (rail-aligned collectives); see ``Router._pairs`` for the fall-back when a rail is down. A share
that reaches a switch with no valley-free path onward is stranded.

Down-reachability D_k (tier-k switches x racks) is built tier by tier with sparse boolean products
D_k = A_k D_{k-1} (A_k: tier k -> tier k-1 adjacency of usable links; D_0 = I). A node v of tier k goes down
toward rack t if D_k[v, t]; otherwise it goes up, preferring up-neighbours u with D_{k+1}[u, t] (turning point
one tier up), else those with an up-neighbour in D_{k+2} (turning point two tiers up).

Result: ``Routing.matrix`` (2 n_links x n_flows, CSR): entry (a, f) is the fraction of flow f's traffic that
crosses arc a (arc l = link l upward, arc l + n_links = downward). Link loads are ``matrix @ rate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from twin.network.topology import Fabric


@dataclass
class Routing:
    """ECMP routing of a set of flows.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        (2 n_links, n_flows) fraction (dimensionless) of each flow on each arc: arc l is link l upward, arc
        l + n_links downward. Arc loads are ``matrix @ rate`` (in the rate's unit, e.g. Gb/s).
    stranded : numpy.ndarray
        (n_flows,) share (0..1) of each flow with no valley-free path.
    src, dst : numpy.ndarray
        (n_flows,) source and destination rack of every flow.
    """

    matrix: sp.csr_matrix
    stranded: np.ndarray
    src: np.ndarray
    dst: np.ndarray

    @property
    def routed(self) -> np.ndarray:
        return 1.0 - self.stranded


class _Adj:
    """Neighbour lists of usable links in one direction (CSR by node)."""

    def __init__(self, n_nodes: int, frm: np.ndarray, to: np.ndarray, link: np.ndarray, w: np.ndarray):
        order = np.argsort(frm, kind="stable")
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(frm, minlength=n_nodes))])
        self.to, self.link, self.w = to[order], link[order], w[order]

    def expand(self, v: np.ndarray):
        """(entry, neighbour, link, weight) for every neighbour of every v (entry = position in v)."""
        start = self.indptr[v]
        cnt = self.indptr[v + 1] - start
        e = np.repeat(np.arange(len(v)), cnt)
        pos = np.repeat(start - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))
        return e, self.to[pos], self.link[pos], self.w[pos]


def _merge(f: np.ndarray, v: np.ndarray, m: np.ndarray, n_nodes: int):
    """Sum the mass of duplicate (flow, node) states."""
    if len(f) == 0:
        return f, v, m
    key = f.astype(np.int64) * n_nodes + v
    uk, inv = np.unique(key, return_inverse=True)
    return uk // n_nodes, uk % n_nodes, np.bincount(inv, weights=m)


class Router:
    """Reachability tables of a fabric, reused for any number of flow sets."""

    def __init__(self, fab: Fabric):
        self.fab = fab
        ok = fab.usable
        L = fab.n_links
        lid = np.flatnonzero(ok)
        lo, hi, w = fab.lo[lid], fab.hi[lid], fab.ports[lid]
        self.up = _Adj(fab.n_nodes, lo, hi, lid, w)
        self.n_links = L
        tier = fab.node_tier
        self.T = fab.n_tiers
        self.local = np.zeros(fab.n_nodes, dtype=np.int64)
        self.tier_nodes = []
        for k in range(self.T + 1):
            nodes = np.flatnonzero(tier == k)
            self.local[nodes] = np.arange(len(nodes))
            self.tier_nodes.append(nodes)
        sw = tier[lo] >= 1  # switch-to-switch links
        key = hi.astype(np.int64) * fab.n_nodes + lo
        o = np.argsort(key)
        self._lkey, self._lid = key[o], lid[o]
        self._sl = None  # dense spine x leaf link table, built on first use
        if np.any(np.diff(self._lkey) == 0):
            raise ValueError("parallel links between the same two nodes: merge them into one link (ports)")
        # down-links of the top tiers grouped by the pod of the lower node: a core only needs the spines of
        # the destination leaf's pod (every other spine cannot reach that leaf downward)
        pod = fab.node_pod if fab.node_pod is not None else np.zeros(fab.n_nodes, np.int64)
        self.pod = np.asarray(pod, dtype=np.int64) + 1  # -1 (none) -> 0
        self.n_pod = int(self.pod.max(initial=0)) + 1
        top = tier[lo] >= 2
        gkey = hi[top].astype(np.int64) * self.n_pod + self.pod[lo[top]]
        o = np.argsort(gkey, kind="stable")
        self._gkey, self._gto, self._glink, self._gw = gkey[o], lo[top][o], lid[top][o], w[top][o]
        self.down = _Adj(fab.n_nodes, hi[sw], lo[sw], lid[sw], w[sw])
        self.rail = np.asarray(fab.node_rail, dtype=np.int64)
        self.n_rails = int(max(self.rail.max(initial=0), 0)) + 1
        # D_k[v, j]: tier-k switch v reaches leaf j going only down (D_1 = I for live leaves)
        n_leaf = len(self.tier_nodes[1])
        d_prev = sp.diags(fab.node_alive[self.tier_nodes[1]].astype(float)).tocsr() if n_leaf else None
        self.D = [None, d_prev.toarray().astype(bool) if n_leaf else None]
        for k in range(2, self.T + 1):
            m = tier[lo] == k - 1
            a = sp.csr_matrix(
                (np.ones(int(m.sum())), (self.local[hi[m]], self.local[lo[m]])),
                shape=(len(self.tier_nodes[k]), len(self.tier_nodes[k - 1])),
            )
            d = (a @ d_prev).tocsr()
            d.data[:] = 1.0
            d_prev = d
            self.D.append(d.toarray().astype(bool))

    def _reach(self, k: int, nodes: np.ndarray, leaf_local: np.ndarray) -> np.ndarray:
        if k > self.T or len(nodes) == 0:
            return np.zeros(len(nodes), dtype=bool)
        return self.D[k][self.local[nodes], leaf_local]

    def _reach_above(self, k: int, nodes: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Tier-k nodes with an up-neighbour that reaches leaf j downward (evaluated per unique pair)."""
        if k + 1 > self.T or len(nodes) == 0:
            return np.zeros(len(nodes), dtype=bool)
        nl = len(self.tier_nodes[1])
        key = self.local[nodes].astype(np.int64) * nl + j
        uk, inv = np.unique(key, return_inverse=True)
        un = self.tier_nodes[k][uk // nl]
        uj = uk % nl
        e, u, _, _ = self.up.expand(un)
        hit = np.bincount(e, weights=self._reach(k + 1, u, uj[e]), minlength=len(uk)) > 0
        return hit[inv]

    def _pairs(self, src: np.ndarray, dst: np.ndarray):
        """Split each rack flow over (source leaf, destination leaf) pairs, rail by rail.

        A rack's traffic leaves over its live leaf links by port share. On each rail it goes to the destination
        rack's live leaves of the same rail, by their port share; if the destination has no live leaf on that
        rail, to all its live leaves (the GPUs reach another NIC over the rack's NVLink domain, as NCCL's PXN
        does). Here a flow is stranded only when the source or destination rack has no live leaf link; a
        piece (flow, leaf i, leaf j) is also stranded later, in ``route``, when leaf i has no valley-free path
        to leaf j (e.g. leaf i lost every uplink, or j is in another hall of a leaf-spine site) although both
        racks still have live leaf links.
        Returns pieces (parent, leaf i, leaf j, weight), the first/last-hop arc records and stranded mass.
        """
        F = len(src)
        alive = self.fab.node_alive[src] & self.fab.node_alive[dst]
        es, i, ls, cs = self.up.expand(src)
        ed, j, ld, cd = self.up.expand(dst)
        ps = cs / np.bincount(es, weights=cs, minlength=F)[es]
        nr = self.n_rails
        kd = ed.astype(np.int64) * nr + self.rail[j]
        order = np.argsort(kd, kind="stable")
        kd_s, j_s, ld_s, cd_s = kd[order], j[order], ld[order], cd[order]
        ccd = np.concatenate([[0.0], np.cumsum(cd_s)])
        ks = es.astype(np.int64) * nr + self.rail[i]
        # destination range: same rail if present, else every leaf of the destination rack
        lo_r = np.searchsorted(kd_s, ks, side="left")
        hi_r = np.searchsorted(kd_s, ks, side="right")
        none = hi_r == lo_r
        lo_r = np.where(none, np.searchsorted(kd_s, es.astype(np.int64) * nr, side="left"), lo_r)
        hi_r = np.where(none, np.searchsorted(kd_s, (es.astype(np.int64) + 1) * nr, side="left"), hi_r)
        found = (hi_r > lo_r) & alive[es]
        stranded = np.bincount(es[~found], weights=ps[~found], minlength=F).astype(float)
        stranded[np.bincount(es, minlength=F) == 0] = 1.0  # the source rack has no usable leaf link at all
        es, i, ls, ps, lo_r, hi_r = es[found], i[found], ls[found], ps[found], lo_r[found], hi_r[found]
        n = hi_r - lo_r
        tot = ccd[hi_r] - ccd[lo_r]
        sub_src = np.repeat(np.arange(len(es)), n)
        dpos = np.repeat(lo_r - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))
        w = ps[sub_src] * cd_s[dpos] / tot[sub_src]
        parent = es[sub_src]
        first_hop = (ls, es, ps)
        last_hop = (ld_s[dpos] + self.n_links, parent, w)
        return parent, i[sub_src], j_s[dpos], w, first_hop, last_hop, stranded

    def route(self, src: np.ndarray, dst: np.ndarray) -> Routing:
        """ECMP-route rack-to-rack flows over shortest valley-free paths (module docstring).

        Steps: split every flow over (source leaf, destination leaf) pairs rail by rail, climb from the source
        leaves until the destination leaf is reachable downward, descend to it, take pieces with no path off
        their first and last hop (stranded), and assemble the routing matrix.

        Parameters
        ----------
        src, dst : array_like of int
            (n_flows,) source and destination rack of every flow (rack node ids, ``src != dst``).

        Returns
        -------
        Routing
            ``matrix`` (2 n_links, n_flows) CSR: fraction (dimensionless, 0..1) of each flow's traffic on each
            arc (arc l: link l upward, arc l + n_links: downward); ``stranded`` (n_flows,) share of each flow
            with no route; ``src``, ``dst`` as int64 arrays. Link loads (Gb/s) are ``matrix @ rate_gbps``.

        Raises
        ------
        RuntimeError
            A flow's stranded share outside [0, 1] (stranded mass counted twice: an internal error).
        """
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        N = self.fab.n_nodes
        parent_sub, li_sub, lj_sub, w, first_hop, last_hop, stranded = self._pairs(src, dst)
        recs = [first_hop, last_hop]
        # groups are (flow, destination leaf); above the leaf tier, pieces from different source leaves merge
        ukey, gid = np.unique(parent_sub.astype(np.int64) * N + lj_sub, return_inverse=True)
        parent, lj = ukey // N, ukey % N
        down_state, piece_dead = self._climb(gid, li_sub, w, parent, lj, recs)
        self._descend(down_state, parent, lj, recs)
        self._unroute_stranded(piece_dead, parent_sub, li_sub, src, last_hop[0], stranded, recs)
        return self._routing(recs, stranded, src, dst)

    def _climb(
        self, gid: np.ndarray, li: np.ndarray, w: np.ndarray, parent: np.ndarray, lj: np.ndarray, recs: list
    ) -> tuple[dict[int, list], np.ndarray]:
        """Up phase: from the source leaves, climb tier by tier until the destination leaf is reachable down.

        ``gid``, ``li``, ``w``: group, source leaf and weight of every piece; ``parent``, ``lj``: flow and
        destination leaf of every group. Appends the up-arc records to ``recs``; returns the states that turn
        down at each tier and the mass of each piece stranded at its source leaf.
        """
        N = self.fab.n_nodes
        jloc = self.local[lj]
        # leaf-tier state: one entry per piece (flow, leaf i, leaf j), which is unique, so a piece that dies
        # at its source leaf is known exactly and taken off its own first and last hop
        piece = np.arange(len(gid))
        piece_dead = np.zeros(len(gid))
        down_state: dict[int, list] = {k: [] for k in range(1, self.T + 1)}
        up_state = (gid, li, w)
        for k in range(1, self.T + 1):
            g, v, m = up_state
            if len(g) == 0:
                break
            dm = self._reach(k, v, jloc[g])
            if k > 1:
                down_state[k].append((g[dm], v[dm], m[dm]))
            g, v, m = g[~dm], v[~dm], m[~dm]
            if k == 1:
                piece = piece[~dm]
            if len(g) == 0:
                break
            if k == self.T:
                self._strand(k, piece, m, piece_dead, np.ones(len(g), dtype=bool))
                break
            e, u, lk, c = self.up.expand(v)
            jj = jloc[g[e]]
            ok1 = self._reach(k + 1, u, jj)
            n1 = np.bincount(e, weights=ok1 * c, minlength=len(g))
            need = n1[e] <= 0
            ok2 = np.zeros(len(e), dtype=bool)
            if need.any():
                ok2[need] = self._reach_above(k + 1, u[need], jj[need])
            wt = c * (ok1 | ok2)
            norm = np.bincount(e, weights=wt, minlength=len(g))
            dead = norm <= 0
            if dead.any():
                self._strand(k, piece, m, piece_dead, dead)
            sel = wt > 0
            e, u, lk, ok1 = e[sel], u[sel], lk[sel], ok1[sel]
            mass = m[e] * wt[sel] / norm[e]
            recs.append((lk, parent[g[e]], mass))
            down_state[k + 1].append((g[e][ok1], u[ok1], mass[ok1]))
            up_state = _merge(g[e][~ok1], u[~ok1], mass[~ok1], N)
        return down_state, piece_dead

    def _descend(self, down_state: dict[int, list], parent: np.ndarray, lj: np.ndarray, recs: list) -> None:
        """Down phase: from the turning points, descend tier by tier to the destination leaf of each group.

        Appends the down-arc records to ``recs``.
        """
        N, L = self.fab.n_nodes, self.n_links
        jloc = self.local[lj]
        carry: list = []
        for k in range(self.T, 1, -1):
            parts = down_state[k] + carry
            if not parts:
                continue
            g, v, m = (np.concatenate(x) for x in zip(*parts, strict=True))
            if k == 2:
                # a spine that reaches leaf j downward is adjacent to it: one next hop (no merge needed,
                # duplicate records are summed when the matrix is built)
                u = lj[g]
                lk = self._spine_leaf_link(v, u)
                e, c = np.arange(len(g)), np.ones(len(g))
            else:
                g, v, m = _merge(g, v, m, N)
                # next hops of a core: its spines in leaf j's pod that reach leaf j downward
                e, u, lk, c = self._down_in_pod(v, self.pod[lj[g]])
                hit = self._reach(k - 1, u, jloc[g[e]])
                e, u, lk, c = e[hit], u[hit], lk[hit], c[hit]
            norm = np.bincount(e, weights=c, minlength=len(g))
            mass = m[e] * c / norm[e]
            recs.append((lk + L, parent[g[e]], mass))
            carry = [(g[e], u, mass)] if k > 2 else []

    def _unroute_stranded(
        self,
        piece_dead: np.ndarray,
        parent_sub: np.ndarray,
        li_sub: np.ndarray,
        src: np.ndarray,
        last_arc: np.ndarray,
        stranded: np.ndarray,
        recs: list,
    ) -> None:
        """Take pieces stranded at their source leaf off their first and last hop; add them to ``stranded``."""
        lost = np.flatnonzero(piece_dead > 0)
        if not len(lost):
            return
        # a stranded piece never leaves its source leaf i: take its mass off exactly its own rack -> i arc
        # and its own j -> rack arc (other pieces of the flow towards the same leaf j are untouched)
        share = -piece_dead[lost]
        stranded += np.bincount(parent_sub[lost], weights=piece_dead[lost], minlength=len(src))
        recs.append((last_arc[lost], parent_sub[lost], share))
        recs.append((self._first_arc(src, parent_sub[lost], li_sub[lost]), parent_sub[lost], share))

    def _routing(self, recs: list, stranded: np.ndarray, src: np.ndarray, dst: np.ndarray) -> Routing:
        """Sum the (arc, flow, fraction) records into the routing matrix and check the stranded shares."""
        a = np.concatenate([r[0] for r in recs])
        fl = np.concatenate([r[1] for r in recs])
        ms = np.concatenate([r[2] for r in recs])
        mat = sp.csr_matrix((ms, (a, fl)), shape=(2 * self.n_links, len(src)))
        mat.sum_duplicates()
        mat.data[np.abs(mat.data) < 1e-12] = 0.0
        mat.eliminate_zeros()
        # a flow's stranded share is a sum of disjoint pieces: more than 1 (or below 0) means mass was counted
        # twice, which must fail loudly rather than be clipped away
        tol = 1e-9
        if np.any(stranded > 1.0 + tol) or np.any(stranded < -tol):
            f = int(np.argmax(np.abs(stranded - 0.5)))
            raise RuntimeError(
                f"routing: stranded share {stranded[f]:.12g} of flow {f} ({src[f]} -> {dst[f]}) is outside "
                "[0, 1]: stranded traffic was counted twice (internal error)"
            )
        return Routing(matrix=mat, stranded=np.minimum(np.maximum(stranded, 0.0), 1.0), src=src, dst=dst)

    @staticmethod
    def _strand(k: int, piece: np.ndarray, m: np.ndarray, piece_dead: np.ndarray, dead: np.ndarray) -> None:
        """Record mass with no valley-free path onward. It can only die at the leaf tier: a leaf sends up only
        towards spines that reach leaf j downward or through a core (ok1 | ok2), so every state above the leaf
        tier has a way on; there pieces are merged and could not be taken off their own first hop."""
        if k != 1:
            raise RuntimeError(f"routing: traffic stranded at tier {k} above the leaf tier (internal error)")
        np.add.at(piece_dead, piece[dead], m[dead])

    def _down_in_pod(self, v: np.ndarray, pod: np.ndarray):
        """(entry, lower neighbour, link, ports) of v's down-links into the given pod."""
        key = v.astype(np.int64) * self.n_pod + pod
        a = np.searchsorted(self._gkey, key, side="left")
        b = np.searchsorted(self._gkey, key, side="right")
        cnt = b - a
        e = np.repeat(np.arange(len(v)), cnt)
        pos = np.repeat(a - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))
        return e, self._gto[pos], self._glink[pos], self._gw[pos]

    def _spine_leaf_link(self, spine: np.ndarray, leaf: np.ndarray) -> np.ndarray:
        """Link id of spine -> leaf; a dense (spines x leaves) table when it is small enough (<= 64 MB)."""
        if self._sl is None:
            n2, n1 = len(self.tier_nodes[2]), len(self.tier_nodes[1])
            if n2 * n1 > 16_000_000:
                return self._link(spine, leaf)
            t = np.full((n2, n1), -1, dtype=np.int32)
            m = self.fab.node_tier[self.fab.lo[self._lid]] == 1
            lid = self._lid[m]
            t[self.local[self.fab.hi[lid]], self.local[self.fab.lo[lid]]] = lid
            self._sl = t
        return self._sl[self.local[spine], self.local[leaf]].astype(np.int64)

    def _link(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """Usable link id joining upper node hi and lower node lo (-1 where none)."""
        key = hi.astype(np.int64) * self.fab.n_nodes + lo
        pos = np.searchsorted(self._lkey, key)
        pos_c = np.minimum(pos, len(self._lkey) - 1)
        return np.where(self._lkey[pos_c] == key, self._lid[pos_c], -1)

    def _first_arc(self, src: np.ndarray, flows: np.ndarray, leaf: np.ndarray) -> np.ndarray:
        """Up-arc of the usable link source rack -> leaf for each (flow, leaf)."""
        e, u, lk, _ = self.up.expand(src[flows])
        hit = u == leaf[e]
        out = np.empty(len(flows), dtype=np.int64)
        out[e[hit]] = lk[hit]
        return out


def route_flows(fab: Fabric, src: np.ndarray, dst: np.ndarray) -> Routing:
    """ECMP-route rack-to-rack flows on a fabric: ``Router(fab).route(src, dst)`` (see ``Router.route``).

    Parameters
    ----------
    fab : Fabric
        Rack-level fabric (failed elements are avoided).
    src, dst : array_like of int
        (n_flows,) source and destination racks.

    Returns
    -------
    Routing
        Arc x flow fractions and the stranded share of every flow.
    """
    return Router(fab).route(src, dst)


def arc_loads(fab: Fabric, routing: Routing, rate_gbps: np.ndarray) -> np.ndarray:
    """Load of every arc (2 n_links: up then down), Gb/s."""
    return routing.matrix @ np.asarray(rate_gbps, dtype=float)


def node_balance(fab: Fabric, load_arc: np.ndarray) -> np.ndarray:
    """Inflow - outflow at every node (Gb/s); zero at every switch by flow conservation."""
    n = fab.n_nodes
    return np.bincount(fab.arc_dst, weights=load_arc, minlength=n) - np.bincount(
        fab.arc_src, weights=load_arc, minlength=n
    )
