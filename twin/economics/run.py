"""Run-API glue: revenue KPIs and the per-tier table of a Max-Q run (``twin.runner``).

Every capping run on a layout whose tiers have prices reports ``revenue_usd_per_h`` (and $ per MWh of grid) and
a ``tiers`` table: with ``objective="tokens"`` the caps are priced afterwards (the best split of the capacity at
those caps over the tiers), with ``objective="revenue"`` they come from the revenue-optimal Max-Q.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.economics.revenue import RevenueResult, price_caps

#: KPIs of the economics layer (all listed in twin/results_schema.yaml)
KPI_KEYS = (
    "revenue_usd_per_h",
    "revenue_usd_per_mwh",
    "shadow_price_grid_usd_per_mwh",
    "tier_tokens_per_s",
    "prefill_tokens_per_s",
)
#: KPI with the per-tier rows (for --json, which prints KPIs only)
TIER_KPI = "revenue_by_tier"

TIER_COLUMNS = [
    "tier",
    "kind",
    "interactivity_tok_s_per_user",
    "price_usd_per_mtok",
    "demand_limit_tokens_per_s",
    "tokens_per_s",
    "revenue_usd_per_h",
    "demand_price_usd_per_mtok",
]


def has_prices(model) -> bool:
    """True when a workload tier of the layout has a price (per Mtok or per GPU-hour)."""
    return any(
        t.price_usd_per_mtok is not None or (t.price_usd_per_gpu_hour or 0) > 0
        for t in model.layout.workload.tiers
    )


def priced_afterwards(model, res) -> RevenueResult | None:
    """Revenue of a feasible MaxQResult's caps (objective tokens, or any policy), or None without prices."""
    if not res.feasible or res.coupled is None:
        return None
    return priced_state(model, res.res_racks, res.kpis["facility_power_mw"])


def priced_state(model, res_racks: pd.DataFrame, facility_mw: float) -> RevenueResult | None:
    """Revenue of a solved operating point (a coupled solve's racks: ``gpu_power_w``, ``on``), or None without
    prices: the best split of the racks' capacity at their GPU powers over the layout's tiers."""
    if not has_prices(model):
        return None
    caps = res_racks["gpu_power_w"].to_numpy(dtype=float)
    on = res_racks["on"].to_numpy(dtype=bool) if "on" in res_racks.columns else None
    out = price_caps(model, gpu_cap_w=np.maximum(caps, 1e-9), racks_on=on, facility_mw=facility_mw)
    out.kpis["shadow_price_grid_usd_per_mwh"] = float("nan")  # only the revenue objective prices the budget
    return out


def add_to_run(rev: RevenueResult | None, kpis: dict, tables: dict) -> None:
    """Put the revenue KPIs and the ``tiers`` table of ``rev`` into a run's ``kpis`` and ``tables``."""
    if rev is None or rev.tiers.empty:
        return
    for k in KPI_KEYS:
        if k in rev.kpis:
            kpis[k] = float(rev.kpis[k])
    tables["tiers"] = rev.tiers.reindex(columns=TIER_COLUMNS)
    kpis[TIER_KPI] = [
        {
            "tier": str(r.tier),
            "tokens_per_s": float(r.tokens_per_s),
            "revenue_usd_per_h": float(r.revenue_usd_per_h),
        }
        for r in rev.tiers.itertuples()
    ]
