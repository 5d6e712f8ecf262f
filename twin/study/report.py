"""A self-contained HTML report of a study: plotly inlined (opens offline), plots chosen from its parameters.

- each KPI against each parameter (one line per value of a parameter with few values, else min / mean / max);
- a heat map of each KPI over the first two numeric parameters (a coloured scatter when they are sampled);
- for an N-1 study (``each_failure``): the change of each KPI against the baseline without failure, the units
  that cost the most;
- the worst cases, and the scenarios that are not ``ok`` with their reasons.

Aggregations run in DuckDB over the study's Parquet files, so the page is the same size for 100 or 100,000
scenarios.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from twin.errors import InputError
from twin.study.store import StudyStore, connect

__all__ = ["DEFAULT_KPIS", "write_report"]

DEFAULT_KPIS = {
    "coupled": [
        "throttled_racks",
        "tokens_per_s",
        "pue",
        "water_use_m3_h",
        "min_margin_k",
        "facility_power_mw",
    ],
    "thermal": [
        "racks_over_throttle",
        "min_margin_k",
        "cooling_power_mw",
        "water_use_m3_h",
        "max_junction_c",
    ],
    "maxq": ["tokens_per_s", "shadow_price_tokens_per_s_per_mw", "facility_power_mw", "gpu_cap_w_mean"],
    "electrical": ["electrical_loss_mw", "facility_power_mw", "electrical_violations"],
    "n-1": ["n1_failing_cases", "electrical_loss_mw", "electrical_violations"],
    "compare-ac-dc": ["efficiency_gain_points", "grid_power_saving_pct", "busway_copper_change_pct"],
    "network": ["max_link_utilization", "network_power_mw", "bisection_tbps"],
    "transient": ["ride_through_s", "final_min_margin_k", "peak_junction_c"],
    "size": ["racks_maxq", "racks_maxp"],
}
# KPIs for which less is worse (the others: more is worse) when ranking worst cases
LESS_IS_WORSE = (
    "tokens",
    "margin",
    "saving",
    "gain",
    "efficiency",
    "ride_through",
    "bisection",
    "racks_on",
    "gpus_on",
    "racks_maxq",
    "racks_maxp",
    "feasible",
)
MAX_KPIS = 4
MAX_LINE_GROUPS = 8
HEATMAP_MAX_VALUES = 60


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _less_is_worse(kpi: str) -> bool:
    return any(w in kpi for w in LESS_IS_WORSE)


def _label(name: str) -> str:
    from twin.resultschema import load_schema

    entry = load_schema()["kpis"].get(name)
    if entry is None:
        return name
    unit = entry.get("unit", "-")
    return f"{name} [{unit}]" if unit not in ("-", "", None) else name


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            return f"{v:.4g}"
        return f"{v:,.4g}" if abs(v) >= 1e3 else f"{v:.4g}"
    return html.escape(str(v))


def _table(columns: list[str], rows: list[tuple]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Page:
    def __init__(self):
        self.parts: list[str] = []
        self.n_fig = 0

    def h2(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def p(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def raw(self, text: str) -> None:
        self.parts.append(text)

    def fig(self, fig) -> None:
        self.n_fig += 1
        fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 50}, height=420)
        self.parts.append(
            '<div class="fig">'
            + fig.to_html(
                full_html=False, include_plotlyjs=False, div_id=f"fig-{self.n_fig}", default_height="420px"
            )
            + "</div>"
        )


def _choose(con, m: dict, columns: dict[str, str]) -> tuple[list[str], list[dict], dict[str, Any]]:
    """(KPIs to plot, parameters to plot against, wanted KPIs that do not vary: name -> value)."""
    numeric = {c for c, t in columns.items() if t in ("DOUBLE", "BIGINT", "INTEGER", "FLOAT", "HUGEINT")}
    param_cols = {p["column"] for p in m["parameters"].values()}

    def distinct(c: str) -> tuple[int, Any]:
        return con.execute(
            f"SELECT count(DISTINCT {_q(c)}), min({_q(c)}) FROM results WHERE status = 'ok'"
        ).fetchone()

    wanted = (m.get("spec") or {}).get("report", {}).get("kpis") or DEFAULT_KPIS.get(m.get("analysis"), [])
    kpis, constant = [], {}
    for k in wanted:
        if k in numeric and k not in param_cols:
            n, v = distinct(k)
            if n > 1:
                kpis.append(k)
            elif n == 1:
                constant[k] = v
    if len(kpis) < 2:
        skip = {"scenario_index", "racks", "iterations", "hydraulics_iterations", "tolerance"}
        for c in columns:
            if c in numeric and c not in param_cols and c not in skip and c not in kpis and c not in constant:
                if distinct(c)[0] > 1:
                    kpis.append(c)
            if len(kpis) >= 2:
                break
    kpis = kpis[:MAX_KPIS]
    params = []
    for name, p in m["parameters"].items():
        c = p["column"]
        if c not in columns or p["kind"] == "failure":
            continue
        n = con.execute(f"SELECT count(DISTINCT {_q(c)}) FROM results").fetchone()[0]
        if n < 2:
            continue
        params.append({"name": name, "column": c, "numeric": c in numeric, "n": n})
    return kpis, params, constant


def write_report(root: str | Path, out: str | Path | None = None, *, force: bool = False) -> Path:
    """Write the study's HTML report (default ``DIR/report.html``); an existing file is kept unless ``force``."""
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs

    store = StudyStore(root)
    m = store.require_manifest()
    out = Path(out) if out is not None else store.root / "report.html"
    if out.exists() and not force:
        raise InputError(f"{out} exists (use --force to overwrite it)")
    if out.exists() and out.is_dir():
        raise InputError(f"{out} is a directory")
    con = connect(root)
    try:
        columns = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE results)").fetchall())
        page = _Page()
        kpis, params, constant = _choose(con, m, columns)
        _header(page, con, m)
        if constant:
            page.h2("KPIs that do not vary")
            page.p("The same value in every scenario that is ok:")
            page.raw(_table(["KPI", "value"], list(constant.items())))
        has_failure = "failure" in columns and any(p["kind"] == "failure" for p in m["parameters"].values())
        if has_failure:
            _n_minus_1(page, con, kpis, go)
        else:
            _lines(page, con, kpis, params, go)
            _maps(page, con, kpis, params, go)
        if "compare" in (m.get("tables") or {}):
            _compare(page, con, params, go)
        _worst(page, con, m, kpis, params, columns, has_failure)
        _not_ok(page, con)
    finally:
        con.close()
    title = html.escape(f"Study {m.get('name')}")
    doc = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{_CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        f"<h1>{title}</h1>" + "\n".join(page.parts) + "</body></html>"
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(doc, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;"
    "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
    "pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px}.fig{margin:12px 0}"
)


def _header(page: _Page, con, m: dict) -> None:
    if m.get("description"):
        page.p(m["description"])
    counts = dict(con.execute("SELECT status, count(*) FROM results GROUP BY 1 ORDER BY 1").fetchall())
    done = sum(counts.values())
    rows = [
        ("analysis", m.get("analysis")),
        (
            "scenarios",
            f"{done:,} of {m['scenarios']:,} done" + ("" if m.get("complete") else " (incomplete)"),
        ),
        ("by status", ", ".join(f"{k}: {v:,}" for k, v in counts.items())),
        ("parameters", ", ".join(f"{n} ({p['column']})" for n, p in m["parameters"].items())),
        ("spec hash / version", f"{m.get('spec_hash')} / twin {m.get('version')}"),
        ("started / ended", f"{m.get('started')} / {m.get('ended') or '-'}"),
    ]
    page.raw(_table(["", ""], rows).replace("<thead><tr><th></th><th></th></tr></thead>", ""))
    page.raw(
        f"<details><summary>study file</summary><pre>{html.escape(m.get('spec_text') or '')}</pre></details>"
    )


def _lines(page: _Page, con, kpis: list[str], params: list[dict], go) -> None:
    if not kpis or not params:
        return
    page.h2("KPIs against each parameter")
    numeric = [p for p in params if p["numeric"]]
    # a parameter with a few named values (a policy, a case) is the line colour of the numeric ones; alone, bars
    if not numeric:
        for p in params[:2]:
            x = p["column"]
            for k in kpis:
                rows = con.execute(
                    f"SELECT {_q(x)}, avg({_q(k)}) FROM results WHERE status = 'ok' GROUP BY 1 ORDER BY 1"
                ).fetchall()
                fig = go.Figure(go.Bar(x=[str(r[0]) for r in rows], y=[r[1] for r in rows]))
                fig.update_layout(title=f"{k} by {x}", xaxis_title=x, yaxis_title=_label(k))
                page.fig(fig)
        return
    for p in numeric[:4]:
        x = p["column"]
        others = [q for q in params if q is not p and q["n"] <= MAX_LINE_GROUPS]
        group = others[0]["column"] if others else None
        for k in kpis:
            fig = go.Figure()
            if group is None:
                rows = con.execute(
                    f"SELECT {_q(x)}, min({_q(k)}), avg({_q(k)}), max({_q(k)}) FROM results "
                    f"WHERE status = 'ok' GROUP BY 1 ORDER BY 1"
                ).fetchall()
                xs = [r[0] for r in rows]
                if len(params) == 1:
                    fig.add_trace(go.Scatter(x=xs, y=[r[2] for r in rows], mode="lines+markers", name=k))
                else:
                    for j, name in ((1, "min"), (2, "mean"), (3, "max")):
                        fig.add_trace(
                            go.Scatter(x=xs, y=[r[j] for r in rows], mode="lines+markers", name=name)
                        )
            else:
                rows = con.execute(
                    f"SELECT {_q(group)}, {_q(x)}, avg({_q(k)}) FROM results WHERE status = 'ok' "
                    f"GROUP BY 1, 2 ORDER BY 1, 2"
                ).fetchall()
                for gv in dict.fromkeys(r[0] for r in rows):
                    pts = [r for r in rows if r[0] == gv]
                    fig.add_trace(
                        go.Scatter(
                            x=[r[1] for r in pts],
                            y=[r[2] for r in pts],
                            mode="lines+markers",
                            name=f"{group} = {gv}",
                        )
                    )
            fig.update_layout(title=f"{k} vs {x}", xaxis_title=_label(x), yaxis_title=_label(k))
            page.fig(fig)


def _maps(page: _Page, con, kpis: list[str], params: list[dict], go) -> None:
    num = [p for p in params if p["numeric"]]
    if len(num) < 2 or not kpis:
        return
    a, b = num[0]["column"], num[1]["column"]
    page.h2(f"Maps over {a} and {b}")
    grid = num[0]["n"] <= HEATMAP_MAX_VALUES and num[1]["n"] <= HEATMAP_MAX_VALUES
    for k in kpis:
        fig = go.Figure()
        if grid:
            rows = con.execute(
                f"SELECT {_q(a)}, {_q(b)}, avg({_q(k)}) FROM results WHERE status = 'ok' GROUP BY 1, 2"
            ).fetchall()
            xs = sorted({r[0] for r in rows})
            ys = sorted({r[1] for r in rows})
            at = {(r[0], r[1]): r[2] for r in rows}
            z = [[at.get((x, y)) for x in xs] for y in ys]
            fig.add_trace(go.Heatmap(x=xs, y=ys, z=z, colorbar={"title": {"text": k}}))
        else:
            rows = con.execute(
                f"SELECT {_q(a)}, {_q(b)}, {_q(k)} FROM results WHERE status = 'ok'"
            ).fetchall()
            fig.add_trace(
                go.Scatter(
                    x=[r[0] for r in rows],
                    y=[r[1] for r in rows],
                    mode="markers",
                    marker={
                        "color": [r[2] for r in rows],
                        "colorbar": {"title": {"text": k}},
                        "showscale": True,
                    },
                )
            )
        fig.update_layout(title=k, xaxis_title=_label(a), yaxis_title=_label(b))
        page.fig(fig)


def _compare(page: _Page, con, params: list[dict], go) -> None:
    """compare-ac-dc with the compare table kept: both architectures against the first numeric parameter."""
    num = [p for p in params if p["numeric"]]
    if not num:
        return
    x = num[0]["column"]
    try:
        metrics = [r[0] for r in con.execute("SELECT DISTINCT metric FROM compare").fetchall()]
    except Exception:  # the view is missing (no scenario produced the table)
        return
    page.h2(f"AC and 800 VDC against {x}")
    for metric in [
        mm for mm in ("facility_power_mw", "electrical_loss_mw", "efficiency_it_pct") if mm in metrics
    ]:
        rows = con.execute(
            f"SELECT r.{_q(x)}, avg(c.ac), avg(c.dc800) FROM compare c JOIN results r USING (scenario_index) "
            f"WHERE c.metric = ? GROUP BY 1 ORDER BY 1",
            [metric],
        ).fetchall()
        fig = go.Figure()
        for j, name in ((1, "ac"), (2, "dc800")):
            fig.add_trace(
                go.Scatter(x=[r[0] for r in rows], y=[r[j] for r in rows], mode="lines+markers", name=name)
            )
        fig.update_layout(title=f"{metric}: ac and dc800", xaxis_title=_label(x), yaxis_title=metric)
        page.fig(fig)


def _n_minus_1(page: _Page, con, kpis: list[str], go) -> None:
    base = (
        con.execute(
            "SELECT "
            + ", ".join(_q(k) for k in kpis)
            + " FROM results WHERE failure IS NULL AND status = 'ok' LIMIT 1"
        ).fetchone()
        if kpis
        else None
    )
    page.h2("Single failures against the baseline")
    if base is None:
        page.p("No baseline row without failure (each_failure: {kind: ..., baseline: true} adds one).")
        return
    page.raw(_table(["baseline KPI", "value"], list(zip(kpis, base, strict=True))))
    for k, b in zip(kpis, base, strict=True):
        if b is None:
            continue
        worse_low = _less_is_worse(k)
        expr = f"({b!r} - {_q(k)})" if worse_low else f"({_q(k)} - {b!r})"
        rows = con.execute(
            f"SELECT failure, {expr} AS d FROM results WHERE failure IS NOT NULL AND status = 'ok' "
            "ORDER BY d DESC NULLS LAST, failure LIMIT 30"
        ).fetchall()
        if not rows or all((r[1] or 0) == 0 for r in rows):
            page.p(f"{k}: no single failure changes it.")
            continue
        what = "lost" if worse_low else "added"
        fig = go.Figure(go.Bar(x=[r[1] for r in rows], y=[r[0] for r in rows], orientation="h"))
        fig.update_layout(
            title=f"{k} {what} by each failure (worst 30)",
            xaxis_title=f"{_label(k)} {what} vs baseline",
            yaxis={"autorange": "reversed"},
            height=max(420, 18 * len(rows) + 100),
        )
        page.fig(fig)


def _worst(page: _Page, con, m: dict, kpis: list[str], params: list[dict], columns: dict, n1: bool) -> None:
    if not kpis:
        return
    k = kpis[0]
    order = "ASC" if _less_is_worse(k) else "DESC"
    pcols = [p["column"] for p in m["parameters"].values() if p["column"] in columns]
    cols = ["scenario_index", "scenario_id", *pcols, *kpis]
    rows = con.execute(
        "SELECT " + ", ".join(_q(c) for c in cols) + f" FROM results WHERE status = 'ok' "
        f"ORDER BY {_q(k)} {order} NULLS LAST, scenario_index LIMIT 15"
    ).fetchall()
    page.h2(f"Worst cases by {k}")
    page.raw(_table(cols, rows))


def _not_ok(page: _Page, con) -> None:
    rows = con.execute(
        "SELECT status, reason, count(*) AS n, min(scenario_index) FROM results WHERE status <> 'ok' "
        "GROUP BY 1, 2 ORDER BY n DESC LIMIT 30"
    ).fetchall()
    if not rows:
        return
    page.h2("Scenarios that are not ok")
    page.raw(_table(["status", "reason", "scenarios", "first index"], rows))
