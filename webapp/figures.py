"""Pure functions: a compiled model and a ``RunResult`` in, plotly figures and plain data out.

No Dash here and no solver calls: every function reads the model's tables and the result's tables / KPIs (names
and units from ``twin/results_schema.yaml``) and returns arrays, dicts or ``plotly.graph_objects.Figure``. The
rack geometry is built once per (layout, view) with numpy (8 vertices and 10 triangles a box, no per-rack
objects); colouring by another metric only changes the per-vertex ``intensity`` (see :func:`colour_patch`).

Trace order of :func:`facility_figure` (callbacks patch by index): 0 rack boxes (Mesh3d), 1 rack hover / click
points, 2 marked racks (failed, throttled, off), 3 CDUs, 4 heat rejection, 5 switches, 6 busways, 7 hall floors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from twin import resultschema
from twin.geometry import (
    COLOUR_METRICS,
    VERTS_PER_RACK,
    BoxMesh,
    rack_boxes,
    rack_footprints,
    rack_metric,
)
from twin.geometry import unit_positions as _unit_positions

__all__ = [
    "COLOUR_METRICS",
    "RACK_TRACE",
    "HOVER_TRACE",
    "MARK_TRACE",
    "CDU_TRACE",
    "BoxMesh",
    "ViewMesh",
    "rack_boxes",
    "row_strips",
    "view_mesh",
    "view_colours",
    "rack_difference",
    "clicked_rack",
    "cdu_to_fail",
    "transient_figure",
    "transient_marks",
    "transient_summary",
    "rack_metric",
    "colour_patch",
    "rack_marks",
    "failed_racks",
    "facility_figure",
    "sankey_links",
    "sankey_figure",
    "kpi_items",
    "most_loaded",
    "tier_rows",
    "tier_caption",
    "TIER_NOTE",
    "view_racks",
    "view_options",
    "compare_rows",
    "compare_figure",
    "rack_detail",
]

RACK_TRACE, HOVER_TRACE, MARK_TRACE, CDU_TRACE, HR_TRACE, SWITCH_TRACE, BUSWAY_TRACE, HALL_TRACE = range(8)

_REVERSED = {"margin_k"}  # low is bad: red at the low end

ROW_LOD_RACKS = 2000  # a view with more racks than this draws each row as one strip (level of detail)
ROW_FACES_PER_RACK = 6  # top, front and back of a rack's stretch of a row strip (2 triangles each)


@dataclass(frozen=True)
class ViewMesh:
    """The racks of a view as one triangle mesh, either one box per rack (``mode == "boxes"``: per-vertex
    colour, 8 vertices a rack) or one strip per row (``mode == "rows"``: per-triangle colour). ``face_rack``
    (rows) gives each triangle's position in ``racks``; ``vert_rack`` each vertex's (for clicks)."""

    mode: str
    points: np.ndarray
    faces: np.ndarray
    racks: np.ndarray
    centres: np.ndarray
    face_rack: np.ndarray | None
    vert_rack: np.ndarray


def row_strips(model, racks: np.ndarray | None = None) -> ViewMesh:
    """The racks as one strip per row: a row's racks stand side by side, so its boxes merge into one prism whose
    top and long sides are cut at each rack boundary: 6 triangles a rack (top, front, back) and 4 for the row's
    end caps, instead of 10 triangles a rack. Each rack has its own 4 top vertices (a hover or click on a top
    face names its rack); the bottom edge's vertices (2 a boundary) are shared by neighbours. Colour is per
    triangle (``intensitymode="cell"``), so each rack keeps its own colour."""
    idx = np.arange(len(model.racks)) if racks is None else np.asarray(racks, dtype=np.int64)
    fp = rack_footprints(model, idx)
    row = model.racks["row"].to_numpy()[idx]
    # along-row axis per row: the one its racks spread over
    rows, inv = np.unique(row, return_inverse=True)
    span = np.zeros((len(rows), 2))
    for a in (0, 1):
        lo = np.full(len(rows), np.inf)
        hi = np.full(len(rows), -np.inf)
        np.minimum.at(lo, inv, fp[:, a])
        np.maximum.at(hi, inv, fp[:, a])
        span[:, a] = hi - lo
    along = np.where(span[:, 0] >= span[:, 1], 0, 1)[inv]  # 0: x, 1: y
    pos = np.where(along == 0, fp[:, 0], fp[:, 1])
    order = np.lexsort((pos, inv))  # by row, then along the row
    fp, inv, along, pos = fp[order], inv[order], along[order], pos[order]
    n = len(idx)
    n_row = np.bincount(inv, minlength=len(rows))
    first = np.cumsum(n_row) - n_row  # first rack (in order) of each row
    last = first + n_row - 1
    k = np.arange(n) - first[inv]  # rack's place in its row
    length = np.where(along == 0, fp[:, 3], fp[:, 4])
    c0 = np.where(along == 0, fp[:, 1], fp[:, 0])  # front (low) side across the row
    c1 = c0 + np.where(along == 0, fp[:, 4], fp[:, 3])
    h = fp[:, 2] + fp[:, 5]

    def xyz(a, c, z, ax):  # (along, across, up) -> (x, y, z)
        return np.where((ax == 0)[:, None], np.stack([a, c, z], 1), np.stack([c, a, z], 1))

    # vertices: 4 own top corners a rack (front-left, front-right, back-right, back-left), then 2 bottom
    # corners (front, back) a boundary; boundary b of a row is the start of its rack b, or the end of the last
    top_v = np.stack(
        [xyz(pos, c0, h, along), xyz(pos + length, c0, h, along),
         xyz(pos + length, c1, h, along), xyz(pos, c1, h, along)], axis=1
    ).reshape(-1, 3)  # fmt: skip
    b_src = np.concatenate([np.arange(n), last])  # the rack a boundary's cross-section is taken from
    b_at = np.concatenate([pos, pos[last] + length[last]])
    b_row = np.concatenate([inv, np.arange(len(rows))])
    b_k = np.concatenate([k, n_row])
    b_order = np.lexsort((b_k, b_row))
    b_src, b_at = b_src[b_order], b_at[b_order]
    zero = np.zeros(len(b_src))
    bot_v = np.stack(
        [xyz(b_at, c0[b_src], zero, along[b_src]), xyz(b_at, c1[b_src], zero, along[b_src])], axis=1
    ).reshape(-1, 3)
    points = np.vstack([top_v, bot_v]).astype(np.float32)
    t = (4 * np.arange(n))[:, None]  # the rack's top corners: t, t+1, t+2, t+3
    bb = 4 * n + 2 * (first[inv] + inv + k)[:, None]  # its left boundary's bottom front / back: bb, bb + 1
    nb = bb + 2  # its right boundary's
    tri = np.stack(
        [np.hstack([t, t + 1, t + 2]), np.hstack([t, t + 2, t + 3]),  # top
         np.hstack([bb, nb, t + 1]), np.hstack([bb, t + 1, t]),  # front
         np.hstack([bb + 1, t + 3, t + 2]), np.hstack([bb + 1, t + 2, nb + 1])], axis=1  # back
    ).reshape(-1, 3)  # fmt: skip
    lt, lb = (4 * first)[:, None], (4 * n + 2 * (first + np.arange(len(rows))))[:, None]  # row start
    rt, rb = (4 * last)[:, None], lb + 2 * n_row[:, None]  # row end
    caps = np.stack(
        [np.hstack([lb, lt, lt + 3]), np.hstack([lb, lt + 3, lb + 1]),
         np.hstack([rb, rt + 1, rt + 2]), np.hstack([rb, rt + 2, rb + 1])], axis=1
    ).reshape(-1, 3)  # fmt: skip
    faces = np.vstack([tri, caps]).astype(np.uint16 if len(points) < 2**16 else np.int32)
    pos_in_racks = order  # rack (in order) -> its position in ``idx``
    face_rack = np.concatenate(
        [np.repeat(pos_in_racks, ROW_FACES_PER_RACK), np.repeat(pos_in_racks[np.stack([first, last], 1)], 2)]
    )
    nbd = n_row + 1  # boundaries of each row, in vertex order
    j = np.arange(nbd.sum()) - np.repeat(np.cumsum(nbd) - nbd, nbd)  # boundary's place in its row
    at = np.repeat(first, nbd) + np.minimum(j, np.repeat(n_row - 1, nbd))  # the rack (in order) right of it
    vert_rack = np.concatenate([np.repeat(pos_in_racks, 4), np.repeat(pos_in_racks[at], 2)])
    fpo = rack_footprints(model, idx)
    centres = np.column_stack([fpo[:, 0] + fpo[:, 3] / 2, fpo[:, 1] + fpo[:, 4] / 2, fpo[:, 2] + fpo[:, 5]])
    return ViewMesh("rows", points, faces, idx, centres, face_rack, vert_rack)


def view_mesh(model, racks: np.ndarray) -> ViewMesh:
    """Boxes for a hall or pod, row strips for a view of more than :data:`ROW_LOD_RACKS` racks."""
    if len(racks) > ROW_LOD_RACKS:
        return row_strips(model, racks)
    m = rack_boxes(model, racks)
    vert_rack = np.repeat(np.arange(len(racks)), VERTS_PER_RACK)
    return ViewMesh("boxes", m.points, m.faces, m.racks, m.centres, None, vert_rack)


def view_colours(model, result, metric: str, mesh: ViewMesh, values: np.ndarray | None = None,
                 label: str | None = None, diverging: bool = False) -> dict:  # fmt: skip
    """:func:`colour_patch` for a view's mesh: ``intensity`` per vertex (boxes) or per triangle (rows).
    ``values`` (per rack of the model) and ``label`` replace the metric's (e.g. a difference B - A, drawn on a
    diverging scale centred on 0 when ``diverging``)."""
    if values is None:
        col = colour_patch(model, result, metric, mesh.racks)
    else:
        v = np.asarray(values, dtype=float)[mesh.racks]
        lo, hi = _colour_range(v)
        if diverging:
            m = max(abs(lo), abs(hi), 1e-9)
            lo, hi = -m, m
        filled = np.where(np.isfinite(v), v, 0.0 if diverging else lo).astype(np.float32)
        col = {"intensity": np.repeat(filled, VERTS_PER_RACK), "values": v.astype(np.float32), "cmin": lo,
               "cmax": hi, "title": label or metric,
               "colorscale": _diverging_scale() if diverging else _colourscale(metric)}  # fmt: skip
    if mesh.mode == "rows":
        per_rack = col["intensity"][::VERTS_PER_RACK]
        col["intensity"] = per_rack[mesh.face_rack]
        col["vertex_values"] = col["values"][mesh.vert_rack]  # for the strips' own hover
    col["intensitymode"] = "cell" if mesh.mode == "rows" else "vertex"
    return col


def hover_template(title: str) -> str:
    """A rack's hover label: its name (``text``) and its value of the colour metric (``customdata``)."""
    return "%{text}<br>" + title + ": %{customdata:.4g}<extra></extra>"


