"""twin.study.spec: the study file, its parameters and scenarios, and every spec error as file:line: path: message."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.study.conftest import CDU1, POD, POD_GRID, write
from twin import Scenario
from twin.cli import app
from twin.errors import LayoutError
from twin.failures import unit_names
from twin.study.spec import Recipe, column_name, load_study

runner = CliRunner()


def _study(tmp_path, body: str, base: str | None = None):
    text = f"base:\n  layout: {base or POD}\n" + body
    return load_study(write(tmp_path, text))


def _problems(tmp_path, body: str, base_block: str | None = None):
    text = (base_block if base_block is not None else f"base:\n  layout: {POD}\n") + body
    f = write(tmp_path, text)
    with pytest.raises(LayoutError) as ei:
        load_study(f)
    return f, ei.value.problems


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# --- parameters and scenarios ---------------------------------------------------------------------------------


def test_grid_ranges_are_inclusive_and_make_a_product(tmp_path):
    s = _study(
        tmp_path,
        "analysis: thermal\nparameters:\n  grid:\n    ambient_c: {start: 0, stop: 45, step: 5}\n"
        "    supply_c: {start: 30, stop: 45, num: 7}\n    it_load: [0.5, 1.0]\n",
    )
    assert s.n_scenarios == 10 * 7 * 2
    amb = sorted({s.params_at(i)["ambient_c"] for i in range(s.n_scenarios)})
    sup = sorted({s.params_at(i)["supply_c"] for i in range(s.n_scenarios)})
    assert amb == list(range(0, 50, 5))
    assert sup == [30.0, 32.5, 35.0, 37.5, 40.0, 42.5, 45.0]
    combos = {tuple(sorted(s.params_at(i).items())) for i in range(s.n_scenarios)}
    assert len(combos) == s.n_scenarios  # every combination once
    # float steps without binary noise
    s2 = _study(tmp_path, "parameters:\n  grid:\n    it_load: {start: 0.6, stop: 1.0, step: 0.1}\n")
    assert [s2.params_at(i)["it_load"] for i in range(s2.n_scenarios)] == [0.6, 0.7, 0.8, 0.9, 1.0]


def test_study_scenario_is_the_run_api_scenario_of_the_row(tmp_path):
    study = load_study(write(tmp_path, POD_GRID))
    assert study.n_scenarios == 2 * 3 * 2 * 3
    for i in (0, 7, study.n_scenarios - 1):
        p = study.params_at(i)
        overrides = {"halls[0].facility_water.supply_c": p["halls[0].facility_water.supply_c"]}
        failures = tuple(p.get("failures", ()))
        by_hand = Scenario(
            layout=str(POD),
            ambient_c=p["ambient_c"],
            it_load=p["it_load"],
            overrides=overrides,
            failures=failures,
        )
        assert study.scenario(i).id == by_hand.id
    cols = study.recipe.columns(study.params_at(0))
    assert list(cols) == ["ambient_c", "it_load", "halls_0_facility_water_supply_c", "case", "failures"]
    assert column_name("halls[0].facility_water.supply_c") == "halls_0_facility_water_supply_c"
    assert column_name("overrides.network.optics") == "network_optics"


def test_layout_overrides_vary_slowest_so_batches_share_a_model(tmp_path):
    study = load_study(write(tmp_path, POD_GRID))
    key = "halls[0].facility_water.supply_c"
    vals = [study.params_at(i)[key] for i in range(study.n_scenarios)]
    assert vals == [40] * 18 + [45] * 18


def test_sample_is_reproducible_and_stratified(tmp_path):
    body = (
        "parameters:\n  sample:\n    method: {m}\n    n: {n}\n    seed: 7\n"
        "    ranges: {{ambient_c: [0, 45], supply_c: [30, 45]}}\n"
    )
    s = _study(tmp_path, body.format(m="lhs", n=20))
    pts = np.array([[s.params_at(i)["ambient_c"], s.params_at(i)["supply_c"]] for i in range(20)])
    assert pts[:, 0].min() >= 0 and pts[:, 0].max() <= 45 and pts[:, 1].min() >= 30 and pts[:, 1].max() <= 45
    # Latin hypercube: one point in each of the n equal strata of every range
    assert sorted(np.floor(pts[:, 0] / 45 * 20).astype(int)) == list(range(20))
    assert sorted(np.floor((pts[:, 1] - 30) / 15 * 20).astype(int)) == list(range(20))
    again = _study(tmp_path, body.format(m="lhs", n=20))
    assert [again.params_at(i) for i in range(20)] == [s.params_at(i) for i in range(20)]
    sob = _study(tmp_path, body.format(m="sobol", n=16))
    assert sob.n_scenarios == 16 and sob.params["ambient_c"].dtype == "float"


def test_each_failure_enumerates_every_unit_after_the_baseline(tmp_path, pod_model):
    s = _study(tmp_path, "parameters:\n  each_failure: cdu\n")
    units = unit_names(pod_model, "cdu")
    assert s.n_scenarios == len(units) + 1
    assert s.params_at(0) == {"failure": None} and s.scenario(0).failures == ()
    assert [s.params_at(i + 1)["failure"] for i in range(len(units))] == units
    assert s.scenario(1).failures == (units[0],)
    s2 = _study(
        tmp_path,
        "parameters:\n  each_failure: {kind: busway, baseline: false}\n  grid: {ambient_c: [20, 40]}\n",
    )
    assert s2.n_scenarios == 2 * len(unit_names(pod_model, "busway"))
    assert s2.params["failure"].column == "failure"


def test_several_layouts_are_a_parameter(tmp_path, layouts_dir):
    text = (
        f"base:\n  layout: [{POD}, {layouts_dir / 'hall_100mw_ac.yaml'}]\nanalysis: thermal\n"
        "parameters:\n  grid: {ambient_c: [20, 40]}\n"
    )
    s = load_study(write(tmp_path, text))
    assert s.n_scenarios == 4 and s.params["layout"].column == "layout"
    assert {s.scenario(i).layout for i in range(4)} == {str(POD), str(layouts_dir / "hall_100mw_ac.yaml")}


def test_options_and_partition(tmp_path):
    s = _study(
        tmp_path,
        "analysis: maxq\nparameters:\n  grid:\n"
        "    policy: [maxq, uniform]\n    budget_mw: [3, 3.5]\n    maxq.seed: [0, 1]\npartition_by: policy\n",
    )
    assert s.params["maxq.seed"].kind == "option" and s.params["maxq.seed"].column == "maxq_seed"
    assert s.scenario(0).maxq.seed in (0, 1)
    # the partition parameter varies slowest and batches never cross it
    assert [s.params_at(i)["policy"] for i in range(8)] == ["maxq"] * 4 + ["uniform"] * 4
    assert {pv for *_, pv in s.batches()} == {"maxq", "uniform"}
    for _b, start, stop, pv in s.batches():
        assert {s.params_at(i)["policy"] for i in range(start, stop)} == {pv}


def test_spec_hash_follows_the_spec_and_the_layout_content(tmp_path):
    a = load_study(write(tmp_path, POD_GRID, "a.yaml"))
    b = load_study(write(tmp_path, POD_GRID, "b.yaml"))
    assert a.spec_hash == b.spec_hash
    c = load_study(write(tmp_path, POD_GRID.replace("[20, 40]", "[20, 41]"), "c.yaml"))
    assert c.spec_hash != a.spec_hash
    lay = tmp_path / "pod.yaml"
    shutil.copy(POD, lay)
    d1 = load_study(write(tmp_path, POD_GRID.replace(str(POD), str(lay)), "d.yaml"))
    lay.write_text(lay.read_text().replace("name: hall-1", "name: hall-1  # edited", 1) + "\n# edited\n")
    d2 = load_study(tmp_path / "d.yaml")
    assert d1.spec_hash != d2.spec_hash


def test_recipe_is_small_and_picklable(tmp_path):
    import pickle

    study = load_study(write(tmp_path, POD_GRID))
    blob = pickle.dumps(study.recipe)
    assert len(blob) < 20_000
    r: Recipe = pickle.loads(blob)
    assert r.scenario(study.params_at(5)).id == study.scenario(5).id


# --- errors ---------------------------------------------------------------------------------------------------


def test_unknown_parameter_path_is_named_with_its_line(tmp_path):
    body = "parameters:\n  grid:\n    ambient_c: [20, 30]\n    halls[0].facility_water.supplyc: [40, 45]\n"
    f, probs = _problems(tmp_path, body)
    assert len(probs) == 1
    p = probs[0]
    assert p.file == str(f) and p.line == _line_of(f.read_text(), "supplyc")
    assert p.path.startswith("parameters.grid.halls[0].facility_water.supplyc")
    assert "unknown parameter" in p.message and "unknown key" in p.message
    # a misspelt scenario input gets a suggestion
    _, probs = _problems(tmp_path, "parameters:\n  grid:\n    ambiant_c: [20, 30]\n")
    assert "did you mean ambient_c" in probs[0].message


@pytest.mark.parametrize(
    "body, where, words",
    [
        ("parameters:\n  grid:\n    ambient_c: {start: 40, stop: 20, step: 5}\n", "ambient_c", "empty range"),
        ("parameters:\n  grid:\n    ambient_c: []\n", "ambient_c", "empty list"),
        ("parameters:\n  grid:\n    ambient_c: {start: 0, stop: 20, step: 0}\n", "ambient_c", "step must be"),
        ("parameters:\n  grid:\n    ambient_c: {start: 0, stop: 20, num: 0}\n", "ambient_c", "num must be"),
        ("parameters:\n  grid:\n    ambient_c: {start: 0, stop: 20}\n", "ambient_c", "step or num"),
        ("parameters:\n  sample:\n    n: 0\n    ranges: {ambient_c: [0, 45]}\n", "n: 0", "bad sample size"),
        (
            "parameters:\n  sample:\n    method: sobol\n    n: 100\n    ranges: {ambient_c: [0, 45]}\n",
            "n: 100",
            "power of 2",
        ),
        (
            "parameters:\n  sample:\n    n: 8\n    ranges:\n      ambient_c: [45, 0]\n",
            "ambient_c",
            "empty range",
        ),
        ("parameters:\n  sample:\n    n: 8\n    ranges:\n      ambient_c: [1]\n", "ambient_c", "[low, high]"),
        ("parameters:\n  each_failure: cdus\n", "each_failure", "unknown unit kind"),
        ("parameters:\n  grid:\n    ambient_c: [20, 99]\n", "99", "less than or equal to 60"),
        ("parameters:\n  grid:\n    status: [a]\n", "status", "column of every study"),
        (
            "parameters:\n  grid:\n    it_load: [0.5]\n  cases:\n    - {it_load: 0.7}\n",
            "it_load: 0.7",
            "twice",
        ),
        ("parameters: {}\n", "parameters", "nothing varies"),
        (
            "parameters:\n  grid: {ambient_c: [20]}\noutputs:\n  kpis: [tokens_per_sec]\n",
            "kpis",
            "unknown KPI",
        ),
        (
            "parameters:\n  grid: {ambient_c: [20]}\noutputs:\n  tables: {rackz: whole}\n",
            "rackz",
            "unknown table",
        ),
        (
            "parameters:\n  grid: {ambient_c: [20]}\npartition_by: supply_c\n",
            "partition_by",
            "not a grid parameter",
        ),
        ("parameters:\n  grid: {ambient_c: [20]}\nbatchsize: 3\n", "batchsize", "unknown key"),
        (
            "parameters:\n  grid: {ambient_c: [20]}\nbatch_size: 0\n",
            "batch_size",
            "greater than or equal to 1",
        ),
        ("parameters:\n  cases:\n    - {case: 3}\n", "case: 3", "name of the case"),
    ],
)
def test_spec_errors_name_file_line_and_path(tmp_path, body, where, words):
    f, probs = _problems(tmp_path, body)
    assert any(words in p.message for p in probs), [p.format() for p in probs]
    p = next(p for p in probs if words in p.message)
    assert p.file == str(f)
    assert p.line == _line_of(f.read_text(), where), p.format()
    assert p.format().startswith(f"{f}:{p.line}: ")


def test_base_errors(tmp_path):
    f, probs = _problems(
        tmp_path, "parameters:\n  grid: {ambient_c: [20]}\n", "base:\n  layout: nowhere.yaml\n"
    )
    assert "layout file not found" in probs[0].message and probs[0].line == 2
    f, probs = _problems(tmp_path, "parameters:\n  grid: {ambient_c: [20]}\n", "analysis: coupled\n")
    assert probs[0].path == "base" and "required" in probs[0].message
    f, probs = _problems(
        tmp_path, "analysis: maxq\nparameters:\n  grid: {ambient_c: [20]}\n", f"base:\n  layout: {POD}\n"
    )
    assert "needs budget_mw" in probs[0].message


def test_each_failure_of_a_kind_the_layout_lacks(tmp_path, layouts_dir):
    kyber = layouts_dir / "hall_kyber.yaml"  # 800 VDC: no UPS
    f, probs = _problems(tmp_path, "parameters:\n  each_failure: ups\n", f"base:\n  layout: {kyber}\n")
    assert "no unit of kind ups" in probs[0].message and probs[0].line == 4


def test_not_a_mapping_and_yaml_errors(tmp_path):
    f = write(tmp_path, "- a\n- b\n")
    with pytest.raises(LayoutError) as ei:
        load_study(f)
    assert "a study must be a YAML mapping" in str(ei.value)
    f = write(tmp_path, "base: {layout: x\n")
    with pytest.raises(LayoutError) as ei:
        load_study(f)
    assert "YAML syntax error" in str(ei.value) and f"{f}:" in str(ei.value)


def test_each_failure_failure_names_go_into_failures(tmp_path):
    s = _study(tmp_path, "parameters:\n  each_failure: cdu\n", base=f"{POD}\n  failures: [{CDU1}]")
    assert s.scenario(0).failures == (CDU1,)
    assert s.scenario(2).failures == (CDU1, "hall-1/pod-1/tcs-1/cdu-2")


def test_schema_study_prints_the_json_schema():
    res = runner.invoke(app, ["schema", "--study"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["title"].startswith("AI-factory twin batch study")
    assert {"base", "parameters", "analysis", "outputs"} <= set(s["properties"])


def test_every_problem_at_once_in_file_order(tmp_path):
    body = (
        "parameters:\n  grid:\n    ambient_c: {start: 0, stop: 45, step: 5}\n"
        "    halls[0].facility_water.supplyc: [40, 45]\n"
        "  sample:\n    method: sobol\n    n: 100\n    ranges: {wet_bulb_c: [10, 25]}\n"
        "outputs:\n  kpis: [tokens_per_sec]\n"
    )
    f, probs = _problems(tmp_path, body)
    text = f.read_text()
    assert [p.line for p in probs] == [
        _line_of(text, "supplyc"),
        _line_of(text, "n: 100"),
        _line_of(text, "kpis"),
    ]
