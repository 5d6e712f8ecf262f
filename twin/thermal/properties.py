"""Coolant, air and water-vapour properties from CoolProp, tabulated once and interpolated (vectorised).

CoolProp (Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498) is accurate but slow per call (~10 us), so each
fluid is evaluated once on a 0.5 K grid and the solvers interpolate per loop (``np.interp``), never per rack.

Fluids: ``PG25`` = 25 % (mass) propylene glycol in water, CoolProp incompressible ``INCOMP::MPG[0.25]``
(Melinder 2010 correlations); ``water`` = CoolProp ``Water`` (IAPWS-95). Liquid properties at 3 bar (loop
pressure 2-6 bar; liquids are insensitive to pressure). Air (dry, 1 atm) from CoolProp ``Air`` (Lemmon 2000).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from twin.errors import InputError

COOLPROP_NAMES = {"PG25": "INCOMP::MPG[0.25]", "water": "Water"}
LOOP_PRESSURE_PA = 3.0e5  # liquid properties barely depend on pressure; 3 bar is mid-range of a TCS loop
ATM_PA = 101325.0
_T_GRID_C = np.arange(-10.0, 120.0001, 0.5)


@lru_cache(maxsize=8)
def _table(fluid: str) -> dict[str, np.ndarray]:
    import CoolProp.CoolProp as CP  # noqa: N817 (CoolProp's own spelling)

    if fluid == "air":
        t = np.arange(-50.0, 120.0001, 0.5)  # outdoor air down to -50 C
        tk = t + 273.15
        return {
            "temp_c": t,
            "rho_kg_m3": CP.PropsSI("D", "T", tk, "P", ATM_PA, "Air"),
            "cp_j_kg_k": CP.PropsSI("C", "T", tk, "P", ATM_PA, "Air"),
        }
    if fluid == "latent":
        t = np.arange(0.5, 100.0001, 0.5)
        tk = t + 273.15
        h_fg = CP.PropsSI("H", "T", tk, "Q", 1, "Water") - CP.PropsSI("H", "T", tk, "Q", 0, "Water")
        return {"temp_c": t, "h_fg_j_kg": h_fg}
    if fluid not in COOLPROP_NAMES:
        raise InputError(f"unknown coolant '{fluid}' (known: {', '.join(COOLPROP_NAMES)})")
    # water boils at 133 C at 3 bar; PG25 is valid to 100 C in CoolProp
    t = _T_GRID_C[_T_GRID_C <= (100.0 if fluid == "PG25" else 120.0)]
    if fluid == "water":
        t = t[t >= 0.5]
    tk = t + 273.15
    name = COOLPROP_NAMES[fluid]
    return {
        "temp_c": t,
        "rho_kg_m3": CP.PropsSI("D", "T", tk, "P", LOOP_PRESSURE_PA, name),
        "cp_j_kg_k": CP.PropsSI("C", "T", tk, "P", LOOP_PRESSURE_PA, name),
        "mu_pa_s": CP.PropsSI("V", "T", tk, "P", LOOP_PRESSURE_PA, name),
        "k_w_m_k": CP.PropsSI("L", "T", tk, "P", LOOP_PRESSURE_PA, name),
    }


def _interp(table: dict, key: str, temp_c) -> np.ndarray:
    t = np.asarray(temp_c, dtype=float)
    lo, hi = table["temp_c"][0], table["temp_c"][-1]
    if np.any(~np.isfinite(t)) or np.any(t < lo) or np.any(t > hi):
        bad = t[~np.isfinite(t) | (t < lo) | (t > hi)].ravel()[0]
        raise InputError(f"temperature {bad:.1f} C outside the property table ({lo:.0f}..{hi:.0f} C)")
    return np.interp(t, table["temp_c"], table[key])


def coolant_properties(coolant: str, temp_c) -> dict[str, np.ndarray]:
    """Density rho (kg/m3), isobaric heat capacity cp (J/kg/K), viscosity mu (Pa s), conductivity k (W/m/K).

    ``temp_c`` may be a scalar or an array (e.g. one temperature per loop); linear interpolation in a 0.5 K
    CoolProp table (interpolation error < 1e-5 relative for these smooth liquid properties).
    """
    tab = _table(coolant)
    return {k: _interp(tab, k, temp_c) for k in ("rho_kg_m3", "cp_j_kg_k", "mu_pa_s", "k_w_m_k")}


def air_properties(temp_c) -> dict[str, np.ndarray]:
    """Dry air at 1 atm: rho (kg/m3) and cp (J/kg/K) from CoolProp ``Air``."""
    tab = _table("air")
    return {k: _interp(tab, k, temp_c) for k in ("rho_kg_m3", "cp_j_kg_k")}


def latent_heat_j_kg(temp_c) -> np.ndarray:
    """Latent heat of vaporisation of water h_fg = h(Q=1) - h(Q=0) at the saturation temperature (IAPWS-95)."""
    return _interp(_table("latent"), "h_fg_j_kg", temp_c)
