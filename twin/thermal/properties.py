"""Coolant, air and water-vapour properties from CoolProp, evaluated only at the temperatures asked for.

CoolProp (Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498) costs ~10 us per call. The solvers ask for properties
per loop or per hall at a handful of distinct temperatures, so instead of tabulating a whole grid up front (which
cost most of a cold solve) each distinct temperature is evaluated once, exactly, in one vectorised CoolProp call,
and memoised in memory (no disk cache). Results are exact CoolProp values, no interpolation error.

Fluids: ``PG25`` = 25 % (mass) propylene glycol in water, CoolProp incompressible ``INCOMP::MPG[0.25]``
(Melinder 2010 correlations); ``water`` = CoolProp ``Water`` (IAPWS-95). Liquid properties at 3 bar (loop
pressure 2-6 bar; liquids are insensitive to pressure). Air (dry) from CoolProp ``Air`` (Lemmon 2000) at 1 atm,
its density scaled to the site pressure as an ideal gas (rho ~ p). Moist air (humidity ratio, wet bulb) from
CoolProp ``HAPropsSI`` (ASHRAE RP-1485 real-gas moist-air model).

Note: ``import CoolProp`` itself loads CoolProp's whole fluid library (~2 s, once per process, inside CoolProp's
package ``__init__``); that cost is CoolProp's and is not in the property evaluation.
"""

from __future__ import annotations

import numpy as np

from twin.errors import InputError

COOLPROP_NAMES = {"PG25": "INCOMP::MPG[0.25]", "water": "Water", "air": "Air"}
LOOP_PRESSURE_PA = 3.0e5  # liquid properties barely depend on pressure; 3 bar is mid-range of a TCS loop
ATM_PA = 101325.0
# validity of each source (C): water boils at 133 C at 3 bar and freezes at 0 C; PG25 in CoolProp to 100 C
_RANGE_C = {"PG25": (-10.0, 100.0), "water": (0.5, 120.0), "air": (-50.0, 120.0), "latent": (0.01, 100.0)}
#: temperature range (C) of each fluid's property correlation
PROPERTY_RANGE_C = _RANGE_C
_KEYS = {
    "PG25": (("rho_kg_m3", "D"), ("cp_j_kg_k", "C"), ("mu_pa_s", "V"), ("k_w_m_k", "L")),
    "water": (("rho_kg_m3", "D"), ("cp_j_kg_k", "C"), ("mu_pa_s", "V"), ("k_w_m_k", "L")),
    "air": (("rho_kg_m3", "D"), ("cp_j_kg_k", "C")),
    "latent": (("h_fg_j_kg", "H"),),
}
_MEMO: dict[str, dict[float, tuple]] = {k: {} for k in _KEYS}
_MEMO_MAX = 20000  # distinct temperatures kept per fluid (a long hypothesis run stays bounded)


def _coolprop():
    import CoolProp.CoolProp as CP  # noqa: N817 (CoolProp's own spelling); imported on first use only

    return CP


def _evaluate(fluid: str, temp_c: np.ndarray) -> np.ndarray:
    """(n, n_keys) exact CoolProp values at the given temperatures (one vectorised call per property)."""
    cp_mod = _coolprop()
    tk = temp_c + 273.15
    if fluid == "latent":
        h = cp_mod.PropsSI("H", "T", tk, "Q", 1, "Water") - cp_mod.PropsSI("H", "T", tk, "Q", 0, "Water")
        return np.asarray(h, dtype=float).reshape(-1, 1)
    p = ATM_PA if fluid == "air" else LOOP_PRESSURE_PA
    name = COOLPROP_NAMES[fluid]
    cols = [np.asarray(cp_mod.PropsSI(code, "T", tk, "P", p, name), dtype=float) for _, code in _KEYS[fluid]]
    return np.stack([np.atleast_1d(c) for c in cols], axis=1)


