"""twin.study.report: a self-contained HTML page whose plots follow the study's parameters."""

from __future__ import annotations

import re

import pytest

from tests.study.conftest import POD, write
from twin.errors import InputError
from twin.study import load_study, run_study, write_report


def _external(html: str) -> list[tuple]:
    """Tags of the page (not text inside scripts) that load something: script src, link href, img src."""
    from html.parser import HTMLParser

    found = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if (tag in ("script", "img", "iframe") and a.get("src")) or (tag == "link" and a.get("href")):
                found.append((tag, a))

    P().feed(html)
    return found


def _figures(html: str) -> list[str]:
    return re.findall(r'id="(fig-\d+)"', html)


def test_report_is_self_contained_with_plots_for_the_parameters(tmp_path, pod_grid):
    study, out = pod_grid
    path = write_report(out, tmp_path / "report.html")
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    # plotly.js is inlined: no script, stylesheet or image is fetched, the page opens offline
    assert _external(html) == []
    assert path.stat().st_size > 3_000_000 and "Plotly.newPlot" in html
    figs = _figures(html)
    assert len(figs) == len(set(figs)) >= 6
    assert '"type":"heatmap"' in html  # two numeric parameters: a map of each KPI
    assert "KPIs against each parameter" in html and "Worst cases by" in html
    assert "Scenarios that are not ok" in html and "cdu-9" in html  # the error rows with their reason
    with pytest.raises(InputError, match="--force"):
        write_report(out, path)
    again = write_report(out, path, force=True)
    assert _figures(again.read_text()) == figs  # deterministic ids


def test_n_minus_1_report_compares_each_failure_with_the_baseline(tmp_path, dask_client):
    text = f"base:\n  layout: {POD}\n  ambient_c: 45\nanalysis: coupled\nparameters:\n  each_failure: cdu\n"
    study = load_study(write(tmp_path, text))
    assert run_study(study, tmp_path / "out", client=dask_client)["complete"]
    html = write_report(tmp_path / "out").read_text()
    assert "Single failures against the baseline" in html
    assert "baseline KPI" in html
    assert "hall-1/pod-1/tcs-1/cdu-1" in html


def test_report_of_a_missing_study(tmp_path):
    with pytest.raises(InputError, match="no such study directory"):
        write_report(tmp_path / "nothing")
