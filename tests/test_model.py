"""The compiled model: counts, relations, positions and nameplate agree with the layout and catalog."""

import dataclasses
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tests.layout_edit import base, write
from twin.catalog import load_catalog
from twin.electrical import compare_ac_dc, n_minus_1, solve_electrical
from twin.info import summarize
from twin.layout import Layout
from twin.model import TABLES, compile_layout, load_model


@pytest.mark.parametrize(
    "name", ["pod_small.yaml", "hall_100mw_ac.yaml", "hall_kyber.yaml", "campus_1gw.yaml"]
)
def test_reference_layouts_validate(layouts_dir, name):
    from twin.model import load_model

    m = load_model(layouts_dir / name)
    assert m.n_racks > 0 and not [p for p in m.warnings if p.severity == "error"]


def test_campus_is_a_max_q_site(campus_model):
    m = campus_model
    s = summarize(m)
    assert s["racks"] >= 5000
    assert s["grid_limit_mw"] == 1000
    assert s["nameplate_it_mw"] > 1000  # more racks than the grid could feed at Max-P
    assert s["architecture"] == "dc800" and s["optics"] == "cpo"
    types = s["racks_by_type"]
    assert types["vr-nvl72"] > types["ru-nvl576"] > 0
    assert any(p.severity == "note" and "Max-Q site" in p.message for p in m.warnings)


def test_pod_counts_by_hand(pod_model):
    m = pod_model
    assert m.n_racks == 16 and m.n_gpus == 16 * 72
    assert m.racks["power_maxp_w"].sum() == pytest.approx(16 * 227e3)
    assert len(m.cdus) == 3 and len(m.loops) == 1
    assert (m.heat_rejection["kind"] == "dry_cooler").sum() == 4
    assert (m.heat_rejection["kind"] == "chiller").sum() == 1


def test_repeat_expansion_by_hand(hall_ac_model):
    m = hall_ac_model
    assert len(m.pods) == 8 and len(m.rows) == 32 and m.n_racks == 8 * 4 * 12
    assert len(m.loops) == 16 and len(m.cdus) == 64
    # pod copies are 16 m apart; rack pitch defaults to the rack width (0.6 m)
    pod_y = m.pods["y_m"].to_numpy()
    assert np.allclose(np.diff(pod_y), 16.0)
    r0 = m.racks[m.racks["row"] == 0]
    assert np.allclose(np.diff(r0["x_m"].to_numpy()), 0.6)
    assert m.pods["name"].tolist()[:2] == ["hall-1/pod-1", "hall-1/pod-2"]


def test_relations_are_consistent(campus_model):
    m = campus_model
    r = m.racks
    # rack -> row -> pod -> hall agree
    assert np.array_equal(m.rows["pod"].to_numpy()[r["row"]], r["pod"].to_numpy())
    assert np.array_equal(m.pods["hall"].to_numpy()[r["pod"]], r["hall"].to_numpy())
    # rack -> loop in the same pod; rack -> busway -> (ups ->) block in the same pod
    assert np.array_equal(m.loops["pod"].to_numpy()[r["loop"]], r["pod"].to_numpy())
    el = m.elec
    assert set(el["kind"].to_numpy()[r["busway_node"]]) == {"busway"}
    assert set(el["kind"].to_numpy()[r["block_node"]]) == {"block"}
    assert np.array_equal(el["pod"].to_numpy()[r["busway_node"]], r["pod"].to_numpy())
    # the electrical tree is a tree rooted at the grid node
    parent = el["parent"].to_numpy()
    assert parent[0] == -1 and np.all(parent[1:] < np.arange(1, len(el)))
    # every rack has a leaf switch in its own pod
    sw = m.switches
    assert set(sw["tier"].to_numpy()[r["leaf"]]) == {"leaf"}
    assert np.array_equal(sw["pod"].to_numpy()[r["leaf"]], r["pod"].to_numpy())


def test_rack_names_are_unique(hall_ac_model):
    names = hall_ac_model.rack_names()
    assert len(set(names)) == hall_ac_model.n_racks
    assert names[0] == "hall-1/pod-1/r1/01"


