"""solve_electrical on the reference layouts: conservation, trends, failures, violations, bad input."""

import numpy as np
import pytest

from tests.layout_edit import base
from twin.electrical import STAGES, solve_electrical
from twin.electrical.losses import transformer_loss_w
from twin.errors import InputError
from twin.layout import Layout
from twin.model import compile_layout


def _model(data):
    return compile_layout(Layout.model_validate(data))


def _balance(r):
    k = r.kpis
    loads = (k["it_power_mw"] + k["network_power_mw"] + k["cooling_power_mw"]) * 1e6
    stages = sum(k["losses_mw_by_stage"].values()) * 1e6
    assert set(k["losses_mw_by_stage"]) == set(STAGES)
    return abs(r.grid_power_w - loads - stages) / r.grid_power_w


@pytest.mark.parametrize("fixture", ["pod_model", "hall_ac_model", "kyber_model", "campus_model"])
def test_power_balance_1e9(fixture, request):
    m = request.getfixturevalue(fixture)
    rng = np.random.default_rng(1)
    rack = m.racks["power_maxp_w"].to_numpy() * rng.uniform(0.3, 0.9, m.n_racks)
    mech = rng.uniform(0.2e6, 1e6, len(m.halls))
    extra = rng.uniform(10e3, 50e3, len(m.pods))
    r = solve_electrical(m, rack_power_w=rack, mech_power_w_by_hall=mech, extra_it_power_w_by_pod=extra)
    assert r.converged
    assert _balance(r) < 1e-9
    assert r.kpis["it_power_mw"] == pytest.approx(rack.sum() / 1e6)
    assert r.kpis["cooling_power_mw"] == pytest.approx(mech.sum() / 1e6)
    # per-rack: input = IT + conversion loss, and the shelf loss is positive
    rr = r.res_racks
    assert np.allclose(rr["input_power_w"], rr["rack_power_w"] + rr["conversion_loss_w"])
    assert (rr["conversion_loss_w"] > 0).all()


def test_losses_grow_with_load(pod_model):
    prev = None
    for load in (0.2, 0.4, 0.6, 0.8, 1.0):
        r = solve_electrical(pod_model, it_load=load)
        b = r.kpis["losses_mw_by_stage"]["busways"]
        if prev is not None:
            assert r.kpis["facility_power_mw"] > prev[0] and b > prev[1]
            assert r.kpis["min_rack_voltage_pu"] < prev[2]
        prev = (r.kpis["facility_power_mw"], b, r.kpis["min_rack_voltage_pu"])


def test_substation_loss_matches_p0_pk_formula(hall_ac_model):
    r = solve_electrical(hall_ac_model)
    n = r.res_nodes
    t = hall_ac_model.catalog.get("transformers", hall_ac_model.elec["equipment"][1])
    units = int(hall_ac_model.elec["units"][1])
    s_va = n["loading_pct"][1] / 100 * units * t.rating_kva * 1e3  # |S| at the HV side, all units sharing
    want = transformer_loss_w(
        s_va, t.rating_kva * 1e3, t.no_load_loss_kw * 1e3, t.load_loss_kw * 1e3, units=units
    )
    # equal up to the (1 - V) deviations of the per-unit model: within 3 %
    assert n["loss_w"][1] == pytest.approx(want, rel=0.03)


def test_dc_rack_voltage_drop_hand_check(kyber_model):
    """First rack on a busduct: V drop = R_seg * I_total (all racks' current flows through the first segment)."""
    r = solve_electrical(kyber_model, conductor_temp_c=20.0)
    m = kyber_model
    bw = int(m.elec.index[m.elec["kind"] == "busway"][0])
    racks = np.flatnonzero(m.racks["busway_node"].to_numpy() == bw)
    c = m.catalog.get("conductors", m.elec["conductor"][bw])
    cu = m.catalog.get("materials", c.material)
    seg = m.elec["length_m"][bw] / len(racks) * 0.5
    r_seg = 2 * cu.resistivity_20c_ohm_m * seg / (c.cross_section_mm2 * 1e-6) / m.elec["feeds"][bw]
    i_tot = r.res_nodes["current_a"][bw]
    v_first = r.res_racks["voltage_v"][racks[0]]
    assert 800.0 - v_first == pytest.approx(r_seg * i_tot, rel=1e-9)
    # and the total current is the racks' input power at their voltages
    rr = r.res_racks.iloc[racks]
    assert i_tot == pytest.approx(float((rr["input_power_w"] / rr["voltage_v"]).sum()), rel=1e-9)


