"""``twin grid`` on the command line: outputs, --json, --out refusal, bad input exit 2 with file and line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.grid.conftest import POD, write_series
from twin.cli import app


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.fixture(scope="module")
def pod_cli_run(tmp_path_factory):
    """One CLI run: pod_small, Max-Q, Duke-style curtailment of 0.25 % by price, --json."""
    out = tmp_path_factory.mktemp("cli") / "out"
    r = CliRunner().invoke(app, ["grid", POD, "--curtailment-pct", "0.25", "--out", str(out), "--json"])
    return r, out


def test_writes_hourly_kpis_and_a_self_contained_report(pod_cli_run):
    r, out = pod_cli_run
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)  # one JSON object, no progress bar on stdout
    assert doc["ok"] and set(doc["strategies"]) == {"maxq"}
    h = pd.read_parquet(out / "hourly.parquet")
    assert len(h) == 8760 and (h["strategy"] == "maxq").all()
    k = json.loads((out / "kpis.json").read_text())
    assert k["units"]["annual_energy_mwh"] == "MWh"
    assert 0.2 <= k["strategies"]["maxq"]["curtailed_pct_of_max_energy"] <= 0.25 + 1e-9
    assert k["validation"]["maxq"]["random hour"]["hours"] >= 24
    page = (out / "report.html").read_text()
    assert "<script src=" not in page.replace('<script src="data:', "")  # plotly.js inlined, nothing fetched
    assert page.count("Plotly.newPlot") >= 6 and "Surrogate error" in page and "twin render" in page


def test_report_embeds_a_pyvista_snapshot_of_the_site(pod_cli_run):
    """The site in 3D, rendered off-screen by pyvista, is a base64 PNG in the page (no 2D fallback here)."""
    import base64
    import io
    import re

    from PIL import Image

    from twin.grid.report import SNAPSHOT_SIZE

    _, out = pod_cli_run
    page = (out / "report.html").read_text()
    m = re.search(r'<figure class=snap><img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert m, "no embedded snapshot"
    img = Image.open(io.BytesIO(base64.b64decode(m.group(1)))).convert("RGB")
    assert img.size == SNAPSHOT_SIZE
    a = np.asarray(img).astype(int)
    drawn = (a < 235).any(axis=2)  # not white background
    assert 0.005 < drawn.mean() < 0.6  # the racks, outlines and colour bar, not an empty or failed frame
    reddish = (a[..., 0] > 150) & (a[..., 1] < 90) & (a[..., 2] < 90)  # RdYlBu_r: racks at their cap
    assert reddish.sum() > 200
    assert "GPU power cap of each rack" in page and "median weather" in page
    assert "could not render off-screen" not in page and "Racks on the site plan" not in page


def test_report_falls_back_to_a_2d_plan_when_pyvista_cannot_render(pod_year, monkeypatch, tmp_path):
    """No off-screen OpenGL: the report says so and shows the racks on a 2D plan instead."""
    import twin.render
    from twin.cli.cmd_grid import write_outputs

    def broken(*a, **k):
        raise twin.render.RenderError("pyvista could not render off-screen: RuntimeError: no EGL device")

    monkeypatch.setattr(twin.render, "render_values_png", broken)
    write_outputs(pod_year, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "could not render off-screen" in page and "no EGL device" in page
    assert "Racks on the site plan" in page and "<figure class=snap>" not in page


def _three_climate_weather(path):
    """A year of three constant climates (a third each): the exact path solves three distinct hours."""
    t = pd.date_range("2018-01-01", periods=8760, freq="h")
    db = np.repeat([12.0, 27.0, 38.0], [2920, 2920, 2920])
    pd.DataFrame(
        {"timestamp": t.strftime("%Y-%m-%dT%H:%M"), "dry_bulb_c": db, "relative_humidity_pct": 40.0}
    ).to_csv(path, index=False)
    return path


def test_exact_runs_on_the_study_engine_and_matches_a_loop(runner, tmp_path):
    """--exact solves on the study engine's Dask cluster (2 local workers) and gives what the in-process loop
    (--workers 1) gives, hour for hour; progress on stderr, never on stdout."""
    w = _three_climate_weather(tmp_path / "w.csv")
    args = ["grid", POD, "--weather", str(w), "--curtailment-pct", "0", "--exact"]
    r2 = runner.invoke(app, [*args, "--workers", "2", "--out", str(tmp_path / "d"), "--json"])
    assert r2.exit_code == 0, r2.output
    doc = json.loads(r2.stdout)
    assert doc["meta"]["exact"] and "LocalCluster" in doc["meta"]["engine"] and doc["meta"]["workers"] == 2
    r1 = runner.invoke(app, [*args, "--workers", "1", "--out", str(tmp_path / "l")])
    assert r1.exit_code == 0, r1.output
    assert "exact solves (maxq)" in r1.stderr and "exact solves" not in r1.stdout
    a, b = (
        pd.read_parquet(tmp_path / "d" / "hourly.parquet"),
        pd.read_parquet(tmp_path / "l" / "hourly.parquet"),
    )
    assert len(a) == 8760 and a["facility_power_mw"].nunique() == 3
    for c in ("facility_power_mw", "tokens_per_s", "water_m3"):
        assert np.array_equal(a[c].to_numpy(), b[c].to_numpy()), c
    assert "Every hour was solved exactly" in (tmp_path / "d" / "report.html").read_text()


def test_bad_workers_or_scheduler_is_exit_2(runner, tmp_path):
    r = runner.invoke(app, ["grid", POD, "--workers", "0", "--out", str(tmp_path / "o"), "--json"])
    assert r.exit_code == 2 and "--workers 0" in json.loads(r.stdout)["message"]
    r = runner.invoke(app, ["grid", POD, "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "p")])
    assert r.exit_code == 2 and "cannot reach the Dask scheduler" in r.output and "Traceback" not in r.output


def test_out_dir_not_empty_is_refused(runner, tmp_path):
    (tmp_path / "x.txt").write_text("mine")
    r = runner.invoke(app, ["grid", POD, "--out", str(tmp_path), "--json"])
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert not doc["ok"] and "not empty" in doc["message"]


@pytest.mark.parametrize(
    "make, needle",
    [
        (
            lambda p: write_series(p, values=np.where(np.arange(8760) == 9, np.nan, 40.0)),
            "line 11: value is missing",
        ),
        (lambda p: write_series(p, n=100, values=np.ones(100)), "shorter than a year"),
        (lambda p: write_series(p, unit="EUR/MW"), "not a price unit"),
    ],
)
def test_bad_price_file_is_exit_2_with_file_and_line(runner, tmp_path, make, needle):
    p = make(tmp_path / "prices.csv")
    out = tmp_path / "out"
    r = runner.invoke(app, ["grid", POD, "--prices", str(p), "--out", str(out), "--json"])
    assert r.exit_code == 2, r.output
    doc = json.loads(r.stdout)
    assert not doc["ok"] and str(p) in doc["message"] and needle in doc["message"]
    r = runner.invoke(app, ["grid", POD, "--prices", str(p), "--out", str(tmp_path / "out2")])
    assert r.exit_code == 2 and "Traceback" not in r.output and needle in r.output


def test_bad_events_file_is_exit_2(runner, tmp_path):
    ev = tmp_path / "ev.yaml"
    ev.write_text("events:\n  - {start: 2018-12-31T23:00, duration_h: 5, depth_pct: 25}\n")
    r = runner.invoke(app, ["grid", POD, "--events", str(ev), "--out", str(tmp_path / "o"), "--json"])
    assert r.exit_code == 2
    assert "ev.yaml:2" in json.loads(r.stdout)["message"] and "outside the year" in r.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--strategy", "flexible"], "unknown strategy"),
        (["--validate-hours", "5"], "at least 24"),
        (["--weather", "tmy3:000000"], "no such TMY3 file"),
        (["--curtailment-pct", "0.5", "--events", "x.yaml"], "not both"),
        (["--objective", "dollars"], "unknown objective"),
        # revenue with maxq-cooling is accepted: the next check speaks (no solve)
        (["--strategy", "maxq-cooling", "--objective", "revenue", "--validate-hours", "5"], "at least 24"),
        (["--strategy", "all", "--objective", "revenue", "--validate-hours", "5"], "at least 24"),
    ],
)
def test_bad_options(runner, tmp_path, args, needle):
    r = runner.invoke(app, ["grid", POD, *args, "--out", str(tmp_path / "o"), "--json"])
    assert r.exit_code == 2 and needle in json.loads(r.stdout)["message"]


def test_report_renders_offline_in_chromium(pod_cli_run):
    """The report opened from disk in headless Chromium (Debian's; no network): every plot drawn, no errors."""
    import shutil

    pw = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not shutil.which("chromium") and not __import__("os").path.exists(chromium):
        pytest.skip("Debian's chromium is not installed")
    _, out = pod_cli_run
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = b.new_page()
        errors, requests = [], []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto((out / "report.html").resolve().as_uri())
        page.wait_for_function(
            "[...document.querySelectorAll('.js-plotly-plot')].length >= 6 && "
            "[...document.querySelectorAll('.js-plotly-plot')].every(g => g._fullLayout)",
            timeout=60_000,
        )
        n = page.evaluate("document.querySelectorAll('.js-plotly-plot').length")
        snap = page.evaluate("(() => { const i = document.querySelector('figure.snap img'); "
                             "return i && i.complete ? [i.naturalWidth, i.naturalHeight] : null })()")  # fmt: skip
        b.close()
    assert n >= 6 and not errors
    assert snap and snap[0] > 0 and snap[1] > 0  # the embedded PNG decodes in the browser
    assert all(u.startswith(("file:", "data:", "blob:", "about:")) for u in requests), requests


@pytest.mark.slow
def test_exact_year_matches_the_surface(runner, tmp_path):
    """--exact solves all 8,760 hours (slow: minutes on pod_small); the surface agrees within 0.5 %."""
    a, b = tmp_path / "exact", tmp_path / "surf"
    r = runner.invoke(app, ["grid", POD, "--curtailment-pct", "0", "--exact", "--out", str(a), "--json"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["grid", POD, "--curtailment-pct", "0", "--out", str(b), "--json"])
    ha, hb = pd.read_parquet(a / "hourly.parquet"), pd.read_parquet(b / "hourly.parquet")
    for c in ("facility_power_mw", "tokens_per_s"):
        assert np.max(np.abs(ha[c] - hb[c]) / ha[c]) <= 0.005
