"""CLI: validate / schema / info, JSON output, and clean exit code 2 on bad input (no traceback)."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from tests.layout_edit import base, write
from twin.cli import app

runner = CliRunner()


def test_info_json_on_campus(layouts_dir):
    res = runner.invoke(app, ["info", str(layouts_dir / "campus_1gw.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert (
        d["racks"] >= 5000
        and d["gpus"] == d["racks_by_type"]["vr-nvl72"] * 72 + d["racks_by_type"]["ru-nvl576"] * 576
    )
    assert d["nameplate_it_mw"] > 1000 and d["cdus"] > 0
    assert sum(h["racks"] for h in d["by_hall"]) == d["racks"]


def test_info_table(layouts_dir):
    res = runner.invoke(app, ["info", str(layouts_dir / "pod_small.yaml")])
    assert res.exit_code == 0 and "GPUs" in res.stdout and "1,152" in res.stdout


def test_validate_ok_and_json(layouts_dir):
    res = runner.invoke(app, ["validate", str(layouts_dir / "hall_kyber.yaml")])
    assert res.exit_code == 0 and "is valid" in res.stdout
    res = runner.invoke(app, ["validate", str(layouts_dir / "hall_kyber.yaml"), "--json"])
    assert json.loads(res.stdout)["valid"] is True


def test_schema_is_json_schema():
    res = runner.invoke(app, ["schema"])
    s = json.loads(res.stdout)
    assert res.exit_code == 0 and "halls" in s["properties"] and "$defs" in s


def test_bad_layout_exit_2_one_line_per_problem(tmp_path):
    d = base()
    d["halls"][0]["pods"][0]["rows"][0]["rack_type"] = "kyber-x"
    d["halls"][0]["pods"][0]["rows"][1]["busway"] = "nope"
    f = write(tmp_path, d)
    proc = subprocess.run(
        [sys.executable, "-m", "twin.cli", "validate", str(f)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert any("halls[0].pods[0].rows[0].rack_type: unknown rack type 'kyber-x'" in ln for ln in lines)
    assert any("halls[0].pods[0].rows[1].busway: no busway 'nope'" in ln for ln in lines)
    assert lines[-1] == "2 errors: the layout cannot be used"
    assert f"{f}:" in lines[0]  # file:line prefix


def test_missing_file_exit_2(tmp_path):
    res = runner.invoke(app, ["info", str(tmp_path / "none.yaml")])
    assert res.exit_code == 2 and "file not found" in res.stderr


def test_user_catalog_via_option(tmp_path, layouts_dir):
    cat = tmp_path / "cat.yaml"
    cat.write_text(
        "cdus:\n  - {name: coolit-chx2000, capacity_kw: 1000, approach_k: 5, flow_lpm: 1000,"
        " pump_head_kpa: 241, pump_efficiency: 0.6, secondary_volume_l: 400, source: 'derated test'}\n"
    )
    res = runner.invoke(
        app, ["validate", str(layouts_dir / "pod_small.yaml"), "--catalog", str(cat), "--json"]
    )
    d = json.loads(res.stdout)
    msgs = [p["message"] for p in d["problems"]]
    assert any("replaces the built-in" in m for m in msgs)
    assert any("exceeds the firm capacity 2.00 MW" in m for m in msgs)  # 3 x 1 MW, N+1 < 3.6 MW


def test_units_lists_what_fail_accepts(layouts_dir):
    res = runner.invoke(app, ["units", str(layouts_dir / "pod_small.yaml"), "--json"])
    assert res.exit_code == 0
    d = json.loads(res.stdout)
    assert d["cdu"] == ["hall-1/pod-1/tcs-1/cdu-1", "hall-1/pod-1/tcs-1/cdu-2", "hall-1/pod-1/tcs-1/cdu-3"]
    assert "hall-1/fw-pump-1" in d["fw_pump"] and "hall-1/pod-1/blk-1" in d["electrical"]
    # every listed unit is accepted by --fail
    from twin.failures import FailureSet
    from twin.model import load_model

    fs = FailureSet.parse(load_model(layouts_dir / "pod_small.yaml"), [n for ns in d.values() for n in ns])
    assert len(fs.names) == sum(len(v) for v in d.values())