def rack_difference(model, a, b, metric: str) -> tuple[np.ndarray, str]:
    """Per-rack B - A of a colour metric (NaN where either has none) and its label "B - A: ... [unit]"."""
    va, label = rack_metric(model, a, metric)
    vb, _ = rack_metric(model, b, metric)
    return vb - va, f"B - A: {label}"


def difference_note(diff: np.ndarray, label: str) -> str:
    """One line on a per-rack difference: how many racks differ, and the lowest and highest difference."""
    finite = diff[np.isfinite(diff)]
    changed = int(np.count_nonzero(finite != 0))
    if not len(finite):
        return f"{label}: no rack has a value in both"
    return (
        f"{label}: {changed:,} of {len(diff):,} racks differ; from {finite.min():.4g} to {finite.max():.4g}"
    )


def _diverging_scale() -> list:
    from plotly.colors import get_colorscale

    return get_colorscale("RdBu_r")


def _colour_range(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo < 1e-4 * max(1.0, abs(hi)):  # a flat field: one colour, not amplified noise
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def _colourscale(metric: str) -> list:
    """Explicit [[fraction, colour], ...]: plotly.js knows no "_r" names, and a Patch is not expanded by Python."""
    from plotly.colors import get_colorscale

    return get_colorscale("RdYlBu" if metric in _REVERSED else "RdYlBu_r")


def colour_patch(model, result, metric: str, racks: np.ndarray) -> dict:
    """What changes when the colour metric (or the result) changes, for the racks in view: per-vertex
    intensity of the boxes, the hover points' colours and values, colour range, bar title and scale."""
    values, label = rack_metric(model, result, metric)
    v = values[racks]
    lo, hi = _colour_range(v)
    filled = np.where(np.isfinite(v), v, lo).astype(np.float32)
    return {
        "intensity": np.repeat(filled, VERTS_PER_RACK),
        "values": np.where(np.isfinite(v), v, np.nan).astype(np.float32),
        "cmin": lo,
        "cmax": hi,
        "title": label,
        "colorscale": _colourscale(metric),
    }


def failed_racks(model, failures) -> dict[int, str]:
    """Racks fed or cooled by a failed unit (topology only): rack index -> the failed unit's name."""
    out: dict[int, str] = {}
    if not failures:
        return out
    r = model.racks
    cdu_loop = dict(zip(model.cdus["name"], model.cdus["loop"], strict=True))
    elec_idx = {n: i for i, n in enumerate(model.elec["name"])}
    hr_hall = dict(zip(model.heat_rejection["name"], model.heat_rejection["hall"], strict=True))
    sw_idx = {n: i for i, n in enumerate(model.switches["name"])}
    loop = r["loop"].to_numpy()
    for name in failures:
        base = name[: -len("/pump")] if name.endswith("/pump") else name
        if base in cdu_loop:
            hit = np.flatnonzero(loop == cdu_loop[base])
        elif name in elec_idx:
            i = elec_idx[name]
            hit = np.flatnonzero((r["busway_node"].to_numpy() == i) | (r["block_node"].to_numpy() == i))
        elif name in hr_hall:
            hit = np.flatnonzero(r["hall"].to_numpy() == hr_hall[name])
        elif name in sw_idx:
            hit = np.flatnonzero(r["leaf"].to_numpy() == sw_idx[name])
        else:
            continue
        for k in hit:
            out.setdefault(int(k), name)
    return out


def rack_marks(model, result, failures=()) -> tuple[np.ndarray, list[str]]:
    """Racks to mark in 3D and why: on a failed unit, throttled, over temperature, off, unpowered or uncooled."""
    rk = result.tables["racks"]
    n = len(model.racks)
    on_failed = failed_racks(model, failures)
    names, flags = [], []
    for col, why, bad in (
        ("throttled", "throttled", True),
        ("over_temperature", "over temperature", True),
        ("on", "off", False),
        ("powered", "unpowered", False),
        ("cooled", "cooling lost", False),
    ):
        if col in rk:
            flag = rk[col].to_numpy(bool)
            names.append(why)
            flags.append(flag if bad else ~flag)
    flag = np.column_stack(flags) if flags else np.zeros((n, 0), bool)
    hit = flag.any(axis=1)
    hit[list(on_failed)] = True
    idx = np.flatnonzero(hit).astype(np.int64)
    # strings only for the marked racks (vectorised selection; a campus has thousands of unmarked racks)
    why = [
        "; ".join(
            ([f"on failed {on_failed[k]}"] if k in on_failed else [])
            + [w for w, f in zip(names, flag[k], strict=True) if f]
        )
        for k in idx
    ]
    return idx, why


def view_options(model) -> list[dict]:
    """Levels of detail: the whole site, each hall, each pod."""
    opts = [{"label": f"whole site ({len(model.racks):,} racks)", "value": "site"}]
    opts += [{"label": f"hall {h}", "value": f"hall:{i}"} for i, h in enumerate(model.halls["name"])]
    opts += [{"label": f"pod {p}", "value": f"pod:{i}"} for i, p in enumerate(model.pods["name"])]
    return opts


def view_racks(model, view: str | None) -> np.ndarray:
    """Rack indices in a view ('site', 'hall:<i>', 'pod:<i>')."""
    n = len(model.racks)
    if not view or view == "site":
        return np.arange(n)
    kind, _, num = view.partition(":")
    if kind in ("hall", "pod") and num.isdigit():
        sel = np.flatnonzero(model.racks[kind].to_numpy() == int(num))
        if len(sel):
            return sel
    return np.arange(n)


def _lines(segments: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(m, 2, 3) segments -> x, y, z arrays with NaN breaks (one Scatter3d lines trace)."""
    if not len(segments):
        return np.array([]), np.array([]), np.array([])
    pts = np.concatenate([segments, np.full((len(segments), 1, 3), np.nan)], axis=1).reshape(-1, 3)
    return pts[:, 0], pts[:, 1], pts[:, 2]


def _hall_floors(model, fp: np.ndarray, racks: np.ndarray) -> np.ndarray:
    hall = model.racks["hall"].to_numpy()[racks]
    segs = []
    for h in np.unique(hall):
        m = hall == h
        x0, y0 = fp[m, 0].min() - 3, fp[m, 1].min() - 3
        x1, y1 = (fp[m, 0] + fp[m, 3]).max() + 3, (fp[m, 1] + fp[m, 4]).max() + 3
        c = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
        segs += [[(*c[i], 0.0), (*c[i + 1], 0.0)] for i in range(4)]
    return np.array(segs, dtype=float).reshape(-1, 2, 3)


def _busways(model, fp: np.ndarray, racks: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """One segment over the racks of each busway (at rack top + 0.3 m)."""
    bw = model.racks["busway_node"].to_numpy()[racks]
    df = pd.DataFrame(
        {"bw": bw, "x": fp[:, 0] + fp[:, 3] / 2, "y": fp[:, 1] + fp[:, 4] / 2, "z": fp[:, 2] + fp[:, 5] + 0.3}
    )
    g = df.groupby("bw").agg(
        x0=("x", "min"), x1=("x", "max"), y0=("y", "min"), y1=("y", "max"), z=("z", "max")
    )
    segs = np.stack([g[["x0", "y0", "z"]].to_numpy(float), g[["x1", "y1", "z"]].to_numpy(float)], axis=1)
    return segs, [str(model.elec["name"].iat[i]) for i in g.index]


def facility_figure(
    model,
    result,
    metric: str = "junction_c",
    view: str | None = "site",
    failures=(),
    height: int = 600,
    colours: dict | None = None,
) -> go.Figure:
    """The 3D facility: racks coloured by ``metric`` (boxes, or row strips in a view of more than
    :data:`ROW_LOD_RACKS` racks, where switches are left to the hall and pod views), marked racks, CDUs, heat
    rejection in the yard, switches, busways and hall floors, for the racks in ``view``. ``colours`` (from
    :func:`view_colours`) replaces the metric's colours, e.g. with a difference of two results."""
    racks = view_racks(model, view)
    mesh = view_mesh(model, racks)
    fp = rack_footprints(model, racks)
    col = colours if colours is not None else view_colours(model, result, metric, mesh)
    names = model.racks.index.to_numpy()[racks]
    rack_names = (
        result.tables["racks"]["name"].to_numpy()[racks] if "name" in result.tables["racks"] else names
    )
    traces: list = [None] * 8
    traces[RACK_TRACE] = go.Mesh3d(
        x=mesh.points[:, 0], y=mesh.points[:, 1], z=mesh.points[:, 2],
        i=mesh.faces[:, 0], j=mesh.faces[:, 1], k=mesh.faces[:, 2],
        intensity=col["intensity"], intensitymode=col["intensitymode"],
        cmin=col["cmin"], cmax=col["cmax"], colorscale=col["colorscale"],
        colorbar={"title": {"text": col["title"], "side": "right"}, "len": 0.8, "thickness": 14},
        flatshading=True, lighting={"ambient": 0.7, "diffuse": 0.5, "specular": 0.05},
        hoverinfo="skip", name="racks", showlegend=False,
    )  # fmt: skip
    hover = hover_template(col["title"])
    if mesh.mode == "rows":  # the strips carry the hover themselves: one marker a rack costs a redraw ~2x
        traces[RACK_TRACE].update(text=rack_names[mesh.vert_rack], customdata=col["vertex_values"],
                                  hovertemplate=hover, hoverinfo=None)  # fmt: skip
        traces[HOVER_TRACE] = go.Scatter3d(x=[], y=[], z=[], mode="markers", name="rack", showlegend=False)
    else:
        traces[HOVER_TRACE] = go.Scatter3d(
            x=mesh.centres[:, 0], y=mesh.centres[:, 1], z=mesh.centres[:, 2] + 0.05,
            mode="markers", name="rack", showlegend=False,
            marker={"symbol": "square", "size": 2, "color": col["values"], "cmin": col["cmin"],
                    "cmax": col["cmax"], "colorscale": col["colorscale"], "showscale": False},
            text=list(rack_names), customdata=col["values"], hovertemplate=hover,
        )  # fmt: skip
    marked, why = rack_marks(model, result, failures)
    inview = np.isin(marked, racks)
    marked, why = marked[inview], [w for w, keep in zip(why, inview, strict=True) if keep]
    full_fp = rack_footprints(model, marked) if len(marked) else np.zeros((0, 6))
    rn = result.tables["racks"]["name"].to_numpy()
    traces[MARK_TRACE] = go.Scatter3d(
        x=full_fp[:, 0] + full_fp[:, 3] / 2, y=full_fp[:, 1] + full_fp[:, 4] / 2,
        z=full_fp[:, 2] + full_fp[:, 5] + 1.0, mode="markers", name="marked racks",
        # black crosses: a colour of no colour scale the racks are drawn with (red is hot, or B > A)
        marker={"symbol": "x", "size": 3, "color": "#000000"},
        text=[f"{rn[k]}: {w}" for k, w in zip(marked, why, strict=True)], customdata=marked,
        hovertemplate="%{text}<extra></extra>",
    )  # fmt: skip
    # CDUs: at the start of their loop's racks (x-min side), one step apart along y
    loops = model.racks["loop"].to_numpy()[racks]
    ldf = (
        pd.DataFrame({"loop": loops, "x": fp[:, 0], "y": fp[:, 1]})
        .groupby("loop")
        .agg(x=("x", "min"), y=("y", "min"))
    )
    cdus = model.cdus[model.cdus["loop"].isin(ldf.index)]
    cdu_res = result.tables["cdus"].set_index("name") if "cdus" in result.tables else None
    cnt = cdus.groupby("loop").size().reindex(ldf.index).fillna(0).to_numpy(int)
    cy, cx = _unit_positions(ldf["y"].to_numpy(float), ldf["x"].to_numpy(float) - 2.0, cnt, 1.0)
    failed = set(failures or ())
    cdu_names = cdus.sort_values("loop", kind="stable")["name"].tolist()
    load = (
        cdu_res["load_fraction"].reindex(cdu_names).to_numpy(float)
        if cdu_res is not None
        else np.zeros(len(cdu_names))
    )
    traces[CDU_TRACE] = go.Scatter3d(
        x=cx, y=cy, z=np.full(len(cx), 1.0), mode="markers", name="CDUs",
        marker={"symbol": "square", "size": 2 if mesh.mode == "rows" else 4,
                "color": ["#d00000" if n in failed else "#7040b0" for n in cdu_names]},
        text=[f"{n}{' (failed)' if n in failed else ''}<br>load {lf:.0%}" for n, lf in zip(cdu_names, load, strict=True)],
        customdata=cdu_names,
        hovertemplate="%{text}<extra></extra>",
    )  # fmt: skip
    # heat rejection: in the yard, a line beyond the hall's racks (y-max side)
    halls = np.unique(model.racks["hall"].to_numpy()[racks])
    hr = model.heat_rejection[model.heat_rejection["hall"].isin(halls)]
    hall_of = model.racks["hall"].to_numpy()[racks]
    hx0 = np.array([fp[hall_of == h, 0].min() for h in halls]) if len(halls) else np.zeros(0)
    hy1 = (
        np.array([(fp[hall_of == h, 1] + fp[hall_of == h, 4]).max() + 6 for h in halls])
        if len(halls)
        else np.zeros(0)
    )
    hcnt = hr.groupby("hall").size().reindex(halls).fillna(0).to_numpy(int)
    hwidth = (
        np.array([(fp[hall_of == h, 0] + fp[hall_of == h, 3]).max() for h in halls]) - hx0
        if len(halls)
        else np.zeros(0)
    )
    step = float(np.min(np.maximum(hwidth, 10) / np.maximum(hcnt, 1))) if len(halls) else 1.0
    rx, ry = _unit_positions(hx0, hy1, hcnt, min(step, 3.0))
    hr_names = hr.sort_values("hall", kind="stable")["name"].tolist()
    traces[HR_TRACE] = go.Scatter3d(
        x=rx, y=ry, z=np.full(len(rx), 0.5), mode="markers", name="heat rejection",
        marker={"symbol": "diamond", "size": 3,
                "color": _unit_colours(hr_names, failed, "#20a0a0")},
        text=hr_names, hovertemplate="%{text}<extra></extra>",
    )  # fmt: skip
    sw = model.switches
    sw = sw[sw["hall"].isin(halls)] if "hall" in sw else sw
    if view and view.startswith("pod:"):
        sw = sw[sw["pod"] == int(view.split(":")[1])]
    if mesh.mode == "rows":  # level of detail: switch racks are drawn in the hall and pod views
        sw = sw.iloc[:0]
    traces[SWITCH_TRACE] = go.Scatter3d(
        x=sw["x_m"].to_numpy(float), y=sw["y_m"].to_numpy(float), z=np.full(len(sw), 2.0), mode="markers",
        name="switches", marker={"symbol": "circle", "size": 2, "color": _unit_colours(sw["name"], failed, "#707070")},
        text=sw["name"].tolist(), hovertemplate="%{text}<extra></extra>",
    )  # fmt: skip
    bsegs, bnames = _busways(model, fp, racks)
    bx, by, bz = _lines(bsegs)
    traces[BUSWAY_TRACE] = go.Scatter3d(
        x=bx,
        y=by,
        z=bz,
        mode="lines",
        name="busways",
        line={"color": "#e09000", "width": 3},
        hoverinfo="skip",
    )
    fx, fy, fz = _lines(_hall_floors(model, fp, racks))
    traces[HALL_TRACE] = go.Scatter3d(
        x=fx, y=fy, z=fz, mode="lines", name="halls", line={"color": "#404040", "width": 2}, hoverinfo="skip"
    )
    fig = go.Figure(traces)
    fig.update_layout(scene=_scene(fp), height=height, margin={"l": 0, "r": 0, "t": 0, "b": 0},
                      uirevision=view or "site", showlegend=False, paper_bgcolor="white")  # fmt: skip
    return fig


def _unit_colours(names, failed: set, colour: str):
    """One colour for all units, or a list marking the failed ones red (only when one is failed)."""
    if not failed or not failed.intersection(names):
        return colour
    return ["#d00000" if n in failed else colour for n in names]


def _scene(fp: np.ndarray) -> dict:
    x0, x1 = fp[:, 0].min() - 8, (fp[:, 0] + fp[:, 3]).max() + 8
    y0, y1 = fp[:, 1].min() - 8, (fp[:, 1] + fp[:, 4]).max() + 12
    z1 = max(float((fp[:, 2] + fp[:, 5]).max()) + 2, 4.0)
    big = max(x1 - x0, y1 - y0)
    axis = {
        "tickvals": [], "title": {"text": ""}, "showgrid": False, "zeroline": False,
        "showline": False, "showbackground": False, "showspikes": False,
    }  # fmt: skip
    return {
        "xaxis": {**axis, "range": [x0, x1]},
        "yaxis": {**axis, "range": [y0, y1]},
        "zaxis": {**axis, "range": [0, z1]},
        "aspectmode": "manual",
        "aspectratio": {"x": (x1 - x0) / big, "y": (y1 - y0) / big, "z": max(z1 / big, 0.04)},
        "camera": {"eye": {"x": -0.5, "y": -1.15, "z": 0.8}},
    }


def sankey_links(model, result) -> dict:
    """Power flow grid -> substation -> each hall's blocks (and the mechanical feeds) -> IT, network, cooling
    and losses, from the electrical nodes' input power and losses (W) and the racks' input power.

    Returns ``{"labels": [...], "source": [...], "target": [...], "value": [...]}`` with values in MW."""
    if "elec_nodes" not in result.tables:
        return _sankey_from_kpis(result.kpis)
    en = result.tables["elec_nodes"].reset_index(drop=True)
    el = model.elec.reset_index(drop=True)
    kind = el["kind"].to_numpy()
    hall = el["hall"].to_numpy()
    parent = el["parent"].to_numpy()
    p_in = en["power_in_w"].to_numpy(float)
    loss = en["loss_w"].to_numpy(float) + en["feeder_loss_w"].to_numpy(float)
    # each node's block ancestor (or itself)
    n = len(el)
    block_of = np.full(n, -1)
    for i in range(n):
        j = i
        while j >= 0 and kind[j] != "block":
            j = parent[j]
        block_of[i] = j
    labels = ["grid", "substation"]
    src: list[int] = []
    tgt: list[int] = []
    val: list[float] = []
    hall_names = model.halls["name"].tolist()
    blocks_node = {
        h: len(labels) + k
        for k, h in enumerate(sorted({int(hall[i]) for i in np.flatnonzero(kind == "block")}))
    }
    labels += [f"{hall_names[h]} blocks" for h in blocks_node]
    mech = len(labels)
    labels.append("mechanical feeds")
    it, net, cool, losses = range(len(labels), len(labels) + 4)
    labels += ["IT (racks)", "network", "cooling", "losses"]
    grid = int(np.flatnonzero(kind == "grid")[0])
    sub = np.flatnonzero(kind == "substation")
    src.append(0), tgt.append(1), val.append(p_in[grid])
    sub_loss = float(loss[sub].sum() + loss[grid])
    if sub_loss > 0:
        src.append(1), tgt.append(losses), val.append(sub_loss)
    rk = result.tables["racks"]
    rack_in = (
        rk["input_power_w"].to_numpy(float) if "input_power_w" in rk else rk["rack_power_w"].to_numpy(float)
    )
    rack_hall = model.racks["hall"].to_numpy()
    for h, node in blocks_node.items():
        members = block_of >= 0
        members &= hall[np.maximum(block_of, 0)] == h
        blk = np.flatnonzero((kind == "block") & (hall == h))
        p_blocks = float(p_in[blk].sum())
        l_blocks = float(loss[members].sum())
        p_it = float(np.nansum(rack_in[rack_hall == h]))
        p_net = p_blocks - l_blocks - p_it
        src.append(1), tgt.append(node), val.append(p_blocks)
        src.append(node), tgt.append(it), val.append(p_it)
        if l_blocks > 0:
            src.append(node), tgt.append(losses), val.append(l_blocks)
        if p_net > 0:
            src.append(node), tgt.append(net), val.append(p_net)
    mf = np.flatnonzero(kind == "mech_feed")
    p_mech = float(p_in[mf].sum())
    l_mech = float(loss[mf].sum())
    src.append(1), tgt.append(mech), val.append(p_mech)
    src.append(mech), tgt.append(cool), val.append(p_mech - l_mech)
    if l_mech > 0:
        src.append(mech), tgt.append(losses), val.append(l_mech)
    return {"labels": labels, "source": src, "target": tgt, "value": [v / 1e6 for v in val]}


def _sankey_from_kpis(k: dict) -> dict:
    """Grid -> IT, network, cooling, losses from the KPIs alone (a result without the electrical nodes)."""
    parts = [("IT (racks)", "it_power_mw"), ("rack conversion", "rack_conversion_loss_mw"),
             ("network", "network_power_mw"), ("cooling", "cooling_power_mw"), ("losses", "electrical_loss_mw")]  # fmt: skip
    parts = [(lab, float(k[key])) for lab, key in parts if k.get(key)]
    return {"labels": ["grid", *[lab for lab, _ in parts]], "source": [0] * len(parts),
            "target": list(range(1, len(parts) + 1)), "value": [v for _, v in parts]}  # fmt: skip


def sankey_figure(model, result) -> go.Figure:
    s = sankey_links(model, result)
    fig = go.Figure(
        go.Sankey(
            node={"label": s["labels"], "pad": 12, "thickness": 14},
            link={"source": s["source"], "target": s["target"], "value": s["value"]},
            valueformat=".3f",
            valuesuffix=" MW",
        )
    )
    fig.update_layout(height=420, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def most_loaded(result) -> tuple[str, float]:
    """The most loaded electrical node or CDU: (name, loading in %)."""
    best = ("-", float("nan"))
    en = result.tables.get("elec_nodes")
    if en is not None and len(en):
        i = int(np.nanargmax(en["loading_pct"].to_numpy(float)))
        best = (str(en["name"].iat[i]), float(en["loading_pct"].iat[i]))
    cd = result.tables.get("cdus")
    if cd is not None and len(cd):
        lf = cd["load_fraction"].to_numpy(float) * 100
        i = int(np.nanargmax(lf))
        if not np.isfinite(best[1]) or lf[i] > best[1]:
            best = (str(cd["name"].iat[i]), float(lf[i]))
    return best


def _fmt(v, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if isinstance(v, (int, np.integer)):
        return f"{v:,d}"
    a = abs(v)
    if a >= 1e6:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:,.1f}"
    return f"{v:.3f}"


# (key, short label, unit) shown in the KPI strip, in order
KPI_STRIP = (
    ("facility_power_mw", "Facility", "MW"),
    ("it_power_mw", "IT", "MW"),
    ("pue", "PUE", ""),
    ("tokens_per_s", "Tokens/s", ""),
    ("tokens_per_joule", "Tokens/J", ""),
    ("revenue_usd_per_h", "Revenue", "$/h"),
    ("min_margin_k", "Min margin", "K"),
    ("throttled_racks", "Throttled racks", ""),
    ("most_loaded", "Most loaded", "%"),
    ("binding", "Binding constraint", "tokens/s per MW"),
)


def kpi_items(model, result) -> list[dict]:
    """The KPI strip: one dict per tile (key, label, value as shown, raw value, unit, description)."""
    k = result.kpis
    out = []
    for key, label, unit in KPI_STRIP:
        if key == "most_loaded":
            name, pct = most_loaded(result)
            raw, text, desc = pct, f"{name} {_fmt(pct)}", "most loaded electrical node or CDU"
        elif key == "binding":
            bc = k.get("binding_constraints") or []
            if bc:
                raw = bc[0].get("shadow_price_tokens_per_s_per_mw")
                text = f"{bc[0].get('name', '?')} ({_fmt(raw)})"
            else:
                raw, text = None, "none (Max-P)"
            desc = "highest binding Max-Q limit with its shadow price"
        else:
            raw = k.get(key)
            text = _fmt(raw)
            try:
                desc = resultschema.kpi(key).get("description", "")
            except Exception:  # noqa: BLE001 - a KPI the schema does not list just has no tooltip
                desc = ""
            if raw is None and key in KPI_ABSENT:
                desc = f"{desc} ({KPI_ABSENT[key]})" if desc else KPI_ABSENT[key]
        out.append(
            {"key": key, "label": label, "text": text, "value": raw, "unit": unit, "description": desc}
        )
    return out


#: why a KPI tile shows "-" when the run does not report it
KPI_ABSENT = {
    "revenue_usd_per_h": "not reported by this run: the run API prices coupled and capping runs on layouts "
    "whose workload tiers have prices (this layout's have none)",
}

#: shown instead of the tier table when the run has none
TIER_NOTE = (
    "Revenue per tier: reported for layouts whose workload tiers have prices (price_usd_per_mtok or "
    "price_usd_per_gpu_hour in the layout's workload.tiers)."
)

# (column of the result's ``tiers`` table, heading) of the tier view, in order
TIER_COLUMNS = (
    ("tier", "tier"),
    ("kind", "kind"),
    ("interactivity_tok_s_per_user", "tokens/s per user"),
    ("price_usd_per_mtok", "$/Mtok"),
    ("tokens_per_s", "output tokens/s"),
    ("revenue_usd_per_h", "revenue $/h"),
)


def tier_rows(result) -> list[dict]:
    """The run's ``tiers`` table as the tier view shows it: one dict per tier with its values (``tier``, ``kind``,
    ``interactivity_tok_s_per_user``, ``price_usd_per_mtok``, ``tokens_per_s``, ``revenue_usd_per_h``, as the
    run reports them), their text (``text``: column -> str) and ``bar_pct``, the tier's $/h as a width in % of
    the largest tier's (0 for all when no tier earns). Empty when the run has no tiers table."""
    t = result.tables.get("tiers")
    if t is None or t.empty:
        return []
    rev = t["revenue_usd_per_h"].to_numpy(float)
    top = np.nanmax(rev) if np.isfinite(rev).any() else 0.0
    rows = []
    for i, r in enumerate(t.to_dict("records")):
        row = {c: r.get(c) for c, _ in TIER_COLUMNS}
        row["text"] = {c: str(v) if isinstance(v, str) else _tier_fmt(v) for c, v in row.items()}
        row["bar_pct"] = float(rev[i] / top * 100) if top > 0 and np.isfinite(rev[i]) else 0.0
        rows.append(row)
    return rows


def _tier_fmt(v) -> str:
    """A tier value as text: whole numbers and values >= 100 with thousands separators and no decimals, others
    to 3 significant figures; "-" for none / NaN."""
    if v is None:
        return "-"
    v = float(v)
    if not np.isfinite(v):
        return "-"
    if v == round(v) or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def tier_caption(result) -> str:
    """One line over the tier view: the run's objective, revenue, $ per MWh and the grid's shadow price (KPIs as
    the run reports them)."""
    k = result.kpis
    s = result.scenario
    objective = s.maxq.objective if getattr(s, "analysis", "") == "maxq" else "-"
    parts = [f"objective {objective}", f"revenue {_fmt(k.get('revenue_usd_per_h'))} $/h"]
    if k.get("revenue_usd_per_mwh") is not None:
        parts.append(f"{_fmt(k['revenue_usd_per_mwh'])} $/MWh of grid energy")
    sp = k.get("shadow_price_grid_usd_per_mwh")
    if sp is not None and np.isfinite(sp):
        parts.append(f"grid budget worth {_fmt(sp)} $/h per MW more")
    return "; ".join(parts)


COMPARE_KPIS = (
    "facility_power_mw", "it_power_mw", "cooling_power_mw", "network_power_mw", "electrical_loss_mw", "pue",
    "tokens_per_s", "tokens_per_joule", "revenue_usd_per_h", "min_margin_k", "max_junction_c", "throttled_racks",
)  # fmt: skip


def compare_rows(a, b) -> list[dict]:
    """KPI deltas of two results: kpi, A, B, B - A, change % (of A)."""
    rows = []
    for key in COMPARE_KPIS:
        va, vb = a.kpis.get(key), b.kpis.get(key)
        if va is None or vb is None:
            continue
        d = float(vb) - float(va)
        pct = d / abs(float(va)) * 100 if va else float("nan")
        rows.append({"kpi": key, "A": float(va), "B": float(vb), "delta": d, "change_pct": pct})
    return rows


def compare_figure(rows: list[dict]) -> go.Figure:
    fig = go.Figure(
        go.Bar(x=[r["change_pct"] for r in rows], y=[r["kpi"] for r in rows], orientation="h",
               text=[f"{r['change_pct']:+.2f} %" for r in rows], textposition="auto")
    )  # fmt: skip
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10}, title="B vs A, change %",
                      yaxis={"autorange": "reversed"})  # fmt: skip
    return fig


def rack_detail(model, result, rack: int) -> list[tuple[str, str]]:
    """A rack's detail panel: its values and its loop, CDUs, busway, block and leaf switch with loadings."""
    rk = result.tables["racks"].iloc[rack]
    m = model.racks.iloc[rack]
    rows = [("rack", str(rk.get("name", rack)))]
    for col in ("gpu_cap_w", "gpu_power_w", "rack_power_w", "junction_c", "margin_k", "coolant_supply_c",
                "coolant_return_c", "flow_m3_s", "tokens_per_s", "throttled", "on"):  # fmt: skip
        if col in rk:
            rows.append(
                (
                    resultschema.label("racks", col),
                    _fmt(rk[col]) if not isinstance(rk[col], (bool, np.bool_)) else str(rk[col]),
                )
            )
    loop = int(m["loop"])
    rows.append(("loop", str(model.loops["name"].iat[loop])))
    cd = result.tables.get("cdus")
    if cd is not None:
        for _, c in cd[cd["loop"] == loop].iterrows():
            rows.append((f"CDU {c['name']}", f"load {c['load_fraction']:.0%}"))
    en = result.tables.get("elec_nodes")
    en = en.set_index("name") if en is not None else pd.DataFrame({"loading_pct": []})
    for what, col in (("busway", "busway_node"), ("block", "block_node")):
        name = str(model.elec["name"].iat[int(m[col])])
        pct = en["loading_pct"].get(name, float("nan"))
        rows.append((f"{what} {name}", f"loading {_fmt(float(pct))} %"))
    if int(m["leaf"]) >= 0:
        rows.append(("leaf switch", str(model.switches["name"].iat[int(m["leaf"])])))
    return rows


def transient_marks(kpis: dict) -> list[tuple[str, float]]:
    """Times to mark on a transient's plots (s after the start of the run): the event, the first GPU at its
    throttle temperature (``ride_through_s`` after the event) and the first rack shutdown, when they happen."""
    t0 = float(kpis.get("t_event_s") or 0.0)
    marks = [("event", t0)]
    for label, key in (("throttle", "ride_through_s"), ("shutdown", "time_to_shutdown_s")):
        v = kpis.get(key)
        if v is not None and np.isfinite(float(v)):
            marks.append((label, t0 + float(v)))
    return marks


# transient panels: (title, [(series table, column, legend name)]); loop columns come from ``loops_series``
TRANSIENT_PANELS = (
    ("junction", [("series", "max_junction_c", "hottest GPU junction")]),
    ("coolant", [("series", "max_coolant_c", "hottest coolant"), ("series", "max_rack_outlet_c", "hottest rack outlet"),
                 ("series", "fws_supply_c", "facility water supply")]),
    ("flow", [("series", "min_loop_flow_m3_s", "lowest loop flow")]),
)  # fmt: skip
_MARK_COLOURS = {"event": "#404040", "throttle": "#e08000", "shutdown": "#d00000"}


def transient_figure(result, loop: str | None = None) -> go.Figure:
    """Junction, coolant and flow vs time of a transient result (``series``; with ``loop``, that loop's coolant
    supply / return and flow from ``loops_series`` too), with the event, throttle and shutdown times marked."""
    from plotly.subplots import make_subplots

    s = result.tables["series"]
    t = s["time_s"].to_numpy(float)
    titles = [resultschema.label("series", cols[0][1]) for _, cols in TRANSIENT_PANELS]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07, subplot_titles=titles)
    ls = result.tables.get("loops_series")
    for row, (panel, cols) in enumerate(TRANSIENT_PANELS, start=1):
        for _table, col, name in cols:
            fig.add_trace(go.Scatter(x=t, y=s[col].to_numpy(float), mode="lines", name=name,
                                     legendgroup=panel), row=row, col=1)  # fmt: skip
        if loop is not None and ls is not None and panel in ("coolant", "flow"):
            one = ls[ls["name"] == loop]
            for col in ("coolant_supply_c", "coolant_return_c") if panel == "coolant" else ("flow_m3_s",):
                fig.add_trace(go.Scatter(x=one["time_s"].to_numpy(float), y=one[col].to_numpy(float),
                                         mode="lines", line={"dash": "dot"}, name=f"{loop} {col}",
                                         legendgroup=panel), row=row, col=1)  # fmt: skip
        unit = resultschema.column("series", cols[0][1]).get("unit", "")
        fig.update_yaxes(title_text=f"[{unit}]", row=row, col=1)
    for n, (label, x) in enumerate(transient_marks(result.kpis)):  # labels stacked: the marks are often close
        fig.add_vline(x=x, line={"color": _MARK_COLOURS[label], "dash": "dash", "width": 1.5})
        fig.add_annotation(x=x, y=1.0, yref="paper", yshift=4 + 14 * n, text=f"{label} {x:.1f} s",
                           showarrow=False, xanchor="left", yanchor="bottom",
                           font={"color": _MARK_COLOURS[label], "size": 11})  # fmt: skip
    fig.update_xaxes(title_text="time [s]", row=3, col=1)
    fig.update_layout(
        height=660, margin={"l": 60, "r": 10, "t": 80, "b": 40}, legend={"orientation": "h", "y": -0.12}
    )
    return fig