def _lookup(fluid: str, temp_c) -> dict[str, np.ndarray]:
    if fluid not in _KEYS:
        raise InputError(f"unknown coolant '{fluid}' (known: PG25, water)")
    t = np.asarray(temp_c, dtype=float)
    lo, hi = _RANGE_C[fluid]
    bad = ~np.isfinite(t) | (t < lo) | (t > hi)
    if np.any(bad):
        raise InputError(
            f"temperature {t[bad].ravel()[0]:.1f} C outside the valid range of {fluid} properties "
            f"({lo:g}..{hi:g} C)"
        )
    uniq, inv = np.unique(t.ravel(), return_inverse=True)
    memo = _MEMO[fluid]
    missing = np.array([u for u in uniq.tolist() if u not in memo])  # distinct temperatures only (a few)
    if missing.size:
        if len(memo) + missing.size > _MEMO_MAX:
            memo.clear()  # full: start again, with every temperature of this call (not only the new ones)
            missing = np.asarray(uniq, dtype=float)
        vals = _evaluate(fluid, missing)
        memo.update(zip(missing.tolist(), map(tuple, vals), strict=True))
    table = np.array([memo[u] for u in uniq.tolist()], dtype=float).reshape(len(uniq), -1)
    return {k: table[inv, j].reshape(t.shape) for j, (k, _) in enumerate(_KEYS[fluid])}


def coolant_properties(coolant: str, temp_c) -> dict[str, np.ndarray]:
    """Liquid coolant properties: exact CoolProp values at 3 bar.

    Parameters
    ----------
    coolant : str
        'PG25' (25 % propylene glycol, ``INCOMP::MPG[0.25]``) or 'water' (IAPWS-95).
    temp_c : float or array-like
        Temperature(s), C (PG25 -10..100, water 0.5..120), e.g. one per loop.

    Returns
    -------
    dict of numpy.ndarray (the shape of ``temp_c``)
        rho_kg_m3 (kg/m3), cp_j_kg_k (isobaric heat capacity, J/kg/K), mu_pa_s (viscosity, Pa s),
        k_w_m_k (conductivity, W/m/K).

    Raises
    ------
    InputError
        Unknown coolant or a temperature outside the valid range.
    """
    if coolant not in ("PG25", "water"):
        raise InputError(
            f"unknown coolant '{coolant}' (known: {', '.join(k for k in COOLPROP_NAMES if k != 'air')})"
        )
    return _lookup(coolant, temp_c)


def air_pressure_pa(altitude_m: float) -> float:
    """Standard-atmosphere pressure p = 101325 (1 - 2.25577e-5 z)^5.2559 (ASHRAE Fundamentals 2017, ch. 1 eq. 3).

    Parameters
    ----------
    altitude_m : float
        Site altitude z, m.

    Returns
    -------
    float
        Pressure, Pa.
    """
    return ATM_PA * (1.0 - 2.25577e-5 * float(altitude_m)) ** 5.2559


def air_properties(temp_c, pressure_pa: float = ATM_PA) -> dict[str, np.ndarray]:
    """Dry air from CoolProp ``Air`` (Lemmon 2000) at 1 atm, density scaled by p / 1 atm (ideal gas).

    Parameters
    ----------
    temp_c : float or array-like
        Temperature(s), C (-50..120).
    pressure_pa : float, default 101325
        Air pressure, Pa (``air_pressure_pa``).

    Returns
    -------
    dict of numpy.ndarray
        rho_kg_m3 (kg/m3) and cp_j_kg_k (J/kg/K).
    """
    out = _lookup("air", temp_c)
    out["rho_kg_m3"] = out["rho_kg_m3"] * (pressure_pa / ATM_PA)
    return out


def latent_heat_j_kg(temp_c) -> np.ndarray:
    """Latent heat of vaporisation of water, h_fg = h(Q=1) - h(Q=0) at saturation (IAPWS-95).

    Parameters
    ----------
    temp_c : float or array-like
        Saturation temperature(s), C (0.01..100).

    Returns
    -------
    numpy.ndarray
        h_fg, J/kg.
    """
    return _lookup("latent", temp_c)["h_fg_j_kg"]


