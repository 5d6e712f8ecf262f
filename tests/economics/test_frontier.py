"""Frontier data (catalog schema), its interpolation, and the workload tiers' new fields (twin.economics.frontier)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from twin.catalog import load_catalog
from twin.catalog.schema import Frontier
from twin.economics.frontier import accelerator_rates, frontier_tokens_per_s, tier_table
from twin.layout import Tier, Workload, keynote_tiers


def _frontier(**kw):
    base = dict(
        model="m",
        interactivity_tok_s_per_user=[10, 50, 100],
        tokens_per_s_per_gpu=[900, 300, 20],
        source="[S] x",
    )
    return Frontier(**{**base, **kw})


def test_frontier_must_fall_with_interactivity():
    _frontier()
    with pytest.raises(ValidationError, match="strictly decreasing"):
        _frontier(tokens_per_s_per_gpu=[900, 900, 20])
    with pytest.raises(ValidationError, match="strictly increasing"):
        _frontier(interactivity_tok_s_per_user=[10, 10, 100])
    with pytest.raises(ValidationError, match="no prefill"):
        _frontier(serving="decode", prefill_tokens_per_s_per_gpu=1000.0)


def test_every_catalog_frontier_is_sourced_and_decreasing():
    cat = load_catalog()
    fronts = {g.name: g.frontier for g in cat.entries["gpus"].values() if g.frontier is not None}
    assert {"h100", "b300", "rubin", "lp30"} <= set(fronts)
    for name, f in fronts.items():
        assert f.source.startswith(("[O]", "[S]")) and len(f.source) > 40, name
        assert np.all(np.diff(f.tokens_per_s_per_gpu) < 0), name
    assert fronts["lp30"].serving == "decode" and fronts["rubin"].prefill_tokens_per_s_per_gpu > 0


def test_log_log_interpolation_first_value_below_and_zero_beyond():
    x, y = np.array([10.0, 100.0]), np.array([1000.0, 10.0])
    t = frontier_tokens_per_s(x, y, [5.0, 10.0, np.sqrt(1000.0), 100.0, 101.0])
    # a power law between the points: halfway in log x, halfway in log y
    assert t == pytest.approx([1000.0, 1000.0, 100.0, 10.0, 0.0], rel=1e-12)


def test_keynote_tiers_are_the_defaults_and_old_tiers_stay_valid():
    tt = tier_table(keynote_tiers())
    assert tt.names == ("free", "t3", "t6", "t45", "t150")
    assert tt.price_usd_per_tok * 1e6 == pytest.approx([0, 3, 6, 45, 150])
    assert np.all(np.diff(tt.interactivity_tok_s_per_user) > 0)  # price rises with speed
    # a tier of an existing layout (no new fields): unlimited demand, the default interactivity, 8:1 prefill
    w = Workload(default_tier="a", tiers=[Tier(name="a", kind="inference", price_usd_per_mtok=3.0)])
    t = tier_table(w.tiers)
    assert t.interactivity_tok_s_per_user[0] == 50.0 and np.isinf(t.demand_limit_tok_s[0])
    with pytest.raises(ValidationError, match="training"):
        Tier(name="x", kind="inference", price_usd_per_gpu_hour=2.0)


def test_rates_per_accelerator_and_tier():
    cat = load_catalog()
    r = accelerator_rates(cat, ["h100", "rubin", "lp30"], tier_table(keynote_tiers()))
    h, v, g = r.rate_tok_s
    assert h[3] == 0 and h[4] == 0  # Hopper cannot reach 150 or 500 tokens/s per user
    assert v[4] == 0 and v[3] > 0  # a GPU rack ends at 400; LPX decode reaches 500
    assert g[4] > 0 and r.decode_only.tolist() == [False, False, True]
    assert np.all(v[:3] > h[:3])


def test_perf_tokens_at_interactivity_scales_the_frontier_by_the_power_curve():
    from twin.model import load_model
    from twin.perf import perf_model, relative_throughput, tokens_per_s_at_interactivity

    m = load_model("layouts/pod_small.yaml")
    perf = perf_model(m)
    p = np.full(m.n_racks, 1786.0)
    t = tokens_per_s_at_interactivity(m, p, 50.0, perf)
    f = relative_throughput(m, p, perf)
    assert t == pytest.approx(72 * 16000.0 * f, rel=1e-12)  # rubin frontier at 50 tokens/s per user
    assert np.all(tokens_per_s_at_interactivity(m, p, 450.0, perf) == 0)  # beyond the Vera Rubin frontier
