"""Where network power and cooling loads enter the electrical network; AC conductor resistance; sizing of the
AC / 800 VDC comparison on input kVA and at equal current density."""

import math

import numpy as np
import pytest

from twin.electrical import solve_electrical
from twin.electrical.compare import (
    _block_sizing,
    _rack_input,
    _variant,
    compare_ac_dc,
    design_current_density_a_mm2,
)
from twin.electrical.conductors import resistance_ohm
from twin.electrical.losses import converter_input_w, curve_arrays
from twin.electrical.solve import MECH_LOAD, _cond_r_ohm, prepare
from twin.network import fabric_power


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


def test_copper_compared_at_equal_current_density(hall_ac_model):
    cat = hall_ac_model.catalog
    cu = [c for c in (cat.get("conductors", n) for n in cat.names("conductors")) if c.material == "copper"]
    dens = {c.system: c.ampacity_a / c.cross_section_mm2 for c in cu}
    assert dens["ac"] == pytest.approx(dens["dc"], rel=1e-9)
    assert design_current_density_a_mm2(cat) == pytest.approx(dens["ac"])
    t, s = compare_ac_dc(hall_ac_model)
    # by hand: metal ~ conductors x current at the same J; every rack is the same type here
    (rt,) = set(hall_ac_model.racks["rack_type"].to_numpy())
    name = hall_ac_model.rack_types["name"][rt]
    p_ac, pf_ac = _rack_input(cat, name, "ac")
    p_dc, _ = _rack_input(cat, name, "dc800")
    i_ac = p_ac / pf_ac / (math.sqrt(3) * 415.0)
    i_dc = p_dc / 800.0
    want = (2 * i_dc) / (3 * i_ac) - 1.0
    assert s["busway_copper_change_pct"] == pytest.approx(want * 100.0, abs=1e-6)
    assert -45 < s["busway_copper_change_pct"] < -38


def test_block_sizing_on_input_kva_not_rack_max_p(hall_ac_model):
    cat = hall_ac_model.catalog
    ups = cat.get("ups", cat.names("ups")[0])
    tr = next(
        cat.get("transformers", n)
        for n in cat.names("transformers")
        if abs(cat.get("transformers", n).lv_kv - 0.415) < 1e-3
    )
    # racks whose 54 V Max-P exactly fills 3 UPS modules: their input (shelf losses, pf) does not
    name = hall_ac_model.rack_types["name"][0]
    p_in, pf = _rack_input(cat, name, "ac")
    maxp = cat.rack(name).power_maxp_kw * 1e3
    n_racks = 3 * ups.rating_kw * 1e3 / maxp
    n_tr, n_ups = _block_sizing(cat, "ac", n_racks * p_in, n_racks * p_in / pf, tr.name, ups.name)
    assert n_ups == 4  # Max-P alone would give 3
    cx, ce = curve_arrays(ups.efficiency_curve)
    s_in = float(converter_input_w(n_racks * p_in, ups.rating_kw * 1e3, cx, ce, n_ups)) / ups.power_factor
    assert n_tr >= math.ceil(s_in / (tr.rating_kva * 1e3))
    # the re-built AC hall carries Max-P with one UPS module and one side of the 2N transformers out
    m = _variant(hall_ac_model, "ac", None, 415)
    net = prepare(m)
    half = [nm for i in np.flatnonzero(net.is_blk) for nm in [net.names[i]] * (int(net.units[i]) // 2)]
    ups_one = list(net.names[net.is_ups])
    r = solve_electrical(m, failed=half + ups_one)
    assert r.kpis["racks_unpowered"] == 0
    assert [v for v in r.violations if v["kind"] == "overload"] == []
    load = r.res_nodes["loading_pct"].to_numpy()
    assert load[net.is_blk].max() <= 100.0 and load[net.is_ups].max() <= 100.0
