"""GPU performance model: relative throughput and tokens/s as a function of the GPU power cap.

Catalog data (``twin/catalog/data/gpus.yaml``): for each GPU type and workload kind, published points of relative
throughput ``y_i`` (1.0 at ``power_max_w``) at power fractions ``x_i = cap / power_max_w``, and the tokens/s of one
GPU at full power. The points are increasing and strictly concave (>= 3 points, strictly decreasing secant slopes;
checked by the catalog schema and here).

Interpolation (shape preserving, concave). PCHIP (Fritsch & Carlson, SIAM J. Numer. Anal. 17(2), 1980) keeps
monotonicity but not concavity: on the catalog's B300/Rubin points its second derivative turns positive near
x = 0.30 and x = 0.86, which would make the cap optimisation non-convex. We therefore use the shape-preserving
quadratic spline of Schumaker (SIAM J. Numer. Anal. 20(4), 1983): node slopes ``d_i`` are the mean of the
adjacent secant slopes ``D_i = (y_{i+1} - y_i) / (x_{i+1} - x_i)`` (end slopes mirrored, ``d_0 = 2 D_0 - d_1``),
and each interval gets one extra knot ``xi_i`` where the slope equals the secant ``D_i``. The derivative
``g = f'`` is then piecewise linear through ``(x_i, d_i), (xi_i, D_i), (x_{i+1}, d_{i+1})`` and

    f(x) = y_0 + int_{x_0}^{x} g(s) ds,

which passes through every catalog point (the integral over an interval equals ``D_i h_i`` by the choice of
``xi_i = x_i + h_i (D_i - d_{i+1}) / (d_i - d_{i+1})``), is C1, increasing (``g > 0``) and concave (``g``
non-increasing because ``d_i >= D_i >= d_{i+1}`` for concave data). The inverse of ``g`` (the power at which the
marginal throughput equals a price) is a piecewise-linear interpolation, which is what the Max-Q optimizer needs.

Per-GPU variation ("silicon lottery"): GPUs of one model differ in throughput at the same power cap (Sinha et
al., "Not All GPUs Are Created Equal: Characterizing Variability in Large-Scale, Accelerator-Rich Systems",
SC22). We model it as a per-GPU throughput multiplier ``m_k`` drawn log-normal with mean 1 and a user-given
sigma, from a seed (reproducible): tokens/s of GPU k = m_k * T * f(p_k / P_max).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from twin.errors import InputError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from twin.model import FacilityModel

__all__ = [
    "ConcaveCurve",
    "PerfModel",
    "concave_curve",
    "gpu_variation",
    "perf_model",
    "relative_throughput",
    "tokens_per_s",
    "tokens_per_s_at_interactivity",
]


@dataclass(frozen=True)
class ConcaveCurve:
    """Schumaker quadratic spline through throughput points: derivative g piecewise linear on ``knots``."""

    knots: np.ndarray  # x at nodes and extra knots, increasing
    slopes: np.ndarray  # g = f' at the knots, non-increasing, > 0
    values: np.ndarray  # f at the knots

    @property
    def x_min(self) -> float:
        return float(self.knots[0])

    def value(self, x: np.ndarray) -> np.ndarray:
        """f(x) for x in [x_min, 1]: exact integral of the piecewise-linear slope."""
        k, g, v = self.knots, self.slopes, self.values
        x = np.asarray(x, dtype=float)
        j = np.clip(np.searchsorted(k, x, side="right") - 1, 0, len(k) - 2)
        dx = x - k[j]
        curv = (g[j + 1] - g[j]) / (k[j + 1] - k[j])
        return v[j] + dx * g[j] + 0.5 * curv * dx * dx

    def slope(self, x: np.ndarray) -> np.ndarray:
        """g(x) = f'(x)."""
        return np.interp(x, self.knots, self.slopes)

    def curvature(self, x: np.ndarray) -> np.ndarray:
        """g'(x) = f''(x) (piecewise constant, <= 0); the right-hand value at a knot."""
        k, g = self.knots, self.slopes
        j = np.clip(np.searchsorted(k, x, side="right") - 1, 0, len(k) - 2)
        return (g[j + 1] - g[j]) / (k[j + 1] - k[j])

    def x_at_slope(self, s: np.ndarray) -> np.ndarray:
        """Inverse of g: the power fraction where the marginal throughput equals s (clipped to [x_min, 1])."""
        # g is non-increasing, np.interp needs increasing abscissae: reverse both
        return np.interp(s, self.slopes[::-1], self.knots[::-1])


