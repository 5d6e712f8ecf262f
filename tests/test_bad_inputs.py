"""Every command over a corpus of bad inputs (tests/bad_inputs/, plus generated oversize files): exit code 2,
one clear message naming the file (and line where there is one), no traceback, bounded time and memory."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app

CORPUS = sorted((Path(__file__).parent / "bad_inputs").glob("*.yaml"))
COMMANDS = [
    ["validate"],
    ["info"],
    ["solve"],
    ["solve", "--thermal-only"],
    ["electrical"],
    ["network"],
    ["maxq", "--budget-mw", "3"],
    ["transient", "--scenario", "pump-trip", "--duration-s", "30", "--event-s", "5"],
]
runner = CliRunner()


@pytest.mark.parametrize("bad", CORPUS, ids=lambda p: p.stem)
@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_command_refuses_bad_input_cleanly(bad, cmd):
    res = runner.invoke(app, [cmd[0], str(bad), *cmd[1:]])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "internal error" not in res.output
    assert bad.name in res.stderr or "error:" in res.stderr, res.stderr
    res = runner.invoke(app, [cmd[0], str(bad), *cmd[1:], "--json"])
    assert res.exit_code == 2
    d = json.loads(res.stdout)
    assert d["ok"] is False and d["problems"], d


def _limited(cmd: list[str], mem_bytes: int = 1 << 30, seconds: int = 60) -> subprocess.CompletedProcess:
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))

    code = "import sys; from twin.cli import main; sys.argv = ['twin'] + sys.argv[1:]; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *cmd], capture_output=True, text=True, timeout=seconds, preexec_fn=limit
    )


@pytest.mark.parametrize("name", ["bomb", "deep", "big"])
def test_hostile_files_are_refused_in_bounded_memory_and_time(tmp_path, name):
    src = Path(__file__).parent / "bad_inputs" / "bomb.yaml"
    f = tmp_path / f"{name}.yaml"
    if name == "bomb":
        f.write_text(src.read_text())
    elif name == "deep":
        f.write_text("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    else:
        f.write_text("# " + "x" * (50 * 1024 * 1024) + "\n")
    p = _limited(["validate", str(f)])
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and p.stderr.count("\n") <= 3
    want = {"bomb": "expands to more than", "deep": "nesting too deep", "big": "limited to 5 MB"}[name]
    assert want in p.stderr


def test_messages_name_the_line(tmp_path):
    corpus = {p.stem: p for p in CORPUS}
    res = runner.invoke(app, ["validate", str(corpus["nul_char"])])
    assert f"{corpus['nul_char']}:3:" in res.stderr and "#x0000" in res.stderr
    res = runner.invoke(app, ["validate", str(corpus["python_tag"])])
    assert f"{corpus['python_tag']}:2: unsupported YAML tag" in res.stderr
    res = runner.invoke(app, ["validate", str(corpus["bool_racks"])])
    assert "rows[0].racks: expected a number, got true" in res.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["transient", "layouts/pod_small.yaml", "--scenario", "pump-trip", "--it-load", "5"], "it_load"),
        (
            ["maxq", "layouts/pod_small.yaml", "--budget-mw", "3", "--variation-sigma", "-1"],
            "variation_sigma",
        ),
        (
            ["maxq", "layouts/pod_small.yaml", "--budget-mw", "3", "--variation-sigma", "nan"],
            "variation_sigma",
        ),
        (["maxq", "--size", "--site-mw", "1e308", "--rack-type", "vr-nvl72"], "site_mw"),
        (["maxq", "--size", "--site-mw", "0.001", "--rack-type", "vr-nvl72"], "site"),
        (["solve", "layouts/pod_small.yaml", "--it-load", "0"], "it_load"),
        (["electrical", "layouts/pod_small.yaml", "--it-load", "1.5"], "it_load"),
        (
            ["solve", "layouts/pod_small.yaml", "--fail", "hall-1/pod-1/tcs-a/cdu-1"],
            "closest: hall-1/pod-1/tcs-1/cdu-1",
        ),
        (["solve", "layouts/pod_small.yaml", "--out", "/proc/twin-out"], "--out"),
        (["network", "layouts/pod_small.yaml", "--traffic", "nosuch.csv"], "traffic"),
    ],
)
def test_bad_options_exit_2_with_the_option_named(layouts_dir, tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(layouts_dir.parent)
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert fragment in res.stderr and "Traceback" not in res.output


def test_out_under_a_file_is_refused(tmp_path, layouts_dir):
    f = tmp_path / "file"
    f.write_text("x")
    res = runner.invoke(app, ["solve", str(layouts_dir / "pod_small.yaml"), "--out", str(f / "sub")])
    assert res.exit_code == 2 and "--out" in res.stderr


TRAFFIC = sorted((Path(__file__).parent / "bad_inputs").glob("traffic_*.csv"))


@pytest.mark.parametrize("bad", TRAFFIC, ids=lambda p: p.stem)
def test_bad_traffic_csv_exit_2_naming_file_and_line(layouts_dir, bad):
    res = runner.invoke(app, ["network", str(layouts_dir / "pod_small.yaml"), "--traffic", str(bad)])
    assert res.exit_code == 2, res.output
    assert str(bad) in res.stderr and "Traceback" not in res.output and res.stderr.count("\n") == 1


def test_huge_traffic_csv_refused_before_reading_in_bounded_memory(layouts_dir, tmp_path):
    """10 million rows used to take 24 GB; now the size is refused before pandas reads a byte."""
    f = tmp_path / "huge.csv"
    with f.open("w") as fh:
        fh.write("src,dst,gbps\n")
        fh.write("0,1,1.0\n" * 1_500_000)
    p = _limited(["network", str(layouts_dir / "pod_small.yaml"), "--traffic", str(f)], mem_bytes=1 << 30)
    assert p.returncode == 2 and "limited to 20,000 flows" in p.stderr, p.stderr
