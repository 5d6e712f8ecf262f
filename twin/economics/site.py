"""A site of a rack mix sized to its power (``twin economics``), solved for revenue; generation comparisons.

Sizing reuses the MaxLPS-style analysis (``twin.maxq.sizing.size_site``): for each rack type of the mix, the
racks that fit its share of the site power at the Max-Q point, with the per-rack facility power ``phi`` (rack IT
plus its share of fabric, cooling and losses) measured by the coupled solve on a template layout. The site is
then one pool per rack type whose facility power is linear in its GPU power around the Max-Q point,

    F = sum_k N_k phi_Q,k + sum_k a_k gpus_k N_k (p_k - p_Q,k),   a_k = (phi_P,k - phi_Q,k) / (gpus_k (P_max - p_Q)),

and the revenue problem of ``twin.economics.revenue`` is solved on it (``solve_linearised``: dual multipliers
for demand and prefill, water-filling caps, the LP split).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from twin.catalog import load_catalog
from twin.economics.frontier import accelerator_rates, tier_table
from twin.economics.revenue import LinearFacility, Pools, check_reachable, solve_linearised
from twin.errors import InputError
from twin.perf import concave_curve

TEMPLATE_DIR = Path(__file__).with_name("templates")
#: template layouts for rack types that no reference layout uses (sizing needs one)
TEMPLATES = {
    "hgx-h100": TEMPLATE_DIR / "hall_hgx_h100.yaml",
    "hgx-h100-lc": TEMPLATE_DIR / "hall_hgx_h100_lc.yaml",
    "gb300-nvl72": TEMPLATE_DIR / "hall_gb300.yaml",
}


def parse_mix(text: str, catalog=None) -> dict[str, float]:
    """``"vr-nvl72:0.75,groq-lpx:0.25"`` -> {rack type: fraction of site power}; fractions must sum to 1.

    Raises
    ------
    InputError
        Bad syntax, a fraction outside (0, 1], fractions not summing to 1 (within 1e-6), an unknown rack type.
    """
    catalog = catalog or load_catalog()
    mix: dict[str, float] = {}
    for part in [p.strip() for p in str(text).split(",") if p.strip()]:
        name, sep, frac = part.partition(":")
        name = name.strip()
        try:
            f = float(frac) if sep else 1.0
        except ValueError:
            raise InputError(f"--mix: '{part}' is not RACK_TYPE:FRACTION (e.g. vr-nvl72:0.75)") from None
        if not np.isfinite(f) or not 0 < f <= 1:
            raise InputError(f"--mix: fraction of '{name}' must be in (0, 1], got {frac}")
        if not catalog.has("racks", name):
            raise InputError(f"unknown rack type '{name}' (catalog: {', '.join(catalog.names('racks'))})")
        if name in mix:
            raise InputError(f"--mix: rack type '{name}' given twice")
        mix[name] = f
    if not mix:
        raise InputError("--mix is empty (e.g. vr-nvl72:0.75,groq-lpx:0.25)")
    total = sum(mix.values())
    if abs(total - 1.0) > 1e-6:
        raise InputError(
            f"--mix fractions sum to {total:g}, not 1 ({', '.join(f'{k}:{v:g}' for k, v in mix.items())})"
        )
    return mix


def load_tiers(path: str | Path | None):
    """Tiers of a YAML file (``tiers:`` list, the layout's tier schema), or the keynote tiers when None."""
    from twin.layout import Tier, keynote_tiers

    if path is None:
        return keynote_tiers()
    import yaml
    from pydantic import ValidationError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"--tiers: no such file {p}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"--tiers {p}: not valid YAML ({exc})") from None
    items = data.get("tiers") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise InputError(f"--tiers {p}: expected a list of tiers under 'tiers:'")
    out = []
    for i, it in enumerate(items):
        try:
            out.append(Tier.model_validate(it))
        except ValidationError as exc:
            msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InputError(f"--tiers {p}: tier {i}: {msg}") from None
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise InputError(f"--tiers {p}: tier names must be unique")
    return out


def unreachable(rack_types, tiers, catalog=None) -> list[str]:
    """Priced inference tiers that no rack type of ``rack_types`` reaches (checked before any sizing)."""
    catalog = catalog or load_catalog()
    sized = pd.DataFrame(
        {
            "rack_type": list(rack_types),
            "gpus": 1,
            "racks": 1,
            "gpus_per_rack": 1,
            "site_mw": 1.0,
            "facility_w_per_rack_maxq": 1.0,
            "facility_w_per_rack_maxp": 2.0,
        }
    )
    pl, _ = site_pools(sized, tiers, catalog)
    return check_reachable(pl)


def size_mix(site_mw: float, mix: dict[str, float], ambient_c: float | None = None) -> pd.DataFrame:
    """Racks of each rack type that fit its share of ``site_mw`` at the Max-Q point (``twin.maxq.sizing``).

    Returns one row per rack type: rack_type, fraction, site_mw, racks, gpus, gpus_per_rack,
    facility_w_per_rack_maxq / _maxp, it_w_per_rack_maxq, template.
    """
    from twin.maxq.sizing import size_site

    rows = []
    for rt, frac in mix.items():  # a few rack types
        r = size_site(site_mw * frac, rt, ambient_c=ambient_c, template=TEMPLATES.get(rt))
        rows.append(
            dict(
                rack_type=rt,
                fraction=frac,
                site_mw=site_mw * frac,
                racks=r["racks_maxq"],
                gpus=r["gpus_maxq"],
                gpus_per_rack=r["gpus_maxq"] // max(r["racks_maxq"], 1),
                facility_w_per_rack_maxq=r["facility_w_per_rack_maxq"],
                facility_w_per_rack_maxp=r["facility_w_per_rack_maxp"],
                it_w_per_rack_maxq=r["it_w_per_rack_maxq"],
                template=r["template"],
            )
        )
    return pd.DataFrame(rows)


def site_pools(sized: pd.DataFrame, tiers, catalog=None) -> tuple[Pools, LinearFacility]:
    """Pools (one per rack type, inference) and the linearised site power of a sized mix (module docstring)."""
    catalog = catalog or load_catalog()
    tt = tier_table(tiers)
    gpu_names = [catalog.rack(rt).gpu for rt in sized["rack_type"]]
    uniq = list(dict.fromkeys(gpu_names))
    rates = accelerator_rates(catalog, uniq, tt)
    acc = np.array([uniq.index(g) for g in gpu_names])
    n = len(sized)
    gpus = sized["gpus"].to_numpy(dtype=float)
    racks = sized["racks"].to_numpy(dtype=float)
    pmax = np.array([catalog.gpu(g).power_max_w for g in gpu_names])
    pmin = np.array([catalog.gpu(g).power_min_w for g in gpu_names])
    pq = np.array([catalog.gpu(g).power_maxq_w for g in gpu_names])
    gpr = sized["gpus_per_rack"].to_numpy(dtype=float)
    phi_q = sized["facility_w_per_rack_maxq"].to_numpy(dtype=float)
    phi_p = sized["facility_w_per_rack_maxp"].to_numpy(dtype=float)
    a = np.maximum((phi_p - phi_q) / (gpr * (pmax - pq)), 1e-6)
    curves = []
    for g in gpu_names:
        c = catalog.gpu(g).throughput_curves["inference"]
        curves.append(concave_curve(c.power_fraction, c.relative_throughput))
    pl = Pools(
        rack_pool=np.arange(n),
        acc=acc,
        inference=np.ones(n, bool),
        tier=np.full(n, -1),
        gpus=gpus,
        p_max_w=pmax,
        p_min_w=pmin,
        curves=tuple(curves),
        labels=tuple(sized["rack_type"]),
        rates=rates,
        tiers=tt,
    )
    fixed = float(np.sum(racks * phi_q) - np.sum(a * gpus * pq))
    lin = LinearFacility(a=a, fixed_w=fixed, budget_w=float(sized["site_mw"].sum()) * 1e6)
    return pl, lin


def economics(
    site_mw: float, mix: dict[str, float], tiers, ambient_c: float | None = None, strict: bool = True
) -> dict:
    """Size a site of ``mix``, solve it for revenue, and report tokens/s and revenue per tier.

    Returns
    -------
    dict
        site_mw, racks (table rows per rack type), tiers (rows: tier, interactivity, price, demand, tokens/s,
        revenue $/h), revenue_usd_per_h, revenue_usd_per_mwh, shadow_price_grid_usd_per_mwh, tokens_per_s.

        warnings: priced tiers no rack of the mix reaches (not served).

    Raises
    ------
    InputError
        ``strict`` and a priced tier no rack type of the mix can reach.
    """
    catalog = load_catalog()
    tt = tier_table(tiers)
    if not np.any(tt.inference & tt.priced):
        raise InputError("no inference tier with a price (price_usd_per_mtok) to serve")
    bad = unreachable(list(mix), tiers, catalog)
    if bad and strict:
        raise InputError("; ".join(bad))
    sized = size_mix(site_mw, mix, ambient_c)
    pl, lin = site_pools(sized, tiers, catalog)
    sol = solve_linearised(pl, lin)
    sp = sol["split"]
    tt = pl.tiers
    x = sol["x"]
    fac_w = lin.fixed_w + float(np.sum(lin.coef(pl.n) * pl.gpus * pl.p_max_w * x))
    sized = sized.assign(
        gpu_power_w=x * pl.p_max_w,
        tokens_per_s=(sp.x * pl.rate()).sum(axis=1),
        prefill_share_pct=100 * sp.z / np.maximum(sol["capacity"], 1e-300),
    )
    tiers_rows = pd.DataFrame(
        {
            "tier": list(tt.names),
            "interactivity_tok_s_per_user": tt.interactivity_tok_s_per_user,
            "price_usd_per_mtok": tt.price_usd_per_tok * 1e6,
            "demand_limit_tokens_per_s": np.where(
                np.isfinite(tt.demand_limit_tok_s), tt.demand_limit_tok_s, np.nan
            ),
            "tokens_per_s": sp.tokens_per_s,
            "revenue_usd_per_h": sp.revenue_usd_per_s * 3600,
        }
    )[tt.inference]
    rev_h = sp.total_usd_per_s * 3600
    return {
        "site_mw": site_mw,
        "facility_power_mw": fac_w / 1e6,
        "racks": sized.to_dict("records"),
        "tiers": tiers_rows.to_dict("records"),
        "revenue_usd_per_h": rev_h,
        "revenue_usd_per_mwh": rev_h / (fac_w / 1e6),
        "shadow_price_grid_usd_per_mwh": sol["budget_multiplier_usd_per_s_per_w"] * 1e6 * 3600,
        "tokens_per_s": float(sp.tokens_per_s.sum()),
        "prefill_tokens_per_s": sp.prefill_tok_s,
        "warnings": bad,
    }


def compare(site_mw: float, rack_types: list[str], tiers, ambient_c: float | None = None) -> dict:
    """Generation over generation at equal site power: for each rack type alone on ``site_mw``, tokens/s if the
    whole site serves one tier (each tier in turn, at the Max-Q caps; 0 where the rack cannot reach it) and the
    revenue-optimal $/h, with ratios to the first rack type.

    Raises
    ------
    InputError
        Unknown rack type; fewer than one.
    """
    catalog = load_catalog()
    if not rack_types:
        raise InputError("--compare needs rack types, e.g. hgx-h100,gb300-nvl72,vr-nvl72")
    for rt in rack_types:
        if not catalog.has("racks", rt):
            raise InputError(f"unknown rack type '{rt}' (catalog: {', '.join(catalog.names('racks'))})")
        if catalog.gpu(catalog.rack(rt).gpu).frontier is not None and (
            catalog.gpu(catalog.rack(rt).gpu).frontier.serving == "decode"
        ):
            raise InputError(
                f"'{rt}' is decode-only: it cannot make a site alone (use --mix with a prefill rack)"
            )
    tt = tier_table(tiers)
    rows = []
    for rt in rack_types:
        sized = size_mix(site_mw, {rt: 1.0}, ambient_c)
        pl, lin = site_pools(sized, tiers, catalog)
        xq = np.array([catalog.gpu(catalog.rack(rt).gpu).power_maxq_w]) / pl.p_max_w
        cap_q = pl.gpus * np.array([float(pl.curves[0].value(xq)[0])])
        per_tier = cap_q[0] * pl.rate()[0]
        sol = solve_linearised(pl, lin)
        row = {
            "rack_type": rt,
            "racks": int(sized["racks"].iat[0]),
            "gpus": int(sized["gpus"].iat[0]),
            "facility_kw_per_rack": float(sized["facility_w_per_rack_maxq"].iat[0]) / 1e3,
            "revenue_usd_per_h": sol["revenue_usd_per_s"] * 3600,
        }
        for t in np.flatnonzero(tt.inference):
            row[f"tokens_per_s_{tt.names[t]}"] = float(per_tier[t])
        rows.append(row)
    base = rows[0]
    for r in rows:
        for k in list(r):
            if k.startswith("tokens_per_s_") or k == "revenue_usd_per_h":
                r[f"x_{k}"] = r[k] / base[k] if base[k] > 0 else (np.inf if r[k] > 0 else np.nan)
    return {
        "site_mw": site_mw,
        "tiers": [
            {
                "tier": tt.names[t],
                "interactivity_tok_s_per_user": tt.interactivity_tok_s_per_user[t],
                "price_usd_per_mtok": tt.price_usd_per_tok[t] * 1e6,
            }
            for t in np.flatnonzero(tt.inference)
        ],
        "rows": rows,
    }
