"""Conductors: resistance at operating temperature, operating temperature from loading, copper mass.

Pure functions over numpy arrays (SI units in the names).

Resistance of a conductor of length L and cross-section A at temperature T (IEC 60287-1-1 eq. 1, linear
temperature coefficient; IEC 60028 / IEC 60889 give rho_20 and alpha)::

    R(T) = rho_20 * (1 + alpha * (T - 20 C)) * L / A

Conductor temperature in steady state: the temperature rise above ambient is proportional to the Joule loss,
i.e. to I^2 (IEC 60287-1-1 / IEC 60853 thermal-resistance model with R_th constant), so with the rise at rated
ampacity known (``max_temp_c - ambient_c``)::

    T = T_amb + (T_max - T_amb) * (I / I_rated)^2

(the small increase of loss with R(T) is neglected in the rise, as in the usual first-order estimate).

AC resistance: skin and proximity effect raise the resistance of a conductor carrying 50/60 Hz current
(IEC 60287-1-1 sec. 2.1)::

    R_ac = R_dc (1 + y_s + y_p) = k_ac R_dc

with k_ac = ``ac_resistance_ratio`` of the catalog conductor (1 on DC).
"""

from __future__ import annotations

import numpy as np


def resistivity_ohm_m(resistivity_20c_ohm_m, temp_coeff_per_k, temp_c):
    """rho(T) = rho_20 * (1 + alpha * (T - 20)), IEC 60287-1-1 eq. (1).

    Parameters
    ----------
    resistivity_20c_ohm_m : array_like
        Resistivity at 20 degC, ohm m.
    temp_coeff_per_k : array_like
        Temperature coefficient alpha, 1/K.
    temp_c : array_like
        Conductor temperature, degC.

    Returns
    -------
    ndarray
        Resistivity at temp_c, ohm m.
    """
    return np.asarray(resistivity_20c_ohm_m) * (
        1.0 + np.asarray(temp_coeff_per_k) * (np.asarray(temp_c) - 20.0)
    )


def resistance_ohm(length_m, cross_section_mm2, resistivity_20c_ohm_m, temp_coeff_per_k, temp_c):
    """DC resistance of ONE conductor: R = rho(T) L / A.

    Parameters
    ----------
    length_m : array_like
        Conductor length, m.
    cross_section_mm2 : array_like
        Cross-section, mm2.
    resistivity_20c_ohm_m, temp_coeff_per_k : array_like
        Material: resistivity at 20 degC (ohm m) and temperature coefficient (1/K).
    temp_c : array_like
        Conductor temperature, degC.

    Returns
    -------
    ndarray
        Resistance, ohm. Arrays broadcast.
    """
    rho = resistivity_ohm_m(resistivity_20c_ohm_m, temp_coeff_per_k, temp_c)
    return rho * np.asarray(length_m) / (np.asarray(cross_section_mm2) * 1e-6)


def ac_resistance_ohm(r_dc_ohm, ac_resistance_ratio):
    """R_ac = k_ac R_dc with k_ac = 1 + y_s + y_p (skin and proximity effect, IEC 60287-1-1 sec. 2.1).

    Parameters
    ----------
    r_dc_ohm : array_like
        DC resistance at the operating temperature, ohm.
    ac_resistance_ratio : array_like
        k_ac = R_ac / R_dc of the conductor (catalog ``ac_resistance_ratio``; 1 on DC).

    Returns
    -------
    ndarray
        AC resistance, ohm.
    """
    return np.asarray(ac_resistance_ratio) * np.asarray(r_dc_ohm)


def operating_temp_c(current_a, ampacity_a, max_temp_c, ambient_c):
    """T = T_amb + (T_max - T_amb) (I / I_rated)^2: rise proportional to I^2 R_th (IEC 60287 model).

    Parameters
    ----------
    current_a : array_like
        Current per conductor (sign ignored), A.
    ampacity_a : array_like
        Rated current at which the conductor reaches max_temp_c, A.
    max_temp_c, ambient_c : array_like
        Conductor temperature at rated current and ambient temperature, degC.

    Returns
    -------
    ndarray
        Conductor temperature, degC.
    """
    x = np.abs(np.asarray(current_a)) / np.asarray(ampacity_a)
    return np.asarray(ambient_c) + (np.asarray(max_temp_c) - np.asarray(ambient_c)) * x * x


def loop_factor(system):
    """Conductors in the current path per circuit: 2 for DC (out and back), 1 per phase for positive-sequence AC.

    ``system``: "ac" or "dc" (array_like of str); returns 1.0 or 2.0 per element.

    Positive-sequence AC works per phase (three-phase power S = sqrt(3) V_LL I), so one phase conductor is
    the series resistance; a two-wire DC circuit (+/- pole) carries I through both poles.
    """
    return np.where(np.asarray(system) == "dc", 2.0, 1.0)


def conductor_mass_kg(length_m, cross_section_mm2, conductors, density_kg_m3, runs=1):
    """Metal mass of a run: m = runs * conductors * A * L * density.

    Parameters
    ----------
    length_m : array_like
        Run length, m.
    cross_section_mm2 : array_like
        Cross-section of one conductor, mm2.
    conductors : array_like
        Conductors per run (3 phases on AC, 2 poles on DC ...).
    density_kg_m3 : array_like
        Material density, kg/m3.
    runs : array_like, default 1
        Parallel runs (busway feeds).

    Returns
    -------
    ndarray
        Mass, kg.
    """
    return (
        np.asarray(runs)
        * np.asarray(conductors)
        * np.asarray(cross_section_mm2)
        * 1e-6
        * np.asarray(length_m)
        * np.asarray(density_kg_m3)
    )
