"""``twin.export`` / ``twin export``: the OpenUSD stage and the VTK multiblock re-read hold the result's rack values;
bad input exits 2. Also ``twin.render`` (the off-screen picture the grid report and ``twin render`` use)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from twin import Scenario, run
from twin.cli import app

POD = "layouts/pod_small.yaml"
CAMPUS = "layouts/campus_1gw.yaml"


@pytest.fixture(scope="module")
def pod():
    """pod_small with one of its three CDUs failed (so the racks differ from each other) at 38 C."""
    s = Scenario(layout=POD, ambient_c=38.0, failures=("hall-1/pod-1/tcs-1/cdu-1",))
    return s, s.model(), run(s)


@pytest.fixture(scope="module")
def capped():
    """pod_small under a 3.3 MW Max-Q budget (a result with another set of rack columns)."""
    s = Scenario(layout=POD, budget_mw=3.3)
    return s, s.model(), run(s)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return np.array_equal(a.astype(float), b.astype(float), equal_nan=True)
    return np.array_equal(a, b)


def _usd_racks(path):
    """Every Cube prim of the stage: path, primvars {name: value}, translate, scale (read with pxr)."""
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.Open(str(path))
    assert stage, path
    out = []
    for prim in stage.Traverse():
        if prim.GetTypeName() != "Cube":
            continue
        pv = {p.GetPrimvarName(): p.Get() for p in UsdGeom.PrimvarsAPI(prim).GetPrimvars() if p.HasValue()}
        x = UsdGeom.Xformable(prim)
        ops = {op.GetOpName(): op.Get() for op in x.GetOrderedXformOps()}
        out.append((str(prim.GetPath()), pv, ops["xformOp:translate"], ops["xformOp:scale"]))
    return stage, out


@pytest.mark.parametrize("suffix", [".usd", ".usda"])
@pytest.mark.parametrize("case", ["pod", "capped"])
def test_usd_has_one_prim_per_rack_with_the_results_as_primvars(case, suffix, tmp_path, request):
    from twin.export import rack_metric_columns, write_usd
    from webapp.figures import rack_footprints

    s, model, res = request.getfixturevalue(case)
    path = tmp_path / f"site{suffix}"
    write_usd(model, res, path, meta={"scenario_id": s.id})
    stage, prims = _usd_racks(path)
    rk = res.tables["racks"]
    assert len(prims) == len(rk) == model.n_racks  # exactly one prim per rack
    by_name = {pv["name"]: (p, pv, t, sc) for p, pv, t, sc in prims}
    assert set(by_name) == set(rk["name"])
    order = [by_name[n] for n in rk["name"]]
    assert all(p.startswith("/Site/hall_1/Rack_") for p, *_ in order)
    cols = rack_metric_columns(res)
    assert {"junction_c", "gpu_cap_w", "rack_power_w", "margin_k", "throttled"} <= set(cols)
    for c in cols:
        got = np.array([pv[c] for _, pv, _, _ in order])
        assert _same(got, rk[c].to_numpy()), c  # bit for bit (bools, ints and doubles)
    fp = rack_footprints(model)
    assert np.allclose([t for *_, t, _ in order], fp[:, :3] + fp[:, 3:] / 2)
    assert np.allclose([sc for *_, sc in order], fp[:, 3:])
    data = stage.GetRootLayer().customLayerData
    assert data["units"]["junction_c"] == "C" and data["units"]["gpu_cap_w"] == "W"
    assert data["scenario_id"] == s.id and data["colour_metric"] == "junction_c"
    assert stage.GetDefaultPrim().GetName() == "Site"
    from pxr import UsdGeom

    assert UsdGeom.GetStageUpAxis(stage) == "Z" and UsdGeom.GetStageMetersPerUnit(stage) == 1.0


def test_usd_of_the_campus_groups_racks_by_hall(tmp_path):
    """5,204 racks in 11 halls: one prim each under its hall, values of every rack equal to the table's."""
    from pxr import Usd, UsdGeom

    from twin.export import write_usd

    s = Scenario(layout=CAMPUS)
    model, res = s.model(), run(s)
    path = tmp_path / "campus.usd"
    write_usd(model, res, path)
    stage = Usd.Stage.Open(str(path))
    site = stage.GetPrimAtPath("/Site")
    halls = list(site.GetChildren())
    assert len(halls) == len(model.halls) == 11
    racks = [p for h in halls for p in h.GetChildren()]
    assert len(racks) == model.n_racks == 5204 and all(p.GetTypeName() == "Cube" for p in racks)
    name = np.array([UsdGeom.PrimvarsAPI(p).GetPrimvar("name").Get() for p in racks])
    tj = np.array([UsdGeom.PrimvarsAPI(p).GetPrimvar("junction_c").Get() for p in racks])
    rk = res.tables["racks"].set_index("name")
    assert _same(tj, rk.loc[name, "junction_c"].to_numpy())
    hall_of = np.array([h.GetCustomDataByKey("name") for h in halls for _ in h.GetChildren()])
    assert (
        hall_of == model.halls["name"].to_numpy()[model.racks["hall"].to_numpy()][rk.index.get_indexer(name)]
    ).all()


