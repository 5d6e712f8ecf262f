"""The dashboard in a real browser (Debian's Chromium via Playwright) against a real server, on pod_small."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.webapp.conftest import POD_SMALL, REPO, serve, wait_ready
from webapp import figures as F

FULL = "(i) => document.querySelector('#facility .js-plotly-plot')._fullData[i]"


def kpi(page, key: str) -> float:
    return float(page.get_attribute(f"#kpi-{key}", "data-value"))


def wait_kpi_change(page, key: str, old: float):
    page.wait_for_function(
        "([k, old]) => { const e = document.getElementById('kpi-' + k);"
        " return e && e.dataset.value !== '' && Math.abs(parseFloat(e.dataset.value) - old) > 1e-9; }",
        arg=[key, old],
    )


def intensity(page) -> np.ndarray:
    return np.array(page.evaluate(f"() => Array.from(({FULL})(0).intensity)"), dtype=float)


def choose(page, dropdown_id: str, option: str):
    page.click(f"#{dropdown_id}")
    page.get_by_role("listbox").get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def pick_failure(page, name: str, attempts: int = 3):
    """Type a unit's short name into the failures search and click it. The list is refilled by the server after
    each what-if, so a search typed while a solve is in flight can come back empty: wait for the page to go quiet
    and try again rather than time out."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        page.wait_for_load_state("networkidle")
        page.click("#failures")
        page.keyboard.type(name.split("/")[-1])
        try:
            page.get_by_role("listbox").get_by_role("option", name=name, exact=True).click(timeout=20_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            if attempt == attempts - 1:
                raise
    page.keyboard.press("Escape")


def solved(layout=POD_SMALL, **kw):
    from twin import Scenario, run

    s = Scenario(layout=str(layout), **kw)
    return s, run(s)


def test_page_loads_with_3d_view_and_kpis(dash_page):
    page = dash_page
    s, r = solved()
    n = len(s.model().racks)
    t0 = page.evaluate(f"() => ({FULL})(0).type")
    assert t0 == "mesh3d"
    assert len(intensity(dash_page)) == n * F.VERTS_PER_RACK
    assert kpi(dash_page, "facility_power_mw") == pytest.approx(r.kpis["facility_power_mw"], rel=1e-9)
    assert kpi(dash_page, "tokens_per_s") == pytest.approx(r.kpis["tokens_per_s"], rel=1e-9)
    assert "ok" in page.inner_text("#status")


def test_colour_metric_sends_colours_only(dash_page):
    page = dash_page
    s, r = solved()
    before = intensity(dash_page)
    with page.expect_response(
        lambda resp: "_dash-update-component" in resp.url and "facility" in resp.text()
    ) as ri:
        choose(dash_page, "metric", "gpu_power_w [W]")
    body = json.loads(ri.value.text())
    fig = body["response"]["facility"]["figure"]
    locs = {tuple(op["location"]) for op in fig["operations"]}
    touched = {loc[2] for loc in locs if len(loc) > 2}
    assert "intensity" in touched
    assert not touched & {"x", "y", "z", "i", "j", "k"}, touched  # no geometry resent
    page.wait_for_function(f"() => ({FULL})(0).colorbar.title.text.includes('[W]')")
    after = intensity(dash_page)
    expect = F.colour_patch(s.model(), r, "gpu_power_w", np.arange(len(s.model().racks)))["intensity"]
    np.testing.assert_allclose(after, expect, rtol=1e-6)
    assert not np.allclose(before, after)


def test_budget_and_policy_change_kpis_to_run(dash_page):
    page = dash_page
    old = kpi(dash_page, "facility_power_mw")
    page.fill("#budget", "4")
    page.press("#budget", "Enter")
    wait_kpi_change(dash_page, "facility_power_mw", old)
    _, r = solved(budget_mw=4.0, policy="maxq")
    assert kpi(dash_page, "facility_power_mw") == pytest.approx(r.kpis["facility_power_mw"], rel=1e-9)
    assert kpi(dash_page, "tokens_per_s") == pytest.approx(r.kpis["tokens_per_s"], rel=1e-9)
    old_tps = kpi(dash_page, "tokens_per_s")
    choose(dash_page, "policy", "uniform")
    _, ru = solved(budget_mw=4.0, policy="uniform")
    wait_kpi_change(dash_page, "tokens_per_s", old_tps)
    assert kpi(dash_page, "tokens_per_s") == pytest.approx(ru.kpis["tokens_per_s"], rel=1e-9)
    assert "grid" in page.inner_text("#kpi-binding")


def test_failing_a_cdu_marks_its_racks(dash_page):
    page = dash_page
    s, _ = solved()
    model = s.model()
    cdus = list(model.cdus["name"][:2])
    for name in cdus:
        pick_failure(page, name)
    page.wait_for_function(f"() => ({FULL})(2).x && ({FULL})(2).x.length > 0")
    marked = page.evaluate(f"() => Array.from(({FULL})(2).customdata)")
    loop = int(model.cdus["loop"].iat[0])
    in_loop = set(np.flatnonzero(model.racks["loop"].to_numpy() == loop).tolist())
    assert set(marked) == in_loop
    text = page.evaluate(f"() => ({FULL})(2).text.join('|')")
    assert "on failed " + cdus[0] in text
    colours = page.evaluate(f"() => ({FULL})({F.CDU_TRACE}).marker.color")
    assert colours[0] == "#d00000"  # the failed CDU itself is red


def test_two_browsers_do_not_share_what_ifs(chromium, pod_app):
    a = chromium.new_context().new_page()
    b = chromium.new_context().new_page()
    for pg in (a, b):
        pg.set_default_timeout(60_000)
        pg.goto(pod_app[1])
        wait_ready(pg)
    base = kpi(b, "facility_power_mw")
    a.fill("#ambient", "45")
    a.press("#ambient", "Enter")
    wait_kpi_change(a, "facility_power_mw", base)
    _, hot = solved(ambient_c=45.0)
    assert kpi(a, "facility_power_mw") == pytest.approx(hot.kpis["facility_power_mw"], rel=1e-9)
    b.reload()
    wait_ready(b)
    assert kpi(b, "facility_power_mw") == pytest.approx(base, rel=1e-12)
    assert b.input_value("#ambient") == ""
    a.context.close()
    b.context.close()


def test_broken_upload_shows_the_cli_lines(dash_page, tmp_path):
    page = dash_page
    page = dash_page
    text = POD_SMALL.read_text().replace("rack_type:", "rack_type: no-such-rack #", 1)
    bad = tmp_path / "broken.yaml"
    bad.write_text(text)
    page.set_input_files("#upload input[type=file]", str(bad))
    page.wait_for_function("() => document.getElementById('status').innerText.includes('broken.yaml:')")
    status = page.inner_text("#status")
    assert "Traceback" not in status
    line = next(ln for ln in status.splitlines() if ln.startswith("broken.yaml:"))
    assert line.split(":")[1].isdigit()  # file:line: path: message


def test_compare_a_b_shows_deltas(dash_page):
    page = dash_page
    page.click("#pin-a-btn")
    old = kpi(dash_page, "facility_power_mw")
    page.fill("#budget", "3.5")
    page.press("#budget", "Enter")
    wait_kpi_change(dash_page, "facility_power_mw", old)
    page.click("#pin-b-btn")
    page.click("#tab-compare")
    page.wait_for_selector("#compare-data")
    cells = page.inner_text("#compare-data")
    assert "facility_power_mw" in cells and "tokens_per_s" in cells
    _, a = solved()
    _, b = solved(budget_mw=3.5)
    rows = {r["kpi"]: r for r in F.compare_rows(a, b)}
    assert rows["facility_power_mw"]["delta"] < 0
    bars = page.evaluate("() => document.querySelector('#compare-bars .js-plotly-plot')._fullData[0].y")
    assert "facility_power_mw" in list(bars)
    # per-rack B - A of the 3D tab's colour metric, on a diverging scale centred on 0
    gd = "document.querySelector('#compare-3d .js-plotly-plot')"
    page.wait_for_function(f"() => {gd} && {gd}._fullData && {gd}._fullData.length > 0")
    got = np.array(page.evaluate(f"() => Array.from({gd}._fullData[0].intensity)"), dtype=float)
    model = a.scenario.model()
    diff, _ = F.rack_difference(model, a, b, "junction_c")
    np.testing.assert_allclose(got[:: F.VERTS_PER_RACK], diff, rtol=1e-5, atol=1e-6)
    cmin, cmax = page.evaluate(f"() => [{gd}._fullData[0].cmin, {gd}._fullData[0].cmax]")
    assert cmin == pytest.approx(-cmax)
    assert "B - A" in page.inner_text("#compare-3d-note")


def test_campus_page_loads(chromium, tmp_path):
    """The 1 GW campus (5,204 racks) draws in one page."""
    from webapp.app import DEFAULT_LAYOUT, create_app

    srv, url = serve(create_app(DEFAULT_LAYOUT, upload_dir=tmp_path))
    try:
        pg = chromium.new_context(viewport={"width": 1400, "height": 900}).new_page()
        pg.set_default_timeout(90_000)
        pg.goto(url)
        wait_ready(pg)
        from twin import Scenario

        model = Scenario(layout=str(DEFAULT_LAYOUT)).model()
        strips = F.row_strips(model)
        rack = pg.evaluate(
            f"() => {{ const t = ({FULL})(0); return [t.intensity.length, t.intensitymode]; }}"
        )
        assert rack == [len(strips.faces), "cell"]  # level of detail: one strip a row, a colour a rack face
        assert len(strips.faces) < 5204 * 10  # fewer triangles than one box a rack
        # the strips carry each rack's hover (its name on its own top corners), no marker a rack
        names = pg.evaluate(f"() => Array.from(({FULL})(0).text)")
        assert len(names) == len(strips.points) and pg.evaluate(f"() => ({FULL})(1).x.length") == 0
        rk = Scenario(layout=str(DEFAULT_LAYOUT))
        from twin import run

        res = run(rk)
        expect = res.tables["racks"]["name"].to_numpy()[strips.racks[strips.vert_rack]]
        assert names == list(expect)
        # recolouring the strips sends per-face colours and per-vertex hover values, never geometry
        with pg.expect_response(lambda r: "_dash-update-component" in r.url and "facility" in r.text()) as ri:
            choose(pg, "metric", "gpu_power_w [W]")
        ops = json.loads(ri.value.text())["response"]["facility"]["figure"]["operations"]
        touched = {tuple(op["location"])[2] for op in ops if len(op["location"]) > 2}
        assert {"intensity", "customdata"} <= touched and not touched & {"x", "y", "z", "i", "j", "k", "text"}
        pg.wait_for_function(f"() => ({FULL})(0).colorbar.title.text.includes('[W]')")
        got = np.array(pg.evaluate(f"() => Array.from(({FULL})(0).intensity)"), dtype=float)
        col = F.view_colours(model, res, "gpu_power_w", strips)
        np.testing.assert_allclose(got, col["intensity"], rtol=1e-6)
        pg.context.close()
    finally:
        srv.shutdown()


def emit_click(page, curve: int, point: int, customdata=None):
    """What plotly sends when a point of the 3D view is clicked. (A real mouse click on the WebGL canvas is not
    picked on this machine's software GL, so the click event itself is emitted; the Dash side is what is
    tested.)"""
    page.evaluate(
        "([c, n, cd]) => { const gd = document.querySelector('#facility .js-plotly-plot');"
        " const t = gd._fullData[c];"
        " gd.emit('plotly_click', {points: [{curveNumber: c, pointNumber: n, customdata: cd,"
        " data: gd.data[c], fullData: t, x: 0, y: 0, z: 0}], event: {}}); }",
        [curve, point, customdata],
    )


def test_click_in_3d_fails_the_racks_cdu(dash_page):
    page = dash_page
    s, r = solved()
    model = s.model()
    rack = 5
    emit_click(page, F.HOVER_TRACE, rack)  # detail mode: the rack's panel
    name = str(r.tables["racks"]["name"].iat[rack])
    page.wait_for_function("(n) => document.getElementById('detail').innerText.includes(n)", arg=name)
    page.get_by_text("fail its CDU").click()
    emit_click(page, F.HOVER_TRACE, rack)
    first = F.cdu_to_fail(model, rack, [])
    page.wait_for_function(f"() => ({FULL})(2).x && ({FULL})(2).x.length > 0")  # the loop's racks marked
    assert first in page.inner_text("#failures")
    _, failed = solved(failures=(first,))
    assert kpi(page, "facility_power_mw") == pytest.approx(failed.kpis["facility_power_mw"], rel=1e-9)
    # clicking a CDU itself fails that CDU
    cdu_names = page.evaluate(f"() => Array.from(({FULL})({F.CDU_TRACE}).customdata)")
    other = next(n for n in cdu_names if n != first)
    emit_click(page, F.CDU_TRACE, cdu_names.index(other), other)
    page.wait_for_function("(n) => document.getElementById('failures').innerText.includes(n)", arg=other)


def test_transient_view_marks_throttle_and_shutdown(dash_page):
    from twin import Scenario, run
    from twin.scenario import TransientOptions

    page = dash_page
    page.click("#tab-transient")
    page.click("#tr-run")  # pump-trip of the first hall's first loop, 600 s
    page.wait_for_selector("#progress-box", state="visible")  # a background job with a progress line
    page.wait_for_function(
        "() => { const g = document.querySelector('#tr-graph .js-plotly-plot');"
        " return g && g._fullData && g._fullData.length >= 5; }",
        timeout=120_000,
    )
    res = run(
        Scenario(layout=str(POD_SMALL), analysis="transient", transient=TransientOptions(kind="pump-trip"))
    )
    gd = "document.querySelector('#tr-graph .js-plotly-plot')"
    names = page.evaluate(f"() => {gd}._fullData.map(t => t.name)")
    assert {"hottest GPU junction", "hottest coolant", "lowest loop flow"} <= set(names)
    y = np.array(page.evaluate(f"() => Array.from({gd}._fullData[0].y)"), dtype=float)
    np.testing.assert_allclose(y, res.tables["series"]["max_junction_c"].to_numpy(float), rtol=1e-9)
    shapes = page.evaluate(f"() => {gd}._fullLayout.shapes.map(s => s.x0)")
    k = res.kpis
    for t in (k["t_event_s"] + k["ride_through_s"], k["t_event_s"] + k["time_to_shutdown_s"]):
        assert min(abs(x - t) for x in shapes) < 1e-6
    notes = page.evaluate(f"() => {gd}._fullLayout.annotations.map(a => a.text).join('|')")
    assert "throttle" in notes and "shutdown" in notes
    assert "ride_through_s" in page.inner_text("#tr-summary")
    assert page.locator("#progress-text").text_content().startswith("pump-trip transient of")


def test_toggles_the_layout_cannot_take_are_disabled(dash_page):
    page = dash_page
    page.wait_for_function("() => document.getElementById('toggle-notes').innerText.includes('dc800')")
    states = page.evaluate(
        "() => Array.from(document.querySelectorAll('#architecture input, #optics input')).map(e => [e.value, e.disabled])"
    )
    assert ["dc800", True] in states and ["cpo", True] in states and ["ac", False] in states
    notes = page.inner_text("#toggle-notes")
    line = next(ln for ln in notes.splitlines() if "dc800" in ln)
    assert (
        "layouts/pod_small.yaml:" in line and "Traceback" not in notes
    )  # the CLI's file:line: path: message


def test_background_solve_shows_progress_and_run_kpis(dash_page, monkeypatch):
    import webapp.app as A

    monkeypatch.setattr(A, "LONG_SOLVE_RACKS", 0)  # every Max-Q what-if goes to a background job
    page = dash_page
    page.fill("#budget", "3.7")
    page.press("#budget", "Enter")
    page.wait_for_function(
        "() => document.getElementById('status').innerText.includes('solved in the background')"
    )
    _, r = solved(budget_mw=3.7)
    assert kpi(page, "facility_power_mw") == pytest.approx(r.kpis["facility_power_mw"], rel=1e-9)
    assert page.locator("#progress-text").text_content().startswith("Max-Q on 16 racks: done in")


def priced_pod(path):
    """pod_small with two priced tiers: inference at $6 per Mtok, and row-b training at $400 per GPU-hour (a
    revenue Max-Q under a budget moves power between them, a tokens Max-Q does not care)."""
    import yaml

    d = yaml.safe_load(POD_SMALL.read_text())
    d["workload"] = {
        "default_tier": "inference",
        "tiers": [
            {"name": "inference", "kind": "inference", "price_usd_per_mtok": 6.0},
            {"name": "training", "kind": "training", "price_usd_per_gpu_hour": 400.0},
        ],
    }
    d["halls"][0]["pods"][0]["rows"][1]["workload"] = "training"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def tier_values(page) -> dict:
    return page.evaluate(
        "() => Object.fromEntries(Array.from(document.querySelectorAll('#tier-table tbody tr')).map("
        "r => [r.id.slice(5), [parseFloat(r.dataset.tokensPerS), parseFloat(r.dataset.revenue)]]))"
    )


def test_objective_revenue_changes_the_revenue_kpi_to_run(chromium, tmp_path):
    from webapp.app import create_app

    layout = priced_pod(tmp_path / "pod_priced.yaml")
    srv, url = serve(create_app(layout, upload_dir=tmp_path / "uploads"))
    try:
        page = chromium.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        wait_ready(page)
        # Max-P (a coupled run): its GPU powers priced by the run API
        _, maxp = solved(layout)
        assert kpi(page, "revenue_usd_per_h") == pytest.approx(maxp.kpis["revenue_usd_per_h"], rel=1e-9)
        page.fill("#budget", "3")
        page.press("#budget", "Enter")
        wait_kpi_change(page, "revenue_usd_per_h", maxp.kpis["revenue_usd_per_h"])
        _, tok = solved(layout, budget_mw=3.0)
        assert kpi(page, "revenue_usd_per_h") == pytest.approx(tok.kpis["revenue_usd_per_h"], rel=1e-9)
        choose(page, "objective", "revenue $/h")
        wait_kpi_change(page, "revenue_usd_per_h", tok.kpis["revenue_usd_per_h"])
        _, rev = solved(layout, budget_mw=3.0, maxq={"objective": "revenue"})
        assert kpi(page, "revenue_usd_per_h") == pytest.approx(rev.kpis["revenue_usd_per_h"], rel=1e-9)
        assert rev.kpis["revenue_usd_per_h"] > tok.kpis["revenue_usd_per_h"]  # the objective's point
        # the tier view is the run's tiers table, with the grid's shadow price of the revenue objective
        page.wait_for_function("() => document.getElementById('tier-table') !== null")
        got = tier_values(page)
        t = rev.tables["tiers"]
        assert list(got) == list(t["tier"])
        for _, r in t.iterrows():
            assert got[r["tier"]] == pytest.approx([r["tokens_per_s"], r["revenue_usd_per_h"]], rel=1e-12)
        assert "objective revenue" in page.inner_text("[data-testid=tier-caption]")
        assert "per MW more" in page.inner_text("[data-testid=tier-caption]")
        # revenue is Max-Q's objective only: another policy disables the selector and solves for tokens
        choose(page, "policy", "uniform")
        page.wait_for_function("() => document.getElementById('objective').disabled")
        assert page.inner_text("#objective") == "tokens/s"
        _, uni = solved(layout, budget_mw=3.0, policy="uniform")
        wait_kpi_change(page, "revenue_usd_per_h", rev.kpis["revenue_usd_per_h"])
        assert kpi(page, "revenue_usd_per_h") == pytest.approx(uni.kpis["revenue_usd_per_h"], rel=1e-9)
        assert "error" not in page.inner_text("#status")
        page.context.close()
    finally:
        srv.shutdown()


def test_mixed_campus_shows_its_tiers(chromium, tmp_path):
    """campus_mixed.yaml (Vera Rubin + Groq LPX) is in the layout picker; under its 1,000 MW budget with the
    revenue objective the tier view shows the run's five tiers. TWIN_DASHBOARD_SCREENSHOTS=1 saves
    docs/img/dashboard-tiers.png."""
    import os

    from twin import Scenario, run
    from webapp.app import LAYOUTS_DIR, create_app

    mixed = LAYOUTS_DIR / "campus_mixed.yaml"
    srv, url = serve(create_app(POD_SMALL, upload_dir=tmp_path / "uploads"))
    try:
        page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(120_000)
        page.goto(url)
        wait_ready(page)
        choose(page, "layout", "campus_mixed.yaml")
        page.wait_for_function(
            "() => document.getElementById('status').innerText.includes('scenario ')"
            " && document.getElementById('kpi-facility_power_mw').dataset.value > 1000"
        )
        page.fill("#budget", "1000")
        page.press("#budget", "Enter")
        caption = "document.querySelector('[data-testid=tier-caption]')?.innerText.includes('objective {}')"
        page.wait_for_function(f"() => {caption.format('tokens')}")  # one background job at a time
        tok = run(Scenario(layout=str(mixed), budget_mw=1000))
        assert kpi(page, "revenue_usd_per_h") == pytest.approx(tok.kpis["revenue_usd_per_h"], rel=1e-9)
        choose(page, "objective", "revenue $/h")
        page.wait_for_function(f"() => {caption.format('revenue')}")
        res = run(Scenario(layout=str(mixed), budget_mw=1000, maxq={"objective": "revenue"}))
        got = tier_values(page)
        t = res.tables["tiers"]
        assert list(got) == ["free", "t3", "t6", "t45", "t150"] == list(t["tier"])
        for _, r in t.iterrows():
            assert got[r["tier"]] == pytest.approx([r["tokens_per_s"], r["revenue_usd_per_h"]], rel=1e-12)
        assert kpi(page, "revenue_usd_per_h") == pytest.approx(res.kpis["revenue_usd_per_h"], rel=1e-9)
        page.wait_for_function(
            "() => { const g = document.querySelector('#facility .js-plotly-plot');"
            " return g && g._fullData[0].intensity && g._fullData[0].intensity.length > 20000; }"
        )
        page.wait_for_timeout(1500)  # the 3D scene's pixels after its afterplot
        page.screenshot(path=str(tmp_path / "dashboard-tiers.png"), full_page=True)
        if os.environ.get("TWIN_DASHBOARD_SCREENSHOTS"):
            page.screenshot(path=str(REPO / "docs" / "img" / "dashboard-tiers.png"), full_page=True)
        page.context.close()
    finally:
        srv.shutdown()
