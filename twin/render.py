"""Off-screen pyvista pictures of the facility: racks as boxes coloured by a per-rack value, as PNG bytes.

Pure functions of the compiled model and per-rack values (no solve here): :func:`render_png` colours by a rack
metric of a :class:`~twin.result.RunResult` (names and units from ``twin/results_schema.yaml``), and
:func:`render_values_png` by any array with one value per rack (e.g. the grid year's GPU caps at a
representative hour). The geometry is the dashboard's (``twin.geometry.rack_boxes``: one numpy-built triangle
mesh, 8 points and 10 triangles a rack, no per-rack objects), so the picture matches the 3D view. Rendering runs
without an X server (VTK's EGL / OSMesa off-screen window); when VTK cannot open one, :class:`RenderError`
says why, so that a caller can fall back to a 2D picture.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_SIZE",
    "RenderError",
    "preload",
    "rack_mesh",
    "rendered",
    "render_png",
    "render_values_png",
    "short_label",
]

DEFAULT_SIZE = (1600, 1000)
_REVERSED = {"margin_k"}  # low is bad: red at the low end


class RenderError(RuntimeError):
    """pyvista / VTK could not render off-screen (no EGL / OSMesa / X display, or a VTK error)."""


_PRELOAD: list = []
_RENDERED: list = []  # set once this process has opened an off-screen OpenGL context (see rendered())


def rendered() -> bool:
    """True once this process has rendered: the OpenGL driver (e.g. Mesa llvmpipe) then runs threads of its own,
    and a child forked from this process inherits their locks but not the threads; fork-started workers should
    be spawned instead (:func:`twin.study.mapping.cluster` does)."""
    return bool(_RENDERED)


def _import_plotting() -> None:
    try:
        import matplotlib.colors  # noqa: F401
        import pyvista.plotting  # noqa: F401
        from PIL import Image  # noqa: F401
    except Exception:  # noqa: BLE001 (the render itself reports what is missing)
        pass


def preload() -> None:
    """Import pyvista's plotting, VTK and matplotlib (about 1.5 s) in a background thread, once per process.

    For a caller that will render later and is waiting on other processes now (the grid year while its
    workers solve). Call it only after this process has forked the workers it needs: a fork while the
    thread holds an import lock would leave the child stuck on it."""
    if _PRELOAD:
        return
    import threading

    t = threading.Thread(target=_import_plotting, name="twin-render-preload", daemon=True)
    _PRELOAD.append(t)
    t.start()


def short_label(table: str, column: str) -> str:
    """``column [unit]`` from the result schema: a colour-bar title short enough for a picture."""
    from twin import resultschema

    try:
        unit = resultschema.column(table, column).get("unit", "-")
    except KeyError:
        unit = "-"
    return column if unit in ("-", "", None) else f"{column} [{unit}]"


def rack_mesh(model, values: np.ndarray, name: str = "value"):
    """Every rack as a box in one ``pyvista.PolyData``, with ``values`` (one per rack) as cell data ``name``.

    Parameters
    ----------
    model : FacilityModel
        The compiled model (``Scenario.model()``): rack positions ``x_m, y_m`` [m] and rack-type sizes.
    values : array of float, shape (n_racks,)
        One value per rack, in ``model.racks`` order (NaN: no value).
    name : str
        Name of the cell-data array.

    Returns
    -------
    pyvista.PolyData
        10 triangles a rack, rack ``k``'s cells at ``10 k .. 10 k + 9``; also ``rack_index`` cell data.
    """
    from twin.geometry import rack_boxes

    values = np.asarray(values, dtype=float)
    n = len(model.racks)
    if values.shape != (n,):
        raise ValueError(f"{name}: {values.shape[0] if values.ndim else 0} values for {n} racks")
    boxes = rack_boxes(model)
    mesh = boxes.to_pyvista()
    per = len(boxes.faces) // max(n, 1)
    mesh.cell_data[name] = np.repeat(values, per)
    mesh.cell_data["rack_index"] = np.repeat(np.arange(n, dtype=np.int64), per)
    return mesh


def _hall_outlines(model):
    """The rectangle around each hall's racks (3 m margin) as line cells, on the floor."""
    import pyvista as pv

    from twin.geometry import rack_footprints

    fp = rack_footprints(model)
    hall = model.racks["hall"].to_numpy()
    nh = int(hall.max()) + 1 if len(hall) else 0
    x0 = np.full(nh, np.inf)
    y0 = np.full(nh, np.inf)
    x1 = np.full(nh, -np.inf)
    y1 = np.full(nh, -np.inf)
    np.minimum.at(x0, hall, fp[:, 0])
    np.minimum.at(y0, hall, fp[:, 1])
    np.maximum.at(x1, hall, fp[:, 0] + fp[:, 3])
    np.maximum.at(y1, hall, fp[:, 1] + fp[:, 4])
    keep = np.isfinite(x0)
    x0, y0, x1, y1 = x0[keep] - 3, y0[keep] - 3, x1[keep] + 3, y1[keep] + 3
    corners = np.stack(
        [np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x1, y1], 1), np.stack([x0, y1], 1)], 1
    )  # (h, 4, 2)
    pts = np.concatenate([corners, np.zeros((*corners.shape[:2], 1))], axis=2).reshape(-1, 3)
    base = np.arange(len(x0))[:, None] * 4
    seg = np.array([[0, 1], [1, 2], [2, 3], [3, 0]])
    lines = (base[:, None, :] + seg[None, :, :]).reshape(-1, 2)
    cells = np.hstack([np.full((len(lines), 1), 2), lines]).ravel()
    return pv.PolyData(pts, lines=cells)


