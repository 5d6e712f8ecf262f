"""``twin render`` and ``twin dashboard`` from the command line."""

from __future__ import annotations

from typer.testing import CliRunner

from twin.cli import app


def test_render_writes_a_png(tmp_path):
    out = tmp_path / "site.png"
    r = CliRunner().invoke(app, ["render", "layouts/pod_small.yaml", "--color", "rack_power_w", "--out", str(out),
                                 "--size", "400x300"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_unknown_metric_is_bad_input(tmp_path):
    r = CliRunner().invoke(
        app, ["render", "layouts/pod_small.yaml", "--color", "nope", "--out", str(tmp_path / "x.png")]
    )
    assert r.exit_code == 2 and "junction_c" in r.output


def test_dashboard_bad_layout_prints_problems(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: [unclosed\n")
    r = CliRunner().invoke(app, ["dashboard", str(bad), "--port", "0"])
    assert r.exit_code == 2
    assert "Traceback" not in r.output
