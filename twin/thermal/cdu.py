"""CDU: counterflow liquid-to-liquid plate heat exchanger coupling a TCS loop to the facility water (eps-NTU).

Counterflow effectiveness (Kays & London 1984; Incropera & DeWitt, Fundamentals of Heat and Mass Transfer,
Table 11.3):  eps = (1 - exp(-NTU (1 - Cr))) / (1 - Cr exp(-NTU (1 - Cr))),  eps = NTU / (1 + NTU) for Cr = 1,
NTU = UA / C_min, Cr = C_min / C_max, Q = eps C_min (T_hot,in - T_cold,in).

Rating: a datasheet gives capacity Q_r at approach dT_a = T_tcs,supply - T_fws,supply. We take the rating with
equal capacity rates on both sides (C_h = C_c = rho c_p Q_rated of the TCS flow), for which the log-mean
temperature difference equals the approach everywhere, so UA_r = Q_r / dT_a. The facility-water flow through each
running CDU is held at this rated capacity rate.

Off-rating flows: the film coefficient on each side of the plates follows h ~ Re^n (Nu = C Re^n Pr^1/3 of chevron
plates, n ~ 0.6-0.8; Martin, VDI Heat Atlas 2010; Kakac & Liu, Heat Exchangers, 2002), and with the wall neglected
1/UA = 1/(hA)_h + 1/(hA)_c. With equal film resistances at the balanced rating (same fluid duty on both sides):
  UA = UA_r / (0.5 (m_h,r / m_h)^n + 0.5 (m_c,r / m_c)^n)
(the form of Modelica Buildings' ``HADryCoil`` / the ASHRAE HVAC2 toolkit). n is catalog data
(``ua_flow_exponent``). At 30 % TCS flow this keeps NTU, and so the approach, physical instead of letting a
constant UA drive the effectiveness to 1.
"""

from __future__ import annotations

import numpy as np


def effectiveness_counterflow(ntu, cr):
    """Effectiveness of a counterflow exchanger (Incropera & DeWitt Table 11.3).

    eps = (1 - exp(-NTU (1 - Cr))) / (1 - Cr exp(-NTU (1 - Cr))); the Cr -> 1 limit NTU / (1 + NTU) is taken
    exactly.

    Parameters
    ----------
    ntu : float or numpy.ndarray
        Number of transfer units UA / C_min.
    cr : float or numpy.ndarray
        Capacity-rate ratio C_min / C_max (0..1).

    Returns
    -------
    numpy.ndarray
        eps, 0..1.
    """
    ntu = np.asarray(ntu, dtype=float)
    cr = np.asarray(cr, dtype=float)
    x = np.exp(-ntu * (1.0 - cr))
    balanced = np.abs(1.0 - cr) < 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = np.where(balanced, ntu / (1.0 + ntu), (1.0 - x) / (1.0 - cr * x))
    return eps


def ntu_counterflow(eps, cr):
    """Inverse of ``effectiveness_counterflow``: NTU = ln((1 - eps Cr) / (1 - eps)) / (1 - Cr), eps / (1 - eps)
    for Cr = 1.

    Parameters
    ----------
    eps : float or numpy.ndarray
        Effectiveness (< 1).
    cr : float or numpy.ndarray
        Capacity-rate ratio C_min / C_max.

    Returns
    -------
    numpy.ndarray
        NTU.
    """
    eps = np.asarray(eps, dtype=float)
    cr = np.asarray(cr, dtype=float)
    balanced = np.abs(1.0 - cr) < 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            balanced,
            eps / (1.0 - eps),
            np.log((1.0 - eps * cr) / (1.0 - eps)) / (1.0 - np.where(balanced, 0, cr)),
        )


