"""The Dash app: ``create_app(layout)`` builds one; ``webapp.app:server`` is the default app's Flask server
(the 1 GW campus, or ``TWIN_DASHBOARD_LAYOUT``) for gunicorn: ``gunicorn webapp.app:server``.

Callbacks only turn control values into a :class:`twin.Scenario`, get its result from the server-side cache
(``Scenario.id`` -> ``RunResult``, solved with ``twin.run`` on a miss) and render it with :mod:`webapp.figures`.
What a user is looking at lives in their browser (``dcc.Store``), never in module globals.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import tempfile
from pathlib import Path

from dash import Dash, Input, Output, Patch, State, ctx, dash_table, dcc, html, no_update

from webapp import figures as F
from webapp.cache import ResultCache

log = logging.getLogger("twin.dashboard")

REPO = Path(__file__).resolve().parents[1]
LAYOUTS_DIR = REPO / "layouts"
DEFAULT_LAYOUT = LAYOUTS_DIR / "campus_1gw.yaml"
MAX_UPLOAD_BYTES = 1_000_000
FAILURE_KINDS = ("cdu", "tcs_pump", "dry_cooler", "chiller", "fw_pump", "block", "busway", "ups", "switch")
TABLES = ("racks", "cdus", "elec_nodes", "loops", "heat_rejection", "halls", "constraints", "violations")
GRAPH_CONFIG = {"plotGlPixelRatio": 1, "displaylogo": False, "responsive": True}


def _layout_choices(layout: Path) -> list[dict]:
    paths = sorted(LAYOUTS_DIR.glob("*.yaml")) if LAYOUTS_DIR.is_dir() else []
    if layout not in paths:
        paths.insert(0, layout)
    return [{"label": p.name, "value": str(p)} for p in paths]


def _num(v):
    return None if v in (None, "") else float(v)


def build_scenario(spec: dict, allowed: set[str]):
    """The :class:`twin.Scenario` a control state describes (no solving)."""
    from twin import Scenario
    from twin.errors import InputError

    layout = spec.get("layout")
    if layout not in allowed:
        raise InputError(f"layout {layout!r} is not one this dashboard serves")
    overrides = {}
    if spec.get("optics"):
        overrides["network.optics"] = spec["optics"]
    if spec.get("architecture"):
        overrides["electrical.architecture"] = spec["architecture"]
    return Scenario(
        layout=layout,
        overrides=overrides,
        ambient_c=_num(spec.get("ambient_c")),
        wet_bulb_c=_num(spec.get("wet_bulb_c")),
        supply_c=_num(spec.get("supply_c")),
        budget_mw=_num(spec.get("budget_mw")),
        policy=spec.get("policy") or "maxq",
        failures=tuple(spec.get("failures") or ()),
    )


def problem_lines(exc: Exception) -> list[str]:
    """What the CLI prints for a failure, one line each (no traceback)."""
    from twin.errors import InputError, LayoutError

    if isinstance(exc, LayoutError):
        return [p.format() for p in exc.problems]
    if isinstance(exc, InputError):
        return [f"error: {exc}"]
    try:
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            return [f"error: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    except ImportError:  # pragma: no cover
        pass
    log.error("dashboard: internal error: %s: %s", type(exc).__name__, exc)
    return [f"internal error: {type(exc).__name__}: {exc}"]


def _control(label: str, component, hint: str = "") -> html.Div:
    return html.Div([html.Label(label, title=hint), component], className="control")


def _kpi_strip(items: list[dict]) -> list:
    return [
        html.Div(
            [
                html.Div(it["label"], className="kpi-label"),
                html.Div(it["text"], className="kpi-value"),
                html.Div(it["unit"], className="kpi-unit"),
            ],
            id=f"kpi-{it['key']}",
            className="kpi",
            title=it["description"],
            **{"data-value": "" if it["value"] is None else repr(it["value"])},
        )  # fmt: skip
        for it in items
    ]


def create_app(layout: str | os.PathLike | None = None, *, cache_size: int = 16, upload_dir=None) -> Dash:
    """A dashboard app opening ``layout`` (default: the 1 GW campus)."""
    first = Path(layout or os.environ.get("TWIN_DASHBOARD_LAYOUT") or DEFAULT_LAYOUT).resolve()
    cache = ResultCache(cache_size)
    uploads = Path(upload_dir or tempfile.mkdtemp(prefix="twin-dashboard-uploads-"))
    uploads.mkdir(parents=True, exist_ok=True)
    choices = _layout_choices(first)
    allowed = {c["value"] for c in choices}

    def allowed_now() -> set[str]:
        return allowed | {str(p) for p in uploads.glob("*.yaml")}

    app = Dash(__name__, title="AI-factory twin", update_title=None, suppress_callback_exceptions=True)
    app.server.config["MAX_CONTENT_LENGTH"] = 4 * MAX_UPLOAD_BYTES
    app._twin_cache = cache  # for tests and the benchmark

    def result_of(spec: dict):
        s = build_scenario(spec, allowed_now())
        return s, cache.get_or_run(s)

    metric_opts = [{"label": _metric_label(k), "value": k} for k in F.COLOUR_METRICS]
    app.layout = html.Div(
        [
            dcc.Store(id="spec"),
            dcc.Store(id="solved"),
            dcc.Store(id="geom-key"),
            dcc.Store(id="pin-a"),
            dcc.Store(id="pin-b"),
            html.Div(
                [
                    html.H2("AI-factory twin"),
                    dcc.Dropdown(
                        id="layout",
                        options=choices,
                        value=str(first),
                        clearable=False,
                        style={"width": "260px"},
                    ),  # fmt: skip
                    dcc.Upload(
                        id="upload",
                        children=html.Button("Upload layout YAML"),
                        max_size=MAX_UPLOAD_BYTES,
                        accept=".yaml,.yml",
                    ),  # fmt: skip
                    dcc.Loading(html.Div(id="busy", style={"width": "40px"}), type="circle"),
                ],
                className="header",
            ),
            html.Pre(id="status", className="status", **{"data-testid": "status"}),
            html.Div(id="kpis", className="kpis"),
            html.Div(
                [
                    html.Div(
                        [
                            html.H4("What-if"),
                            _control(
                                "Ambient dry bulb [C]",
                                dcc.Input(
                                    id="ambient", type="number", debounce=True, placeholder="site design"
                                ),
                            ),  # fmt: skip
                            _control(
                                "Wet bulb [C]",
                                dcc.Input(
                                    id="wet-bulb", type="number", debounce=True, placeholder="site design"
                                ),
                            ),  # fmt: skip
                            _control(
                                "Facility water supply [C]",
                                dcc.Input(
                                    id="supply", type="number", debounce=True, placeholder="layout setpoint"
                                ),
                            ),  # fmt: skip
                            _control(
                                "Grid budget [MW]",
                                dcc.Input(
                                    id="budget",
                                    type="number",
                                    debounce=True,
                                    min=0,
                                    placeholder="none: Max-P",
                                ),
                            ),  # fmt: skip
                            _control(
                                "Policy",
                                dcc.Dropdown(
                                    id="policy",
                                    clearable=False,
                                    value="maxq",
                                    options=[
                                        {"label": "Max-Q", "value": "maxq"},
                                        {"label": "uniform", "value": "uniform"},
                                        {"label": "Max-P", "value": "maxp"},
                                    ],
                                ),
                            ),  # fmt: skip
                            _control(
                                "Failures",
                                dcc.Dropdown(
                                    id="failures", multi=True, options=[], placeholder="search a unit ..."
                                ),
                            ),  # fmt: skip
                            _control(
                                "Optics",
                                dcc.RadioItems(
                                    id="optics",
                                    value="",
                                    inline=True,
                                    options=[
                                        {"label": "layout", "value": ""},
                                        {"label": "pluggable", "value": "pluggable"},
                                        {"label": "CPO", "value": "cpo"},
                                    ],
                                ),
                            ),  # fmt: skip
                            _control(
                                "Electrical",
                                dcc.RadioItems(
                                    id="architecture",
                                    value="",
                                    inline=True,
                                    options=[
                                        {"label": "layout", "value": ""},
                                        {"label": "AC", "value": "ac"},
                                        {"label": "800 VDC", "value": "dc800"},
                                    ],
                                ),
                            ),  # fmt: skip
                            html.Div(
                                [
                                    html.Button("Pin as A", id="pin-a-btn"),
                                    html.Button("Pin as B", id="pin-b-btn"),
                                ]
                            ),
                            html.Div(id="pins", className="pins"),
                        ],
                        className="controls",
                    ),
                    dcc.Tabs(
                        id="tabs",
                        value="3d",
                        children=[
                            dcc.Tab(
                                label="3D facility",
                                value="3d",
                                children=[
                                    html.Div(
                                        [
                                            _control(
                                                "Colour",
                                                dcc.Dropdown(
                                                    id="metric",
                                                    options=metric_opts,
                                                    value="junction_c",
                                                    clearable=False,
                                                    style={"width": "420px"},
                                                ),
                                            ),
                                            _control(
                                                "View",
                                                dcc.Dropdown(
                                                    id="view",
                                                    options=[],
                                                    value="site",
                                                    clearable=False,
                                                    style={"width": "260px"},
                                                ),
                                            ),
                                        ],
                                        className="row",
                                    ),
                                    dcc.Graph(id="facility", config=GRAPH_CONFIG, style={"height": "600px"}),
                                    html.Div(id="detail", className="detail"),
                                ],
                            ),  # fmt: skip
                            dcc.Tab(
                                label="Power flow",
                                value="sankey",
                                children=[dcc.Graph(id="sankey", config=GRAPH_CONFIG)],
                            ),  # fmt: skip
                            dcc.Tab(
                                label="Tables",
                                value="tables",
                                children=[
                                    dcc.Dropdown(
                                        id="table-name",
                                        options=list(TABLES),
                                        value="racks",
                                        clearable=False,
                                        style={"width": "260px"},
                                    ),
                                    dash_table.DataTable(
                                        id="table",
                                        page_size=20,
                                        sort_action="native",
                                        filter_action="native",
                                        export_format="csv",
                                        style_table={"overflowX": "auto"},
                                    ),
                                ],
                            ),  # fmt: skip
                            dcc.Tab(
                                label="Compare A/B",
                                value="compare",
                                id="tab-compare",
                                children=[
                                    html.Div(id="compare-table"),
                                    dcc.Graph(id="compare-bars", config=GRAPH_CONFIG),
                                ],
                            ),  # fmt: skip
                        ],
                    ),
                ],
                className="main",
            ),
        ]
    )

    @app.callback(
        Output("spec", "data"),
        Input("layout", "value"), Input("ambient", "value"), Input("wet-bulb", "value"), Input("supply", "value"),
        Input("budget", "value"), Input("policy", "value"), Input("failures", "value"), Input("optics", "value"),
        Input("architecture", "value"),
    )  # fmt: skip
    def make_spec(layout_, ambient, wet_bulb, supply, budget, policy, failures, optics, architecture):
        return {
            "layout": layout_, "ambient_c": ambient, "wet_bulb_c": wet_bulb, "supply_c": supply,
            "budget_mw": budget, "policy": policy, "failures": sorted(failures or []), "optics": optics or "",
            "architecture": architecture or "",
        }  # fmt: skip

    @app.callback(
        Output("solved", "data"), Output("kpis", "children"), Output("status", "children"),
        Output("sankey", "figure"), Output("busy", "children"),
        Input("spec", "data"),
    )  # fmt: skip
    def solve(spec):
        if not spec:
            return no_update, no_update, no_update, no_update, no_update
        try:
            s, res = result_of(spec)
        except Exception as exc:  # noqa: BLE001 - shown as the CLI's lines, never a traceback
            return None, no_update, "\n".join(problem_lines(exc)), no_update, ""
        model = s.model()
        lines = [f"scenario {s.id}: {res.status}" + (f" ({res.reason})" if res.reason else "")]
        lines += [str(w) for w in (res.warnings or [])][:5]
        solved = {"id": s.id, "spec": spec}
        return solved, _kpi_strip(F.kpi_items(model, res)), "\n".join(lines), F.sankey_figure(model, res), ""

    @app.callback(
        Output("facility", "figure"), Output("geom-key", "data"),
        Input("solved", "data"), Input("metric", "value"), Input("view", "value"),
        State("geom-key", "data"),
    )  # fmt: skip
    def render_3d(solved, metric, view, geom_key):
        if not solved:
            return no_update, no_update
        s, res = result_of(solved["spec"])
        model = s.model()
        key = f"{solved['spec']['layout']}|{view}"
        if geom_key == key and ctx.triggered_id in ("metric", "solved"):
            racks = F.view_racks(model, view)
            col = F.colour_patch(model, res, metric, racks)
            p = Patch()
            rt, ht = p["data"][F.RACK_TRACE], p["data"][F.HOVER_TRACE]
            rt["intensity"] = col["intensity"]
            rt["cmin"], rt["cmax"], rt["colorscale"] = col["cmin"], col["cmax"], col["colorscale"]
            rt["colorbar"]["title"]["text"] = col["title"]
            ht["marker"]["color"] = col["values"]
            ht["marker"]["cmin"], ht["marker"]["cmax"] = col["cmin"], col["cmax"]
            ht["marker"]["colorscale"] = col["colorscale"]
            ht["customdata"] = col["values"]
            ht["hovertemplate"] = "%{text}<br>" + col["title"] + ": %{customdata:.4g}<extra></extra>"
            if ctx.triggered_id == "solved":  # marks and unit colours follow the what-if
                fig = F.facility_figure(model, res, metric, view, failures=s.failures)
                for t in (F.MARK_TRACE, F.CDU_TRACE, F.HR_TRACE, F.SWITCH_TRACE):
                    p["data"][t] = fig.data[t]
            return p, no_update
        return F.facility_figure(model, res, metric, view, failures=s.failures), key

    @app.callback(Output("view", "options"), Output("view", "value"), Input("layout", "value"))
    def views(layout_):
        from twin import Scenario

        try:
            model = Scenario(layout=layout_).model() if layout_ in allowed_now() else None
        except Exception:  # noqa: BLE001 - the solve callback shows the problems
            model = None
        return (F.view_options(model) if model is not None else []), "site"

    @app.callback(
        Output("failures", "options"),
        Input("failures", "search_value"), Input("layout", "value"), State("failures", "value"),
    )  # fmt: skip
    def failure_options(search, layout_, value):
        from twin import Scenario
        from twin.failures import unit_names

        value = value or []
        try:
            model = Scenario(layout=layout_).model()
        except Exception:  # noqa: BLE001
            return [{"label": v, "value": v} for v in value]
        names = model.derived("webapp.failable", lambda: _failable(model, unit_names))
        q = (search or "").lower()
        hits = [n for n in names if q in n.lower()][:60] if q else names[:60]
        return [{"label": n, "value": n} for n in dict.fromkeys([*value, *hits])]

    @app.callback(Output("detail", "children"), Input("facility", "clickData"), State("solved", "data"),
                  State("view", "value"))  # fmt: skip
    def detail(click, solved, view):
        if not click or not solved:
            return no_update
        pt = click["points"][0]
        if pt.get("curveNumber") not in (F.HOVER_TRACE, F.RACK_TRACE, F.MARK_TRACE):
            return no_update
        s, res = result_of(solved["spec"])
        model = s.model()
        racks = F.view_racks(model, view)
        n = pt.get("pointNumber", 0)
        if pt["curveNumber"] == F.RACK_TRACE:
            rack = int(racks[n // F.VERTS_PER_RACK])
        elif pt["curveNumber"] == F.MARK_TRACE:
            rack = int(pt.get("customdata", 0))
        else:
            rack = int(racks[n])
        rows = F.rack_detail(model, res, rack)
        return html.Table([html.Tr([html.Th(k), html.Td(v)]) for k, v in rows])

    @app.callback(
        Output("table", "data"), Output("table", "columns"),
        Input("tabs", "value"), Input("table-name", "value"), Input("solved", "data"),
    )  # fmt: skip
    def table(tab, name, solved):
        if tab != "tables" or not solved:
            return no_update, no_update
        _, res = result_of(solved["spec"])
        df = res.tables.get(name)
        if df is None:
            return [], [{"name": f"{name}: not in this analysis", "id": "x"}]
        df = df.copy()
        for c in df.columns:
            if df[c].dtype == object:
                df[c] = df[c].astype(str)
        return df.to_dict("records"), [{"name": c, "id": c} for c in df.columns]

    @app.callback(Output("pin-a", "data"), Input("pin-a-btn", "n_clicks"), State("solved", "data"),
                  prevent_initial_call=True)  # fmt: skip
    def pin_a(_, solved):
        return solved

    @app.callback(Output("pin-b", "data"), Input("pin-b-btn", "n_clicks"), State("solved", "data"),
                  prevent_initial_call=True)  # fmt: skip
    def pin_b(_, solved):
        return solved

    @app.callback(
        Output("compare-table", "children"), Output("compare-bars", "figure"), Output("pins", "children"),
        Input("pin-a", "data"), Input("pin-b", "data"),
    )  # fmt: skip
    def compare(a, b):
        pins = [f"A: {a['id']}" if a else "A: -", f"B: {b['id']}" if b else "B: -"]
        if not a or not b:
            return html.P("Pin a scenario as A and another as B."), {}, " | ".join(pins)
        try:
            _, ra = result_of(a["spec"])
            _, rb = result_of(b["spec"])
        except Exception as exc:  # noqa: BLE001
            return html.Pre("\n".join(problem_lines(exc))), {}, " | ".join(pins)
        rows = F.compare_rows(ra, rb)
        tbl = dash_table.DataTable(
            id="compare-data", data=rows,
            columns=[{"name": c, "id": c, "type": "numeric", "format": {"specifier": ".4~g"}} if c != "kpi"
                     else {"name": c, "id": c} for c in ("kpi", "A", "B", "delta", "change_pct")],
        )  # fmt: skip
        return tbl, F.compare_figure(rows), " | ".join(pins)

    @app.callback(
        Output("layout", "options"), Output("layout", "value"), Output("status", "children", allow_duplicate=True),
        Input("upload", "contents"), State("upload", "filename"), State("layout", "options"),
        prevent_initial_call=True,
    )  # fmt: skip
    def upload(contents, filename, options):
        from twin import Scenario

        if not contents:
            return no_update, no_update, no_update
        raw = base64.b64decode(contents.split(",", 1)[1])
        if len(raw) > MAX_UPLOAD_BYTES:
            return no_update, no_update, f"error: {filename}: larger than {MAX_UPLOAD_BYTES:,} bytes"
        stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in Path(filename or "layout").stem)[
            :40
        ]
        path = uploads / f"{stem}-{hashlib.sha256(raw).hexdigest()[:10]}.yaml"
        path.write_bytes(raw)
        try:
            Scenario(layout=str(path)).model()
        except Exception as exc:  # noqa: BLE001 - the CLI's lines, with the uploaded file's name
            path.unlink(missing_ok=True)
            lines = [ln.replace(str(path), filename or path.name) for ln in problem_lines(exc)]
            return no_update, no_update, "\n".join(lines)
        opts = [*options, {"label": f"{filename} (uploaded)", "value": str(path)}]
        return opts, str(path), f"{filename}: loaded"

    return app


def _failable(model, unit_names) -> list[str]:
    names: list[str] = []
    for kind in FAILURE_KINDS:
        try:
            names += unit_names(model, kind)
        except Exception:  # noqa: BLE001 - a kind the layout has none of
            continue
    return names


def _metric_label(key: str) -> str:
    from twin import resultschema

    table, column = F.COLOUR_METRICS[key]
    try:
        unit = resultschema.column(table, column).get("unit", "")
    except Exception:  # noqa: BLE001 - not in the schema: the name alone
        return key
    return f"{key} [{unit}]"


_default: Dash | None = None


def __getattr__(name: str):
    """``app`` / ``server``: the default app, built on first access (so importing ``create_app`` is cheap)."""
    global _default
    if name in ("app", "server"):
        if _default is None:
            _default = create_app()
        return _default if name == "app" else _default.server
    raise AttributeError(name)
