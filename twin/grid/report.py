"""The grid year as one self-contained HTML page (plotly.js inlined once: it opens offline).

Summary table, surrogate validation, load-duration curve, 24 x 365 heat maps, monthly bars, each event zoomed,
strategy comparison and a snapshot of the site: the racks in 3D coloured by their Max-Q GPU cap at the median
hour, rendered off-screen by pyvista (:func:`twin.render.render_values_png`, the picture ``twin render``
makes) and embedded as a base64 PNG; only when VTK cannot render off-screen, a 2D plotly plan instead, with
the reason.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_report"]

COLORS = {"fixed": "#d62728", "maxq": "#1f77b4", "maxq-cooling": "#9467bd", "shed": "#2ca02c"}
NAMES = {
    "fixed": "fixed (Max-P, racks off)",
    "maxq": "Max-Q caps",
    "maxq-cooling": "Max-Q caps + cooling setpoints",
    "shed": "Max-Q + shedding",
}
TIER_COLORS = ("#17becf", "#bcbd22", "#8c564b", "#e377c2", "#7f7f7f")
MAX_EVENTS_SHOWN = 6


def _fmt(v, nd=1, unit=""):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    if isinstance(v, str):
        return html.escape(v)
    a = abs(v)
    if a >= 1e6:
        nd = max(nd, 2)
    if a >= 1e12:
        s = f"{v / 1e12:,.{nd}f} T"
    elif a >= 1e9:
        s = f"{v / 1e9:,.{nd}f} G"
    elif a >= 1e6:
        s = f"{v / 1e6:,.{nd}f} M"
    else:
        s = f"{v:,.{nd}f}"
    return s + (f" {unit}" if unit else "")


def _fig_html(fig, first: bool) -> str:
    fig.update_layout(template="plotly_white", margin=dict(l=60, r=20, t=50, b=40))
    return fig.to_html(
        full_html=False, include_plotlyjs=True if first else False, config={"displaylogo": False}
    )


def _summary_rows(res) -> list[tuple[str, list[str]]]:
    cur = res.meta["price_currency"] or ""
    rows = []

    def add(label, key, nd=1, unit="", scale=1.0):
        vals = []
        for s in res.kpis:
            v = res.kpis[s].get(key)
            vals.append(_fmt(v * scale if isinstance(v, (int, float)) and v is not None else v, nd, unit))
        rows.append((label, vals))

    add("Annual energy", "annual_energy_mwh", 1, "MWh")
    add("Peak draw", "peak_mw", 2, "MW")
    add("Load factor", "load_factor", 3)
    add("Interconnection use (energy / limit x 8,760 h)", "interconnection_use_pct", 1, "%")
    add("PUE, annual", "pue_annual", 4)
    rows.append(
        (
            "PUE, worst month",
            [
                f"{res.kpis[s]['pue_worst_month']:.4f} ({res.kpis[s]['pue_worst_month_name']})"
                for s in res.kpis
            ],
        )
    )
    add("Water (adiabatic pads)", "water_m3", 0, "m3")
    add(f"Energy cost ({cur})", "energy_cost", 2, cur)
    add("Energy cost (USD)", "energy_cost_usd", 2, "USD")
    add("Emissions, average intensity", "emissions_t", 0, "t CO2eq")
    add("Emissions, marginal intensity", "emissions_marginal_t", 0, "t CO2eq")
    add("Tokens (the racks' tokens/s, the Max-Q objective)", "tokens", 2)
    for t in res.site.tiers:
        rows.append(
            (
                f"  tokens served, {t} (twin.economics)",
                [_fmt(res.kpis[s]["tokens_by_tier"][t], 2) for s in res.kpis],
            )
        )
    add("Revenue (twin.economics, per tier below)", "revenue_usd", 2, "USD")
    for t, p in zip(res.site.tiers, res.site.tier_price_usd_per_mtok, strict=True):
        lab = f"  revenue, {t} ({p:g} USD/Mtok)" if p else f"  revenue, {t} (no price)"
        rows.append((lab, [_fmt(res.kpis[s]["revenue_usd_by_tier"][t], 2, "USD") for s in res.kpis]))
    add("Revenue minus energy cost", "margin_usd", 2, "USD")
    if "maxq-cooling" in res.kpis:
        add("Facility-water supply setpoint, mean over halls and hours", "supply_setpoint_mean_c", 2, "C")
        add("Cooling energy saved vs Max-Q at fixed setpoints", "cooling_saved_vs_maxq_mwh", 1, "MWh")
    add("Curtailment events", "curtailment_events", 0)
    add("Curtailment hours", "curtailment_hours", 1, "h")
    add("Curtailed energy", "curtailed_mwh", 1, "MWh")
    add("Curtailed, % of max annual energy (peak x 8,760 h)", "curtailed_pct_of_max_energy", 3, "%")
    add("Deepest event (below pre-event load)", "max_event_depth_pct", 1, "%")
    add("Longest event", "max_event_duration_h", 1, "h")
    add("Tokens lost to curtailment", "tokens_lost", 2)
    add("Revenue lost to curtailment", "revenue_lost_usd", 2, "USD")
    add("Tokens lost per MWh curtailed", "tokens_lost_per_mwh_curtailed", 2)
    add("Hours with racks switched off for an event", "racks_switched_off_hours", 0)
    add("Flexibility at no token loss (< 0.1 %), MW x h", "flex_mwh_no_token_loss", 0, "MWh")
    add("Flexibility at some token loss (<= 5 %), MW x h", "flex_mwh_some_token_loss", 0, "MWh")
    add("Hours over their limit", "limit_exceeded_hours", 0)
    return rows


def _table(header: list[str], rows: list[tuple[str, list[str]]]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "".join(
        "<tr><td>" + html.escape(lab) + "</td>" + "".join(f"<td class=n>{v}</td>" for v in vals) + "</tr>"
        for lab, vals in rows
    )
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _validation_html(res) -> str:
    if res.meta["exact"]:
        return "<p>Every hour was solved exactly (<code>--exact</code>): no surrogate.</p>"
    rows = []
    for s, v in res.validation.items():
        for what, d in v["summary"].items():
            ok_f = d["facility_power_max_error_pct"] <= 0.5
            ok_t = d["tokens_max_error_pct"] <= 0.5
            rows.append(
                (
                    f"{NAMES.get(s, s)}: {what}s",
                    [
                        str(d["hours"]),
                        f"{d['facility_power_max_error_pct']:.4f} % / {d['facility_power_mean_error_pct']:.4f} %"
                        + ("" if ok_f else " &#9888;"),
                        f"{d['tokens_max_error_pct']:.4f} % / {d['tokens_mean_error_pct']:.4f} %"
                        + ("" if ok_t else " &#9888;"),
                    ],
                )
            )
    t = _table(
        ["strategy: hours", "exact solves", "facility MW error, max / mean", "tokens/s error, max / mean"],
        rows,
    )
    n = res.meta["surface_nodes"]
    return (
        f"<p>Each hour is interpolated (linear, <code>scipy.interpolate.RegularGridInterpolator</code>) on a response "
        f"surface of {n} exact solves over dry bulb, wet-bulb depression and the hour's limit (or the number of racks "
        f"on). The surface is checked against exact solves of the twin at random hours (seed "
        f"0) and at random event hours: the target is at most 0.5 % on facility MW and tokens/s.</p>{t}"
    )


def _load_duration_figs(res, hourly, strategies) -> list:
    """Load-duration curve: facility power, hours sorted from the highest, per strategy."""
    import plotly.graph_objects as go

    figs = []
    fig = go.Figure()
    for s in strategies:
        f = np.sort(hourly.loc[hourly["strategy"] == s, "facility_power_mw"].to_numpy())[::-1]
        fig.add_trace(
            go.Scatter(x=np.arange(1, len(f) + 1), y=f, name=NAMES.get(s, s), line=dict(color=COLORS.get(s)))
        )
    fig.add_hline(
        y=res.meta["grid_limit_mw"], line_dash="dash", annotation_text="grid connection", line_color="grey"
    )
    fig.update_layout(
        title="Load-duration curve",
        xaxis_title="hours of the year at or above",
        yaxis_title="facility power [MW]",
        height=380,
    )
    figs.append(("Load-duration curve", fig))
    return figs


def _heat_map_figs(res, hm, main, cur) -> list:
    """Heat maps, 24 hours x 365 days, of the main strategy's power and PUE, the price and the carbon intensity."""
    import plotly.graph_objects as go

    figs = []
    day = hm["hour"].to_numpy() // 24
    hod = hm["hour"].to_numpy() % 24
    dates = pd.date_range(
        res.weather.start.tz_localize(None) if res.weather.start.tzinfo else res.weather.start,
        periods=365,
        freq="D",
    )
    for col, title, scale in (
        ("facility_power_mw", f"Facility power [MW] ({NAMES.get(main, main)})", "Viridis"),
        ("pue", f"PUE ({NAMES.get(main, main)})", "Magma"),
        ("price_per_mwh", f"Day-ahead price [{cur}/MWh]", "RdBu_r"),
        ("carbon_g_per_kwh", "Carbon intensity, average [gCO2eq/kWh]", "YlOrBr"),
    ):
        z = np.full((24, 365), np.nan)
        z[hod, day] = hm[col].to_numpy()
        fig = go.Figure(go.Heatmap(z=z, x=dates, y=np.arange(24), colorscale=scale, colorbar=dict(title="")))
        fig.update_layout(title=title, yaxis_title="hour of day (site clock)", height=300)
        figs.append((title, fig))
    return figs