def humidity_ratio(dry_bulb_c: float, wet_bulb_c: float, pressure_pa: float = ATM_PA) -> float:
    """Humidity ratio of moist air from its dry and wet bulb (CoolProp HAPropsSI, ASHRAE RP-1485).

    Parameters
    ----------
    dry_bulb_c, wet_bulb_c : float
        Dry and wet bulb, C.
    pressure_pa : float, default 101325
        Air pressure, Pa.

    Returns
    -------
    float
        W, kg water per kg dry air.
    """
    cp_mod = _coolprop()
    return float(cp_mod.HAPropsSI("W", "T", dry_bulb_c + 273.15, "B", wet_bulb_c + 273.15, "P", pressure_pa))


def dew_point_c(dry_bulb_c: float, wet_bulb_c: float, pressure_pa: float = ATM_PA) -> float:
    """Dew point of moist air from its dry and wet bulb (CoolProp HAPropsSI, ASHRAE RP-1485).

    Parameters
    ----------
    dry_bulb_c, wet_bulb_c : float
        Dry and wet bulb, C.
    pressure_pa : float, default 101325
        Air pressure, Pa.

    Returns
    -------
    float
        Dew point, C.
    """
    cp_mod = _coolprop()
    t_k, wb_k = dry_bulb_c + 273.15, wet_bulb_c + 273.15
    try:
        return float(cp_mod.HAPropsSI("D", "T", t_k, "B", wb_k, "P", pressure_pa)) - 273.15
    except ValueError:
        # CoolProp's own inversion of the wet bulb brackets the humidity ratio badly for some cold, dry air
        # (e.g. 5 C dry bulb, 0.2 C wet bulb): invert B(T, W) = wet bulb ourselves. B rises monotonically with
        # W from the bone-dry wet bulb (W = 0) to the dry bulb (saturation), so a bracketed root is unique.
        from scipy.optimize import brentq

        def b_k(w: float) -> float:
            return float(cp_mod.HAPropsSI("B", "T", t_k, "W", w, "P", pressure_pa))

        w_lo = 1e-9
        w_hi = float(cp_mod.HAPropsSI("W", "T", t_k, "R", 1.0, "P", pressure_pa))
        lo, hi = b_k(w_lo), b_k(w_hi)
        if not lo <= wb_k <= hi:
            raise InputError(
                f"wet bulb {wet_bulb_c:.2f} C is impossible at {dry_bulb_c:.2f} C dry bulb "
                f"(between {lo - 273.15:.2f} C for bone-dry air and {hi - 273.15:.2f} C saturated)"
            ) from None
        w = brentq(lambda x: b_k(x) - wb_k, w_lo, w_hi, xtol=1e-12)
        return float(cp_mod.HAPropsSI("D", "T", t_k, "W", w, "P", pressure_pa)) - 273.15


def wet_bulb_at_humidity_ratio_c(
    dry_bulb_c: float, w: float, pressure_pa: float = ATM_PA
) -> tuple[float, bool]:
    """Wet bulb of air at dry bulb ``dry_bulb_c`` holding humidity ratio ``w`` (CoolProp HAPropsSI).

    When ``w`` exceeds the saturation humidity ratio at this dry bulb the air cannot hold it: the excess
    condenses (fog), the air is saturated and the wet bulb equals the dry bulb.

    Parameters
    ----------
    dry_bulb_c : float
        Dry bulb, C.
    w : float
        Humidity ratio, kg water per kg dry air.
    pressure_pa : float, default 101325
        Air pressure, Pa.

    Returns
    -------
    wet_bulb_c : float
        Wet bulb, C.
    saturated : bool
        The air is saturated (wet bulb = dry bulb).
    """
    cp_mod = _coolprop()
    tk = dry_bulb_c + 273.15
    w_sat = float(cp_mod.HAPropsSI("W", "T", tk, "R", 1.0, "P", pressure_pa))
    if w >= w_sat:
        return float(dry_bulb_c), True
    return float(cp_mod.HAPropsSI("B", "T", tk, "W", w, "P", pressure_pa)) - 273.15, False
