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

import numpy as np
from dash import Dash, DiskcacheManager, Input, Output, Patch, State, ctx, dash_table, dcc, html, no_update

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
LONG_SOLVE_RACKS = 1000  # a Max-Q what-if on more racks than this is solved in a background job
TOGGLES = {
    "optics": ("network.optics", ("pluggable", "cpo")),
    "architecture": ("electrical.architecture", ("ac", "dc800")),
}
TOGGLE_LABELS = {"pluggable": "pluggable", "cpo": "CPO", "ac": "AC", "dc800": "800 VDC"}
TRANSIENT_KINDS = ("pump-trip", "cdu-loss", "supply-step", "load-step")


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
        maxq={"objective": spec.get("objective") or "tokens"},
    )


def base_spec(layout: str) -> dict:
    """The control state of a freshly opened page (no what-if), as the page's spec callback writes it."""
    return {"layout": layout, "ambient_c": None, "wet_bulb_c": None, "supply_c": None, "budget_mw": None,
            "policy": "maxq", "objective": "tokens", "failures": [], "optics": "", "architecture": ""}  # fmt: skip


def geom_key_of(spec: dict, view: str) -> str:
    """What the 3D geometry depends on: a change of anything else is sent as a colour patch."""
    return f"{spec['layout']}|{view}|{spec.get('architecture')}|{spec.get('optics')}"


def drawn_of(spec: dict, metric: str, view: str) -> dict:
    """What the 3D view shows; a callback asked for exactly that again sends nothing."""
    return {"spec": spec, "metric": metric, "view": view}


def problem_lines(exc: Exception, errors_only: bool = False) -> list[str]:
    """What the CLI prints for a failure, one line each (no traceback); ``errors_only`` leaves out a layout's
    warnings and notes."""
    from twin.errors import InputError, LayoutError

    if isinstance(exc, LayoutError):  # the repository's layouts named as the CLI run from it names them
        return [p.format().replace(f"{REPO}{os.sep}", "") for p in exc.problems
                if not errors_only or p.severity == "error"]  # fmt: skip
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


def _tier_view(res) -> list:
    """The revenue per tier of a run (its ``tiers`` table, :func:`webapp.figures.tier_rows`): a table with a bar
    of each tier's $/h; a note when the run has no tiers table."""
    rows = F.tier_rows(res)
    if not rows:
        return [html.Div(F.TIER_NOTE, className="tier-note", **{"data-testid": "tier-note"})]
    head = html.Tr([html.Th(h) for _, h in F.TIER_COLUMNS] + [html.Th("")])
    body = [
        html.Tr(
            [html.Td(r["text"][c], className="num" if c not in ("tier", "kind") else None) for c, _ in F.TIER_COLUMNS]
            + [html.Td(html.Div(className="tier-bar", style={"width": f"{r['bar_pct']:.1f}%"}), className="bar")],
            id=f"tier-{r['tier']}",
            **{"data-tokens-per-s": repr(r["tokens_per_s"]), "data-revenue": repr(r["revenue_usd_per_h"])},
        )
        for r in rows
    ]  # fmt: skip
    return [
        html.Div(F.tier_caption(res), className="tier-caption", **{"data-testid": "tier-caption"}),
        html.Table([html.Thead(head), html.Tbody(body)], className="tier-table", id="tier-table"),
    ]