def test_failed_units_raise_loading_and_drop_power(pod_model):
    base_r = solve_electrical(pod_model)
    ups = "hall-1/pod-1/blk-1/ups"
    r = solve_electrical(pod_model, failed=[ups])
    i = int(np.flatnonzero(pod_model.elec["name"] == ups)[0])
    assert r.res_nodes["units_in_service"][i] == 3
    assert r.res_nodes["loading_pct"][i] == pytest.approx(
        base_r.res_nodes["loading_pct"][i] * 4 / 3, rel=1e-9
    )
    # both feeds of bw-a out: its 8 racks lose power and a violation says so
    r = solve_electrical(pod_model, failed=["hall-1/pod-1/bw-a", "hall-1/pod-1/bw-a"])
    assert r.kpis["racks_unpowered"] == 8
    assert any(v["kind"] == "lost_supply" and v["value"] == 8 for v in r.violations)
    assert r.kpis["it_power_mw"] == pytest.approx(8 * 0.227)
    assert _balance(r) < 1e-9


def test_grid_limit_and_substation_overload_reported(campus_model):
    r = solve_electrical(campus_model, it_load=1.0)
    kinds = {(v["component"], v["kind"]) for v in r.violations}
    assert ("grid", "grid_limit") in kinds  # 1.27 GW at Max-P on a 1 GW connection
    r = solve_electrical(campus_model, it_load=0.5)
    assert r.violations == [] and r.kpis["facility_power_mw"] < 1000


def test_long_busway_voltage_violation():
    d = base()
    d["halls"][0]["pods"][0]["power_blocks"][0]["busways"][0]["length_m"] = 2000.0
    r = solve_electrical(_model(d))
    bad = [v for v in r.violations if v["kind"] == "voltage"]
    assert bad and bad[0]["component"].endswith("bw-a") and bad[0]["value"] < 0.95
    assert r.kpis["min_rack_voltage_pu"] < 0.95


def test_conductor_temperature_raises_losses(pod_model):
    cold = solve_electrical(pod_model, conductor_temp_c=20.0).kpis["losses_mw_by_stage"]["busways"]
    hot = solve_electrical(pod_model, conductor_temp_c=90.0).kpis["losses_mw_by_stage"]["busways"]
    assert hot / cold == pytest.approx(1 + 0.00393 * 70, rel=2e-3)
    auto = solve_electrical(pod_model).res_nodes
    bw = auto[auto["kind"] == "busway"]
    assert ((bw["conductor_temp_c"] > 40.0) & (bw["conductor_temp_c"] < 95.0)).all()


@pytest.mark.parametrize(
    "kw,msg",
    [
        (dict(rack_power_w=np.ones(3)), "16 values"),
        (dict(rack_power_w=np.full(16, np.nan)), "finite"),
        (dict(rack_power_w=-np.ones(16)), "negative"),
        (dict(it_load=-0.1), "it_load"),
        (dict(it_load=float("nan")), "it_load"),
        (dict(mech_power_w_by_hall=[1.0, 2.0]), "mech_power_w_by_hall"),
        (dict(failed=["nope"]), "unknown electrical component"),
        (dict(failed=["hall-1/mech"] * 3), "has 2 unit"),
        (dict(conductor_temp_c=900.0), "conductor_temp_c"),
    ],
)
def test_bad_input(pod_model, kw, msg):
    with pytest.raises(InputError, match=msg):
        solve_electrical(pod_model, **kw)


def test_dc_only_rack_on_ac_site_is_refused():
    d = base("hall_kyber.yaml")
    d["electrical"]["architecture"] = "ac"
    with pytest.raises(Exception, match="AC|ac"):
        solve_electrical(_model(d))