def rack_name(result, rack: int) -> str:
    rk = result.tables["racks"]
    return str(rk["name"].iat[rack]) if "name" in rk else str(rack)


def clicked_rack(model, mesh: ViewMesh, curve: int, point: dict) -> int | None:
    """The rack (index into ``model.racks``) a click on the 3D view hit: a rack's box or strip (vertex number),
    its hover point, or its mark; None for anything else."""
    n = point.get("pointNumber")
    if curve == RACK_TRACE and n is not None and 0 <= n < len(mesh.vert_rack):
        return int(mesh.racks[mesh.vert_rack[n]])
    if curve == HOVER_TRACE and n is not None and 0 <= n < len(mesh.racks):
        return int(mesh.racks[n])
    if curve == MARK_TRACE and point.get("customdata") is not None:
        return int(point["customdata"])
    return None


def cdu_to_fail(model, rack: int, failed) -> str | None:
    """The CDU a click on a rack fails: the first CDU of the rack's loop not failed yet (None: all are)."""
    loop = int(model.racks["loop"].iat[rack])
    names = [n for n in model.cdus.loc[model.cdus["loop"] == loop, "name"] if n not in set(failed)]
    return str(names[0]) if names else None


def transient_summary(result) -> str:
    """The transient's KPIs, one ``description: value unit`` line each (names and units from the schema)."""
    lines = []
    for key in ("scenario", "hall", "racks", "t_event_s", "ride_through_s", "time_to_shutdown_s",
                "racks_throttled", "racks_shut_down", "peak_junction_c", "peak_coolant_c", "min_margin_k"):  # fmt: skip
        if key not in result.kpis:
            continue
        v = result.kpis[key]
        try:
            meta = resultschema.kpi(key)
        except Exception:  # noqa: BLE001 - not in the schema: the key alone
            meta = {}
        text = "never" if v is None else (_fmt(v) if not isinstance(v, str) else v)
        unit = meta.get("unit", "") if v is not None and not isinstance(v, str) else ""
        unit = "" if unit == "-" else unit
        why = f"  ({meta['description']})" if key in ("ride_through_s", "time_to_shutdown_s") else ""
        lines.append(f"{key}: {text} {unit}".rstrip() + why)
    if result.status != "ok":
        lines.insert(0, f"status: {result.status} ({result.reason})")
    return "\n".join(lines)


_DTYPES = {np.dtype(np.float32): "f4", np.dtype(np.float64): "f8", np.dtype(np.int32): "i4",
           np.dtype(np.uint16): "u2", np.dtype(np.uint8): "u1"}  # fmt: skip


def typed_array(a: np.ndarray) -> dict:
    """A numpy array as plotly.js's typed-array spec ``{"dtype", "bdata"}`` (base64 of the raw bytes): what
    plotly sends for arrays in a figure, and ~3x smaller than a JSON list in a ``dash.Patch``."""
    import base64

    a = np.ascontiguousarray(a)
    if a.dtype not in _DTYPES:
        a = a.astype(np.float32)
    return {"dtype": _DTYPES[a.dtype], "bdata": base64.b64encode(a.tobytes()).decode("ascii")}
