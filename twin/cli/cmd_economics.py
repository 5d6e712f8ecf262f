"""``twin economics``: a site of a rack mix sized to its power and solved for revenue; generation comparisons."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.table import Table

from twin.cli.common import AmbOpt, JsonOpt, app, guarded, out, print_json, warn, working
from twin.errors import InputError


def _m(v: float) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v / 1e6:,.1f}"


def render_tiers(res) -> None:
    """The per-tier table of a Max-Q run with priced tiers (``tiers`` table, twin.economics)."""
    t = res.tables.get("tiers") if getattr(res, "status", "") == "ok" else None
    if t is None or t.empty:
        return
    k = res.kpis
    title = f"{res.scenario.policy}: revenue ${k['revenue_usd_per_h'] / 1e6:,.2f} M/h"
    if math.isfinite(k.get("revenue_usd_per_mwh", float("nan"))):
        title += f", ${k['revenue_usd_per_mwh']:,.0f} per MWh of grid"
    if math.isfinite(k.get("shadow_price_grid_usd_per_mwh", float("nan"))):
        title += f"; 1 MW more budget = ${k['shadow_price_grid_usd_per_mwh']:,.0f}/h"
    # two token scales meet here: say which one this table is (the policy table's is the catalog's base rate)
    caption = (
        "output tokens/s of the catalog frontier's reference model at each tier's tokens/s per user "
        "(twin.economics); the tokens/s above are the racks' base rate that Max-Q maximises"
    )
    tab = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for c in ("tier", "tok/s/user", "$/Mtok", "output tokens/s (M)", "revenue $M/h"):
        tab.add_column(c, justify="left" if c == "tier" else "right")
    for r in t.itertuples():
        tab.add_row(
            str(r.tier),
            "-"
            if not math.isfinite(r.interactivity_tok_s_per_user)
            else f"{r.interactivity_tok_s_per_user:g}",
            "-" if not math.isfinite(r.price_usd_per_mtok) else f"{r.price_usd_per_mtok:g}",
            _m(r.tokens_per_s),
            f"{r.revenue_usd_per_h / 1e6:,.2f}",
        )
    out.print(tab)


@app.command()
@guarded
def economics(
    site_mw: float = typer.Option(1000.0, "--site-mw", help="site power envelope at the meter, MW"),
    mix: str = typer.Option(
        "vr-nvl72:0.75,groq-lpx:0.25",
        "--mix",
        help="rack types and their share of the site power, summing to 1",
    ),
    tiers: Path = typer.Option(
        None, "--tiers", help="YAML file with 'tiers:' (default: the keynote's tiers)"
    ),
    compare: str = typer.Option(
        None,
        "--compare",
        help="rack types to compare at equal site power, e.g. hgx-h100,gb300-nvl72,vr-nvl72",
    ),
    ambient_c: float = AmbOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Token-factory economics: size a site of a rack mix, serve the tiers for the most revenue (or --compare)."""
    from twin.economics.site import compare as compare_sites
    from twin.economics.site import economics as solve_site
    from twin.economics.site import load_tiers, parse_mix

    if not (math.isfinite(site_mw) and site_mw > 0):
        raise InputError(f"--site-mw must be a positive number, got {site_mw}")
    tl = load_tiers(tiers)
    if compare is not None:
        types = [x.strip() for x in compare.split(",") if x.strip()]
        with working("sizing and solving each rack type", quiet=json_out):
            res = compare_sites(site_mw, types, tl, ambient_c=ambient_c)
        if json_out:
            print_json(res)
        else:
            _render_compare(res)
        return
    m = parse_mix(mix)
    with working("sizing the site and solving for revenue", quiet=json_out):
        res = solve_site(site_mw, m, tl, ambient_c=ambient_c, strict=tiers is not None)
    if json_out:
        print_json(res)
    else:
        _render_site(res)
    for w in res["warnings"]:
        warn(f"{w} (not served)")


def _render_site(res: dict) -> None:
    t = Table(title=f"Site of {res['site_mw']:,.0f} MW", title_justify="left")
    for c in (
        "rack type",
        "share",
        "racks",
        "GPUs / LPUs",
        "kW/rack (site)",
        "W/GPU",
        "prefill %",
        "tokens/s (M)",
    ):
        t.add_column(c, justify="left" if c == "rack type" else "right")
    for r in res["racks"]:
        t.add_row(
            r["rack_type"],
            f"{r['fraction']:.0%}",
            f"{r['racks']:,}",
            f"{r['gpus']:,}",
            f"{r['facility_w_per_rack_maxq'] / 1e3:,.1f}",
            f"{r['gpu_power_w']:,.0f}",
            f"{r['prefill_share_pct']:.1f}",
            _m(r["tokens_per_s"]),
        )
    out.print(t)
    tt = Table(
        title=f"Revenue ${res['revenue_usd_per_h'] / 1e6:,.2f} M/h (${res['revenue_usd_per_mwh']:,.0f} per MWh); "
        f"1 MW more = ${res['shadow_price_grid_usd_per_mwh']:,.0f}/h",
        title_justify="left",
    )
    for c in ("tier", "tok/s/user", "$/Mtok", "demand (M tok/s)", "tokens/s (M)", "revenue $M/h"):
        tt.add_column(c, justify="left" if c == "tier" else "right")
    for r in res["tiers"]:
        tt.add_row(
            r["tier"],
            f"{r['interactivity_tok_s_per_user']:g}",
            f"{r['price_usd_per_mtok']:g}",
            _m(r["demand_limit_tokens_per_s"]),
            _m(r["tokens_per_s"]),
            f"{r['revenue_usd_per_h'] / 1e6:,.2f}",
        )
    out.print(tt)


def _render_compare(res: dict) -> None:
    rows = res["rows"]
    t = Table(
        title=f"Generation over generation at {res['site_mw']:,.0f} MW of site power: tokens/s (M) if the whole site "
        f"serves one tier (x {rows[0]['rack_type']})",
        title_justify="left",
    )
    t.add_column("tier", justify="left")
    for r in rows:
        t.add_column(r["rack_type"], justify="right")
    t.add_row("racks", *[f"{r['racks']:,}" for r in rows])
    t.add_row("GPUs", *[f"{r['gpus']:,}" for r in rows])
    for tier in res["tiers"]:
        key = f"tokens_per_s_{tier['tier']}"
        label = f"{tier['tier']} ({tier['interactivity_tok_s_per_user']:g} tok/s/user, ${tier['price_usd_per_mtok']:g}/Mtok)"
        t.add_row(label, *[_cell(r, key, r is rows[0]) for r in rows])
    t.add_row("revenue $M/h (best split)", *[_cell(r, "revenue_usd_per_h", r is rows[0]) for r in rows])
    out.print(t)


def _cell(r: dict, key: str, first: bool) -> str:
    v, x = r[key], r.get(f"x_{key}", float("nan"))
    if v <= 0:
        return "-"
    ratio = "" if first or not math.isfinite(x) else f" ({x:,.1f}x)"
    return f"{v / 1e6:,.1f}{ratio}"
