"""Power flow with constant-power loads: AC radial (positive sequence) and DC nodal, vectorised.

AC, radial network: backward/forward sweep in the matrix form of Teng (2003), "A direct approach for
distribution system load flow solutions", IEEE Trans. Power Delivery 18(3):882-887. With the bus-injection to
branch-current matrix M (M[b, n] = 1 when bus n lies in the subtree fed by branch b, i.e. b is n or one of its
ancestors), per-unit quantities, node loads S_n (constant power) and shunt admittances Y_n::

    I_n = conj(S_n / V_n) + Y_n V_n                (injections drawn by every bus)
    J   = M I                                      (backward sweep: branch currents)
    V   = V_root - M^T (z * J)                     (forward sweep: voltage drops along each path)

repeated until max |V_k+1 - V_k| < tol. Several roots (fixed-voltage sources) may share one call. The power
identity  sum_n V_n conj(I_n) = sum_roots V_r conj(J_r) - sum_b z_b |J_b|^2  holds at every iterate, so the
losses z |J|^2 balance the source power to the convergence tolerance.

DC: sparse nodal analysis. With the branch-node incidence A (+1 at the sending, -1 at the receiving node),
branch conductances g and fixed source voltages s_b on branches leaving a source, constant-power loads P_n::

    F(V) = A^T diag(g) (A V + s) + P / V = 0,      J_F = A^T diag(g) A - diag(P / V^2)

solved by Newton-Raphson with a sparse LU (scipy.sparse.linalg.spsolve). Works for radial and meshed
(ring) DC networks alike.

Conductor resistance may depend on the current (operating temperature): callers pass a function of the
branch current magnitude, re-evaluated every iteration (a fixed point that converges with the voltages).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve


def subtree_matrix(parent: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """M[b, n] = 1 when branch b (the branch INTO bus b) lies on the path root -> n; roots have no branch.

    Returns (M, root_of, depth). Walks all buses up one level per step (a loop over tree depth only).
    """
    parent = np.asarray(parent, dtype=np.int64)
    n = len(parent)
    rows, cols = [], []
    cur = np.arange(n)
    idx = np.arange(n)
    depth = np.zeros(n, dtype=np.int64)
    for _ in range(n + 1):
        up = parent[cur]
        live = up >= 0  # cur is not a root: its branch counts
        if not live.any():
            break
        rows.append(cur[live])
        cols.append(idx[live])
        depth[idx[live]] += 1
        cur = np.where(live, up, cur)
    else:  # pragma: no cover - only a cyclic parent array gets here
        raise ValueError("parent array has a cycle")
    root_of = cur
    if rows:
        r, c = np.concatenate(rows), np.concatenate(cols)
    else:
        r = c = np.zeros(0, dtype=np.int64)
    m = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
    return m, root_of, depth


@dataclass
class AcSweepResult:
    v_pu: np.ndarray  # complex bus voltages
    j_pu: np.ndarray  # complex current in the branch feeding each bus (0 at roots)
    i_pu: np.ndarray  # complex current drawn at each bus (loads + shunts)
    z_pu: np.ndarray  # branch impedances used in the final sweep
    iterations: int
    converged: bool
    max_dv_pu: float


def ac_radial_sweep(
    m: sp.csr_matrix,
    root_of: np.ndarray,
    v_root_pu: np.ndarray,
    s_load_pu: np.ndarray,
    y_shunt_pu: np.ndarray,
    z_pu: np.ndarray | Callable[[np.ndarray], np.ndarray],
    *,
    tol: float = 1e-11,
    max_iter: int = 100,
) -> AcSweepResult:
    """Backward/forward sweep (Teng 2003). v_root_pu: voltage for every bus that is a root (others ignored).

    z_pu: branch impedance per bus (ignored at roots), or a function of |J| returning it (temperature).
    """
    n = len(root_of)
    v0 = np.asarray(v_root_pu, dtype=complex)[root_of]
    v = v0.copy()
    mt = m.T.tocsr()
    zf = z_pu if callable(z_pu) else None
    z = None if zf else np.asarray(z_pu, dtype=complex)
    j = np.zeros(n, dtype=complex)
    dv = np.inf
    it = 0
    converged = False
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        i_bus = np.conj(s_load_pu / v) + y_shunt_pu * v
        j = m @ i_bus
        if zf is not None:
            z = zf(np.abs(j))
        v_new = v0 - mt @ (z * j)
        dv = float(np.max(np.abs(v_new - v))) if n else 0.0
        v = v_new
        if not np.all(np.isfinite(v)) or np.any(np.abs(v) < 0.2):
            break  # voltage collapse: the load exceeds what the network can carry
        if dv < tol:
            converged = True
            break
    # recompute injections at the final voltages so that the reported loads match S exactly
    i_bus = np.conj(s_load_pu / v) + y_shunt_pu * v
    return AcSweepResult(v, j, i_bus, z, it, converged, dv)


@dataclass
class DcNodalResult:
    v_v: np.ndarray  # node voltages
    i_branch_a: np.ndarray  # branch currents, sending -> receiving
    g_s: np.ndarray  # branch conductances used last
    iterations: int
    converged: bool
    max_dv_v: float


def dc_nodal(
    frm: np.ndarray,
    to: np.ndarray,
    v_source_v: np.ndarray,
    load_w: np.ndarray,
    g_s: np.ndarray | Callable[[np.ndarray], np.ndarray],
    v_init_v: np.ndarray,
    *,
    tol_rel: float = 1e-12,
    max_iter: int = 50,
) -> DcNodalResult:
    """Newton-Raphson nodal analysis of a DC network with constant-power loads (see module doc).

    frm/to: branch end nodes (frm = -1: the branch leaves a source at v_source_v[b]); load_w per node;
    g_s: branch conductance, or a function of |I_branch| returning it (conductor temperature).
    """
    nb, nn = len(frm), len(load_w)
    b = np.arange(nb)
    inner = frm >= 0
    a = sp.csr_matrix(
        (
            np.concatenate([np.ones(int(inner.sum())), -np.ones(nb)]),
            (np.concatenate([b[inner], b]), np.concatenate([frm[inner], to])),
        ),
        shape=(nb, nn),
    )
    at = a.T.tocsr()
    s = np.where(inner, 0.0, v_source_v)
    gf = g_s if callable(g_s) else None
    g = None if gf else np.asarray(g_s, dtype=float)
    v = np.asarray(v_init_v, dtype=float).copy()
    vref = float(np.max(np.abs(v_source_v))) if nb else 1.0
    i_br = np.zeros(nb)
    dv = np.inf
    it = 0
    converged = False
    for it in range(1, max_iter + 1):
        if gf is not None:
            g = gf(np.abs(i_br)) if it > 1 else gf(np.zeros(nb))
        gmat = at @ sp.diags(g) @ a
        f = gmat @ v + at @ (g * s) + load_w / v
        jac = (gmat - sp.diags(load_w / (v * v))).tocsc()
        step = spsolve(jac, f)
        v = v - step
        i_br = g * (a @ v + s)
        dv = float(np.max(np.abs(step))) if nn else 0.0
        if not np.all(np.isfinite(v)) or np.any(v <= 0.2 * vref):
            break
        if dv < tol_rel * vref:
            if gf is None or it > 1:
                converged = True
                break
    i_br = g * (a @ v + s)
    return DcNodalResult(v, i_br, g, it, converged, dv)
