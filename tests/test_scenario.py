"""Scenario: validation of inputs, overrides by dotted path, and a content-hash id."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from twin import Scenario
from twin.errors import LayoutError
from twin.model import load_model
from twin.scenario import apply_overrides, load_scenario, parse_path

POD = "layouts/pod_small.yaml"


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch, layouts_dir):
    monkeypatch.chdir(layouts_dir.parent)


def test_id_same_for_path_and_loaded_layout_and_any_override_order():
    a = Scenario(
        layout=POD, overrides={"halls[0].facility_water.supply_c": 40, "site.grid_limit_mw": 6}, ambient_c=38
    )
    lay = load_model(POD).layout
    b = Scenario(
        layout=lay,
        overrides={"site.grid_limit_mw": 6.0, "halls[0].facility_water.supply_c": 40.0},
        ambient_c=38.0,
    )
    assert a.id == b.id and a == b and hash(a) == hash(b)
    assert len({a, b}) == 1


def test_id_stable_across_processes():
    s = Scenario(layout=POD, ambient_c=30.0, failures=("hall-1/pod-1/tcs-1/cdu-1",))
    code = (
        "from twin import Scenario; print(Scenario(layout='layouts/pod_small.yaml', ambient_c=30.0, "
        "failures=('hall-1/pod-1/tcs-1/cdu-1',)).id)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == s.id


@pytest.mark.parametrize(
    "change",
    [
        {"ambient_c": 36.0},
        {"supply_c": 40.0},
        {"it_load": 0.8},
        {"failures": ("hall-1/pod-1/tcs-1/cdu-1",)},
        {"overrides": {"halls[0].facility_water.supply_c": 41}},
        {"analysis": "thermal"},
        {"gpu_cap_w": 1000.0},
    ],
)
def test_id_differs_when_an_input_differs(change):
    base = Scenario(layout=POD, ambient_c=35.0)
    assert base.replace(**change).id != base.id


def test_failure_order_and_irrelevant_options_do_not_change_the_id():
    f = ("hall-1/pod-1/tcs-1/cdu-1", "hall-1/pod-1/tcs-1/cdu-2")
    assert Scenario(layout=POD, failures=f).id == Scenario(layout=POD, failures=f[::-1]).id
    # transient options only matter to the transient analysis
    assert Scenario(layout=POD).id == Scenario(layout=POD, transient={"duration_s": 99}).id
    assert (
        Scenario(layout=POD, analysis="transient").id
        != Scenario(layout=POD, analysis="transient", transient={"duration_s": 99}).id
    )


def test_per_rack_caps_hash_by_content():
    n = load_model(POD).n_racks
    a = Scenario(layout=POD, gpu_cap_w=np.full(n, 1000.0))
    b = Scenario(layout=POD, gpu_cap_w=[1000.0] * n)
    c = Scenario(layout=POD, gpu_cap_w=np.r_[np.full(n - 1, 1000.0), 999.0])
    assert a.id == b.id != c.id


def test_override_applies_and_is_validated():
    m = Scenario(layout=POD, overrides={"halls[0].facility_water.supply_c": 40}).model()
    assert m.fws["supply_c"].tolist() == [40.0]


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"halls[3].facility_water.supply_c": 40}, "halls[3]: index out of range"),
        ({"halls[0].facility_water.supply_c": "hot"}, "override halls[0].facility_water.supply_c = 'hot'"),
        ({"network.optix": "cpo"}, "network.optix: unknown key"),
        ({"halls[0]..x": 1}, "not a dotted layout path"),
        ({"nosuch.key": 1}, "nosuch: unknown key"),
    ],
)
def test_bad_override_names_the_dotted_path(overrides, fragment):
    with pytest.raises(LayoutError) as exc:
        Scenario(layout=POD, overrides=overrides).model()
    assert fragment in str(exc.value)


def test_parse_path_and_apply():
    assert parse_path("halls[0].pods[2].rows[1].rack_type") == ("halls", 0, "pods", 2, "rows", 1, "rack_type")
    data = {"a": {"b": [1, 2]}}
    assert apply_overrides(data, {"a.b[1]": 5}) == {"a": {"b": [1, 5]}}
    assert data == {"a": {"b": [1, 2]}}  # the input is not changed


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"it_load": 0.5, "gpu_cap_w": 900.0}, "give one load"),
        ({"analysis": "thermal", "budget_mw": 3.0}, "budget_mw applies to analysis maxq"),
        ({"analysis": "maxq"}, "needs budget_mw"),
        ({"it_load": 1.5}, "less than or equal to 1"),
        ({"ambient_c": float("nan")}, "finite number"),
        ({"ambient_c": 30.0, "wet_bulb_c": 31.0}, "above the dry bulb"),
        ({"analysis": "nope"}, "Input should be"),
        (
            {"transient": {"duration_s": 10, "event_s": 30}, "analysis": "transient"},
            "before the end of the run",
        ),
    ],
)
def test_bad_inputs_are_refused(kwargs, fragment):
    with pytest.raises(ValidationError, match=None) as exc:
        Scenario(layout=POD, **kwargs)
    assert fragment in str(exc.value)


def test_budget_means_maxq():
    assert Scenario(layout=POD, budget_mw=3.0).analysis == "maxq"


def test_scenario_file_round_trip(tmp_path):
    """A scenario written out (layout given as an absolute path) reads back with the same id."""
    s = Scenario(
        layout=POD, overrides={"halls[0].facility_water.supply_c": 40}, ambient_c=38.0, budget_mw=3.5
    )
    d = {**s.to_dict(), "layout": str(Path(POD).resolve())}
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    assert load_scenario(p).id == s.id


def test_scenario_file_errors_name_file_and_line(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("layout: pod.yaml\nambient_c: hot\nanalysis: coupled\n")
    with pytest.raises(LayoutError) as exc:
        load_scenario(p)
    assert f"{p}:2: ambient_c:" in str(exc.value)


def test_override_of_one_hall_leaves_halls_merged_from_the_same_anchor_alone():
    """campus_1gw merges its halls from one YAML anchor: an override of hall 0 must not reach hall 1, and the path
    and the loaded layout must agree."""
    o = {"halls[0].facility_water.supply_c": 40.0}
    m = Scenario(layout="layouts/campus_1gw.yaml", overrides=o).model()
    supply = m.fws["supply_c"].to_numpy()
    assert supply[0] == 40.0 and supply[-1] == 45.0
    lay = load_model("layouts/campus_1gw.yaml").layout
    assert Scenario(layout=lay, overrides=o).id == Scenario(layout="layouts/campus_1gw.yaml", overrides=o).id
