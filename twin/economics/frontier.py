"""Throughput vs interactivity: the Pareto frontier of an accelerator, and the service tiers that sell it.

An inference deployment trades throughput for speed: serving each user faster (more output tokens/s per user,
"interactivity") needs smaller batches and more parallelism, so an accelerator makes fewer tokens/s in total.
Published charts (SemiAnalysis InferenceMAX / InferenceX, MLPerf, NVIDIA's blog figures) draw this as a
frontier of tokens/s per GPU against tokens/s per user, one point per serving recipe. The catalog stores it per
accelerator type at full power (``GpuType.frontier``: strictly decreasing, checked by the schema); between
points we interpolate log-log (a piecewise power law, which is how these curves look on their usual log axes):

    T(i) = T_k (i / i_k)^(ln(T_{k+1} / T_k) / ln(i_{k+1} / i_k)),   i_k <= i <= i_{k+1}.

Below the first point a tier is served at the first point's throughput (a slower tier cannot be served at a
higher throughput than the frontier's most throughput-oriented recipe); beyond the last point the accelerator
cannot reach the tier (0). Power capping scales the frontier by the concave relative throughput f(p / P_max) of
``twin.perf``: tokens/s of a GPU at power p serving tier t = T(i_t) f(p / P_max) (same shape at every
interactivity: a stated simplification).

A decode-only accelerator (``serving: decode``, the Groq LPX) serves a tier only disaggregated: its output
tokens need ``input_output_ratio`` prefill tokens each, made by accelerators with a
``prefill_tokens_per_s_per_gpu`` (Vera Rubin, Dynamo's split of prefill and decode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.errors import InputError

__all__ = [
    "DEFAULT_INTERACTIVITY_TOK_S_PER_USER",
    "AcceleratorRates",
    "TierTable",
    "accelerator_rates",
    "frontier_tokens_per_s",
    "tier_table",
]

#: interactivity of a tier that does not state one: the keynote's $6 tier in our reading (twin.layout)
DEFAULT_INTERACTIVITY_TOK_S_PER_USER = 50.0


def frontier_tokens_per_s(
    interactivity_pts: np.ndarray, tokens_pts: np.ndarray, interactivity_tok_s_per_user
) -> np.ndarray:
    """Tokens/s of one accelerator at full power serving at ``interactivity_tok_s_per_user`` (log-log frontier).

    Parameters
    ----------
    interactivity_pts : numpy.ndarray
        Frontier interactivity points, output tokens/s per user, strictly increasing.
    tokens_pts : numpy.ndarray
        Output tokens/s of one accelerator at each point, strictly decreasing.
    interactivity_tok_s_per_user : array_like
        Interactivity of the tiers, tokens/s per user.

    Returns
    -------
    numpy.ndarray
        Output tokens/s per accelerator; the first point's value below the frontier, 0 beyond its last point.
    """
    x = np.log(np.asarray(interactivity_pts, dtype=float))
    y = np.log(np.asarray(tokens_pts, dtype=float))
    i = np.asarray(interactivity_tok_s_per_user, dtype=float)
    out = np.exp(np.interp(np.log(np.maximum(i, 1e-300)), x, y))
    return np.where(i > np.exp(x[-1]) * (1 + 1e-12), 0.0, out)


@dataclass(frozen=True)
class TierTable:
    """The workload tiers as arrays (one entry per tier, in layout order).

    price_usd_per_tok: USD per output token (0 when unpriced); interactivity_tok_s_per_user; demand_limit_tok_s
    (inf: unlimited); share (NaN: none): most fraction of the inference tokens served in the tier;
    input_output_ratio (prefill tokens per output token); price_usd_per_gpu_s: training value of one GPU-second
    at full throughput (0 when unpriced); inference: bool per tier; priced: bool per tier.
    """

    names: tuple[str, ...]
    inference: np.ndarray
    priced: np.ndarray
    price_usd_per_tok: np.ndarray
    interactivity_tok_s_per_user: np.ndarray
    demand_limit_tok_s: np.ndarray
    share: np.ndarray
    input_output_ratio: np.ndarray
    price_usd_per_gpu_s: np.ndarray

    @property
    def n(self) -> int:
        return len(self.names)


def tier_table(tiers) -> TierTable:
    """Arrays of the layout's workload tiers (``twin.layout.Tier`` objects), see :class:`TierTable`."""
    tiers = list(tiers)
    if not tiers:
        raise InputError("no workload tiers")
    inf = np.array([t.kind == "inference" for t in tiers])
    mtok = np.array([t.price_usd_per_mtok if t.price_usd_per_mtok is not None else np.nan for t in tiers])
    gpuh = np.array([getattr(t, "price_usd_per_gpu_hour", None) or 0.0 for t in tiers], dtype=float)
    inter = np.array(
        [
            getattr(t, "interactivity_tok_s_per_user", None) or DEFAULT_INTERACTIVITY_TOK_S_PER_USER
            for t in tiers
        ],
        dtype=float,
    )
    dem = np.array(
        [np.inf if getattr(t, "demand_limit_tok_s", None) is None else t.demand_limit_tok_s for t in tiers],
        dtype=float,
    )
    ratio = np.array([getattr(t, "input_output_ratio", 8.0) for t in tiers], dtype=float)
    share = np.array([np.nan if getattr(t, "share", None) is None else t.share for t in tiers], dtype=float)
    priced = np.where(inf, ~np.isnan(mtok), gpuh > 0)
    return TierTable(
        names=tuple(t.name for t in tiers),
        inference=inf,
        priced=priced,
        price_usd_per_tok=np.where(inf & priced, np.nan_to_num(mtok) / 1e6, 0.0),
        interactivity_tok_s_per_user=inter,
        demand_limit_tok_s=np.where(inf, dem, np.inf),
        share=np.where(inf & priced, share, np.nan),
        input_output_ratio=ratio,
        price_usd_per_gpu_s=np.where(~inf, gpuh / 3600.0, 0.0),
    )