def render_values_png(
    model,
    values: np.ndarray,
    title: str,
    path: str | Path | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    reverse: bool = False,
    clim: tuple[float, float] | None = None,
) -> bytes:
    """An off-screen isometric picture of the racks coloured by ``values``; PNG bytes (also written to ``path``).

    Parameters
    ----------
    model : FacilityModel
        The compiled model.
    values : array of float, shape (n_racks,)
        One value per rack (NaN drawn grey).
    title : str
        Colour-bar title (with the unit).
    path : path, optional
        Where to write the PNG (parent directories created).
    size : (int, int)
        Width and height, pixels.
    reverse : bool
        Red at the low end (for margins: low is bad).
    clim : (float, float), optional
        Colour range (default: the finite values' range, widened when flat).

    Raises
    ------
    RenderError
        VTK could not render off-screen.
    """
    w, h = int(size[0]), int(size[1])
    if w < 16 or h < 16 or w > 8192 or h > 8192:
        raise ValueError(f"image size {w}x{h} pixels: each side must be 16 to 8192")
    values = np.asarray(values, dtype=float)
    if clim is None:
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        if hi - lo < 1e-4 * max(1.0, abs(hi)):  # a flat field: one colour, not amplified noise
            lo, hi = lo - 0.5, hi + 0.5
        clim = (lo, hi)
    for t in _PRELOAD:
        t.join()  # a background import still running (see preload)
    try:
        import pyvista as pv
        from vtkmodules.vtkCommonCore import vtkLogger

        vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_ERROR)  # X probe warnings before EGL/OSMesa
        mesh = rack_mesh(model, values, "value")
        _RENDERED.append(True)
        pl = pv.Plotter(off_screen=True, window_size=(w, h))
        try:
            pl.set_background("white")
            pl.add_mesh(
                mesh,
                scalars="value",
                cmap="RdYlBu" if reverse else "RdYlBu_r",
                clim=clim,
                nan_color="lightgrey",
                show_edges=False,
                scalar_bar_args={
                    "title": title,
                    "color": "black",
                    "vertical": False,
                    "position_x": 0.25,
                    "position_y": 0.03,
                    "width": 0.5,
                    "height": 0.06,
                    "fmt": "%.4g",
                    "title_font_size": 18,
                    "label_font_size": 14,
                },
            )
            if len(model.racks):
                pl.add_mesh(_hall_outlines(model), color="#606060", line_width=2)
            pl.camera_position = "iso"
            pl.camera.zoom(1.35)
            img = pl.screenshot(return_img=True)
        finally:
            pl.close()
    except (ImportError, RuntimeError, OSError) as exc:
        raise RenderError(f"pyvista could not render off-screen: {type(exc).__name__}: {exc}") from exc
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(img)).save(buf, format="PNG", optimize=True)
    data = buf.getvalue()
    if path is not None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return data


def render_png(
    model,
    result,
    metric: str = "junction_c",
    path: str | Path | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
) -> bytes:
    """An off-screen picture of the facility, racks coloured by a rack metric of ``result``; PNG bytes.

    Parameters
    ----------
    model : FacilityModel
        The compiled model the result was solved on.
    result : RunResult
        From :func:`twin.run`.
    metric : str
        A colour metric (``twin.geometry.COLOUR_METRICS``: ``junction_c``, ``margin_k``,
        ``gpu_cap_w``, ``rack_power_w``, ``busway_loading_pct``, ...).
    path, size
        As :func:`render_values_png`.

    Raises
    ------
    KeyError
        Unknown metric.
    RenderError
        VTK could not render off-screen.
    """
    from twin.geometry import COLOUR_METRICS, rack_metric

    values, _ = rack_metric(model, result, metric)
    table, column = COLOUR_METRICS[metric]
    return render_values_png(
        model, values, short_label(table, column), path=path, size=size, reverse=metric in _REVERSED
    )