def test_floor_power_uses_gpu_minimum(pod_model):
    cat = load_catalog()
    r = cat.rack("vr-nvl72")
    g = cat.gpu(r.gpu)
    assert pod_model.racks["power_floor_w"].iloc[0] == pytest.approx(
        72 * g.power_min_w + r.other_power_kw * 1e3
    )


def test_compile_from_python_objects(layouts_dir):
    import yaml

    data = yaml.safe_load((layouts_dir / "pod_small.yaml").read_text())
    m = compile_layout(Layout.model_validate(data))
    assert m.n_racks == 16


def test_fat_tree_counts_reduce_to_k_ary_closed_form():
    from twin.network.sizing import fabric_switch_counts, max_hosts

    k = 64
    assert max_hosts(k, 2) == k * k // 2 and max_hosts(k, 3) == k**3 // 4
    c = fabric_switch_counts(k**3 // 4, k, 3)
    assert c == {"leaf": k * k // 2, "spine": k * k // 2, "core": k * k // 4}


# ---- a compiled model is immutable and safe to share between threads


def _table_columns(m):
    return {name: list(getattr(m, name).columns) for name in TABLES}


def test_model_tables_are_read_only(pod_model):
    m = pod_model
    for name in TABLES:
        df = getattr(m, name)
        for col in df.columns:
            assert not df[col].to_numpy().flags.writeable, (name, col)
    with pytest.raises(ValueError, match="read-only"):
        m.racks.loc[0, "power_maxp_w"] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        m.racks["power_maxp_w"].to_numpy()[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        m.elec.iloc[0, 0] = "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.racks = m.racks.copy()
    with pytest.raises(ValidationError, match="frozen"):  # the layout it was compiled from too
        m.layout.site.grid_limit_mw = 1.0
    # a copy of a table is the user's to edit
    r = m.racks.copy()
    r.loc[0, "power_maxp_w"] = 1.0
    assert m.racks["power_maxp_w"].iloc[0] == pytest.approx(227e3)


def test_derived_is_built_once_across_threads(layouts_dir):
    m = load_model(layouts_dir / "pod_small.yaml")
    calls = []
    start = threading.Barrier(8)

    def build():
        calls.append(1)
        time.sleep(0.05)  # long enough for every other thread to ask meanwhile
        return object()

    def ask():
        start.wait()
        return m.derived("test.value", build)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: ask(), range(8)))
    assert len(calls) == 1 and all(g is got[0] for g in got)
    assert m.derived("test.value", build) is got[0] and len(calls) == 1
    # another key builds its own value; a copy of the model starts with an empty cache
    assert m.derived("test.other", lambda: 42) == 42
    assert pickle.loads(pickle.dumps(m)).derived("test.value", lambda: "fresh") == "fresh"


def test_unpickled_model_is_read_only_too(pod_model):
    m = pickle.loads(pickle.dumps(pod_model))
    assert m.racks.equals(pod_model.racks) and m.content_hash == pod_model.content_hash
    with pytest.raises(ValueError, match="read-only"):
        m.racks.loc[0, "power_maxp_w"] = 1.0


def test_content_hash_same_content_same_hash(tmp_path, layouts_dir):
    a = load_model(layouts_dir / "pod_small.yaml")
    b = load_model(layouts_dir / "pod_small.yaml")
    c = load_model(write(tmp_path, base("pod_small.yaml"), "elsewhere.yaml"))  # same content, other file
    assert len(a.content_hash) == 64
    assert a.content_hash == b.content_hash == c.content_hash
    data = base("pod_small.yaml")
    data["halls"][0]["pods"][0]["power_blocks"][0]["busways"][0]["length_m"] += 1.0
    d = load_model(write(tmp_path, data, "longer.yaml"))
    assert d.content_hash != a.content_hash
    assert load_model(layouts_dir / "hall_100mw_ac.yaml").content_hash != a.content_hash


def test_solvers_leave_the_model_unchanged(layouts_dir):
    m = load_model(layouts_dir / "hall_100mw_ac.yaml")
    before = {name: getattr(m, name).copy() for name in TABLES}
    cols = _table_columns(m)
    solve_electrical(m, it_load=0.7, failed=(m.elec["name"][m.elec["kind"] == "busway"].iloc[0],))
    n_minus_1(m, it_load=0.8)
    compare_ac_dc(m)
    assert _table_columns(m) == cols
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(m, name), before[name], check_exact=True)
