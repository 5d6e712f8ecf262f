"""The facility with its per-rack results, for tools outside the browser: a VTK multiblock and an OpenUSD stage.

Pure functions of the compiled model (``Scenario.model()``) and a :class:`~twin.result.RunResult`; the result
tables keep their result-schema names (``twin/results_schema.yaml``) and the units go with them.

- :func:`site_multiblock`: a ``pyvista.MultiBlock`` for ParaView. Block ``racks``: one hexahedron cell per
  rack (cell ``k`` is rack ``k`` of ``model.racks``), every column of the result's ``racks`` table as cell
  data; ``cdus`` and ``heat_rejection``: one vertex per unit, placed as the dashboard places them (CDUs at
  the start of their loop's racks, heat rejection in a line in the yard), with their result columns;
  ``busways``: one line over the racks each busway feeds, with its ``elec_nodes`` columns; ``halls``: each
  hall's floor outline with its ``halls`` columns. A block whose table the analysis does not produce (a
  Max-Q result has no CDU table) keeps its geometry without data. :func:`write_vtm` saves it (``.vtm`` plus
  a directory of ``.vtu`` / ``.vtp`` files).
- :func:`write_usd`: an OpenUSD stage: ``/Site`` (Xform), ``/Site/<Hall>`` (Xform per hall), and one
  ``UsdGeom.Cube`` per rack, ``/Site/<Hall>/Rack_<name>``, sized and placed by its ``xformOp:translate`` and
  ``xformOp:scale``, with every column of the result's ``racks`` table as a constant primvar
  (``primvars:junction_c`` ...), ``primvars:displayColor`` from a colour metric, and the units in the stage's
  ``customLayerData``. For speed the stage is composed as USD text with numpy (one array operation per
  attribute over all racks, no Python loop per rack): ``.usda`` is that text; ``.usd`` / ``.usdc`` is it
  read once by USD's parser and saved in USD's binary crate format.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "USD_SUFFIXES",
    "prim_names",
    "rack_metric_columns",
    "site_multiblock",
    "write_usd",
    "write_vtm",
]

USD_SUFFIXES = (".usd", ".usda", ".usdc")
VTK_HEXAHEDRON = 12
_IDENT = re.compile(r"[^A-Za-z0-9_]")


# --- shared -------------------------------------------------------------------------------------------------------


def rack_metric_columns(result) -> list[str]:
    """The columns of the result's ``racks`` table exported per rack: every numeric and boolean column (the
    rack ``name`` travels as the prim name / a string array)."""
    rk = result.tables["racks"]
    return [c for c in rk.columns if rk[c].dtype.kind in "fiub"]


def _units(table: str, columns) -> dict[str, str]:
    from twin import resultschema

    out = {}
    for c in columns:
        try:
            out[c] = str(resultschema.column(table, c).get("unit", "-"))
        except KeyError:
            out[c] = "-"
    return out


def _footprints(model) -> np.ndarray:
    """(n, 6): x0, y0, z0, dx, dy, dz of each rack box [m] (the dashboard's geometry)."""
    from twin.geometry import rack_footprints

    return rack_footprints(model)


def _check_result(model, result) -> pd.DataFrame:
    rk = result.tables.get("racks")
    if rk is None:
        raise ValueError("the result has no racks table (analysis without per-rack results)")
    if len(rk) != len(model.racks):
        raise ValueError(f"the result has {len(rk)} racks, the model {len(model.racks)}")
    return rk


# --- VTK -------------------------------------------------------------------------------------------------------------


def _hexahedra(fp: np.ndarray):
    """Every rack as one VTK hexahedron (points in VTK order: bottom face, then top face)."""
    import pyvista as pv

    corners = np.array(
        [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], dtype=float
    )
    n = len(fp)
    pts = (fp[:, None, :3] + corners[None, :, :] * fp[:, None, 3:]).reshape(-1, 3)
    ids = np.arange(8 * n, dtype=np.int64).reshape(n, 8)
    cells = np.hstack([np.full((n, 1), 8, dtype=np.int64), ids]).ravel()
    return pv.UnstructuredGrid(cells, np.full(n, VTK_HEXAHEDRON, dtype=np.uint8), pts)


def _put(data, df: pd.DataFrame | None, rows: np.ndarray | None = None) -> None:
    """Columns of ``df`` (rows ``rows``, in the mesh's order) into a pyvista data dict: numbers and bools as
    they are, strings as VTK string arrays."""
    if df is None:
        return
    d = df if rows is None else df.iloc[rows]
    for c in d.columns:
        v = d[c].to_numpy()
        if v.dtype.kind in "fiub":
            data[c] = v
        else:
            data[c] = np.asarray(["" if x is None else str(x) for x in v.tolist()], dtype=str)


def _points(x, y, z):
    import pyvista as pv

    pts = np.column_stack([x, y, z]).astype(float)
    mesh = pv.PolyData(pts)
    if len(pts):
        mesh.verts = np.hstack([np.ones((len(pts), 1), dtype=np.int64), np.arange(len(pts))[:, None]]).ravel()
    return mesh


def _lines(a: np.ndarray, b: np.ndarray):
    """Segments a[i] -> b[i] ((m, 3) each) as one PolyData of m line cells."""
    import pyvista as pv

    m = len(a)
    pts = np.empty((2 * m, 3))
    pts[0::2], pts[1::2] = a, b
    lines = np.hstack([np.full((m, 1), 2), np.arange(2 * m).reshape(m, 2)]).ravel()
    return pv.PolyData(pts, lines=lines) if m else pv.PolyData()


def _cdu_block(model, result, fp):
    """CDUs at the start (x-min) of their loop's racks, 1 m apart along y (as the dashboard draws them)."""
    from twin.geometry import unit_positions as _unit_positions

    loops = model.racks["loop"].to_numpy()
    ldf = (
        pd.DataFrame({"loop": loops, "x": fp[:, 0], "y": fp[:, 1]})
        .groupby("loop")
        .agg(x=("x", "min"), y=("y", "min"))
    )
    cdus = model.cdus.reset_index(drop=True)
    order = np.argsort(cdus["loop"].to_numpy(), kind="stable")
    cdus = cdus.iloc[order]
    cnt = cdus.groupby("loop").size().reindex(ldf.index).fillna(0).to_numpy(int)
    cy, cx = _unit_positions(ldf["y"].to_numpy(float), ldf["x"].to_numpy(float) - 2.0, cnt, 1.0)
    mesh = _points(cx, cy, np.full(len(cx), 1.0))
    mesh.point_data["name"] = cdus["name"].to_numpy(dtype=str)
    tab = result.tables.get("cdus")
    if tab is not None and len(tab) == len(model.cdus):
        by = tab.set_index("name").reindex(cdus["name"]).reset_index()
        _put(mesh.point_data, by.drop(columns=["name"]))
    return mesh


def _heat_rejection_block(model, result, fp):
    """Heat-rejection units in a line in the yard beyond each hall's racks (y-max side, at most 3 m apart)."""
    hall = model.racks["hall"].to_numpy()
    nh = len(model.halls)
    x0 = np.full(nh, np.inf)
    x1 = np.full(nh, -np.inf)
    y1 = np.full(nh, -np.inf)
    np.minimum.at(x0, hall, fp[:, 0])
    np.maximum.at(x1, hall, fp[:, 0] + fp[:, 3])
    np.maximum.at(y1, hall, fp[:, 1] + fp[:, 4])
    hr = model.heat_rejection.reset_index(drop=True)
    hr = hr.iloc[np.argsort(hr["hall"].to_numpy(), kind="stable")]
    cnt = np.bincount(hr["hall"].to_numpy(), minlength=nh)
    ok = np.isfinite(x0)
    x0, x1, y1 = np.where(ok, x0, 0.0), np.where(ok, x1, 0.0), np.where(ok, y1 + 6.0, 0.0)
    step = np.minimum(np.maximum(x1 - x0, 10.0) / np.maximum(cnt, 1), 3.0)
    k = np.repeat(np.arange(nh), cnt)
    pos = np.arange(len(k)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    rx, ry = x0[k] + pos * step[k], y1[k]
    mesh = _points(rx, ry, np.full(len(rx), 0.5))
    mesh.point_data["name"] = hr["name"].to_numpy(dtype=str)
    tab = result.tables.get("heat_rejection")
    if tab is not None and len(tab) == len(hr):
        by = tab.set_index("name").reindex(hr["name"]).reset_index()
        _put(mesh.point_data, by.drop(columns=["name"]))
    return mesh


def _busway_block(model, result, fp):
    """One line per busway over the racks it feeds, 0.3 m above their tops."""
    bw = model.racks["busway_node"].to_numpy()
    df = pd.DataFrame(
        {"bw": bw, "x": fp[:, 0] + fp[:, 3] / 2, "y": fp[:, 1] + fp[:, 4] / 2, "z": fp[:, 2] + fp[:, 5] + 0.3}
    )
    g = df.groupby("bw").agg(
        x0=("x", "min"), x1=("x", "max"), y0=("y", "min"), y1=("y", "max"), z=("z", "max")
    )
    mesh = _lines(g[["x0", "y0", "z"]].to_numpy(float), g[["x1", "y1", "z"]].to_numpy(float))
    names = model.elec["name"].to_numpy()[g.index.to_numpy()]
    if len(g):
        mesh.cell_data["name"] = names.astype(str)
        tab = result.tables.get("elec_nodes")
        if tab is not None:
            by = tab.set_index("name").reindex(names).reset_index()
            _put(mesh.cell_data, by.drop(columns=["name"]))
    return mesh


def _hall_block(model, result, fp):
    """Each hall's floor outline (3 m around its racks) as one closed polyline, with its ``halls`` row."""
    import pyvista as pv

    hall = model.racks["hall"].to_numpy()
    nh = len(model.halls)
    lo_x, lo_y = np.full(nh, np.inf), np.full(nh, np.inf)
    hi_x, hi_y = np.full(nh, -np.inf), np.full(nh, -np.inf)
    np.minimum.at(lo_x, hall, fp[:, 0])
    np.minimum.at(lo_y, hall, fp[:, 1])
    np.maximum.at(hi_x, hall, fp[:, 0] + fp[:, 3])
    np.maximum.at(hi_y, hall, fp[:, 1] + fp[:, 4])
    keep = np.flatnonzero(np.isfinite(lo_x))
    x0, y0, x1, y1 = lo_x[keep] - 3, lo_y[keep] - 3, hi_x[keep] + 3, hi_y[keep] + 3
    z = np.zeros_like(x0)
    pts = np.stack([np.stack(c, 1) for c in ((x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z))], 1).reshape(
        -1, 3
    )
    m = len(keep)
    ids = np.arange(4 * m).reshape(m, 4)
    lines = np.hstack([np.full((m, 1), 5), ids, ids[:, :1]]).ravel()
    mesh = pv.PolyData(pts, lines=lines) if m else pv.PolyData()
    if m:
        names = model.halls["name"].to_numpy()[keep]
        mesh.cell_data["name"] = names.astype(str)
        tab = result.tables.get("halls")
        if tab is not None:
            by = tab.set_index("name").reindex(names).reset_index()
            _put(mesh.cell_data, by.drop(columns=["name"]))
    return mesh


def site_multiblock(model, result):
    """The site and its results as a ``pyvista.MultiBlock`` (see the module docstring for the blocks).

    Parameters
    ----------
    model : FacilityModel
        The compiled model (``Scenario.model()``).
    result : RunResult
        Solved on that model (an analysis with a ``racks`` table: coupled, thermal, electrical, maxq ...).

    Returns
    -------
    pyvista.MultiBlock
        Blocks ``racks`` (UnstructuredGrid, one hexahedron per rack, cell data = the ``racks`` table),
        ``cdus``, ``heat_rejection`` (vertices), ``busways``, ``halls`` (lines). Units are in each block's
        field data ``units`` as ``column=unit`` strings.
    """
    import pyvista as pv

    rk = _check_result(model, result)
    fp = _footprints(model)
    racks = _hexahedra(fp)
    racks.cell_data["name"] = rk["name"].to_numpy(dtype=str) if "name" in rk else model.rack_names()
    _put(racks.cell_data, rk[rack_metric_columns(result)])
    racks.field_data["units"] = np.array(
        [f"{c}={u}" for c, u in _units("racks", rack_metric_columns(result)).items()]
    )
    mb = pv.MultiBlock()
    mb["racks"] = racks
    for name, table, build in (
        ("cdus", "cdus", _cdu_block),
        ("heat_rejection", "heat_rejection", _heat_rejection_block),
        ("busways", "elec_nodes", _busway_block),
        ("halls", "halls", _hall_block),
    ):
        block = build(model, result, fp)
        tab = result.tables.get(table)
        if tab is not None and block.n_points:
            block.field_data["units"] = np.array([f"{c}={u}" for c, u in _units(table, tab.columns).items()])
        mb[name] = block
    return mb


def write_vtm(model, result, path: str | Path) -> list[str]:
    """Save :func:`site_multiblock` as ``path`` (``.vtm``) and its block files in the directory next to it
    named like it (VTK's layout). Returns the files written."""
    path = Path(path)
    if path.suffix.lower() != ".vtm":
        raise ValueError(f"{path}: a VTK multiblock file ends in .vtm")
    path.parent.mkdir(parents=True, exist_ok=True)
    site_multiblock(model, result).save(str(path))
    data_dir = path.with_suffix("")
    return [str(path), *sorted(str(p) for p in data_dir.glob("*"))] if data_dir.is_dir() else [str(path)]


# --- OpenUSD -------------------------------------------------------------------------------------------------------


def prim_names(names, prefix: str) -> np.ndarray:
    """Valid, unique USD prim names: ``prefix`` + the name with every character that is not a letter, digit or
    underscore replaced by ``_``; a name that collides after that gets ``_<position>`` appended."""
    s = pd.Series(np.asarray(names, dtype=str))
    clean = prefix + s.str.replace(_IDENT, "_", regex=True)
    dup = clean.duplicated(keep=False).to_numpy()
    if dup.any():
        clean[dup] = clean[dup] + "_" + pd.Series(np.flatnonzero(dup)).astype(str).to_numpy()
    return clean.to_numpy(dtype=object)


def _usd_text(values: np.ndarray) -> np.ndarray:
    """USD text of a column's values: shortest round-trip floats (nan / inf as USD writes them), 0 / 1 for
    bools, integers as they are; as an object array of str."""
    kind = values.dtype.kind
    if kind == "b":
        return np.where(values, "1", "0").astype(object)
    if kind in "iu":
        return values.astype(np.int64).astype(str).astype(object)
    return values.astype(np.float64).astype(str).astype(object)  # numpy: shortest repr that round-trips


def _usd_string(values) -> np.ndarray:
    s = (
        pd.Series(np.asarray(values, dtype=str))
        .str.replace("\\", "\\\\", regex=False)
        .str.replace('"', '\\"', regex=False)
        .str.replace("\n", "\\n", regex=False)
    )
    return ('"' + s + '"').to_numpy(dtype=object)


_USD_TYPE = {"b": "bool", "i": "int64", "u": "int64", "f": "double"}


def _display_colour(model, result, metric: str | None) -> tuple[np.ndarray, str]:
    """(n, 3) RGB in [0, 1] of each rack by ``metric`` (RdYlBu, red = hot / high; reversed for margins)."""
    from matplotlib import colormaps

    n = len(model.racks)
    if not metric:
        return np.full((n, 3), 0.6), ""
    from twin.geometry import rack_metric

    v, _ = rack_metric(model, result, metric)
    fin = np.isfinite(v)
    lo, hi = (float(v[fin].min()), float(v[fin].max())) if fin.any() else (0.0, 1.0)
    t = np.where(fin, (v - lo) / (hi - lo) if hi > lo else 0.5, np.nan)
    cmap = colormaps["RdYlBu" if metric == "margin_k" else "RdYlBu_r"]
    rgb = cmap(np.nan_to_num(t, nan=0.0))[:, :3]
    rgb[~fin] = 0.6
    return rgb, metric


def usd_layer_text(model, result, color: str | None = "junction_c", meta: dict | None = None) -> str:
    """The stage as USD text (``#usda 1.0``): see the module docstring. ``meta``: extra string entries for
    the layer's ``customLayerData`` (layout, scenario id ...)."""
    rk = _check_result(model, result)
    n = len(rk)
    cols = rack_metric_columns(result)
    fp = _footprints(model)
    centre = fp[:, :3] + fp[:, 3:] / 2
    hall = model.racks["hall"].to_numpy()
    hall_prims = prim_names(model.halls["name"].to_numpy(), "")
    hall_prims = np.array([h if re.match(r"[A-Za-z_]", h) else f"Hall_{h}" for h in hall_prims], dtype=object)
    names = rk["name"].to_numpy(dtype=str) if "name" in rk else np.asarray(model.rack_names(), dtype=str)
    hall_names = model.halls["name"].to_numpy(dtype=str)[hall]
    # the prim name: the rack's name within its hall (hall-1/pod-1/row-a/01 -> Rack_pod_1_row_a_01)
    parts = pd.Series(names, dtype=object).str.split("/", n=1)
    in_hall = (parts.str[0].to_numpy(dtype=object) == hall_names) & (parts.str.len().to_numpy() == 2)
    local = np.where(in_hall, parts.str[-1].to_numpy(dtype=object), names)
    prims = prim_names(local, "Rack_")
    rgb, metric = _display_colour(model, result, color)
    # one row of text pieces per rack, joined once: ravel in C order keeps each rack's pieces together
    ind = "        "
    pieces = [
        np.full(n, f'{ind}def Cube "', dtype=object),
        prims,
        np.full(
            n, f'"\n{ind}{{\n{ind}    double size = 1\n{ind}    double3 xformOp:translate = (', dtype=object
        ),
        _usd_text(centre[:, 0]),
        np.full(n, ", ", dtype=object),
        _usd_text(centre[:, 1]),
        np.full(n, ", ", dtype=object),
        _usd_text(centre[:, 2]),
        np.full(n, f")\n{ind}    double3 xformOp:scale = (", dtype=object),
        _usd_text(fp[:, 3]),
        np.full(n, ", ", dtype=object),
        _usd_text(fp[:, 4]),
        np.full(n, ", ", dtype=object),
        _usd_text(fp[:, 5]),
        np.full(
            n,
            f')\n{ind}    uniform token[] xformOpOrder = ["xformOp:translate", "xformOp:scale"]\n'
            f"{ind}    color3f[] primvars:displayColor = [(",
            dtype=object,
        ),
        _usd_text(rgb[:, 0].astype(np.float32).astype(np.float64)),
        np.full(n, ", ", dtype=object),
        _usd_text(rgb[:, 1].astype(np.float32).astype(np.float64)),
        np.full(n, ", ", dtype=object),
        _usd_text(rgb[:, 2].astype(np.float32).astype(np.float64)),
        np.full(n, f")]\n{ind}    string primvars:name = ", dtype=object),
        _usd_string(names),
        np.full(n, "\n", dtype=object),
    ]
    for c in cols:
        v = rk[c].to_numpy()
        pieces.append(np.full(n, f"{ind}    {_USD_TYPE[v.dtype.kind]} primvars:{c} = ", dtype=object))
        pieces.append(_usd_text(v))
        pieces.append(np.full(n, "\n", dtype=object))
    pieces.append(np.full(n, f"{ind}}}\n", dtype=object))
    grid = np.stack(pieces, axis=1)  # (n, pieces)
    order = np.argsort(hall, kind="stable")
    bounds = np.searchsorted(hall[order], np.arange(len(hall_prims) + 1))
    units = _units("racks", cols)
    info = {
        "colour_metric": metric or "none",
        **{_IDENT.sub("_", str(k)): str(v) for k, v in (meta or {}).items()},
    }
    head = [
        "#usda 1.0\n(\n",
        '    defaultPrim = "Site"\n    metersPerUnit = 1\n    upAxis = "Z"\n',
        "    customLayerData = {\n",
        *[f"        string {k} = {_usd_string([v])[0]}\n" for k, v in info.items()],
        "        dictionary units = {\n",
        *[f"            string {k} = {_usd_string([u])[0]}\n" for k, u in units.items()],
        "        }\n    }\n)\n\n",
        'def Xform "Site"\n{\n',
    ]
    body = []
    for h, hp in enumerate(hall_prims):  # a few halls: one block of text each
        body.append(
            f'    def Xform "{hp}" (\n        customData = {{ string name = {_usd_string([model.halls["name"].iat[h]])[0]} }}\n    )\n    {{\n'
        )
        body.append("".join(grid[order[bounds[h] : bounds[h + 1]]].ravel().tolist()))
        body.append("    }\n")
    return "".join(head) + "".join(body) + "}\n"


def write_usd(
    model, result, path: str | Path, color: str | None = "junction_c", meta: dict | None = None
) -> str:
    """Write the site as an OpenUSD stage at ``path`` (``.usda`` text, ``.usd`` / ``.usdc`` binary crate).

    Parameters
    ----------
    model : FacilityModel
        The compiled model.
    result : RunResult
        Solved on it, with a ``racks`` table.
    path : path
        Ends in ``.usd``, ``.usda`` or ``.usdc``.
    color : str, optional
        Rack metric for ``primvars:displayColor`` (a dashboard colour metric; None: grey).
    meta : dict, optional
        Strings for the layer's ``customLayerData`` (layout, scenario id ...).

    Returns
    -------
    str
        The path written.
    """
    path = Path(path)
    if path.suffix.lower() not in USD_SUFFIXES:
        raise ValueError(f"{path}: an OpenUSD file ends in {', '.join(USD_SUFFIXES)}")
    text = usd_layer_text(model, result, color, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.usda")
    try:
        tmp.write_text(text, encoding="utf-8")
        if path.suffix.lower() == ".usda":
            os.replace(tmp, path)  # the text is the file
            return str(path)
        from pxr import Sdf

        # USD's text reader is fast from a file (ImportFromString is several times slower); the crate
        # writer then saves the layer's content in the binary format
        src = Sdf.Layer.OpenAsAnonymous(str(tmp))
        if src is None:
            raise RuntimeError("USD could not parse the stage text")  # a bug here, not the user's input
        dst = Sdf.Layer.Find(str(path)) or Sdf.Layer.CreateNew(str(path), args={"format": "usdc"})
        dst.TransferContent(src)
        if not dst.Save(force=True):
            raise OSError(f"{path}: USD could not write the file")
    finally:
        tmp.unlink(missing_ok=True)
    return str(path)
