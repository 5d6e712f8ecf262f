"""The pure functions that turn a compiled model and a RunResult into figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from webapp import figures as F

POD = "layouts/pod_small.yaml"


@pytest.fixture(scope="module")
def pod():
    from twin import Scenario, run

    s = Scenario(layout=POD)
    return s.model(), run(s)


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
    # a coupled (Max-P) run on priced tiers reports its revenue: the tile is the run's KPI, computed nowhere else
    assert items["revenue_usd_per_h"]["value"] == res.kpis["revenue_usd_per_h"] > 0
    assert [r["tier"] for r in F.tier_rows(res)] == list(res.tables["tiers"]["tier"])


def test_revenue_tile_without_prices_says_why(pod):
    """A layout whose tiers have no prices: no revenue KPI, the tile shows "-" and says why."""
    model, res = pod
    kpis = {k: v for k, v in res.kpis.items() if k != "revenue_usd_per_h"}
    bare = type(res)(res.scenario, res.status, res.reason, {"racks": res.tables["racks"]}, kpis, [])
    items = {it["key"]: it for it in F.kpi_items(model, bare)}
    assert items["revenue_usd_per_h"]["value"] is None and items["revenue_usd_per_h"]["text"] == "-"
    assert "have prices" in items["revenue_usd_per_h"]["description"]
    assert F.tier_rows(bare) == []


@pytest.fixture(scope="module")
def pod_priced():
    """pod_small under a grid budget: a capping run, so it reports revenue and a tiers table."""
    from twin import Scenario, run

    s = Scenario(layout=POD, budget_mw=3.5, maxq={"objective": "revenue"})
    return s.model(), run(s)


def test_revenue_tile_is_the_runs_kpi(pod_priced):
    model, res = pod_priced
    items = {it["key"]: it for it in F.kpi_items(model, res)}
    assert items["revenue_usd_per_h"]["value"] == res.kpis["revenue_usd_per_h"] > 0
    assert items["revenue_usd_per_h"]["text"] == f"{res.kpis['revenue_usd_per_h']:,.1f}"
    assert "revenue_usd_per_h" in {r["kpi"] for r in F.compare_rows(res, res)}  # compare A/B shows it too


def test_tier_rows_are_the_runs_tiers_table():
    from twin import RunResult, Scenario

    tiers = pd.DataFrame({
        "tier": ["free", "t6", "train"], "kind": ["inference", "inference", "training"],
        "interactivity_tok_s_per_user": [10.0, 50.0, np.nan], "price_usd_per_mtok": [0.0, 6.0, np.nan],
        "tokens_per_s": [2e6, 1e6, 0.0], "revenue_usd_per_h": [0.0, 21_600.0, 5_400.0],
    })  # fmt: skip
    s = Scenario(layout=POD, budget_mw=3.0, maxq={"objective": "revenue"})
    kpis = {
        "revenue_usd_per_h": 27_000.0,
        "revenue_usd_per_mwh": 9_000.0,
        "shadow_price_grid_usd_per_mwh": 1234.5,
    }
    res = RunResult(s, "ok", "", {"tiers": tiers}, kpis, [])
    rows = F.tier_rows(res)
    assert [r["tier"] for r in rows] == ["free", "t6", "train"]
    assert [r["tokens_per_s"] for r in rows] == [2e6, 1e6, 0.0]
    assert [r["revenue_usd_per_h"] for r in rows] == [0.0, 21_600.0, 5_400.0]
    assert [r["bar_pct"] for r in rows] == pytest.approx([0.0, 100.0, 25.0])
    assert rows[1]["text"]["revenue_usd_per_h"] == "21,600" and rows[1]["text"]["tokens_per_s"] == "1,000,000"
    assert (
        rows[0]["text"]["price_usd_per_mtok"] == "0"
        and rows[0]["text"]["interactivity_tok_s_per_user"] == "10"
    )
    assert rows[2]["text"]["price_usd_per_mtok"] == "-"  # NaN: training is priced per GPU-hour
    cap = F.tier_caption(res)
    assert "objective revenue" in cap and "27,000.0 $/h" in cap and "1,234.5 $/h per MW more" in cap
    # objective tokens: the grid's shadow price is NaN and not shown
    res_t = RunResult(Scenario(layout=POD, budget_mw=3.0), "ok", "", {"tiers": tiers},
                      {**kpis, "shadow_price_grid_usd_per_mwh": float("nan")}, [])  # fmt: skip
    assert "objective tokens" in F.tier_caption(res_t) and "per MW more" not in F.tier_caption(res_t)
    # no revenue anywhere: bars of width 0, no division by zero
    zero = RunResult(s, "ok", "", {"tiers": tiers.assign(revenue_usd_per_h=0.0)}, kpis, [])
    assert [r["bar_pct"] for r in F.tier_rows(zero)] == [0.0, 0.0, 0.0]


def test_tier_rows_of_the_mixed_campus_under_a_budget():
    """campus_mixed.yaml (Vera Rubin + Groq LPX): every keynote tier is a row, in the run's order and values."""
    from twin import Scenario, run

    res = run(Scenario(layout="layouts/campus_mixed.yaml", budget_mw=1000, maxq={"objective": "revenue"}))
    rows = F.tier_rows(res)
    assert (
        [r["tier"] for r in rows] == list(res.tables["tiers"]["tier"]) == ["free", "t3", "t6", "t45", "t150"]
    )
    np.testing.assert_array_equal(
        [r["revenue_usd_per_h"] for r in rows], res.tables["tiers"]["revenue_usd_per_h"]
    )
    assert max(r["bar_pct"] for r in rows) == 100.0


