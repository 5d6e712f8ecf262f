"""layouts/campus_mixed.yaml (Vera Rubin + Groq LPX, 1 GW): it loads, validates, compiles (thermal, electrical and
network accept a decode-only rack without NVLink) and solves; revenue Max-Q beats tokens Max-Q priced afterwards."""

from __future__ import annotations

import numpy as np
import pytest

from twin.layout import spare_units
from twin.model import load_model

LAYOUT = "layouts/campus_mixed.yaml"


@pytest.fixture(scope="module")
def mixed():
    return load_model(LAYOUT)


def test_loads_validates_and_mixes_a_quarter_of_groq(mixed):
    names = mixed.rack_types["name"].to_numpy()[mixed.racks["rack_type"].to_numpy()]
    assert set(names) == {"vr-nvl72", "groq-lpx"}
    p = mixed.rack_types.set_index("name")["power_maxp_w"]
    it = {n: float(np.sum(names == n)) * p[n] for n in ("vr-nvl72", "groq-lpx")}
    share = it["groq-lpx"] / sum(it.values())
    assert 0.2 <= share <= 0.3
    sub = mixed.layout.electrical.substation
    tr = mixed.catalog.get("transformers", sub.transformer)
    firm_mva = (sub.units - spare_units(sub.redundancy, sub.units)) * tr.rating_kva / 1e3
    assert firm_mva >= mixed.layout.site.grid_limit_mw
    from typer.testing import CliRunner

    from twin.cli import app

    r = CliRunner().invoke(app, ["validate", LAYOUT])
    assert r.exit_code == 0 and "is valid" in r.output


def test_network_counts_no_nvlink_for_the_lpx(mixed):
    from twin.network.topology import nvlink_domains

    nv = nvlink_domains(mixed).set_index("rack_type")
    assert nv.loc["groq-lpx", "nvlink_tb_s_per_rack"] == 0
    assert nv.loc["vr-nvl72", "nvlink_tb_s_per_rack"] > 0


@pytest.mark.slow
def test_solves_and_revenue_maxq_beats_tokens_maxq_priced(mixed):
    from twin import Scenario, run

    s = run(Scenario(layout=LAYOUT))
    assert s.status == "ok" and s.kpis["heat_unremoved_mw"] < 1.0
    tok = run(Scenario(layout=LAYOUT, budget_mw=1000.0))
    rev = run(Scenario(layout=LAYOUT, budget_mw=1000.0, maxq={"objective": "revenue"}))
    assert tok.status == rev.status == "ok"
    assert rev.kpis["facility_power_mw"] <= 1000.0 * (1 + 1e-5)
    assert rev.kpis["revenue_usd_per_h"] >= tok.kpis["revenue_usd_per_h"] * (1 - 1e-6)
    t = rev.tables["tiers"].set_index("tier")
    assert t.loc["t150", "tokens_per_s"] > 0  # decode on the LPX, prefill on Vera Rubin
    assert rev.kpis["prefill_tokens_per_s"] > 0 and rev.kpis["shadow_price_grid_usd_per_mwh"] > 0
