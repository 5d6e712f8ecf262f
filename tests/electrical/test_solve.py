"""solve_electrical on the reference layouts: conservation, trends, failures, violations, bad input; where
network power and cooling loads enter the electrical network; AC conductor resistance."""

import numpy as np
import pytest

from tests.layout_edit import base
from twin.electrical import STAGES, solve_electrical
from twin.electrical.conductors import resistance_ohm
from twin.electrical.losses import transformer_loss_w
from twin.electrical.solve import MECH_LOAD, _cond_r_ohm, prepare
from twin.errors import InputError
from twin.layout import Layout
from twin.model import compile_layout
from twin.network import fabric_power


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


# ---- where network power and cooling loads enter; AC conductor resistance


def _conv_out_w(net, r):
    """Converter output power W from the result table: loading x units in service x unit rating."""
    n = r.res_nodes
    return n["loading_pct"].to_numpy() / 100.0 * n["units_in_service"].to_numpy() * net.rating_w


@pytest.mark.parametrize("fixture", ["hall_ac_model", "campus_model"])
def test_pod_network_power_spread_over_its_converters_by_rack_load(fixture, request):
    m = request.getfixturevalue(fixture)
    net = prepare(m)
    rng = np.random.default_rng(3)
    rack = m.racks["power_maxp_w"].to_numpy() * rng.uniform(0.4, 0.9, m.n_racks)
    pod = 0
    extra = np.zeros(len(m.pods))
    extra[pod] = 2.0e6
    base = solve_electrical(m, rack_power_w=rack, conductor_temp_c=60.0)
    r = solve_electrical(m, rack_power_w=rack, extra_it_power_w_by_pod=extra, conductor_temp_c=60.0)
    d_out = (_conv_out_w(net, r) - _conv_out_w(net, base))[net.is_conv]
    # expected: each converter's share of the pod's rack power (busways below it), by hand
    rack_by_node = np.bincount(net.r_bw, weights=rack, minlength=net.n_e)
    src_share = np.zeros(net.n_e)
    np.add.at(src_share, net.parent[net.bw_idx], rack_by_node[net.bw_idx] * (net.bw_pod == pod))
    want = extra[pod] * src_share / src_share.sum()
    assert np.allclose(d_out, want[net.is_conv], rtol=1e-9, atol=1e-3)
    assert d_out.sum() == pytest.approx(extra[pod], rel=1e-12)
    # more than one converter of the pod takes a share (the whole pod on one unit was the defect)
    assert (d_out > 0).sum() == (src_share[net.is_conv] > 0).sum() >= 1
    assert r.kpis["network_power_mw"] == pytest.approx(2.0)


def test_hall_network_power_spread_over_the_hall_and_idle_pod_uses_max_p(campus_model):
    m = campus_model
    net = prepare(m)
    hall = np.zeros(len(m.halls))
    hall[1] = 5.0e6
    r = solve_electrical(m, it_load=0.5, extra_it_power_w_by_hall=hall, conductor_temp_c=60.0)
    base = solve_electrical(m, it_load=0.5, conductor_temp_c=60.0)
    d_out = _conv_out_w(net, r) - _conv_out_w(net, base)
    in_hall = net.is_conv & (net.hall == 1)
    maxp = np.bincount(net.r_bw, weights=net.r_maxp, minlength=net.n_e)
    share = np.zeros(net.n_e)
    np.add.at(share, net.parent[net.bw_idx], maxp[net.bw_idx] * (net.bw_hall == 1))
    assert np.allclose(d_out[in_hall], 5e6 * share[in_hall] / share.sum(), rtol=1e-9)
    assert np.abs(d_out[net.is_conv & ~in_hall]).max() < 1e-3
    # racks idle: the pod's switches still draw, split by the busways' rack Max-P
    extra = np.zeros(len(m.pods))
    extra[2] = 1e6
    r0 = solve_electrical(m, it_load=0.0, extra_it_power_w_by_pod=extra)
    assert r0.kpis["network_power_mw"] == pytest.approx(1.0)
    assert abs(r0.kpis["balance_error_w"]) < 1e-9 * r0.grid_power_w


@pytest.mark.parametrize("fixture", ["hall_ac_model", "campus_model"])
def test_reference_layouts_no_converter_overload_from_network_power(fixture, request):
    m = request.getfixturevalue(fixture)
    net = prepare(m)
    extra = np.asarray(fabric_power(m)["power_w_by_pod"], dtype=float)
    r = solve_electrical(m, extra_it_power_w_by_pod=extra)
    bad = [v for v in r.violations if v["kind"] == "overload" and v["component"] != "substation"]
    assert bad == [], bad
    # converters of the same design carry the same load when racks and switches are spread evenly: the
    # spread across pods is no larger than that of rack power alone (pod 1 no longer stands out)
    load = r.res_nodes["loading_pct"].to_numpy()[net.is_conv]
    rack_only = solve_electrical(m).res_nodes["loading_pct"].to_numpy()[net.is_conv]
    assert load.max() - load.min() <= rack_only.max() - rack_only.min() + 1.0


def test_mechanical_load_at_catalog_power_factor(pod_model):
    m = pod_model
    net = prepare(m)
    pf = m.catalog.get("electrical_loads", MECH_LOAD).power_factor
    assert 0.8 < pf < 1.0
    p = np.full(len(m.halls), 1.5e6)
    r = solve_electrical(m, it_load=0.5, mech_power_w_by_hall=p)
    n = r.res_nodes
    i = int(np.flatnonzero(net.is_mech)[0])
    s_va = n["loading_pct"][i] / 100.0 * n["units_in_service"][i] * net.t_sn[i]
    # |S| at the HV side = P/pf plus the transformer's own (small) losses and reactive power
    assert s_va > p[0] / pf
    assert s_va == pytest.approx(p[0] / pf, rel=0.01)
    assert abs(r.kpis["balance_error_w"]) < 1e-9 * r.grid_power_w


def test_ac_conductor_resistance_carries_skin_and_proximity_factor(hall_ac_model, kyber_model):
    for m, want_system in ((hall_ac_model, "ac"), (kyber_model, "dc")):
        net = prepare(m)
        e = net.bw_idx[:1]
        c = m.catalog.get("conductors", m.elec["conductor"].to_numpy()[e[0]])
        assert c.system == want_system
        r_dc = resistance_ohm(10.0, net.c_area[e], net.c_rho20[e], net.c_alpha[e], 70.0)
        ratio = float(_cond_r_ohm(net, e, 10.0, 70.0)[0] / (net.c_loop[e[0]] * r_dc[0]))
        if want_system == "ac":
            assert 1.1 <= c.ac_resistance_ratio <= 1.3
            assert ratio == pytest.approx(c.ac_resistance_ratio, rel=1e-12)
        else:
            assert ratio == 1.0