def test_compare_rows(pod):
    _, res = pod
    rows = F.compare_rows(res, res)
    assert rows and all(r["delta"] == 0 for r in rows)


@pytest.fixture(scope="module")
def campus_model():
    from twin import Scenario

    return Scenario(layout="layouts/campus_1gw.yaml").model()


def test_row_strips_keep_each_rack_and_its_colour(campus_model):
    model = campus_model
    n = len(model.racks)
    rows = model.racks["row"].nunique()
    strips = F.row_strips(model)
    assert strips.mode == "rows"
    assert len(strips.faces) == F.ROW_FACES_PER_RACK * n + 4 * rows  # 6 a rack + two end caps a row
    assert len(strips.points) == 4 * n + 2 * (
        n + rows
    )  # 4 own top corners a rack, 2 a boundary (n + 1 a row)
    assert strips.faces.max() == len(strips.points) - 1 and strips.faces.dtype == np.uint16
    # every triangle lies within the footprint of the rack it is coloured as
    fp = F.rack_footprints(model)
    tri = strips.points[strips.faces.astype(int)]  # (faces, 3, 3)
    lo = tri.min(axis=1)
    hi = tri.max(axis=1)
    own = fp[strips.racks[strips.face_rack]]
    tol = 1e-3
    body = np.arange(F.ROW_FACES_PER_RACK * n)  # the end caps span the row's depth at its ends
    assert np.all(lo[body, 0] >= own[body, 0] - tol) and np.all(
        hi[body, 0] <= own[body, 0] + own[body, 3] + tol
    )
    assert np.all(lo[body, 1] >= own[body, 1] - tol) and np.all(
        hi[body, 1] <= own[body, 1] + own[body, 4] + tol
    )
    assert np.all(hi[:, 2] <= (fp[:, 2] + fp[:, 5]).max() + tol)
    # each rack owns exactly its 6 faces; every vertex maps to a rack of its row
    assert np.array_equal(np.bincount(strips.face_rack[body], minlength=n), np.full(n, 6))
    vr = strips.racks[strips.vert_rack]
    assert len(vr) == len(strips.points)
    row = model.racks["row"].to_numpy()
    assert np.array_equal(row[vr[strips.faces[:, 0].astype(int)]], row[strips.racks[strips.face_rack]])
    # a top face's corners are its rack's own: a hover or click on a top names the rack
    tops = np.concatenate([np.arange(0, 6 * n, 6), np.arange(1, 6 * n, 6)])
    own = strips.vert_rack[strips.faces[tops].astype(int)]
    assert np.all(own == strips.face_rack[tops][:, None])
    assert np.allclose(tri[tops, :, 2], (fp[:, 2] + fp[:, 5])[strips.racks[strips.face_rack[tops]]][:, None])


def test_view_colours_are_per_face_for_strips(pod, campus_model):
    from twin import Scenario, run

    model, res = pod
    boxes = F.view_mesh(model, np.arange(len(model.racks)))
    col = F.view_colours(model, res, "rack_power_w", boxes)
    assert boxes.mode == "boxes" and col["intensitymode"] == "vertex"
    assert len(col["intensity"]) == F.VERTS_PER_RACK * len(model.racks)
    strips = F.row_strips(model)
    cs = F.view_colours(model, res, "rack_power_w", strips)
    assert cs["intensitymode"] == "cell" and len(cs["intensity"]) == len(strips.faces)
    rp = res.tables["racks"]["rack_power_w"].to_numpy(float)
    np.testing.assert_allclose(cs["intensity"], rp[strips.racks[strips.face_rack]], rtol=1e-6)
    big = F.view_mesh(campus_model, np.arange(len(campus_model.racks)))
    assert big.mode == "rows" and len(campus_model.racks) > F.ROW_LOD_RACKS
    # the campus figure leaves the switch racks to the hall and pod views
    s = Scenario(layout="layouts/campus_1gw.yaml")
    fig = F.facility_figure(campus_model, run(s), "junction_c", "site")
    assert len(fig.data[F.SWITCH_TRACE].x) == 0 and fig.data[F.RACK_TRACE].intensitymode == "cell"
    rt = fig.data[F.RACK_TRACE]  # the strips carry the racks' hover: name and value per vertex
    assert len(fig.data[F.HOVER_TRACE].x) == 0 and rt.hoverinfo != "skip"
    assert len(rt.text) == len(rt.x) == len(rt.customdata) and "%{text}" in rt.hovertemplate
    hall = F.facility_figure(campus_model, run(s), "junction_c", "hall:0")
    assert hall.data[F.RACK_TRACE].intensitymode == "vertex" and len(hall.data[F.SWITCH_TRACE].x) > 0