def test_vtk_multiblock_rereads_with_the_rack_results_as_cell_data(pod, tmp_path):
    import pyvista as pv

    from twin.export import rack_metric_columns, write_vtm

    _, model, res = pod
    files = write_vtm(model, res, tmp_path / "site.vtm")
    assert files[0].endswith("site.vtm") and len(files) == 6
    mb = pv.read(tmp_path / "site.vtm")
    assert list(mb.keys()) == ["racks", "cdus", "heat_rejection", "busways", "halls"]
    racks = mb["racks"]
    rk = res.tables["racks"]
    assert racks.n_cells == len(rk) == 16 and racks.n_points == 8 * 16
    assert set(racks.celltypes) == {pv.CellType.HEXAHEDRON}
    assert list(racks.cell_data["name"]) == list(rk["name"])
    for c in rack_metric_columns(res):
        assert _same(racks.cell_data[c], rk[c].to_numpy()), c
    # each hexahedron encloses its rack: volume = width x depth x height of its rack type
    vol = racks.compute_cell_sizes(length=False, area=False)["Volume"]
    rt = model.rack_types.iloc[model.racks["rack_type"].to_numpy()]
    assert np.allclose(vol, rt["width_m"] * rt["depth_m"] * rt["height_m"])
    cdus = mb["cdus"]
    tab = res.tables["cdus"].set_index("name")
    assert cdus.n_points == len(tab) == 3
    names = list(cdus.point_data["name"])
    assert _same(cdus.point_data["load_fraction"], tab.loc[names, "load_fraction"].to_numpy())
    assert not cdus.point_data["exchanger_running"][names.index("hall-1/pod-1/tcs-1/cdu-1")]  # the failed one
    bw = mb["busways"]
    nodes = res.tables["elec_nodes"].set_index("name")
    assert bw.n_cells == 2 and _same(
        bw.cell_data["loading_pct"], nodes.loc[list(bw.cell_data["name"]), "loading_pct"]
    )
    hr = mb["heat_rejection"]
    assert hr.n_points == len(res.tables["heat_rejection"]) == 5
    assert mb["halls"].n_cells == 1 and list(mb["halls"].cell_data["name"]) == ["hall-1"]
    units = dict(u.split("=", 1) for u in racks.field_data["units"])
    assert units["junction_c"] == "C" and units["flow_m3_s"] == "m3/s"


def test_max_q_result_exports_without_a_cdu_table(capped, tmp_path):
    """A Max-Q result has rack caps but no CDU table: the CDUs keep their geometry without data."""
    import pyvista as pv

    from twin.export import write_vtm

    _, model, res = capped
    write_vtm(model, res, tmp_path / "q.vtm")
    mb = pv.read(tmp_path / "q.vtm")
    assert _same(mb["racks"].cell_data["gpu_cap_w"], res.tables["racks"]["gpu_cap_w"].to_numpy())
    assert mb["cdus"].n_points == len(model.cdus)


def test_prim_names_are_valid_and_unique():
    from pxr import Sdf

    from twin.export import prim_names

    got = prim_names(["row-a/01", "row_a/01", "x y", "7"], "Rack_")
    assert list(got[2:]) == ["Rack_x_y", "Rack_7"]
    assert len(set(got)) == 4 and all(Sdf.Path.IsValidIdentifier(g) for g in got)


