"""N-1: nothing on the 2N reference pod; the expected overload on an under-built block."""

import pytest

from tests.layout_edit import base
from twin.electrical import solve_electrical
from twin.electrical.contingency import n_minus_1
from twin.layout import Layout
from twin.model import compile_layout


def _model(data):
    return compile_layout(Layout.model_validate(data))


def test_2n_pod_has_no_n1_violation(pod_model):
    res, k = n_minus_1(pod_model)
    assert k["cases"] == 6 and k["failing_cases"] == 0 and res["ok"].all()
    assert set(res["kind"]) == {"substation", "mech_feed", "block", "ups", "busway"}
    # every survivor stays within its rating
    assert (res["worst_loading_pct"] <= 100.0).all()


def test_underbuilt_block_overloads_after_one_failure():
    d = base()
    blk = d["halls"][0]["pods"][0]["power_blocks"][0]
    blk["units"], blk["redundancy"] = 2, "N+1"  # 2 x 3 MVA for ~3.9 MVA: one unit cannot carry it
    res, k = n_minus_1(_model(d))
    bad = res[~res["ok"]]
    assert list(bad["failed"]) == ["hall-1/pod-1/blk-1"]
    # the surviving unit carries what two carried: twice the base loading (~ 3.9 MVA on 3 MVA), plus the
    # larger series loss and reactive power of one unit carrying it all (~1.5 %)
    base_load = solve_electrical(_model(d)).res_nodes.set_index("name")["loading_pct"]["hall-1/pod-1/blk-1"]
    assert 50 < base_load < 100
    assert bad["worst_loading_pct"].iloc[0] == pytest.approx(2 * base_load, rel=0.03)
    assert bad["worst_loading_pct"].iloc[0] > 2 * base_load
    assert "loaded" in bad["violations"].iloc[0]


def test_single_feed_busway_loses_racks():
    d = base()
    d["halls"][0]["pods"][0]["power_blocks"][0]["busways"][1]["feeds"] = 1
    res, k = n_minus_1(_model(d))
    row = res[res["failed"] == "hall-1/pod-1/bw-b"].iloc[0]
    assert not row["ok"] and row["racks_unpowered"] == 8 and "lose power" in row["violations"]
    assert k["failing_cases"] == 1


def test_grouped_cases_equal_exact_cases(hall_ac_model):
    d = base("hall_100mw_ac.yaml")
    # under-build every block's UPS: 4 x 1.5 MW "N+1" for ~5.4 MW carries the base load, not N-1
    for blk in d["halls"][0]["pods"][0]["power_blocks"]:
        blk["ups_units"] = 4
    m = _model(d)
    fast, kf = n_minus_1(m, it_load=0.95)
    exact, ke = n_minus_1(m, it_load=0.95, exact=True)
    assert kf["solves"] < ke["solves"]
    assert kf["failing_cases"] == 16 and kf["base_violations"] == []
    assert set(fast.loc[~fast["ok"], "kind"]) == {"ups"}
    a = fast.set_index("failed").sort_index()
    b = exact.set_index("failed").sort_index()
    assert (a["ok"] == b["ok"]).all()
    assert (a["racks_unpowered"] == b["racks_unpowered"]).all()
    # grouped: exact below the failed node, up to the small shift of the shared MV voltage
    assert a["worst_loading_pct"].to_numpy() == pytest.approx(b["worst_loading_pct"].to_numpy(), rel=1e-4)
