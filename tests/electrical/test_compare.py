"""AC vs 800 VDC on the same racks and rows."""

import pytest

from twin.electrical.compare import compare_ac_dc
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
