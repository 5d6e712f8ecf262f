"""Dashboard speed in headless Chromium (Debian's /usr/bin/chromium via Playwright): first paint of the 3D view
and KPIs, colour-metric repaint, a what-if re-solve end to end, bytes sent, and the server's memory with 5
scenarios cached, for the 1 GW campus and pod_small.

    python bench/bench_dashboard.py [--screenshots]     # --screenshots also writes docs/img/dashboard-*.png

Times are taken in the page (performance.now(), two animation frames after plotly_afterplot). WebGL runs on
SwiftShader here (no GPU), so 3D times are upper bounds for a real browser.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GD = "document.querySelector('#facility .js-plotly-plot')"
PAINTED = (
    "() => new Promise(res => { const gd = " + GD + "; gd.once('plotly_afterplot', () =>"
    " requestAnimationFrame(() => requestAnimationFrame(() => res(performance.now())))); })"
)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve(app):
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.port}/"


def ready(pg):
    pg.wait_for_selector("#kpi-facility_power_mw")
    pg.wait_for_function("() => { const g = " + GD + "; return g && g._fullData && g._fullData.length > 0; }")


def bench_layout(browser, layout: Path, shots: bool) -> dict:
    import logging

    from twin import Scenario
    from webapp.app import create_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    app = create_app(layout)
    app._twin_cache.get_or_run(Scenario(layout=str(layout)))  # warm server
    srv, url = serve(app)
    out: dict = {"layout": layout.name}
    try:
        firsts, sent = [], []
        for _ in range(3):
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            pg = ctx.new_page()
            nbytes = [0, 0]  # on the wire (compressed, with headers), decoded bodies

            def count(req, nb=nbytes):
                sz = req.sizes()
                nb[0] += sz["responseBodySize"] + sz["responseHeadersSize"]

            pg.on("requestfinished", count)
            pg.goto(url)
            ready(pg)
            t = pg.evaluate(
                "() => new Promise(res => requestAnimationFrame(() => requestAnimationFrame(() =>"
                " res(performance.now()))))"
            )
            firsts.append(t / 1000)
            pg.wait_for_timeout(500)
            nbytes[1] = pg.evaluate(  # decoded: the browser's own count (a preloaded body is not re-readable)
                "() => [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')]"
                ".reduce((s, e) => s + (e.decodedBodySize || 0), 0)"
            )
            sent.append(tuple(nbytes))
            ctx.close()
        out["first_paint_s"] = statistics.median(firsts)
        out["bytes_first_load"] = statistics.median(b[0] for b in sent)
        out["bytes_first_load_decoded"] = statistics.median(b[1] for b in sent)
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        pg = ctx.new_page()
        pg.set_default_timeout(180_000)  # a campus what-if solve takes seconds on this machine
        pg.goto(url)
        ready(pg)
        pg.wait_for_timeout(800)
        recolour, patch_bytes = [], []
        for name in ("rack_power_w [W]", "junction_c [C]", "margin_k [K]", "coolant_return_c [C]"):
            pg.click("#metric")
            pg.evaluate("() => { window.__done = (" + PAINTED + ")(); }")
            t0 = pg.evaluate("() => performance.now()")
            with pg.expect_response(
                lambda r: "_dash-update-component" in r.url and "facility" in r.text()
            ) as ri:
                pg.get_by_role("listbox").get_by_role("option", name=name, exact=True).click()
            t1 = pg.evaluate("() => window.__done")
            pg.keyboard.press("Escape")
            recolour.append(t1 - t0)
            patch_bytes.append(len(ri.value.body()))
            pg.wait_for_timeout(200)
        out["recolour_ms"] = statistics.median(recolour)
        out["recolour_bytes"] = statistics.median(patch_bytes)
        print(f"  {layout.name}: first paint {out['first_paint_s']:.2f} s, first load {out['bytes_first_load'] / 1e6:.2f} MB,"
              f" recolour {out['recolour_ms']:.0f} ms ({out['recolour_bytes'] / 1e3:.0f} KB)", flush=True)  # fmt: skip
        resolve = []
        for amb in (29.5, 33.5, 37.5):  # new scenarios: not in the cache
            old = pg.inner_text("#status").split(":")[0]  # "scenario <id>"
            pg.evaluate("() => { window.__done = (" + PAINTED + ")(); }")
            t0 = pg.evaluate("() => performance.now()")
            pg.fill("#ambient", str(amb))
            pg.press("#ambient", "Enter")
            t_status = pg.wait_for_function(  # the new scenario's status line and KPIs ...
                "(old) => { const s = document.getElementById('status').innerText;"
                " return s.startsWith('scenario ') && !s.startsWith(old) && performance.now(); }",
                arg=old,
                polling="raf",
            ).json_value()
            t1 = max(t_status, pg.evaluate("() => window.__done"))  # ... and its colours in the 3D view
            resolve.append(t1 - t0)
        out["whatif_resolve_ms"] = statistics.median(resolve)
        maxq = []  # a grid budget: Max-Q (a background job on a layout of more than 1,000 racks)
        base_mw = float(pg.get_attribute("#kpi-facility_power_mw", "data-value"))
        for frac in (0.9, 0.85, 0.8):
            old = pg.inner_text("#status").split(":")[0]
            pg.evaluate("() => { window.__done = (" + PAINTED + ")(); }")
            t0 = pg.evaluate("() => performance.now()")
            pg.fill("#budget", f"{base_mw * frac:.1f}")
            pg.press("#budget", "Enter")
            t_status = pg.wait_for_function(
                "(old) => { const s = document.getElementById('status').innerText;"
                " return s.startsWith('scenario ') && !s.startsWith(old) && !s.includes('in the background ...')"
                " && performance.now(); }",
                arg=old,
                polling="raf",
            ).json_value()
            maxq.append(max(t_status, pg.evaluate("() => window.__done")) - t0)
        out["maxq_resolve_ms"] = statistics.median(maxq)
        out["maxq_background"] = "solved in the background" in pg.inner_text("#status")
        pg.fill("#budget", "")
        pg.press("#budget", "Enter")
        if shots:
            screenshots(pg, layout)
        ctx.close()
        # server memory with 5 scenarios cached (in this process)
        base = rss_mb()
        for amb in (20, 25, 30, 35, 40):
            app._twin_cache.get_or_run(Scenario(layout=str(layout), ambient_c=float(amb) + 0.5))
        out["rss_mb_5_cached"] = rss_mb()
        out["rss_mb_growth_5_cached"] = out["rss_mb_5_cached"] - base
    finally:
        srv.shutdown()
    return out


def screenshots(pg, layout: Path) -> None:
    """docs/img/dashboard-<layout>[-view].png: each view of the dashboard."""
    from twin import Scenario

    img = REPO / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    stem = "dashboard-" + layout.stem.replace("_", "-")
    model = Scenario(layout=str(layout)).model()

    def shot(name: str, wait_ms: int = 1500):
        pg.wait_for_load_state("networkidle")
        pg.wait_for_timeout(wait_ms)
        pg.screenshot(path=str(img / f"{stem}{name}.png"), full_page=True)

    def what_if(field: str, value: str):
        old = pg.inner_text("#status").split(":")[0]
        pg.fill(field, value)
        pg.press(field, "Enter")
        pg.wait_for_function(
            "(old) => { const s = document.getElementById('status').innerText;"
            " return s.startsWith('scenario ') && !s.startsWith(old) && !s.includes('in the background ...'); }",
            arg=old,
        )

    pg.fill("#ambient", "")
    pg.press("#ambient", "Enter")
    shot("")
    pg.click("#pin-a-btn")
    if len(model.racks) > 1000:  # the campus: a hall (boxes, switches) and a background Max-Q solve
        from webapp.figures import view_options

        labels = [o["label"] for o in view_options(model)]
        for label, name in ((labels[1], "-hall"), (labels[0], None)):
            pg.click("#view")
            pg.get_by_role("option", name=label, exact=True).click()
            pg.keyboard.press("Escape")
            mode = "vertex" if name else "cell"  # a hall's racks as boxes, the site's rows as strips
            pg.wait_for_function(
                "(m) => document.querySelector('#facility .js-plotly-plot')._fullData[0].intensitymode === m",
                arg=mode,
            )
            if name:
                shot(name)
        pg.fill("#budget", "850")
        pg.press("#budget", "Enter")
        pg.wait_for_selector("#progress-box", state="visible")
        pg.screenshot(path=str(img / f"{stem}-background-solve.png"))
        pg.wait_for_function(
            "() => document.getElementById('status').innerText.includes('solved in the background')"
        )
        pg.wait_for_timeout(1500)
    else:
        for c in list(model.cdus["name"][:2]):
            pg.click("#failures")
            pg.keyboard.type(c.split("/")[-1])
            pg.get_by_role("listbox").get_by_role("option", name=c, exact=True).click()
            pg.keyboard.press("Escape")
        shot("-cdu-failure", 2500)
        what_if("#budget", "3.5")
    pg.click("#pin-b-btn")
    pg.click("#tab-compare")
    pg.wait_for_function(
        "() => { const g = document.querySelector('#compare-3d .js-plotly-plot'); return g && g._fullData"
        " && g._fullData.length > 0; }"
    )
    shot("-compare", 2500)
    pg.click("text=Power flow")
    shot("-sankey")
    pg.click("#tab-transient")
    pg.click("#tr-run")
    pg.wait_for_function(
        "() => { const g = document.querySelector('#tr-graph .js-plotly-plot'); return g && g._fullData"
        " && g._fullData.length >= 5; }"
    )
    shot("-transient")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--screenshots", action="store_true", help="write docs/img/dashboard-*.png")
    ap.add_argument("--layouts", nargs="*", default=["campus_1gw.yaml", "pod_small.yaml"])
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for name in args.layouts:
            r = bench_layout(browser, REPO / "layouts" / name, args.screenshots)
            print(
                f"{r['layout']:>18}: first paint {r['first_paint_s']:.2f} s, recolour {r['recolour_ms']:.0f} ms "
                f"({r['recolour_bytes'] / 1e3:.0f} KB), what-if re-solve {r['whatif_resolve_ms']:.0f} ms, "
                f"Max-Q what-if {r['maxq_resolve_ms']:.0f} ms{' (background job)' if r['maxq_background'] else ''}, "
                f"first load {r['bytes_first_load'] / 1e6:.2f} MB sent ({r['bytes_first_load_decoded'] / 1e6:.2f} MB decoded), server RSS {r['rss_mb_5_cached']:.0f} MB "
                f"(+{r['rss_mb_growth_5_cached']:.0f} MB for 5 cached scenarios)",
                flush=True,
            )
        browser.close()


if __name__ == "__main__":
    main()
