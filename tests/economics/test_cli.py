"""``twin economics`` and ``twin maxq --objective``: output and bad input (exit 2 with a clear message)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from twin.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--mix", "vr-nvl72:0.7,groq-lpx:0.25"], "sum to 0.95, not 1"),
        (["--mix", "vr-nvl73:1"], "unknown rack type 'vr-nvl73'"),
        (["--mix", "vr-nvl72:x"], "not RACK_TYPE:FRACTION"),
        (["--compare", "hgx-h100,nope"], "unknown rack type 'nope'"),
        (["--compare", "groq-lpx"], "decode-only"),
        (["--site-mw", "-5"], "positive"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(args, message):
    r = runner.invoke(app, ["economics", *args])
    assert r.exit_code == 2, r.output
    assert message in r.output


def test_a_tier_no_rack_reaches_exits_2(tmp_path):
    f = tmp_path / "tiers.yaml"
    f.write_text(
        "tiers:\n  - {name: ultra, kind: inference, price_usd_per_mtok: 300, interactivity_tok_s_per_user: 5000}\n"
    )
    r = runner.invoke(app, ["economics", "--mix", "vr-nvl72:0.75,groq-lpx:0.25", "--tiers", str(f)])
    assert r.exit_code == 2 and "no rack of the facility reaches it" in r.output
    f.write_text("tiers:\n  - {name: t, kind: training, price_usd_per_gpu_hour: 2}\n")
    r = runner.invoke(app, ["economics", "--tiers", str(f)])
    assert r.exit_code == 2 and "no inference tier with a price" in r.output
    f.write_text("tiers:\n  - {name: t, kind: inference, price_usd_per_mtok: -1}\n")
    r = runner.invoke(app, ["economics", "--tiers", str(f)])
    assert r.exit_code == 2 and "price_usd_per_mtok" in r.output


def test_maxq_objective_option_checked():
    r = runner.invoke(app, ["maxq", "layouts/pod_small.yaml", "--budget-mw", "3.5", "--objective", "profit"])
    assert r.exit_code == 2 and "unknown objective" in r.output
    r = runner.invoke(
        app,
        ["maxq", "layouts/pod_small.yaml", "--budget-mw", "3.5", "--objective", "revenue", "--policy", "all"],
    )
    assert r.exit_code == 2 and "needs --policy maxq" in r.output


def test_maxq_revenue_json_has_tiers():
    r = runner.invoke(
        app, ["maxq", "layouts/pod_small.yaml", "--budget-mw", "3.5", "--objective", "revenue", "--json"]
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["revenue_usd_per_h"] > 0 and d["tier_tokens_per_s"] > 0
    r = runner.invoke(app, ["maxq", "layouts/pod_small.yaml", "--budget-mw", "3.5", "--objective", "revenue"])
    assert r.exit_code == 0 and "revenue $" in r.output


@pytest.mark.slow
def test_economics_site_json():
    r = runner.invoke(
        app, ["economics", "--site-mw", "1000", "--mix", "vr-nvl72:0.75,groq-lpx:0.25", "--json"]
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert {x["rack_type"] for x in d["racks"]} == {"vr-nvl72", "groq-lpx"}
    assert d["facility_power_mw"] == pytest.approx(1000.0, rel=1e-4)
    assert d["revenue_usd_per_h"] == pytest.approx(sum(t["revenue_usd_per_h"] for t in d["tiers"]), rel=1e-9)