def rated_ua_w_per_k(capacity_w, approach_k):
    """Rated UA of a CDU, UA_r = Q_r / dT_a (balanced counterflow: LMTD = approach).

    Parameters
    ----------
    capacity_w : float or numpy.ndarray
        Rated capacity Q_r, W.
    approach_k : float or numpy.ndarray
        Rated approach dT_a = T_tcs,supply - T_fws,supply, K.

    Returns
    -------
    numpy.ndarray
        UA_r, W/K.
    """
    return np.asarray(capacity_w, dtype=float) / approach_k


def ua_at_flow_w_per_k(ua_rated_w_per_k, flow_ratio_hot, flow_ratio_cold, exponent):
    """UA at off-rating flows, UA = UA_r / (0.5 x_h^-n + 0.5 x_c^-n), x = m / m_rated on each side.

    Parameters
    ----------
    ua_rated_w_per_k : float or numpy.ndarray
        Rated UA, W/K.
    flow_ratio_hot, flow_ratio_cold : float or numpy.ndarray
        Flow over rated flow on the hot (TCS) and cold (facility-water) side.
    exponent : float or numpy.ndarray
        Film-coefficient flow exponent n (catalog ``ua_flow_exponent``).

    Returns
    -------
    numpy.ndarray
        UA, W/K; 0 where either side has no flow.
    """
    xh = np.asarray(flow_ratio_hot, dtype=float)
    xc = np.asarray(flow_ratio_cold, dtype=float)
    ok = (xh > 0) & (xc > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 0.5 * np.where(ok, xh, 1.0) ** -exponent + 0.5 * np.where(ok, xc, 1.0) ** -exponent
    return np.where(ok, ua_rated_w_per_k / denom, 0.0)


def hx_heat_w(ua_w_per_k, c_hot_w_per_k, c_cold_w_per_k, t_hot_in_c, t_cold_in_c):
    """Heat of a counterflow exchanger, Q = eps C_min (T_hot,in - T_cold,in).

    Parameters
    ----------
    ua_w_per_k : float or numpy.ndarray
        UA, W/K.
    c_hot_w_per_k, c_cold_w_per_k : float or numpy.ndarray
        Capacity rates m c_p of the hot and cold streams, W/K.
    t_hot_in_c, t_cold_in_c : float or numpy.ndarray
        Inlet temperatures, C.

    Returns
    -------
    numpy.ndarray
        Q, W (0 where either stream has no flow).
    """
    c_min = np.minimum(c_hot_w_per_k, c_cold_w_per_k)
    c_max = np.maximum(c_hot_w_per_k, c_cold_w_per_k)
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = effectiveness_counterflow(
            ua_w_per_k / np.where(c_min > 0, c_min, 1.0), c_min / np.where(c_max > 0, c_max, 1.0)
        )
    return np.where(c_min > 0, eps * c_min * (t_hot_in_c - t_cold_in_c), 0.0)


def hot_inlet_for_duty_c(heat_w, ua_w_per_k, c_hot_w_per_k, c_cold_w_per_k, t_cold_in_c):
    """Hot-side inlet temperature at which the exchanger carries ``heat_w``: T_h,in = T_c,in + Q / (eps C_min).

    Parameters
    ----------
    heat_w : float or numpy.ndarray
        Duty Q, W.
    ua_w_per_k : float or numpy.ndarray
        UA, W/K.
    c_hot_w_per_k, c_cold_w_per_k : float or numpy.ndarray
        Capacity rates of the hot and cold streams, W/K (> 0).
    t_cold_in_c : float or numpy.ndarray
        Cold-side inlet temperature, C.

    Returns
    -------
    t_hot_in_c : numpy.ndarray
        Hot-side inlet temperature, C.
    eps : numpy.ndarray
        Effectiveness.
    """
    c_min = np.minimum(c_hot_w_per_k, c_cold_w_per_k)
    c_max = np.maximum(c_hot_w_per_k, c_cold_w_per_k)
    eps = effectiveness_counterflow(ua_w_per_k / c_min, c_min / c_max)
    return t_cold_in_c + heat_w / (eps * c_min), eps
