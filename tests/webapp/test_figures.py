"""The pure functions that turn a compiled model and a RunResult into figures."""

from __future__ import annotations

import numpy as np
import pytest

from webapp import figures as F

POD = "layouts/pod_small.yaml"


@pytest.fixture(scope="module")
def pod():
    from twin import Scenario, run

    s = Scenario(layout=POD)
    return s.model(), run(s)


def test_rack_boxes_are_one_vectorised_mesh(pod):
    model, _ = pod
    n = len(model.racks)
    mesh = F.rack_boxes(model)
    assert mesh.points.shape == (8 * n, 3) and mesh.faces.shape == (10 * n, 3)
    assert mesh.faces.max() == 8 * n - 1
    fp = F.rack_footprints(model)
    rt = model.rack_types.iloc[0]
    # pod_small's rows run along x: width along the row, depth across, height up
    np.testing.assert_allclose(fp[:, 3:], np.tile([rt.width_m, rt.depth_m, rt.height_m], (n, 1)))
    np.testing.assert_allclose(mesh.points[::8, :2], model.racks[["x_m", "y_m"]].to_numpy(), atol=1e-6)
    poly = mesh.to_pyvista()
    assert poly.n_cells == 10 * n and poly.n_points == 8 * n


def test_colours_follow_the_result_column(pod):
    model, res = pod
    racks = np.arange(len(model.racks))
    col = F.colour_patch(model, res, "rack_power_w", racks)
    np.testing.assert_allclose(col["intensity"][::8], res.tables["racks"]["rack_power_w"], rtol=1e-6)
    assert col["title"].endswith("[W]")
    assert col["cmin"] <= col["intensity"].min() and col["cmax"] >= col["intensity"].max()
    bw, label = F.rack_metric(model, res, "busway_loading_pct")
    assert label.endswith("[%]") and np.all(np.isfinite(bw))


def test_sankey_balances_at_each_node(pod):
    model, res = pod
    s = F.sankey_links(model, res)
    src, tgt, val = map(np.asarray, (s["source"], s["target"], s["value"]))
    assert s["labels"][:2] == ["grid", "substation"]
    assert val[(src == 0)].sum() == pytest.approx(res.kpis["facility_power_mw"], rel=1e-6)
    for node in range(1, len(s["labels"])):
        if (src == node).any():  # what flows in flows out (losses are a sink)
            assert val[tgt == node].sum() == pytest.approx(val[src == node].sum(), rel=1e-6)
    assert val.min() > 0


def test_failed_cdu_marks_its_loop(pod):
    model, res = pod
    cdu = model.cdus["name"].iat[0]
    idx, why = F.rack_marks(model, res, failures=(cdu,))
    loop = model.cdus["loop"].iat[0]
    assert set(idx) == set(np.flatnonzero(model.racks["loop"].to_numpy() == loop))
    assert all(cdu in w for w in why)


def test_facility_figure_traces_and_views(pod):
    model, res = pod
    fig = F.facility_figure(model, res, "junction_c", "pod:0")
    assert fig.data[F.RACK_TRACE].type == "mesh3d"
    assert len(fig.data[F.HOVER_TRACE].x) == len(model.racks)
    assert [o["value"] for o in F.view_options(model)][:2] == ["site", "hall:0"]
    items = {it["key"]: it for it in F.kpi_items(model, res)}
    assert items["pue"]["value"] == res.kpis["pue"]
    assert items["revenue_usd_per_h"]["value"] > 0


def test_compare_rows(pod):
    _, res = pod
    rows = F.compare_rows(res, res)
    assert rows and all(r["delta"] == 0 for r in rows)