def _monthly_figs(hourly, strategies, cur, tiers) -> list:
    """Monthly totals per strategy: energy, energy cost, emissions, tokens, revenue; and per tier."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figs = []
    fig = make_subplots(
        rows=1,
        cols=5,
        subplot_titles=(
            "energy [GWh]",
            f"energy cost [M{cur}]",
            "emissions [kt CO2eq]",
            "tokens [T]",
            "revenue [M USD]",
        ),
    )
    for s in strategies:
        d = hourly[hourly["strategy"] == s]
        m = d.groupby(d["time"].dt.month)
        vals = [
            m["facility_power_mw"].sum() / 1e3,
            m["energy_cost"].sum() / 1e6,
            m["emissions_t"].sum() / 1e3,
            m["tokens_per_s"].sum() * 3600 / 1e12,
            m["revenue_usd"].sum() / 1e6,
        ]
        for j, v in enumerate(vals):
            fig.add_trace(
                go.Bar(
                    x=v.index,
                    y=v.to_numpy(),
                    name=NAMES.get(s, s),
                    marker_color=COLORS.get(s),
                    showlegend=j == 0,
                    legendgroup=s,
                ),
                row=1,
                col=j + 1,
            )
    fig.update_layout(title="Monthly totals", height=330, barmode="group")
    figs.append(("Monthly totals", fig))
    figs.append(("Monthly totals per tier", _monthly_tier_fig(hourly, strategies, tiers)))
    return figs


def _monthly_tier_fig(hourly, strategies, tiers):
    """Monthly tokens and revenue per workload tier (the run API's tiers table, twin.economics), per strategy."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = max(len(tiers), 1)
    fig = make_subplots(
        rows=2,
        cols=n,
        subplot_titles=[f"{t}: tokens [T]" for t in tiers] + [f"{t}: revenue [M USD]" for t in tiers],
        vertical_spacing=0.2,
        horizontal_spacing=0.07,
    )
    for s in strategies:
        d = hourly[hourly["strategy"] == s]
        m = d.groupby(d["time"].dt.month)
        for j, t in enumerate(tiers):
            for row, v in (
                (1, m[f"tokens_per_s_{t}"].sum() * 3600 / 1e12),
                (2, m[f"revenue_usd_{t}"].sum() / 1e6),
            ):
                fig.add_trace(
                    go.Bar(
                        x=v.index,
                        y=v.to_numpy(),
                        name=NAMES.get(s, s),
                        marker_color=COLORS.get(s),
                        showlegend=row == 1 and j == 0,
                        legendgroup=s,
                    ),
                    row=row,
                    col=j + 1,
                )
    fig.update_layout(
        title="Monthly tokens and revenue per tier (run API: twin.economics tiers table)",
        height=520,
        barmode="group",
    )
    fig.update_annotations(font_size=12)
    return fig


def _event_figs(res, hourly, strategies, hm) -> list:
    """Each event zoomed (the longest, at most MAX_EVENTS_SHOWN): before, during and after."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figs = []
    groups = _event_groups(res)
    shown = sorted(groups, key=lambda g: -(g[1] - g[0]))[:MAX_EVENTS_SHOWN]
    shown.sort()
    if shown:
        fig = make_subplots(
            rows=len(shown),
            cols=2,
            subplot_titles=sum(([f"{nm}: facility [MW]", f"{nm}: tokens/s [M]"] for _, _, nm in shown), []),
            vertical_spacing=0.08,
        )
        for i, (a, b, _nm) in enumerate(shown):
            lo, hi = max(int(a) - 6, 0), min(int(np.ceil(b)) + 6, len(hm))
            for s in strategies:
                d = hourly[hourly["strategy"] == s].iloc[lo:hi]
                x = d["time"].dt.tz_localize(None) if d["time"].dt.tz is not None else d["time"]
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=d["facility_power_mw"],
                        name=NAMES.get(s, s),
                        line=dict(color=COLORS.get(s), shape="hv"),
                        showlegend=i == 0,
                        legendgroup=s,
                    ),
                    row=i + 1,
                    col=1,
                )
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=d["tokens_per_s"] / 1e6,
                        name=NAMES.get(s, s),
                        line=dict(color=COLORS.get(s), shape="hv"),
                        showlegend=False,
                        legendgroup=s,
                    ),
                    row=i + 1,
                    col=2,
                )
            d = hm.iloc[lo:hi]
            x = d["time"].dt.tz_localize(None) if d["time"].dt.tz is not None else d["time"]
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=d["limit_mw"],
                    name="limit",
                    line=dict(color="black", dash="dot", shape="hv"),
                    showlegend=i == 0,
                    legendgroup="limit",
                ),
                row=i + 1,
                col=1,
            )
        fig.update_layout(
            title=f"Events: before, during, after ({len(shown)} of {len(groups)} shown, longest first)",
            height=max(260 * len(shown), 320),
        )
        figs.append(("Events", fig))
    return figs


def _comparison_figs(res, strategies) -> list:
    """Strategy comparison (more than one strategy): margin and tokens lost per MWh curtailed."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figs = []
    if len(strategies) > 1:
        fig = make_subplots(
            rows=1,
            cols=3,
            subplot_titles=(
                "revenue - energy cost [M USD]",
                "tokens lost / MWh curtailed [M]",
                "revenue per tier [M USD]",
            ),
            horizontal_spacing=0.08,
        )
        for j, t in enumerate(res.site.tiers):
            fig.add_trace(
                go.Bar(
                    x=[NAMES.get(s, s) for s in strategies],
                    y=[res.kpis[s]["revenue_usd_by_tier"][t] / 1e6 for s in strategies],
                    name=t,
                    marker_color=TIER_COLORS[j % len(TIER_COLORS)],
                    showlegend=True,
                    legendgroup="tier",
                ),
                row=1,
                col=3,
            )
        for s in strategies:
            k = res.kpis[s]
            fig.add_trace(
                go.Bar(
                    x=[NAMES.get(s, s)],
                    y=[k["margin_usd"] / 1e6],
                    marker_color=COLORS.get(s),
                    showlegend=False,
                ),
                row=1,
                col=1,
            )
            v = k.get("tokens_lost_per_mwh_curtailed")
            fig.add_trace(
                go.Bar(x=[NAMES.get(s, s)], y=[(v or 0) / 1e6], marker_color=COLORS.get(s), showlegend=False),
                row=1,
                col=2,
            )
        fig.update_layout(title="Strategy comparison", height=360, barmode="stack")
        fig.update_annotations(font_size=12)
        figs.append(("Strategy comparison", fig))
    return figs


SNAPSHOT_SIZE = (1400, 760)


def _plan_caption(p) -> str:
    return (
        f"GPU power cap of each rack (W, mean over its GPUs; 0 = rack switched off) under Max-Q at the grid "
        f"connection ({p.attrs.get('budget_mw', 0):,.0f} MW) at the year's median weather "
        f"(operating point at {p['dry_bulb_c'].iat[0]:.1f} C dry bulb, {p['wet_bulb_c'].iat[0]:.1f} C wet bulb"
        f"{', the response-surface node nearest the median' if p.attrs.get('from_surface') else ''}), "
        f"{len(p):,} racks"
    )


def _snapshot_html(res) -> tuple[str, list]:
    """The site in 3D as an embedded PNG (pyvista, off-screen), or a 2D plotly plan if pyvista cannot render.

    Returns (HTML of the section, plotly figures to add: the 2D fallback)."""
    p = res.plan
    if not len(p):
        return "<p>No site snapshot: no Max-Q operating point at the connection limit was solved.</p>", []
    from twin import Scenario
    from twin.render import RenderError, render_values_png

    caption = _plan_caption(p)
    try:
        model = Scenario(layout=res.meta["layout"]).model()
        png = render_values_png(model, p["gpu_cap_w"].to_numpy(float), "GPU cap [W]", size=SNAPSHOT_SIZE)
    except RenderError as exc:
        why = html.escape(str(exc))
        note = f"<p class=note>pyvista could not render off-screen here ({why}): a 2D plan of the racks instead.</p>"
        return f"<p>{html.escape(caption)}.</p>{note}", _plan_figs(res)
    b64 = base64.b64encode(png).decode("ascii")
    w, h = SNAPSHOT_SIZE
    return (
        f'<figure class=snap><img alt="the site in 3D, racks coloured by GPU cap" width={w} height={h} '
        f'src="data:image/png;base64,{b64}"><figcaption>{html.escape(caption)}; isometric view, rendered '
        f"off-screen with pyvista (as <code>twin render</code>), grey outlines are the halls.</figcaption></figure>",
        [],
    )


def _plan_figs(res) -> list:
    """Plan view (the fallback of the 3D snapshot): the racks on the site plan coloured by their Max-Q GPU cap."""
    import plotly.graph_objects as go

    figs = []
    if len(res.plan):
        p = res.plan
        fig = go.Figure(
            go.Scattergl(
                x=p["x_m"],
                y=p["y_m"],
                mode="markers",
                marker=dict(
                    color=p["gpu_cap_w"],
                    colorscale="Viridis",
                    size=6 if len(p) < 500 else 3,
                    symbol="square",
                    colorbar=dict(title="GPU cap [W]"),
                ),
                text=p["name"] + " (" + p["tier"] + ")",
                hovertemplate="%{text}<br>cap %{marker.color:.0f} W<extra></extra>",
            )
        )
        fig.update_layout(
            title="Racks on the site plan, GPU cap under Max-Q at the median hour and the connection limit",
            xaxis_title="x [m]",
            yaxis_title="y [m]",
            height=420,
        )
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
        figs.append(("Site plan", fig))
    return figs


def _summary_html(res, strategies) -> str:
    """Summary table: the KPIs, one column per strategy."""
    rows = _summary_rows(res)
    summary = _table(["", *[NAMES.get(s, s) for s in strategies]], rows)
    return summary


def _body_html(res, strategies, parts: list[str], command: str, site_html: str, site_parts: list[str]) -> str:
    """The page body: header, summary, notes, surrogate error, curtailment, the figures, site and data."""
    cur = res.meta["price_currency"] or ""
    summary = _summary_html(res, strategies)
    m = res.meta
    ev_note = _events_note(res)
    body = f"""
<h1>Grid what-if: {html.escape(res.site.name)}</h1>
<p class=sub>{html.escape(m["layout"])} &middot; grid connection {m["grid_limit_mw"]:,.1f} MW &middot; strategies: {", ".join(NAMES.get(s, s) for s in strategies)}
 &middot; Max-Q objective: {html.escape(m.get("objective", "tokens"))} &middot; {"exact solve of every hour" if m["exact"] else "response surface of exact solves"} &middot; computed in {m["wall_time_s"]:.1f} s ({html.escape(m.get("engine") or f"{m['workers']} process(es)")})</p>
<h2>Summary</h2>{summary}
<p class=note>Energy cost in the price's currency ({html.escape(cur)}){f"; converted to USD at {m['eur_usd']:.4f} USD/EUR (ECB reference rate, 2018 average)" if m.get("eur_usd") else ""}. Tokens served and revenue per tier are the run API's (<code>twin.economics</code>: each exact solve's caps priced with the best split of the racks over the tiers at their interactivity, prices and demand limits), interpolated like the power; tokens served at a tier's interactivity are a different figure from the racks' tokens/s (the catalog's base rate, which Max-Q maximises). Tokens lost are counted against the same hour uncurtailed. Flexibility: MW below the uncurtailed draw the site can hold for an hour, summed over the year.</p>
<h2>Surrogate error</h2>{_validation_html(res)}
<h2>Curtailment</h2>{ev_note}
{"".join(f"<div class=fig>{h}</div>" for h in parts)}
<h2>Site</h2>{site_html}
{"".join(f"<div class=fig>{h}</div>" for h in site_parts)}
<h2>Data</h2><ul>
<li>Weather: {html.escape(m["weather"])}</li>
<li>Prices: {html.escape(m["prices"])}</li>
<li>Carbon, average: {html.escape(m["carbon"])}</li>
<li>Carbon, marginal: {html.escape(m["carbon_marginal"] or "not given")}</li>
<li>Clock: series are aligned by hour of their own year (hour 0 = 1 January 00:00 local standard time of each).</li>
</ul>
<p class=note>Reproduce: <code>{html.escape(command)}</code></p>
"""
    return body


def _page_html(res, body: str) -> str:
    """The self-contained HTML page around the body."""
    page = f"""<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Grid what-if: {html.escape(res.site.name)}</title>
<style>body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1280px;color:#222;padding:0 16px}}
h1{{margin-bottom:4px}} .sub{{color:#555;margin-top:0}} table{{border-collapse:collapse;margin:8px 0 16px;font-size:14px}}
th,td{{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}} td.n{{text-align:right;font-variant-numeric:tabular-nums}}
th{{background:#f4f6f8}} .note{{color:#555;font-size:13px}} .fig{{margin:10px 0 18px}} code{{background:#f4f4f4;padding:1px 4px}}
figure.snap{{margin:8px 0 18px}} figure.snap img{{max-width:100%;height:auto;border:1px solid #ddd}} figcaption{{color:#555;font-size:13px}}</style></head>
<body>{body}</body></html>"""
    return page


def write_report(res, path: Path, command: str = "") -> str:
    hourly = res.hourly
    strategies = list(res.kpis)
    main = "maxq" if "maxq" in strategies else strategies[0]
    hm = hourly[hourly["strategy"] == main].reset_index(drop=True)
    cur = res.meta["price_currency"] or ""
    figs = [
        *_load_duration_figs(res, hourly, strategies),
        *_heat_map_figs(res, hm, main, cur),
        *_monthly_figs(hourly, strategies, cur, res.site.tiers),
        *_event_figs(res, hourly, strategies, hm),
        *_comparison_figs(res, strategies),
    ]
    parts = [_fig_html(f, i == 0) for i, (_, f) in enumerate(figs)]
    site_html, site_figs = _snapshot_html(res)
    site_parts = [_fig_html(f, not parts and i == 0) for i, (_, f) in enumerate(site_figs)]
    body = _body_html(res, strategies, parts, command, site_html, site_parts)
    Path(path).write_text(_page_html(res, body), encoding="utf-8")
    return str(path)


def _event_groups(res) -> list[tuple[float, float, str]]:
    groups: dict = {}
    for e in res.events:
        key = e.group if e.group >= 0 else e.name
        g = groups.setdefault(key, [e.start_h, e.end_h, e.name])
        g[0], g[1] = min(g[0], e.start_h), max(g[1], e.end_h)
    return [tuple(v) for v in groups.values()]


def _events_note(res) -> str:
    if not res.events:
        return "<p>No events: give <code>--events FILE.yaml</code> or <code>--curtailment-pct P</code>.</p>"
    groups = _event_groups(res)
    src = res.events[0].source
    caps = [e.cap_mw for e in res.events]
    return (
        f"<p>{len(groups)} event(s) over {sum(g[1] - g[0] for g in groups):.1f} h (from {html.escape(src.split(':')[0] if ':' in src and not src.startswith('--') else src)}); "
        f"caps from {min(caps):,.2f} to {max(caps):,.2f} MW. Every strategy is held to the same cap in each event.</p>"
    )