@dataclass(frozen=True)
class AcceleratorRates:
    """Per accelerator type: output tokens/s of one accelerator at full power for each tier.

    rate_tok_s (n_acc, n_tiers): 0 where the accelerator cannot reach the tier's interactivity and for training
    tiers; decode_only (n_acc,); prefill_tok_s (n_acc,) input tokens/s of one accelerator doing prefill only
    (0: none); has_frontier (n_acc,); max_interactivity_tok_s_per_user (n_acc,) the frontier's last point.
    """

    names: tuple[str, ...]
    rate_tok_s: np.ndarray
    decode_only: np.ndarray
    prefill_tok_s: np.ndarray
    has_frontier: np.ndarray
    max_interactivity_tok_s_per_user: np.ndarray


def accelerator_rates(catalog, gpu_names, tiers: TierTable) -> AcceleratorRates:
    """Frontier rates of the accelerator types ``gpu_names`` (catalog GPU entries) for every tier.

    An accelerator without a frontier serves a tier at its catalog base ``tokens_per_s['inference']`` up to the
    default interactivity (50 tokens/s per user) and not beyond (flagged by ``has_frontier``).
    """
    names = tuple(str(n) for n in gpu_names)
    rate = np.zeros((len(names), tiers.n))
    dec = np.zeros(len(names), bool)
    pre = np.zeros(len(names))
    has = np.zeros(len(names), bool)
    top = np.full(len(names), DEFAULT_INTERACTIVITY_TOK_S_PER_USER)
    for a, n in enumerate(names):  # a handful of accelerator types
        g = catalog.gpu(n)
        fr = g.frontier
        if fr is None:
            base = float(g.tokens_per_s.get("inference", 0.0))
            ok = tiers.interactivity_tok_s_per_user <= DEFAULT_INTERACTIVITY_TOK_S_PER_USER
            rate[a] = np.where(ok, base, 0.0)
        else:
            has[a] = True
            top[a] = fr.interactivity_tok_s_per_user[-1]
            rate[a] = frontier_tokens_per_s(
                np.asarray(fr.interactivity_tok_s_per_user),
                np.asarray(fr.tokens_per_s_per_gpu),
                tiers.interactivity_tok_s_per_user,
            )
            dec[a] = fr.serving == "decode"
            pre[a] = fr.prefill_tokens_per_s_per_gpu or 0.0
        rate[a] = np.where(tiers.inference, rate[a], 0.0)
    return AcceleratorRates(names, rate, dec, pre, has, top)
