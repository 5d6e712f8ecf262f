"""The result schema lists every table column and KPI that a run emits, and nothing that no run emits."""

from __future__ import annotations

import pytest

from twin import Scenario, run
from twin.resultschema import label, load_schema

POD = "layouts/pod_small.yaml"
HALL = "layouts/hall_100mw_ac.yaml"

# one scenario per analysis and per variant that emits its own tables or KPIs
SCENARIOS = [
    Scenario(layout=POD),
    Scenario(layout=POD, failures=("hall-1/pod-1/tcs-1/cdu-1", "hall-1/pod-1/blk-1"), ambient_c=40.0),
    Scenario(layout=POD, analysis="thermal", it_load=0.5),
    Scenario(layout=POD, analysis="electrical"),
    Scenario(layout=POD, analysis="n-1"),
    Scenario(layout=POD, analysis="compare-ac-dc"),
    Scenario(layout=POD, analysis="network"),
    Scenario(layout=POD, analysis="network", network={"traffic": "disagg"}, failures=("spine-b-101",)),
    Scenario(layout=POD, budget_mw=3.5),
    Scenario(layout=POD, budget_mw=3.5, policy="uniform"),
    Scenario(layout=POD, budget_mw=3.5, policy="maxp"),
    Scenario(layout=POD, budget_mw=3.5, maxq={"variation_sigma": 0.05}),
    Scenario(layout=POD, budget_mw=3.5, maxq={"objective": "revenue"}),
    Scenario(layout=POD, budget_mw=1.0),
    Scenario(layout=POD, budget_mw=3.5, ambient_c=44.0, supply_c=30.0, maxq={"optimize_cooling": True}),
    Scenario(layout=POD, analysis="transient", transient={"kind": "pump-trip", "duration_s": 60}),
    Scenario(layout=POD, analysis="transient", transient={"kind": "cdu-loss", "duration_s": 60}),
    Scenario(layout=POD, analysis="transient", transient={"kind": "supply-step", "duration_s": 60}),
    Scenario(layout=POD, analysis="transient", transient={"kind": "load-step", "duration_s": 60}),
    Scenario(analysis="size", sizing={"site_mw": 50, "rack_type": "vr-nvl72"}),
    Scenario(layout=HALL, ambient_c=46.0),
]


def emitted() -> tuple[dict[str, set[str]], set[str]]:
    """Table columns and KPI keys emitted by the scenarios above."""
    tables: dict[str, set[str]] = {}
    kpis: set[str] = set()
    for s in SCENARIOS:
        r = run(s)
        for name, df in r.tables.items():
            tables.setdefault(name, set()).update(map(str, df.columns))
        kpis.update(r.kpis)
    return tables, kpis


@pytest.fixture(scope="module")
def found():
    return emitted()


def test_every_emitted_column_and_kpi_is_in_the_schema(found):
    tables, kpis = found
    schema = load_schema()
    missing = [
        f"{t}.{c}"
        for t, cols in tables.items()
        for c in sorted(cols)
        if c not in schema["tables"].get(t, {}).get("columns", {})
    ]
    missing += [f"kpi {k}" for k in sorted(kpis) if k not in schema["kpis"]]
    assert not missing, "not in twin/results_schema.yaml: " + ", ".join(missing)


def test_everything_in_the_schema_is_emitted(found):
    tables, kpis = found
    schema = load_schema()
    stale = [
        f"{t}.{c}"
        for t, spec in schema["tables"].items()
        for c in spec["columns"]
        if c not in tables.get(t, set())
    ]
    stale += [f"kpi {k}" for k in schema["kpis"] if k not in kpis]
    assert not stale, "listed in twin/results_schema.yaml but emitted by no analysis: " + ", ".join(stale)


def test_every_entry_has_a_unit_and_a_description():
    schema = load_schema()
    entries = [(f"{t}.{c}", e) for t, spec in schema["tables"].items() for c, e in spec["columns"].items()]
    entries += [(f"kpi {k}", e) for k, e in schema["kpis"].items()]
    bad = [n for n, e in entries if not e.get("description") or "unit" not in e or "TODO" in e["description"]]
    assert not bad, ", ".join(bad)


def test_unit_suffix_agrees_with_the_unit():
    """A name ending in _mw is in MW, _w in W, _c in C ... (units in names, pandapower style). The longest
    matching suffix decides (``_m3_s`` is m3/s, not s); ratios named ``x_per_y`` are exempt."""
    suffix = {
        "_mw": "MW",
        "_w": "W",
        "_c": "C",
        "_k": "K",
        "_kpa": "kPa",
        "_pct": "%",
        "_m3_s": "m3/s",
        "_kg_s": "kg/s",
        "_tb_s": "TB/s",
        "_j_kg_k": "J/(kg K)",
        "_s": "s",
    }
    schema = load_schema()
    entries = [(c, e) for spec in schema["tables"].values() for c, e in spec["columns"].items()]
    entries += list(schema["kpis"].items())
    bad = []
    for n, e in entries:
        hits = [suf for suf in suffix if n.endswith(suf)]
        if not hits or "_per_" in n:
            continue
        want = suffix[max(hits, key=len)]
        if e["unit"] != want:
            bad.append(f"{n}: {e['unit']} (expected {want})")
    assert not bad, ", ".join(bad)


def test_label_reads_the_schema():
    assert label("racks", "junction_c").endswith("[C]")
    assert label(None, "facility_power_mw").endswith("[MW]")