def create_app(
    layout: str | os.PathLike | None = None, *, cache_size: int = 16, upload_dir=None, cache_dir=None
) -> Dash:
    """A dashboard app opening ``layout`` (default: the 1 GW campus).

    ``cache_dir`` (default ``TWIN_DASHBOARD_CACHE``, else a new temporary folder) holds the solved scenarios on
    disk (``results/``, at most 1 GiB), the background callbacks' jobs (``jobs/``) and, unless ``upload_dir`` is
    given, the uploaded layouts (``uploads/``): give every worker of a multi-process server (``gunicorn -w 4``)
    the same folder."""
    import diskcache

    first = Path(layout or os.environ.get("TWIN_DASHBOARD_LAYOUT") or DEFAULT_LAYOUT).resolve()
    root = cache_dir or os.environ.get("TWIN_DASHBOARD_CACHE")
    shared = bool(root)
    if not root:  # a folder of our own: removed when the server process ends
        import atexit
        import shutil

        root = tempfile.mkdtemp(prefix="twin-dashboard-")
        atexit.register(shutil.rmtree, root, ignore_errors=True)
    root = Path(root)
    cache = ResultCache(cache_size, disk_dir=root / "results", disk_bytes=2**30)
    if upload_dir is None and shared:  # the workers sharing a cache folder share the uploaded layouts too
        upload_dir = root / "uploads"
    if upload_dir is None:  # a folder of our own: removed when the server process ends
        import atexit
        import shutil

        upload_dir = tempfile.mkdtemp(prefix="twin-dashboard-uploads-")
        atexit.register(shutil.rmtree, upload_dir, ignore_errors=True)
    uploads = Path(upload_dir)
    uploads.mkdir(parents=True, exist_ok=True)
    choices = _layout_choices(first)
    allowed = {c["value"] for c in choices}
    toggle_memo: dict = {}  # (layout, mtime) -> override problems: derived from the layout file, not user state

    def allowed_now() -> set[str]:
        return allowed | {str(p) for p in uploads.glob("*.yaml")}

    manager = DiskcacheManager(diskcache.Cache(str(root / "jobs")))
    app = Dash(
        __name__,
        title="AI-factory twin",
        update_title=None,
        suppress_callback_exceptions=True,
        compress=True,  # flask-compress: gzip / brotli on the figures and the scripts
        background_callback_manager=manager,
    )
    app.server.config["MAX_CONTENT_LENGTH"] = 4 * MAX_UPLOAD_BYTES
    # the page's layout (with the first 3D view) is fetched while the scripts are parsed, not after
    prefix = app.config.requests_pathname_prefix or "/"
    app.index_string = app.index_string.replace(
        "{%css%}",
        f'<link rel="preload" href="{prefix}_dash-layout" as="fetch" crossorigin="anonymous">\n'
        f'        <link rel="preload" href="{prefix}_dash-dependencies" as="fetch" crossorigin="anonymous">\n'
        "        {%css%}",
    )
    app._twin_cache = cache  # for tests and the benchmark
    app._twin_uploads = uploads

    def result_of(spec: dict):
        s = build_scenario(spec, allowed_now())
        return s, cache.get_or_run(s)

    def is_long(s) -> bool:
        """Solved in a background job: a Max-Q what-if on a large layout that is not cached yet."""
        if s.id in cache:
            return False
        return s.budget_mw is not None and s.policy == "maxq" and len(s.model().racks) > LONG_SOLVE_RACKS

    def view_mesh(model, view):
        return model.derived(f"webapp.mesh.{view}", lambda: F.view_mesh(model, F.view_racks(model, view)))

    def toggle_problems(layout_: str) -> dict:
        """Per override value of the optics / architecture toggles: the layout's error lines with it, if any."""
        from twin import Scenario

        key = (layout_, Path(layout_).stat().st_mtime_ns)
        if key not in toggle_memo:
            out = {}
            for name, (path, values) in TOGGLES.items():
                for v in values:
                    try:
                        Scenario(layout=layout_, overrides={path: v}).model()
                    except Exception as exc:  # noqa: BLE001 - shown as the CLI's lines
                        out[f"{name}:{v}"] = problem_lines(exc, errors_only=True)
            toggle_memo[key] = out
        return toggle_memo[key]

    metric_opts = [{"label": _metric_label(k), "value": k} for k in F.COLOUR_METRICS]

    def page():
        """The page, with the layout's base scenario already drawn (3D view, KPIs, power flow) when it is solved:
        the first paint needs no callback round trip. Built per request, from the cache; no user state."""
        init = _initial_view(str(first))

        return html.Div(
            [
                dcc.Store(id="spec"),
                dcc.Store(id="solved", data=init.get("solved")),
                dcc.Store(id="long-spec"),
                dcc.Store(id="bg-solved"),
                dcc.Store(id="geom-key", data=init.get("geom_key")),
                dcc.Store(id="drawn", data=init.get("drawn")),
                dcc.Store(id="pin-a"),
                dcc.Store(id="pin-b"),
                html.Div(
                    [
                        html.H2("AI-factory twin"),
                        dcc.Dropdown(id="layout", options=choices, value=str(first), clearable=False,
                                     style={"width": "260px"}),
                        dcc.Upload(id="upload", children=html.Button("Upload layout YAML"), max_size=MAX_UPLOAD_BYTES,
                                   accept=".yaml,.yml"),
                        dcc.Loading(html.Div(id="busy", style={"width": "40px"}), type="circle"),
                        html.Div(
                            [html.Progress(id="progress"), html.Span(id="progress-text", **{"data-testid": "progress"})],
                            id="progress-box", className="progress", style={"display": "none"},
                        ),
                    ],
                    className="header",
                ),
                html.Pre(init.get("status"), id="status", className="status", **{"data-testid": "status"}),
                html.Div(init.get("kpis"), id="kpis", className="kpis"),
                html.Div(init.get("tiers"), id="tiers", className="tiers"),
                html.Div(
                    [
                        html.Div(
                            [
                                html.H4("What-if"),
                                _control("Ambient dry bulb [C]", dcc.Input(id="ambient", type="number", debounce=True,
                                                                           placeholder="site design")),
                                _control("Wet bulb [C]", dcc.Input(id="wet-bulb", type="number", debounce=True,
                                                                   placeholder="site design")),
                                _control("Facility water supply [C]", dcc.Input(id="supply", type="number", debounce=True,
                                                                                placeholder="layout setpoint")),
                                _control("Grid budget [MW]", dcc.Input(id="budget", type="number", debounce=True, min=0,
                                                                       placeholder="none: Max-P")),
                                _control("Policy", dcc.Dropdown(id="policy", clearable=False, value="maxq", options=[
                                    {"label": "Max-Q", "value": "maxq"}, {"label": "uniform", "value": "uniform"},
                                    {"label": "Max-P", "value": "maxp"}])),
                                _control("Objective", dcc.Dropdown(id="objective", clearable=False, value="tokens", options=[
                                    {"label": "tokens/s", "value": "tokens"}, {"label": "revenue $/h", "value": "revenue"}]),
                                    hint="Max-Q under a grid budget maximises tokens/s, or revenue at the layout's tier prices "
                                         "(maxq.objective); the other policies price their caps afterwards"),
                                _control("Failures", dcc.Dropdown(id="failures", multi=True, options=[],
                                                                  placeholder="search a unit ...")),
                                _control("Click in 3D", dcc.RadioItems(id="click-mode", value="detail", inline=True,
                                    options=[{"label": "rack detail", "value": "detail"},
                                             {"label": "fail its CDU", "value": "fail"}]),
                                    hint="clicking a rack shows its detail, or fails one working CDU of its loop; "
                                         "clicking a CDU fails it"),
                                _control("Optics", dcc.RadioItems(id="optics", value="", inline=True,
                                                                  options=_toggle_options("optics", {}))),
                                _control("Electrical", dcc.RadioItems(id="architecture", value="", inline=True,
                                                                      options=_toggle_options("architecture", {}))),
                                html.Div(id="toggle-notes", className="toggle-notes", **{"data-testid": "toggle-notes"}),
                                html.Div([html.Button("Pin as A", id="pin-a-btn"), html.Button("Pin as B", id="pin-b-btn")]),
                                html.Div(id="pins", className="pins"),
                            ],
                            className="controls",
                        ),
                        dcc.Tabs(
                            id="tabs",
                            value="3d",
                            children=[
                                dcc.Tab(label="3D facility", value="3d", children=[
                                    html.Div([
                                        _control("Colour", dcc.Dropdown(id="metric", options=metric_opts, value="junction_c",
                                                                        clearable=False, style={"width": "420px"})),
                                        _control("View", dcc.Dropdown(id="view", options=[], value="site", clearable=False,
                                                                      style={"width": "300px"})),
                                    ], className="row"),
                                    dcc.Graph(id="facility", figure=init.get("facility", {}), config=GRAPH_CONFIG, style={"height": "600px"}),
                                    html.Div(id="detail", className="detail"),
                                ]),
                                dcc.Tab(label="Power flow", value="sankey",
                                        children=[dcc.Graph(id="sankey", figure=init.get("sankey", {}), config=GRAPH_CONFIG, style={"height": "440px"})]),
                                dcc.Tab(label="Tables", value="tables", children=[
                                    dcc.Dropdown(id="table-name", options=list(TABLES), value="racks", clearable=False,
                                                 style={"width": "260px"}),
                                    dash_table.DataTable(id="table", page_size=20, sort_action="native",
                                                         filter_action="native", export_format="csv",
                                                         style_table={"overflowX": "auto"}),
                                ]),
                                dcc.Tab(label="Compare A/B", value="compare", id="tab-compare", children=[
                                    html.Div(id="compare-table"),
                                    dcc.Graph(id="compare-bars", config=GRAPH_CONFIG, style={"height": "380px"}),
                                    html.H4("Per-rack difference B - A (colour metric of the 3D tab, view of the 3D tab)"),
                                    html.Div(id="compare-3d-note", className="status"),
                                    dcc.Graph(id="compare-3d", config=GRAPH_CONFIG, style={"height": "520px"}),
                                ]),
                                dcc.Tab(label="Transient", value="transient", id="tab-transient", children=[
                                    html.Div([
                                        _control("Event", dcc.Dropdown(id="tr-kind", value="pump-trip", clearable=False,
                                                                       options=list(TRANSIENT_KINDS),
                                                                       style={"width": "160px"})),
                                        _control("Hall", dcc.Dropdown(id="tr-hall", options=[], clearable=False,
                                                                      style={"width": "200px"})),
                                        _control("Loop / CDU (pump-trip, cdu-loss)", dcc.Dropdown(
                                            id="tr-target", options=[], placeholder="the hall's first",
                                            style={"width": "260px"})),
                                        _control("Duration [s]", dcc.Input(id="tr-duration", type="number", value=600,
                                                                           min=10, max=7 * 86400)),
                                        html.Button("Run transient", id="tr-run"),
                                    ], className="row"),
                                    html.Pre(id="tr-summary", className="status", **{"data-testid": "tr-summary"}),
                                    dcc.Graph(id="tr-graph", config=GRAPH_CONFIG, style={"height": "660px"}),
                                ]),
                            ],
                        ),
                    ],
                    className="main",
                ),
            ]
        )  # fmt: skip

    app.layout = page

    app.clientside_callback(
        """function(layout, ambient, wet_bulb, supply, budget, policy, objective, failures, optics, architecture) {
            const v = (x) => (x === undefined || x === "" ? null : x);
            policy = policy || "maxq";
            return {layout: layout, ambient_c: v(ambient), wet_bulb_c: v(wet_bulb), supply_c: v(supply),
                    budget_mw: v(budget), policy: policy,
                    objective: policy === "maxq" ? (objective || "tokens") : "tokens",
                    failures: (failures || []).slice().sort(),
                    optics: optics || "", architecture: architecture || ""};
        }""",  # the same dict as base_spec() for untouched controls; objective revenue is Max-Q's only
        Output("spec", "data"),
        Input("layout", "value"), Input("ambient", "value"), Input("wet-bulb", "value"), Input("supply", "value"),
        Input("budget", "value"), Input("policy", "value"), Input("objective", "value"), Input("failures", "value"),
        Input("optics", "value"), Input("architecture", "value"),
    )  # fmt: skip
    app.clientside_callback(  # the run API: objective revenue needs policy maxq; the others solve for tokens
        """function(policy) {
            const off = (policy || "maxq") !== "maxq";
            return [off, off ? "tokens" : window.dash_clientside.no_update];
        }""",
        Output("objective", "disabled"),
        Output("objective", "value"),
        Input("policy", "value"),
    )

    def _initial_view(layout_: str) -> dict:
        spec = base_spec(layout_)
        try:
            s = build_scenario(spec, allowed_now())
            res = cache.get_or_run(s)
            model = s.model()
            fig = model.derived(
                f"webapp.figure.{s.id}", lambda: F.facility_figure(model, res, "junction_c", "site")
            )
        except Exception:  # noqa: BLE001 - the callbacks show the problems
            return {}
        solved, kpis, tiers, status, sankey = solved_outputs(s, res, spec)
        return {"solved": solved, "kpis": kpis, "tiers": tiers, "status": status, "sankey": sankey, "facility": fig,
                "geom_key": geom_key_of(spec, "site"), "drawn": drawn_of(spec, "junction_c", "site")}  # fmt: skip

    def solved_outputs(s, res, spec, note: str = ""):
        model = s.model()
        lines = [f"scenario {s.id}: {res.status}" + (f" ({res.reason})" if res.reason else "") + note]
        lines += [str(w).replace(f"{REPO}{os.sep}", "") for w in (res.warnings or [])][:5]
        solved = {"id": s.id, "spec": spec}
        kpis = _kpi_strip(F.kpi_items(model, res))
        return solved, kpis, _tier_view(res), "\n".join(lines), F.sankey_figure(model, res)

    @app.callback(
        Output("solved", "data"), Output("kpis", "children"), Output("tiers", "children"),
        Output("status", "children"), Output("sankey", "figure"), Output("busy", "children"),
        Output("long-spec", "data"), Output("progress-text", "children", allow_duplicate=True),
        Input("spec", "data"), State("solved", "data"),
        prevent_initial_call="initial_duplicate",
    )  # fmt: skip
    def solve(spec, shown):
        if not spec or (shown and shown.get("spec") == spec):  # e.g. the page's first scenario
            return (no_update,) * 8
        try:
            s = build_scenario(spec, allowed_now())
            if is_long(s):
                what = _long_what(s)
                msg = f"scenario {s.id}: solving {what} in the background ..."
                return no_update, no_update, no_update, msg, no_update, "", spec, f"{what}: starting ..."
            res = cache.get_or_run(s)
            return (*solved_outputs(s, res, spec), "", no_update, no_update)
        except Exception as exc:  # noqa: BLE001 - shown as the CLI's lines, never a traceback
            return (
                None,
                no_update,
                no_update,
                "\n".join(problem_lines(exc)),
                no_update,
                "",
                no_update,
                no_update,
            )

    @app.callback(
        Output("solved", "data", allow_duplicate=True), Output("kpis", "children", allow_duplicate=True),
        Output("tiers", "children", allow_duplicate=True), Output("status", "children", allow_duplicate=True), Output("sankey", "figure", allow_duplicate=True),
        Output("bg-solved", "data"),
        Input("long-spec", "data"),
        background=True, progress=[Output("progress-text", "children")], interval=250,
        running=[(Output("progress-box", "style"), {"display": "flex"}, {"display": "none"})],
        prevent_initial_call=True,
    )  # fmt: skip
    def solve_background(set_progress, spec):
        if not spec:
            return (no_update,) * 6
        try:
            s = build_scenario(spec, allowed_now())
            what = _long_what(s)
            res = _with_progress(set_progress, what, lambda: cache.get_or_run(s))
            out = solved_outputs(s, res, spec, note=" (solved in the background)")
            return (*out, out[0])
        except Exception as exc:  # noqa: BLE001
            return None, no_update, no_update, "\n".join(problem_lines(exc)), no_update, no_update

    @app.callback(
        Output("facility", "figure"), Output("geom-key", "data"), Output("drawn", "data"),
        Input("spec", "data"), Input("bg-solved", "data"), Input("metric", "value"), Input("view", "value"),
        State("geom-key", "data"), State("drawn", "data"),
    )  # fmt: skip
    def render_3d(spec, bg_solved, metric, view, geom_key, drawn):
        """Runs next to ``solve`` (both on the what-if's spec; the cache solves a new scenario once), or after a
        background solve (``bg-solved``)."""
        if ctx.triggered_id == "bg-solved" and bg_solved:
            spec = bg_solved["spec"]
        if not spec or drawn == drawn_of(spec, metric, view):  # e.g. the page's first figure
            return no_update, no_update, no_update
        try:
            s = build_scenario(spec, allowed_now())
            if is_long(s):  # the background job brings it back through bg-solved; meanwhile a new view or
                if not drawn or (drawn["metric"], drawn["view"]) == (metric, view):  # colour shows the last
                    return no_update, no_update, no_update  # result (this call may replace one asked for it)
                spec = drawn["spec"]
                s = build_scenario(spec, allowed_now())
            res = cache.get_or_run(s)
        except Exception:  # noqa: BLE001 - the solve callback shows the problems
            return no_update, no_update, no_update
        model = s.model()
        mesh = view_mesh(model, view)
        key = geom_key_of(spec, view)
        now = drawn_of(spec, metric, view)
        if geom_key == key and ctx.triggered_id in ("metric", "spec", "bg-solved"):
            col = F.view_colours(model, res, metric, mesh)
            p = Patch()
            rt, ht = p["data"][F.RACK_TRACE], p["data"][F.HOVER_TRACE]
            rt["intensity"] = F.typed_array(col["intensity"])
            rt["cmin"], rt["cmax"], rt["colorscale"] = col["cmin"], col["cmax"], col["colorscale"]
            rt["colorbar"]["title"]["text"] = col["title"]
            if mesh.mode == "rows":  # the strips carry their own hover values
                rt["customdata"] = F.typed_array(col["vertex_values"])
                rt["hovertemplate"] = F.hover_template(col["title"])
            else:
                values = F.typed_array(col["values"])
                ht["marker"]["color"] = values
                ht["marker"]["cmin"], ht["marker"]["cmax"] = col["cmin"], col["cmax"]
                ht["marker"]["colorscale"] = col["colorscale"]
                ht["customdata"] = values
                ht["hovertemplate"] = F.hover_template(col["title"])
            if ctx.triggered_id != "metric":  # marks and unit colours follow the what-if
                fig = F.facility_figure(model, res, metric, view, failures=s.failures)
                for t in (F.MARK_TRACE, F.CDU_TRACE, F.HR_TRACE, F.SWITCH_TRACE):
                    p["data"][t] = fig.data[t]
            return p, no_update, now
        return F.facility_figure(model, res, metric, view, failures=s.failures), key, now

    @app.callback(
        Output("view", "options"), Output("view", "value"), Output("tr-hall", "options"), Output("tr-hall", "value"),
        Output("optics", "options"), Output("architecture", "options"), Output("toggle-notes", "children"),
        Input("layout", "value"),
    )  # fmt: skip
    def on_layout(layout_):
        from twin import Scenario

        try:
            model = Scenario(layout=layout_).model() if layout_ in allowed_now() else None
        except Exception:  # noqa: BLE001 - the solve callback shows the problems
            model = None
        if model is None:
            return [], "site", [], None, no_update, no_update, ""
        halls = list(model.halls["name"])
        probs = toggle_problems(layout_)
        notes = [
            html.Div(f"{name} {v}: not available for this layout: " + (lines[0] if lines else "?"),
                     title="\n".join(lines))
            for key, lines in probs.items()
            for name, v in [key.split(":", 1)]
        ]  # fmt: skip
        return (F.view_options(model), "site", halls, halls[0] if halls else None,
                _toggle_options("optics", probs), _toggle_options("architecture", probs), notes)  # fmt: skip

    @app.callback(Output("tr-target", "options"), Output("tr-target", "value"),
                  Input("tr-hall", "value"), Input("tr-kind", "value"), State("layout", "value"))  # fmt: skip
    def transient_targets(hall, kind, layout_):
        from twin import Scenario

        try:
            model = Scenario(layout=layout_).model()
        except Exception:  # noqa: BLE001
            return [], None
        if hall not in set(model.halls["name"]) or kind not in ("pump-trip", "cdu-loss"):
            return [], None
        h = int(np.flatnonzero(model.halls["name"].to_numpy() == hall)[0])
        loops = model.loops[model.loops["hall"] == h] if "hall" in model.loops else model.loops
        if kind == "pump-trip":
            names = list(loops["name"])
        else:
            names = list(model.cdus[model.cdus["loop"].isin(loops.index)]["name"])
        return names[:500], None

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

    @app.callback(
        Output("detail", "children"), Output("failures", "value"),
        Output("failures", "options", allow_duplicate=True),
        Input("facility", "clickData"),
        State("solved", "data"), State("view", "value"), State("click-mode", "value"), State("failures", "value"),
        State("failures", "options"),
        prevent_initial_call=True,
    )  # fmt: skip
    def click(click_data, solved, view, mode, failures, options):
        nothing = no_update, no_update, no_update
        if not click_data or not solved:
            return nothing
        pt = click_data["points"][0]
        curve = pt.get("curveNumber")
        try:
            s, res = result_of(solved["spec"])
        except Exception:  # noqa: BLE001
            return nothing
        model = s.model()

        def fail(cdu: str, note: str):  # the CDU joins the failures (and the options, so the menu shows it)
            opts = [o for o in (options or []) if o.get("value") != cdu] + [{"label": cdu, "value": cdu}]
            return html.P(note), sorted({*(failures or []), cdu}), opts

        if curve == F.CDU_TRACE:
            cdu = pt.get("customdata")
            return fail(cdu, f"failed {cdu}") if mode == "fail" and cdu else nothing
        rack = F.clicked_rack(model, view_mesh(model, view), curve, pt)
        if rack is None:
            return nothing
        if mode == "fail":
            cdu = F.cdu_to_fail(model, rack, failures or [])
            if cdu is None:
                return html.P("every CDU of this rack's loop has failed already"), no_update, no_update
            return fail(cdu, f"failed {cdu} (cools {F.rack_name(res, rack)})")
        rows = F.rack_detail(model, res, rack)
        return html.Table([html.Tr([html.Th(k), html.Td(v)]) for k, v in rows]), no_update, no_update

    @app.callback(
        Output("table", "data"), Output("table", "columns"),
        Input("tabs", "value"), Input("table-name", "value"), Input("solved", "data"),
    )  # fmt: skip
    def table(tab, name, solved):
        if tab != "tables" or not solved:
            return no_update, no_update
        try:
            _, res = result_of(solved["spec"])
        except Exception:  # noqa: BLE001
            return no_update, no_update
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
        Output("compare-3d", "figure"), Output("compare-3d-note", "children"),
        Input("pin-a", "data"), Input("pin-b", "data"), Input("tabs", "value"),
        State("metric", "value"), State("view", "value"),
    )  # fmt: skip
    def compare(a, b, tab, metric, view):
        pins = " | ".join([f"A: {a['id']}" if a else "A: -", f"B: {b['id']}" if b else "B: -"])
        if not a or not b:
            return html.P("Pin a scenario as A and another as B."), {}, pins, {}, ""
        if tab != "compare":  # the figures are built when the tab is opened
            return no_update, no_update, pins, no_update, no_update
        try:
            sa, ra = result_of(a["spec"])
            sb, rb = result_of(b["spec"])
        except Exception as exc:  # noqa: BLE001
            return html.Pre("\n".join(problem_lines(exc))), {}, pins, {}, ""
        rows = F.compare_rows(ra, rb)
        tbl = dash_table.DataTable(
            id="compare-data", data=rows,
            columns=[{"name": c, "id": c, "type": "numeric", "format": {"specifier": ".4~g"}} if c != "kpi"
                     else {"name": c, "id": c} for c in ("kpi", "A", "B", "delta", "change_pct")],
        )  # fmt: skip
        mb = sb.model()
        if len(sa.model().racks) != len(mb.racks):
            return (
                tbl,
                F.compare_figure(rows),
                pins,
                {},
                "A and B have different racks: no per-rack difference",
            )
        diff, label = F.rack_difference(mb, ra, rb, metric)
        mesh = view_mesh(mb, view)
        col = F.view_colours(mb, rb, metric, mesh, values=diff, label=label, diverging=True)
        fig3d = F.facility_figure(mb, rb, metric, view, failures=sb.failures, height=520, colours=col)
        note = F.difference_note(diff, label)
        return tbl, F.compare_figure(rows), pins, fig3d, note

    app.clientside_callback(
        "function(n, kind, hall) { return kind + ' transient of ' + hall + ': starting ...'; }",
        Output("progress-text", "children", allow_duplicate=True),
        Input("tr-run", "n_clicks"),
        State("tr-kind", "value"),
        State("tr-hall", "value"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("tr-graph", "figure"), Output("tr-summary", "children"),
        Input("tr-run", "n_clicks"),
        State("layout", "value"), State("tr-kind", "value"), State("tr-hall", "value"), State("tr-target", "value"),
        State("tr-duration", "value"), State("ambient", "value"), State("supply", "value"),
        background=True, progress=[Output("progress-text", "children")], interval=250,
        running=[(Output("tr-run", "disabled"), True, False),
                 (Output("progress-box", "style"), {"display": "flex"}, {"display": "none"})],
        prevent_initial_call=True,
    )  # fmt: skip
    def transient(set_progress, _, layout_, kind, hall, target, duration, ambient, supply):
        from twin import Scenario
        from twin.errors import InputError
        from twin.scenario import TransientOptions

        try:
            if layout_ not in allowed_now():
                raise InputError(f"layout {layout_!r} is not one this dashboard serves")
            dur = float(duration or 600)
            s = Scenario(
                layout=layout_, analysis="transient", ambient_c=_num(ambient), supply_c=_num(supply),
                transient=TransientOptions(kind=kind, hall=hall, target=target or None, duration_s=dur,
                                           dt_s=max(1.0, dur / 600), event_s=min(30.0, dur / 10)),
            )  # fmt: skip
            res = _with_progress(set_progress, f"{kind} transient of {hall}", lambda: cache.get_or_run(s))
        except Exception as exc:  # noqa: BLE001 - the CLI's lines
            return {}, "\n".join(problem_lines(exc))
        return F.transient_figure(res, loop=target if kind == "pump-trip" else None), F.transient_summary(res)

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


def _long_what(s) -> str:
    """What a background solve is, for its progress line."""
    objective = " for revenue" if s.maxq.objective == "revenue" else ""
    return f"Max-Q{objective} on {len(s.model().racks):,} racks"


def _with_progress(set_progress, what: str, solve):
    """Run ``solve()`` in a thread and report the elapsed time every 0.25 s (``run`` reports no steps)."""
    import threading
    import time

    box: dict = {}

    def work():
        try:
            box["res"] = solve()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the callback
            box["exc"] = exc

    t0 = time.monotonic()
    th = threading.Thread(target=work, daemon=True)
    th.start()
    while th.is_alive():
        set_progress(f"{what}: {time.monotonic() - t0:.1f} s")
        th.join(0.25)
    if "exc" in box:
        raise box["exc"]
    set_progress(f"{what}: done in {time.monotonic() - t0:.1f} s")
    return box["res"]


def _toggle_options(name: str, problems: dict) -> list[dict]:
    """Options of the optics / architecture toggle; an override the layout cannot take is disabled, with the
    layout's first error line as its tooltip."""
    path, values = TOGGLES[name]
    out = [{"label": "layout", "value": ""}]
    for v in values:
        lines = problems.get(f"{name}:{v}")
        label = TOGGLE_LABELS[v]
        if lines:
            out.append({"label": html.Span(label, title="\n".join(lines)), "value": v, "disabled": True})
        else:
            out.append({"label": label, "value": v})
    return out


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
    """``app`` / ``server``: the default app, built on first access (so importing ``create_app`` is cheap).

    Under a multi-process server (``gunicorn -w 4 webapp.app:server``) the workers of one master share a cache
    folder (``TWIN_DASHBOARD_CACHE``, else one named after the master's process id), so a background job started
    through one worker is found by the others."""
    global _default
    if name in ("app", "server"):
        if _default is None:
            shared = os.environ.get("TWIN_DASHBOARD_CACHE") or os.path.join(
                tempfile.gettempdir(), f"twin-dashboard-{os.getuid()}-{os.getppid()}"
            )
            _default = create_app(cache_dir=shared)
        return _default if name == "app" else _default.server
    raise AttributeError(name)
