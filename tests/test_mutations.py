"""Random mutations of a valid layout give either a valid model or a clean LayoutError, never another exception."""

from __future__ import annotations

import math

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.layout_edit import base
from twin.errors import LayoutError
from twin.info import summarize
from twin.model import load_model

BASE = base()


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


PATHS = [p for p in _paths(BASE) if p]

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [0, -1, 1e9, 71, "", "vr-nvl72", "nope", "N+1", "2N", "5-to-make-4", [0, 0], [1e9, -1e9]]
    ),
    st.text(max_size=6),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.sampled_from(["name", "units", "x", "repeat"]), st.integers(-3, 3), max_size=2),
)


def _get(d, path):
    for k in path:
        d = d[k]
    return d


@st.composite
def mutated(draw):
    import copy

    d = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        live = [p for p in _paths(d) if p]
        path = draw(st.sampled_from(live))
        parent = _get(d, path[:-1])
        op = draw(st.sampled_from(["set", "delete", "rename", "duplicate"]))
        key = path[-1]
        if op == "set":
            # a copy: sampled_from hands out the same list object every time, and a later mutation of it
            # would change the strategy itself
            parent[key] = copy.deepcopy(draw(junk))
        elif op == "delete":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            parent[key + "_x"] = parent.pop(key)
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
    return d


def _finite(model) -> bool:
    for t in (model.racks, model.rows, model.loops, model.elec, model.switches):
        num = t.select_dtypes(include=[np.number]).to_numpy(dtype=float)
        if num.size and not np.all(np.isfinite(num)):
            return False
    return True


@settings(
    max_examples=int(__import__("os").environ.get("TWIN_FUZZ_EXAMPLES", 150)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=mutated())
def test_mutated_layout_is_valid_or_clean_error(tmp_path, data):
    f = tmp_path / "m.yaml"
    f.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    try:
        m = load_model(f)
    except LayoutError as exc:
        assert exc.errors, "a LayoutError must carry at least one error"
        for p in exc.problems:
            assert p.message and isinstance(p.path, str)
        return
    assert m.n_racks > 0 and _finite(m)
    s = summarize(m)
    assert math.isfinite(s["nameplate_it_mw"])
