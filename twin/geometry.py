"""Site geometry from a compiled model, and per-rack values of a result (pure numpy; no plotting library).

Rack boxes are built for every rack at once (8 vertices and 10 triangles a box: the bottom face is never seen,
no per-rack objects): ``rack_footprints`` places each rack at its layout position ``x_m, y_m`` with the catalog's
width / depth / height, its width along its row. The dashboard (``webapp.figures``), ``twin render`` and
``twin export`` (``twin.render``, ``twin.export``) draw the same geometry; ``rack_metric`` reads a colour metric
for every rack from a ``RunResult``'s tables (names and units from ``twin/results_schema.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin import resultschema

__all__ = [
    "BOX_CORNERS",
    "BOX_FACES",
    "COLOUR_METRICS",
    "VERTS_PER_RACK",
    "BoxMesh",
    "rack_boxes",
    "rack_footprints",
    "rack_metric",
    "unit_positions",
]

# colour metric -> (table, column) it is read from; racks' own columns first, then per-rack look-ups
COLOUR_METRICS: dict[str, tuple[str, str]] = {
    "junction_c": ("racks", "junction_c"),
    "margin_k": ("racks", "margin_k"),
    "gpu_cap_w": ("racks", "gpu_cap_w"),
    "gpu_power_w": ("racks", "gpu_power_w"),
    "rack_power_w": ("racks", "rack_power_w"),
    "coolant_supply_c": ("racks", "coolant_supply_c"),
    "coolant_return_c": ("racks", "coolant_return_c"),
    "flow_m3_s": ("racks", "flow_m3_s"),
    "tokens_per_s": ("racks", "tokens_per_s"),
    "input_power_w": ("racks", "input_power_w"),
    "busway_loading_pct": ("elec_nodes", "loading_pct"),
    "cdu_load_fraction": ("cdus", "load_fraction"),
}


BOX_FACES = np.array(
    [
        [4, 5, 6], [4, 6, 7],  # top
        [0, 1, 5], [0, 5, 4],  # y-min side
        [3, 7, 6], [3, 6, 2],  # y-max side
        [0, 4, 7], [0, 7, 3],  # x-min side
        [1, 2, 6], [1, 6, 5],  # x-max side
    ],
    dtype=np.int32,
)  # fmt: skip
BOX_CORNERS = np.array(
    [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], dtype=np.float32
)
VERTS_PER_RACK = 8


@dataclass(frozen=True)
class BoxMesh:
    """Rack boxes as one triangle mesh: ``points`` (8 n, 3) float32 m, ``faces`` (10 n, 3) int32, and the
    rack index of each box (``racks``, into ``model.racks``). ``centres`` (n, 3): top centre of each box."""

    points: np.ndarray
    faces: np.ndarray
    racks: np.ndarray
    centres: np.ndarray

    def to_pyvista(self):
        """The same mesh as a ``pyvista.PolyData`` (one call, no per-rack objects)."""
        import pyvista as pv

        n = len(self.faces)
        cells = np.hstack([np.full((n, 1), 3, dtype=np.int64), self.faces.astype(np.int64)]).ravel()
        return pv.PolyData(self.points.astype(np.float64), cells)


def rack_footprints(model, racks: np.ndarray | None = None) -> np.ndarray:
    """(n, 6) float: x0, y0, z0, dx, dy, dz of each rack box. A rack's ``x_m, y_m`` is its footprint's corner;
    its width runs along the row (the axis its row's racks spread over), its depth across."""
    r = model.racks
    idx = np.arange(len(r)) if racks is None else np.asarray(racks)
    x = r["x_m"].to_numpy(float)
    y = r["y_m"].to_numpy(float)
    row = r["row"].to_numpy()
    n_rows = int(row.max()) + 1 if len(row) else 0
    span_x = np.zeros(n_rows)
    span_y = np.zeros(n_rows)
    np.maximum.at(span_x, row, x)
    np.maximum.at(span_y, row, y)
    lo_x = np.full(n_rows, np.inf)
    lo_y = np.full(n_rows, np.inf)
    np.minimum.at(lo_x, row, x)
    np.minimum.at(lo_y, row, y)
    along_x = (span_x - lo_x) >= (span_y - lo_y)
    rt = model.rack_types
    kind = r["rack_type"].to_numpy()
    w = rt["width_m"].to_numpy(float)[kind]
    d = rt["depth_m"].to_numpy(float)[kind]
    h = rt["height_m"].to_numpy(float)[kind]
    ax = along_x[row]
    dx = np.where(ax, w, d)
    dy = np.where(ax, d, w)
    out = np.column_stack([x, y, np.zeros_like(x), dx, dy, h])
    return out[idx]


def rack_boxes(model, racks: np.ndarray | None = None) -> BoxMesh:
    """The racks (all, or the given indices) as one box mesh, vectorised with numpy."""
    idx = np.arange(len(model.racks)) if racks is None else np.asarray(racks, dtype=np.int64)
    fp = rack_footprints(model, idx).astype(np.float32)
    origin = fp[:, None, :3]
    size = fp[:, None, 3:]
    points = (origin + BOX_CORNERS[None, :, :] * size).reshape(-1, 3)
    offs = (np.arange(len(idx), dtype=np.int32) * VERTS_PER_RACK)[:, None, None]
    faces = (BOX_FACES[None, :, :] + offs).reshape(-1, 3)
    if len(points) < 2**16:
        faces = faces.astype(np.uint16)  # half the bytes on the wire (plotly sends typed arrays)
    centres = np.column_stack([fp[:, 0] + fp[:, 3] / 2, fp[:, 1] + fp[:, 4] / 2, fp[:, 2] + fp[:, 5]])
    return BoxMesh(points=points, faces=faces, racks=idx, centres=centres)


def rack_metric(model, result, metric: str) -> tuple[np.ndarray, str]:
    """Per-rack values (over all racks, float64, NaN where a rack has none) of a colour metric and its label
    ("description [unit]" from the results schema)."""
    if metric not in COLOUR_METRICS:
        raise KeyError(f"unknown colour metric {metric!r} (choose from {', '.join(COLOUR_METRICS)})")
    table, column = COLOUR_METRICS[metric]
    n = len(model.racks)
    tab = result.tables.get(table)
    if tab is None or column not in tab:  # e.g. a Max-Q result has no CDU table: nothing to colour by
        return np.full(n, np.nan), f"{resultschema.label(table, column)} (not in this result)"
    if table == "racks":
        values = result.tables["racks"][column].to_numpy(float)
    elif table == "elec_nodes":
        nodes = result.tables["elec_nodes"].set_index("name")[column]
        bw = model.racks["busway_node"].to_numpy()
        names = model.elec["name"].to_numpy()[bw]
        values = nodes.reindex(names).to_numpy(float)
    else:  # cdus: the most loaded CDU of the rack's loop
        cdus = result.tables["cdus"]
        by_loop = cdus.groupby("loop")[column].max() if "loop" in cdus else pd.Series(dtype=float)
        if "loop" not in cdus:
            by_loop = (
                model.cdus.assign(v=cdus[column].to_numpy(float)).groupby("loop")["v"].max()
            )  # pragma: no cover
        values = by_loop.reindex(model.racks["loop"].to_numpy()).to_numpy(float)
    if len(values) != n:
        raise ValueError(f"{metric}: {len(values)} values for {n} racks")
    return values, resultschema.label(table, column)


def unit_positions(anchor_x: np.ndarray, anchor_y: np.ndarray, count: np.ndarray, step: float):
    """Place count[k] units in a line starting at (anchor_x[k], anchor_y[k]), step apart along x."""
    k = np.repeat(np.arange(len(count)), count)
    pos = np.arange(len(k)) - np.repeat(np.cumsum(count) - count, count)
    return anchor_x[k] + pos * step, anchor_y[k]
