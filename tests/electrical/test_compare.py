"""AC vs 800 VDC on the same racks and rows; block sizing on input kVA; copper at equal current density."""

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
from twin.electrical.losses import converter_input_w, curve_arrays
from twin.electrical.solve import prepare
from twin.errors import InputError


def test_dc_beats_ac_on_reference_hall(hall_ac_model):
    t, s = compare_ac_dc(hall_ac_model)
    assert t.loc["it_power_mw", "ac"] == pytest.approx(t.loc["it_power_mw", "dc800"])
    # fewer conversion stages: no UPS, no LV transformer; rack DC/DC better than the AC PSU
    assert 0 < s["efficiency_gain_points"] < 10
    assert t.loc["loss_ups_mw", "dc800"] == 0 and t.loc["loss_ups_mw", "ac"] > 0
    assert t.loc["loss_rectifiers_mw", "dc800"] > 0
    # copper: 2 poles at P/800 vs 3 phases at P/(sqrt3 415 pf), each at its catalog current density
    assert -80 < s["busway_copper_change_pct"] < -20
    assert t.loc["converged", ["ac", "dc800"]].tolist() == [1.0, 1.0]
    assert any("ups" in d for d in s["drivers"])


def test_compare_unknown_hall_and_dc_only_racks(pod_model, kyber_model):
    with pytest.raises(InputError, match="unknown hall"):
        compare_ac_dc(pod_model, hall="nope")
    with pytest.raises(InputError, match="ac variant"):
        compare_ac_dc(kyber_model)


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