def concave_curve(power_fraction, relative_throughput) -> ConcaveCurve:
    """Build the concave C1 interpolant of increasing, concave throughput points (see module docstring)."""
    x = np.asarray(power_fraction, dtype=float)
    y = np.asarray(relative_throughput, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
        raise InputError(
            "a throughput curve needs matching power_fraction and relative_throughput lists (>= 2)"
        )
    h = np.diff(x)
    if np.any(h <= 0):
        raise InputError("power_fraction must be strictly increasing")
    sec = np.diff(y) / h
    if np.any(sec <= 0):
        raise InputError("throughput points must be increasing")
    # strictly concave: on a straight piece every power in it is equally good, the best cap at a price jumps
    # from one end to the other (all-or-nothing) and the cap optimiser's dual is not differentiable
    if len(x) < 3 or np.any(np.diff(sec) >= -1e-9 * sec[:-1]):
        raise InputError(
            "throughput points must be strictly concave: at least 3 points with strictly decreasing slopes "
            "(a straight or collinear segment has no single best power cap)"
        )
    n = len(x)
    d = np.empty(n)
    if n == 2:
        d[:] = sec[0]
    else:
        d[1:-1] = 0.5 * (sec[:-1] + sec[1:])
        d[0] = 2.0 * sec[0] - d[1]
        d[-1] = 2.0 * sec[-1] - d[-2]
        if d[-1] <= 0:  # keep the curve increasing at full power
            d[-1] = 0.5 * sec[-1]
    drop = d[:-1] - d[1:]
    w = np.where(drop > 0, (sec - d[1:]) / np.where(drop > 0, drop, 1.0), 0.5)
    xi = x[:-1] + w * h
    knots = np.empty(2 * n - 1)
    knots[0::2], knots[1::2] = x, xi
    slopes = np.empty(2 * n - 1)
    slopes[0::2], slopes[1::2] = d, sec
    # an extra knot on a node (w = 0 or 1) would give a zero-length piece: nudge it inside
    eps = 1e-12 * (x[-1] - x[0])
    knots[1::2] = np.clip(knots[1::2], x[:-1] + eps, x[1:] - eps)
    area = 0.5 * (slopes[1:] + slopes[:-1]) * np.diff(knots)
    values = y[0] + np.concatenate([[0.0], np.cumsum(area)])
    return ConcaveCurve(knots=knots, slopes=slopes, values=values)


@dataclass(frozen=True)
class PerfModel:
    """Per-rack performance data (arrays over racks) and the curves they use.

    curve_id (n_racks,) indexes ``curves``; tokens_full_per_gpu (n_racks,) tokens/s of one GPU at power_max_w
    for the rack's workload kind; gpu_power_max_w / gpu_power_min_w (n_racks,) W.
    """

    curves: tuple[ConcaveCurve, ...]
    curve_names: tuple[str, ...]  # "gpu/kind"
    curve_id: np.ndarray
    tokens_full_per_gpu: np.ndarray
    gpu_power_max_w: np.ndarray
    gpu_power_min_w: np.ndarray
    gpus: np.ndarray

    def fraction_value(self, x: np.ndarray, curve_id: np.ndarray | None = None) -> np.ndarray:
        """f(x) elementwise, each element on its own curve (a loop over the few distinct curves only)."""
        cid = self.curve_id if curve_id is None else curve_id
        out = np.empty(np.shape(x))
        for c, curve in enumerate(self.curves):
            sel = cid == c
            if sel.any():
                out[sel] = curve.value(np.asarray(x)[sel])
        return out

    def fraction_slope(self, x: np.ndarray, curve_id: np.ndarray | None = None) -> np.ndarray:
        cid = self.curve_id if curve_id is None else curve_id
        out = np.empty(np.shape(x))
        for c, curve in enumerate(self.curves):
            sel = cid == c
            if sel.any():
                out[sel] = curve.slope(np.asarray(x)[sel])
        return out

    def fraction_at_slope(self, s: np.ndarray, curve_id: np.ndarray | None = None) -> np.ndarray:
        cid = self.curve_id if curve_id is None else curve_id
        out = np.empty(np.shape(s))
        for c, curve in enumerate(self.curves):
            sel = cid == c
            if sel.any():
                out[sel] = curve.x_at_slope(np.asarray(s)[sel])
        return out


def perf_model(model: FacilityModel) -> PerfModel:
    """Performance data of every rack of a compiled FacilityModel (catalog curves, tokens/s, power limits).

    Parameters
    ----------
    model : FacilityModel
        Compiled facility: GPU type, workload tier and GPU power limits of every rack; the catalog's
        throughput curves and tokens/s per (GPU type, workload kind).

    Returns
    -------
    PerfModel
        One concave curve per (GPU type, workload kind) in use (``curves``, ``curve_names``) and arrays over
        racks: ``curve_id``, ``tokens_full_per_gpu`` (tokens/s of one GPU at ``power_max_w``),
        ``gpu_power_max_w`` and ``gpu_power_min_w`` (W per GPU), ``gpus`` (GPUs per rack).

    Raises
    ------
    InputError
        A GPU type without a throughput curve for its rack's workload kind.
    """
    racks = model.racks
    gpu_names = model.gpu_types["name"].to_numpy()[racks["gpu_type"].to_numpy()]
    kinds = model.tiers["kind"].to_numpy()[racks["tier"].to_numpy()]
    keys = np.char.add(np.char.add(gpu_names.astype(str), "/"), kinds.astype(str))
    names, cid = np.unique(keys, return_inverse=True)
    curves, tokens = [], np.empty(len(names))
    for i, key in enumerate(names):  # a handful of (GPU type, workload kind) pairs
        gname, kind = str(key).split("/", 1)
        g = model.catalog.gpu(gname)
        if kind not in g.throughput_curves:
            raise InputError(f"GPU '{gname}' has no throughput curve for workload kind '{kind}'")
        c = g.throughput_curves[kind]
        curves.append(concave_curve(c.power_fraction, c.relative_throughput))
        tokens[i] = g.tokens_per_s[kind]
    return PerfModel(
        curves=tuple(curves),
        curve_names=tuple(str(n) for n in names),
        curve_id=cid.astype(np.int64),
        tokens_full_per_gpu=tokens[cid],
        gpu_power_max_w=racks["gpu_power_max_w"].to_numpy(dtype=float),
        gpu_power_min_w=racks["gpu_power_min_w"].to_numpy(dtype=float),
        gpus=racks["gpus"].to_numpy(dtype=np.int64),
    )


def _check_power(perf: PerfModel, gpu_power_w: np.ndarray, n: int) -> np.ndarray:
    p = np.asarray(gpu_power_w, dtype=float)
    if p.shape != (n,):
        raise InputError(f"gpu_power_w must have one value per rack ({n}), got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise InputError("gpu_power_w must be finite")
    return p


def relative_throughput(
    model: FacilityModel, gpu_power_w: ArrayLike, perf: PerfModel | None = None
) -> np.ndarray:
    """Relative throughput (1.0 at power_max_w) of one GPU of each rack at GPU power ``gpu_power_w``.

    Power below the GPU's minimum power limit is an error (a GPU cannot be capped there); power above
    power_max_w gives 1.0 (the GPU does not draw more than its maximum).

    Parameters
    ----------
    model : FacilityModel
        Compiled facility (used only when ``perf`` is None).
    gpu_power_w : array_like
        (n_racks,) power of one GPU of each rack, W.
    perf : PerfModel or None, default None
        ``perf_model(model)`` if already built.

    Returns
    -------
    numpy.ndarray
        (n_racks,) relative throughput f(p / power_max_w), dimensionless, 1.0 at full power.

    Raises
    ------
    InputError
        Wrong shape, non-finite power, or power below a GPU's minimum power limit.
    """
    perf = perf or perf_model(model)
    p = _check_power(perf, gpu_power_w, len(perf.curve_id))
    low = p < perf.gpu_power_min_w * (1 - 1e-9)
    if low.any():
        i = int(np.flatnonzero(low)[0])
        raise InputError(
            f"GPU power {p[i]:.1f} W of rack {i} is below the GPU's minimum power limit "
            f"{perf.gpu_power_min_w[i]:.0f} W"
        )
    x = np.minimum(p / perf.gpu_power_max_w, 1.0)
    return perf.fraction_value(x)


def tokens_per_s(
    model: FacilityModel,
    gpu_power_w: ArrayLike,
    perf: PerfModel | None = None,
    variation: ArrayLike | None = None,
) -> np.ndarray:
    """Tokens/s of each rack with every GPU of the rack at ``gpu_power_w``.

    Parameters
    ----------
    model : FacilityModel
        Compiled facility (used only when ``perf`` is None).
    gpu_power_w : array_like
        (n_racks,) power of one GPU of each rack, W.
    perf : PerfModel or None, default None
        ``perf_model(model)`` if already built.
    variation : array_like or None, default None
        (n_gpus,) per-GPU throughput multipliers (dimensionless, from :func:`gpu_variation`), GPUs numbered
        rack by rack; the rack's figure is then the sum over its GPUs.

    Returns
    -------
    numpy.ndarray
        (n_racks,) tokens/s of each rack: GPUs x tokens/s of one GPU at full power x relative throughput.

    Raises
    ------
    InputError
        As :func:`relative_throughput`, or ``variation`` not one value per GPU.
    """
    perf = perf or perf_model(model)
    r = relative_throughput(model, gpu_power_w, perf)
    per_gpu = perf.tokens_full_per_gpu * r
    if variation is None:
        return per_gpu * perf.gpus
    m = np.asarray(variation, dtype=float)
    if m.shape != (int(perf.gpus.sum()),):
        raise InputError(f"variation must have one value per GPU ({int(perf.gpus.sum())}), got {m.shape}")
    rack_of_gpu = np.repeat(np.arange(len(perf.gpus)), perf.gpus)
    return per_gpu * np.bincount(rack_of_gpu, weights=m, minlength=len(perf.gpus))


def gpu_variation(n_gpus: int, sigma: float, seed: int = 0) -> np.ndarray:
    """Per-GPU throughput multipliers, log-normal with mean 1 and log-sigma ``sigma`` (reproducible by seed)."""
    if not (0.0 <= sigma < 1.0):
        raise InputError(f"variation sigma must be in [0, 1), got {sigma}")
    rng = np.random.default_rng(seed)
    # mean of exp(N(mu, s^2)) is exp(mu + s^2/2): mu = -s^2/2 keeps the fleet mean at 1
    return np.exp(rng.normal(-0.5 * sigma * sigma, sigma, size=int(n_gpus)))


def tokens_per_s_at_interactivity(
    model: FacilityModel,
    gpu_power_w: ArrayLike,
    interactivity_tok_s_per_user: float,
    perf: PerfModel | None = None,
) -> np.ndarray:
    """Output tokens/s of each rack serving at ``interactivity_tok_s_per_user`` with every GPU at ``gpu_power_w``.

    The accelerator's throughput-vs-interactivity frontier at full power (catalog ``frontier``,
    ``twin.economics.frontier``) scaled by the concave relative throughput f(p / P_max) of the rack's curve:
    gpus x T(i) x f(p / P_max). 0 where the accelerator cannot reach the interactivity, and for a decode-only
    accelerator (its tokens need prefill elsewhere; see ``twin.economics.revenue``).

    Parameters
    ----------
    model : FacilityModel
        Compiled facility.
    gpu_power_w : array_like
        (n_racks,) power of one GPU of each rack, W.
    interactivity_tok_s_per_user : float
        Output tokens/s one user sees.
    perf : PerfModel or None, default None
        ``perf_model(model)`` if already built.

    Returns
    -------
    numpy.ndarray
        (n_racks,) output tokens/s.
    """
    from twin.economics.frontier import accelerator_rates, tier_table
    from twin.layout import Tier

    perf = perf or perf_model(model)
    r = relative_throughput(model, gpu_power_w, perf)
    tier = Tier(name="t", kind="inference", interactivity_tok_s_per_user=interactivity_tok_s_per_user)
    rates = accelerator_rates(model.catalog, model.gpu_types["name"].to_numpy(), tier_table([tier]))
    acc = model.racks["gpu_type"].to_numpy()
    per_gpu = np.where(rates.decode_only[acc], 0.0, rates.rate_tok_s[acc, 0])
    return perf.gpus * per_gpu * r
