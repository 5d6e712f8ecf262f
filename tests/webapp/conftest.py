"""Fixtures for the dashboard's browser tests: the app served by a real WSGI server in a daemon thread, and
Debian's Chromium driven by Playwright (never a downloaded browser build)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
POD_SMALL = REPO / "layouts" / "pod_small.yaml"


def _need_chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (Debian's chromium; .ci/run installs it with apt-get)")


@pytest.fixture(scope="session")
def chromium():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def serve(app):
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    return srv, f"http://127.0.0.1:{srv.port}/"


@pytest.fixture(scope="session")
def pod_app(tmp_path_factory):
    _need_chromium()
    from webapp.app import create_app

    app = create_app(POD_SMALL, upload_dir=tmp_path_factory.mktemp("uploads"))
    srv, url = serve(app)
    yield app, url
    srv.shutdown()


@pytest.fixture()
def dash_page(chromium, pod_app):
    ctx = chromium.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(pod_app[1])
    wait_ready(pg)
    yield pg
    ctx.close()


def wait_ready(pg):
    pg.wait_for_selector("#kpi-facility_power_mw")
    pg.wait_for_function(
        "() => { const g = document.querySelector('#facility .js-plotly-plot');"
        " return g && g._fullData && g._fullData.length > 0; }"
    )
