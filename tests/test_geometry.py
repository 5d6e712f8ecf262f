"""Site geometry (twin.geometry): rack boxes from the layout positions and catalog sizes, per-rack metrics."""

from __future__ import annotations

import numpy as np
import pytest

from twin import Scenario, run
from twin import geometry as G

POD = "layouts/pod_small.yaml"


@pytest.fixture(scope="module")
def pod():
    s = Scenario(layout=POD)
    return s.model(), run(s)


def test_rack_boxes_are_one_vectorised_mesh(pod):
    model, _ = pod
    n = len(model.racks)
    mesh = G.rack_boxes(model)
    assert mesh.points.shape == (8 * n, 3) and mesh.faces.shape == (10 * n, 3)
    assert mesh.faces.max() == 8 * n - 1
    fp = G.rack_footprints(model)
    rt = model.rack_types.iloc[0]
    # pod_small's rows run along x: width along the row, depth across, height up
    np.testing.assert_allclose(fp[:, 3:], np.tile([rt.width_m, rt.depth_m, rt.height_m], (n, 1)))
    np.testing.assert_allclose(mesh.points[::8, :2], model.racks[["x_m", "y_m"]].to_numpy(), atol=1e-6)
    # each box spans its footprint exactly: min corner at (x, y, 0), max corner at (x + dx, y + dy, h)
    pts = mesh.points.reshape(n, 8, 3)
    np.testing.assert_allclose(pts.min(axis=1), fp[:, :3], atol=1e-5)
    np.testing.assert_allclose(pts.max(axis=1) - pts.min(axis=1), fp[:, 3:], atol=1e-5)
    poly = mesh.to_pyvista()
    assert poly.n_cells == 10 * n and poly.n_points == 8 * n
    sub = G.rack_boxes(model, np.array([3, 1]))
    np.testing.assert_allclose(sub.points, mesh.points.reshape(n, 8, 3)[[3, 1]].reshape(-1, 3))


def test_rack_metric_reads_the_result_tables(pod):
    model, res = pod
    v, label = G.rack_metric(model, res, "junction_c")
    np.testing.assert_array_equal(v, res.tables["racks"]["junction_c"].to_numpy(float))
    assert label.endswith("[C]")
    # a CDU metric: the most loaded CDU of each rack's loop
    cdu, _ = G.rack_metric(model, res, "cdu_load_fraction")
    cdus = res.tables["cdus"]
    worst = cdus.groupby("loop")["load_fraction"].max()
    np.testing.assert_allclose(cdu, worst.reindex(model.racks["loop"].to_numpy()).to_numpy(float))
    with pytest.raises(KeyError, match="unknown colour metric"):
        G.rack_metric(model, res, "nope")


def test_unit_positions_lay_units_in_a_line():
    x, y = G.unit_positions(np.array([0.0, 10.0]), np.array([1.0, 2.0]), np.array([3, 2]), 1.5)
    np.testing.assert_allclose(x, [0.0, 1.5, 3.0, 10.0, 11.5])
    np.testing.assert_allclose(y, [1.0, 1.0, 1.0, 2.0, 2.0])