def test_rack_difference_on_a_diverging_scale(pod):
    from twin import Scenario, run

    model, a = pod
    b = run(Scenario(layout=POD, budget_mw=3.5))
    diff, label = F.rack_difference(model, a, b, "gpu_power_w")
    expect = b.tables["racks"]["gpu_power_w"].to_numpy(float) - a.tables["racks"]["gpu_power_w"].to_numpy(
        float
    )
    np.testing.assert_allclose(diff, expect)
    assert label.startswith("B - A: ") and label.endswith("[W]")
    assert (diff < 0).any()  # the budget took GPU power away
    mesh = F.view_mesh(model, np.arange(len(model.racks)))
    col = F.view_colours(model, b, "gpu_power_w", mesh, values=diff, label=label, diverging=True)
    assert col["cmin"] == -col["cmax"] and col["cmax"] >= np.abs(diff).max()
    np.testing.assert_allclose(col["intensity"][:: F.VERTS_PER_RACK], diff, rtol=1e-6)
    assert col["colorscale"][0][1] != col["colorscale"][-1][1]
    note = F.difference_note(diff, label)
    assert f"{np.count_nonzero(diff):,} of {len(diff):,} racks differ" in note


def test_clicks_map_to_racks_and_cdus(pod):
    model, _ = pod
    mesh = F.view_mesh(model, np.arange(len(model.racks)))
    assert F.clicked_rack(model, mesh, F.RACK_TRACE, {"pointNumber": 8 * 5 + 3}) == 5
    assert F.clicked_rack(model, mesh, F.HOVER_TRACE, {"pointNumber": 7}) == 7
    assert F.clicked_rack(model, mesh, F.MARK_TRACE, {"customdata": 2}) == 2
    assert F.clicked_rack(model, mesh, F.CDU_TRACE, {"pointNumber": 0}) is None
    loop = int(model.racks["loop"].iat[0])
    cdus = list(model.cdus.loc[model.cdus["loop"] == loop, "name"])
    assert F.cdu_to_fail(model, 0, []) == cdus[0]
    assert F.cdu_to_fail(model, 0, cdus[:1]) == cdus[1]
    assert F.cdu_to_fail(model, 0, cdus) is None


def test_transient_figure_marks_throttle_and_shutdown():
    from twin import Scenario, run
    from twin.scenario import TransientOptions

    res = run(
        Scenario(
            layout=POD, analysis="transient", transient=TransientOptions(kind="pump-trip", duration_s=120)
        )
    )
    k = res.kpis
    marks = dict(F.transient_marks(k))
    assert marks["event"] == k["t_event_s"]
    assert marks["throttle"] == pytest.approx(k["t_event_s"] + k["ride_through_s"])
    assert marks["shutdown"] == pytest.approx(k["t_event_s"] + k["time_to_shutdown_s"])
    fig = F.transient_figure(res)
    xs = [sh.x0 for sh in fig.layout.shapes]
    assert len(xs) == 3 * len(marks)  # each mark on each of the three panels
    assert sorted(set(xs)) == pytest.approx(sorted(marks.values()))
    junction = next(t for t in fig.data if t.name == "hottest GPU junction")
    np.testing.assert_allclose(junction.y, res.tables["series"]["max_junction_c"].to_numpy(float))
    assert {t.yaxis for t in fig.data} == {"y", "y2", "y3"}  # junction, coolant, flow panels
    assert "ride_through_s" in F.transient_summary(res)


def test_typed_array_round_trip():
    import base64

    a = np.array([1.5, -2.0, np.nan], dtype=np.float32)
    spec = F.typed_array(a)
    assert spec["dtype"] == "f4"
    back = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=np.float32)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(a))
    np.testing.assert_array_equal(back[:2], a[:2])
    assert F.typed_array(np.arange(3))["dtype"] == "f4"  # int64 is not a plotly.js typed array: float32