# --- the command ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def test_cli_exports_usd_and_vtk_with_json(runner, tmp_path):
    r = runner.invoke(app, ["export", POD, "--format", "usd", "--out", str(tmp_path / "a.usda"), "--json",
                            "--ambient-c", "35", "--fail", "hall-1/pod-1/tcs-1/cdu-2"])  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["ok"] and doc["racks"] == 16 and doc["format"] == "usd"
    s = Scenario(layout=POD, ambient_c=35.0, failures=("hall-1/pod-1/tcs-1/cdu-2",))
    assert doc["scenario_id"] == s.id
    _, prims = _usd_racks(tmp_path / "a.usda")
    rk = run(s).tables["racks"].set_index("name")
    assert len(prims) == 16
    assert all(pv["junction_c"] == rk.loc[pv["name"], "junction_c"] for _, pv, _, _ in prims)
    r = runner.invoke(
        app, ["export", POD, "--format", "vtk", "--out", str(tmp_path / "b.vtm"), "--budget-mw", "3.3"]
    )
    assert r.exit_code == 0, r.output
    assert "16 racks" in r.stdout and (tmp_path / "b.vtm").is_file() and (tmp_path / "b").is_dir()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--format", "obj", "--out", "{d}/x.obj"], "--format 'obj': unknown format (choose vtk or usd)"),
        (["--format", "usd", "--out", "{d}/x.vtm"], "a usd export is a .usd / .usda / .usdc file"),
        (["--format", "vtk", "--out", "{d}/x.usd"], "a vtk export is a .vtm file"),
        (["--format", "usd", "--out", "{d}/x.usd", "--color", "nope"], "unknown --color 'nope'"),
        (["--format", "usd", "--out", "{d}/x.usd", "--fail", "no-such-cdu"], "no-such-cdu"),
        (["--format", "usd", "--out", "{d}/x.usd", "--ambient-c", "99"], "ambient_c"),
    ],
)
def test_cli_bad_input_is_exit_2_with_a_message(runner, tmp_path, args, needle):
    a = [x.replace("{d}", str(tmp_path)) for x in args]
    r = runner.invoke(app, ["export", POD, *a])
    assert r.exit_code == 2, r.output
    assert needle in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["export", POD, *a, "--json"])
    assert r.exit_code == 2 and not json.loads(r.stdout)["ok"] and needle in r.stdout


def test_cli_refuses_to_overwrite_without_force(runner, tmp_path):
    p = tmp_path / "site.usd"
    p.write_text("mine")
    r = runner.invoke(app, ["export", POD, "--format", "usd", "--out", str(p)])
    assert r.exit_code == 2 and "already exists (give --force to overwrite)" in r.output
    assert p.read_text() == "mine"
    (tmp_path / "v").mkdir()  # a .vtm's data directory counts too
    r = runner.invoke(app, ["export", POD, "--format", "vtk", "--out", str(tmp_path / "v.vtm"), "--json"])
    assert r.exit_code == 2 and "already exists" in json.loads(r.stdout)["message"]
    r = runner.invoke(app, ["export", POD, "--format", "usd", "--out", str(p), "--force"])
    assert r.exit_code == 0, r.output
    from pxr import Usd

    stage = Usd.Stage.Open(str(p))
    assert len([q for q in stage.Traverse() if q.GetTypeName() == "Cube"]) == 16
    r = runner.invoke(app, ["export", "no/such.yaml", "--format", "usd", "--out", str(tmp_path / "n.usd")])
    assert r.exit_code == 2 and "no such layout file" in r.output
    r = runner.invoke(app, ["export", POD, "--format", "vtk", "--out", str(p / "x.vtm")])  # under a file
    assert r.exit_code == 2 and "is not a writable directory" in r.output and "Traceback" not in r.output


# --- twin.render ----------------------------------------------------------------------------------------------------


def test_render_png_colours_the_racks(pod, tmp_path):
    """PNG bytes of the requested size, also written to the path; the hot racks red, the cool ones blue."""
    import io

    from PIL import Image

    from twin.render import render_png, render_values_png

    _, model, res = pod
    png = render_png(model, res, "junction_c", tmp_path / "a.png", size=(640, 400))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "a.png").read_bytes() == png
    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert a.shape == (400, 640, 3)
    v = np.r_[np.zeros(8), np.ones(8)]  # half the racks at the low end, half at the high end
    b = np.asarray(
        Image.open(io.BytesIO(render_values_png(model, v, "x [-]", size=(640, 400)))).convert("RGB")
    )
    b = b.astype(int)
    red = (b[..., 0] > 150) & (b[..., 2] < 100)
    blue = (b[..., 2] > 120) & (b[..., 0] < 100)
    assert red.sum() > 100 and blue.sum() > 100
    with pytest.raises(ValueError, match="values for 16 racks"):
        render_values_png(model, np.ones(3), "x")
