"""twin.thermal.properties: CoolProp coolant, air and moist-air properties against CoolProp itself, reference
values (steam tables, standard atmosphere) and the ASHRAE psychrometric equations."""

from __future__ import annotations

import math

import CoolProp.CoolProp as CP
import numpy as np
import pytest

from twin.errors import InputError
from twin.thermal import properties, solve_thermal
from twin.thermal.properties import (
    air_pressure_pa,
    air_properties,
    coolant_properties,
    humidity_ratio,
    latent_heat_j_kg,
    wet_bulb_at_humidity_ratio_c,
)


def test_property_tables_match_coolprop_direct():
    for t in (20.3, 45.0, 57.7, 80.1):
        p = coolant_properties("PG25", t)
        for key, code in (("rho_kg_m3", "D"), ("cp_j_kg_k", "C"), ("mu_pa_s", "V")):
            ref = CP.PropsSI(code, "T", t + 273.15, "P", 3e5, "INCOMP::MPG[0.25]")
            assert float(p[key]) == pytest.approx(ref, rel=2e-4)
        w = coolant_properties("water", t)
        assert float(w["cp_j_kg_k"]) == pytest.approx(
            CP.PropsSI("C", "T", t + 273.15, "P", 3e5, "Water"), rel=1e-4
        )
    # PG25 holds less heat per kg than water (the reason flows per kW differ)
    assert coolant_properties("PG25", 45.0)["cp_j_kg_k"] < coolant_properties("water", 45.0)["cp_j_kg_k"]


# ---- properties are evaluated only at the temperatures the solve needs
def test_properties_only_at_needed_temperatures(campus_model):
    for memo in properties._MEMO.values():
        memo.clear()
    res = solve_thermal(campus_model)
    n = sum(len(m) for m in properties._MEMO.values())
    # each pass of the property fixed point asks for each loop's and hall's stream mean (loops with the same
    # racks and CDUs share it), plus the first guess: a few dozen temperatures, not a 0.5 K grid (~900 points)
    distinct = len(np.unique(res.res_loops["t_properties_c"])) + len(res.res_halls)
    assert 0 < n <= 4 * distinct + 10 < 900
    p = properties.coolant_properties("PG25", np.array([45.0, 50.0, 45.0]))
    ref = CP.PropsSI("D", "T", 50.0 + 273.15, "P", 3e5, "INCOMP::MPG[0.25]")
    assert p["rho_kg_m3"][1] == ref and p["rho_kg_m3"][0] == p["rho_kg_m3"][2]


def test_known_values_of_water_and_air():
    # IAPWS-95 water at 20 C: 998.21 kg/m3 at 1 atm, ~0.09 kg/m3 denser at 3 bar; viscosity 1.0016 mPa s
    # (IAPWS 2008); cp 4184 J/kg/K at 20 C and 4181 at 25 C (steam tables)
    w20 = coolant_properties("water", 20.0)
    assert float(w20["rho_kg_m3"]) == pytest.approx(998.3, abs=0.1)
    assert float(w20["mu_pa_s"]) == pytest.approx(1.0016e-3, rel=2e-3)
    assert float(w20["cp_j_kg_k"]) == pytest.approx(4184.0, abs=2.0)
    assert float(coolant_properties("water", 25.0)["cp_j_kg_k"]) == pytest.approx(4181.0, abs=1.0)
    # latent heat of vaporisation at 100 C: 2256.4 kJ/kg (steam tables)
    assert float(latent_heat_j_kg(100.0)) == pytest.approx(2256.4e3, rel=1e-4)
    # dry air at 20 C, 1 atm: ideal gas rho = p M / (R T) = 1.204 kg/m3, cp 1006 J/kg/K
    a = air_properties(20.0)
    assert float(a["rho_kg_m3"]) == pytest.approx(101325.0 * 0.0289647 / (8.314462 * 293.15), rel=1e-3)
    assert float(a["cp_j_kg_k"]) == pytest.approx(1006.0, abs=3.0)
    # the site pressure scales the density (ideal gas), not c_p
    thin = air_properties(20.0, 0.8 * 101325.0)
    assert float(thin["rho_kg_m3"]) == pytest.approx(0.8 * float(a["rho_kg_m3"]), rel=1e-12)
    assert float(thin["cp_j_kg_k"]) == float(a["cp_j_kg_k"])


def test_standard_atmosphere_pressure():
    assert air_pressure_pa(0.0) == 101325.0
    # ASHRAE Fundamentals 2017 ch. 1 table 1: 84.556 kPa at 1500 m, 79.495 kPa at 2000 m
    assert air_pressure_pa(1500.0) == pytest.approx(84556.0, rel=1e-4)
    assert air_pressure_pa(2000.0) == pytest.approx(79495.0, rel=1e-4)


