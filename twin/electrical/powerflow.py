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
    """Bus-injection to branch-current matrix of a radial network (forest), Teng (2003).

    M[b, n] = 1 when branch b (the branch INTO bus b) lies on the path root -> n; roots have no branch.
    Walks all buses up one level per step (a loop over tree depth only).

    Parameters
    ----------
    parent : array_like of int, shape (n,)
        Parent bus of each bus, -1 for a root.

    Returns
    -------
    m : scipy.sparse.csr_matrix, shape (n, n)
        The 0/1 matrix M.
    root_of : ndarray of int, shape (n,)
        Root bus of each bus's tree.
    depth : ndarray of int, shape (n,)
        Branches between each bus and its root.

    Raises
    ------
    ValueError
        When ``parent`` has a cycle.
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
    """AC radial power flow with constant-power loads: backward/forward sweep (Teng 2003), per unit.

    Parameters
    ----------
    m, root_of : from ``subtree_matrix``
        Network topology (several roots may share one call).
    v_root_pu : array_like of complex, shape (n,)
        Voltage of every root bus, pu (entries of other buses ignored).
    s_load_pu : array_like of complex, shape (n,)
        Constant-power load at each bus, P + jQ in pu of S_base.
    y_shunt_pu : array_like of complex, shape (n,)
        Shunt admittance at each bus (transformer magnetising), pu.
    z_pu : array_like of complex, shape (n,), or callable
        Impedance of the branch into each bus (ignored at roots), pu; or a function of |J| (pu, shape
        (n,)) returning it, re-evaluated every iteration (conductor temperature).
    tol : float, default 1e-11
        Stop when the largest voltage change of an iteration is below tol, pu.
    max_iter : int, default 100
        Iteration limit.

    Returns
    -------
    AcSweepResult
        Bus voltages v_pu, branch currents j_pu, bus injections i_pu, final branch impedances z_pu (all
        complex pu), iterations, converged, max_dv_pu. Not converged on voltage collapse (|V| < 0.2 pu).
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

    Parameters
    ----------
    frm, to : ndarray of int, shape (n_branches,)
        Branch end nodes (sending, receiving); frm = -1: the branch leaves a fixed source.
    v_source_v : ndarray, shape (n_branches,)
        Source voltage of each branch with frm = -1, V (others ignored).
    load_w : ndarray, shape (n_nodes,)
        Constant-power load at each node, W.
    g_s : ndarray, shape (n_branches,), or callable
        Branch conductance, S; or a function of |I_branch| (A) returning it (conductor temperature).
    v_init_v : ndarray, shape (n_nodes,)
        Starting node voltages, V.
    tol_rel : float, default 1e-12
        Stop when the largest Newton step is below tol_rel times the largest source voltage.
    max_iter : int, default 50
        Iteration limit.

    Returns
    -------
    DcNodalResult
        Node voltages v_v (V), branch currents i_branch_a (A, sending -> receiving), conductances g_s used
        last (S), iterations, converged, max_dv_v. Not converged when a voltage falls below 0.2 of the
        source voltage (collapse).
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
