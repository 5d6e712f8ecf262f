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
"""

from __future__ import annotations

import numpy as np


def resistivity_ohm_m(resistivity_20c_ohm_m, temp_coeff_per_k, temp_c):
    """rho(T) = rho_20 * (1 + alpha * (T - 20)), IEC 60287-1-1 eq. (1)."""
    return np.asarray(resistivity_20c_ohm_m) * (
        1.0 + np.asarray(temp_coeff_per_k) * (np.asarray(temp_c) - 20.0)
    )


def resistance_ohm(length_m, cross_section_mm2, resistivity_20c_ohm_m, temp_coeff_per_k, temp_c):
    """DC resistance of ONE conductor: R = rho(T) L / A (A in mm2 -> m2). Arrays broadcast."""
    rho = resistivity_ohm_m(resistivity_20c_ohm_m, temp_coeff_per_k, temp_c)
    return rho * np.asarray(length_m) / (np.asarray(cross_section_mm2) * 1e-6)


def operating_temp_c(current_a, ampacity_a, max_temp_c, ambient_c):
    """T = T_amb + (T_max - T_amb) (I / I_rated)^2: rise proportional to I^2 R_th (IEC 60287 model)."""
    x = np.abs(np.asarray(current_a)) / np.asarray(ampacity_a)
    return np.asarray(ambient_c) + (np.asarray(max_temp_c) - np.asarray(ambient_c)) * x * x


def loop_factor(system):
    """Conductors in the current path per circuit: 2 for DC (out and back), 1 per phase for positive-sequence AC.

    Positive-sequence AC works per phase (three-phase power S = sqrt(3) V_LL I), so one phase conductor is
    the series resistance; a two-wire DC circuit (+/- pole) carries I through both poles.
    """
    return np.where(np.asarray(system) == "dc", 2.0, 1.0)


def conductor_mass_kg(length_m, cross_section_mm2, conductors, density_kg_m3, runs=1):
    """Metal mass of a run: m = runs * conductors * A * L * density (A in mm2)."""
    return (
        np.asarray(runs)
        * np.asarray(conductors)
        * np.asarray(cross_section_mm2)
        * 1e-6
        * np.asarray(length_m)
        * np.asarray(density_kg_m3)
    )