def test_humidity_ratio_against_the_ashrae_psychrometric_equation():
    # ASHRAE Fundamentals 2017 ch. 1 eq. 35 (ideal-gas psychrometrics) at 35 C dry bulb / 24 C wet bulb:
    #   W = ((2501 - 2.326 t*) W_s* - 1.006 (t - t*)) / (2501 + 1.86 t - 4.186 t*),
    #   W_s* = 0.621945 p_ws(t*) / (p - p_ws(t*))
    t, ts, p = 35.0, 24.0, 101325.0
    p_ws = CP.PropsSI("P", "T", ts + 273.15, "Q", 0, "Water")
    w_s = 0.621945 * p_ws / (p - p_ws)
    w_hand = ((2501 - 2.326 * ts) * w_s - 1.006 * (t - ts)) / (2501 + 1.86 * t - 4.186 * ts)
    w = humidity_ratio(t, ts, p)
    assert w == pytest.approx(w_hand, rel=1e-2)  # real-gas model (RP-1485) vs ideal gas: within 1 %
    # the inverse: the wet bulb of air at 35 C holding W is 24 C
    t_wb, saturated = wet_bulb_at_humidity_ratio_c(t, w, p)
    assert t_wb == pytest.approx(ts, abs=1e-6) and not saturated
    # more moisture than 10 C air can hold: saturated, wet bulb = dry bulb
    assert wet_bulb_at_humidity_ratio_c(10.0, w, p) == (10.0, True)


def test_out_of_range_and_unknown_coolant_raise():
    with pytest.raises(InputError, match="outside the valid range"):
        coolant_properties("PG25", 120.0)
    with pytest.raises(InputError, match="outside the valid range"):
        coolant_properties("water", np.array([20.0, math.nan]))
    with pytest.raises(InputError, match="unknown coolant"):
        coolant_properties("brine", 20.0)


def test_property_memo_refills_when_full(monkeypatch):
    """A lookup that overflows the memo clears it and evaluates every temperature of the call (a temperature
    memoised before the clear is not lost)."""
    import twin.thermal.properties as P

    monkeypatch.setattr(P, "_MEMO_MAX", 4)
    P._MEMO["water"].clear()
    P.coolant_properties("water", np.array([30.0, 31.0, 32.0]))
    out = P.coolant_properties("water", np.array([30.0, 40.0, 41.0]))  # 30 memoised, 2 new: overflow
    ref = P.coolant_properties("water", np.array([30.0]))
    assert out["rho_kg_m3"][0] == ref["rho_kg_m3"][0]


def test_dew_point_of_cold_dry_air_and_impossible_wet_bulbs():
    """CoolProp's own wet-bulb inversion fails for some cold, dry air (5 C / 0.2 C, an hour of the Greensboro
    TMY3 year): its wet bulb jumps where the bulb's film switches from ice to water near 0 C, so no humidity ratio
    gives 0.2 C exactly. Our bracketed inversion returns the humidity at the jump (its wet bulb within 0.2 K);
    elsewhere the dew point round-trips exactly; impossible air is refused."""
    import CoolProp.CoolProp as CP

    from twin.errors import InputError
    from twin.thermal.properties import dew_point_c

    for db, wb, tol in [(5.0, 0.2, 0.2), (0.0, -3.0, 1e-6), (35.0, 24.0, 1e-6)]:
        td = dew_point_c(db, wb)
        w = CP.HAPropsSI("W", "T", db + 273.15, "D", td + 273.15, "P", 101325.0)
        assert CP.HAPropsSI("B", "T", db + 273.15, "W", w, "P", 101325.0) - 273.15 == pytest.approx(
            wb, abs=tol
        )
        assert td < wb < db
    assert dew_point_c(5.0, 0.2) < dew_point_c(5.0, 1.0)  # more moisture, higher dew point
    with pytest.raises(InputError, match="impossible"):
        dew_point_c(5.0, -5.0)  # drier than bone-dry air


def test_cooling_co_optimisation_on_a_cold_dry_hour():
    """A run that needs the dew point of cold, dry air (the cooling setpoint bound) solves instead of crashing."""
    from twin import Scenario, run

    r = run(
        Scenario(
            layout="layouts/pod_small.yaml", ambient_c=5.0, wet_bulb_c=0.2, budget_mw=4.0, policy="maxq",
            maxq={"optimize_cooling": True},
        )
    )  # fmt: skip
    assert r.status == "ok"
    sp = r.tables["cooling_setpoints"]
    assert (sp["chosen_c"] >= sp["lower_c"]).all() and (sp["chosen_c"] <= sp["upper_c"]).all()
    assert r.kpis["tokens_per_s"] >= sp["tokens_per_s_fixed"].sum() * (1 - 1e-9)
