"""Rack heat: energy balance of the coolant through a rack and GPU junction temperature on the cold plate.

Coolant rise (steady flow energy equation):  T_out = T_in + P_liquid / (m_dot c_p).
Cold-plate resistance vs flow (Modelica Buildings ``LiquidCooled`` ``Generic_R_m_flow``, lbl-srg PR 4667, from
OCP guidance: R V is linear in V):  R(V) = R_d [(1 - f) + f V_d / V],  f = convective share of R at design.
Junction: T_j = T_local + P_gpu R(V). The hottest GPU is taken at the rack outlet temperature (cold plates in
series along the tray: the last plate sees the fully heated coolant), an upper bound for the rack.
Transients add the die heat capacity and GPU thermal protection: throttling over a proportional band above the
slowdown temperature down to the GPU minimum power (``throttled_gpu_power_w``), see ``transient``.
"""

from __future__ import annotations

import numpy as np


def coolant_rise_k(heat_w, mass_flow_kg_s, cp_j_kg_k):
    """Coolant temperature rise through a rack, dT = P / (m_dot c_p).

    Parameters
    ----------
    heat_w : float or numpy.ndarray
        Heat into the coolant, W.
    mass_flow_kg_s : float or numpy.ndarray
        Coolant mass flow, kg/s.
    cp_j_kg_k : float or numpy.ndarray
        Coolant isobaric heat capacity, J/kg/K.

    Returns
    -------
    numpy.ndarray
        dT, K; +inf for heat without flow (no steady state: see ``cooled`` in the results), 0 for neither.
    """
    heat_w = np.asarray(heat_w, dtype=float)
    mc = np.asarray(mass_flow_kg_s, dtype=float) * cp_j_kg_k
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mc > 0, heat_w / np.where(mc > 0, mc, 1.0), np.where(heat_w > 0, np.inf, 0.0))


def cold_plate_resistance_k_per_w(r_design_k_per_w, conv_fraction, flow, design_flow):
    """Cold-plate thermal resistance at flow V, R(V) = R_d [(1 - f) + f V_d / V] (R V linear in V).

    Parameters
    ----------
    r_design_k_per_w : float or numpy.ndarray
        Junction-to-coolant resistance R_d at design flow, K/W.
    conv_fraction : float or numpy.ndarray
        Convective share f of R_d (0..1).
    flow : float or numpy.ndarray
        Coolant flow V (any unit, the same as ``design_flow``).
    design_flow : float or numpy.ndarray
        Design flow V_d.

    Returns
    -------
    numpy.ndarray
        R(V), K/W; infinite without flow.
    """
    flow = np.asarray(flow, dtype=float)
    with np.errstate(divide="ignore"):
        ratio = np.where(flow > 0, design_flow / np.where(flow > 0, flow, 1.0), np.inf)
    return r_design_k_per_w * ((1.0 - conv_fraction) + conv_fraction * ratio)


def gpu_power_w(rack_power_w, other_power_w, gpus):
    """Per-GPU power (P_rack - P_other) / gpus (architecture contract), never below zero.

    Parameters
    ----------
    rack_power_w : float or numpy.ndarray
        Rack IT power, W.
    other_power_w : float or numpy.ndarray
        Non-GPU power of the rack (CPUs, switches, fans), W.
    gpus : int or numpy.ndarray
        GPUs per rack.

    Returns
    -------
    numpy.ndarray
        Power per GPU, W.
    """
    return np.maximum(np.asarray(rack_power_w, dtype=float) - other_power_w, 0.0) / gpus


def junction_temp_c(local_coolant_c, gpu_power, resistance_k_per_w):
    """GPU junction temperature T_j = T_coolant + P_gpu R.

    Parameters
    ----------
    local_coolant_c : float or numpy.ndarray
        Coolant temperature at the cold plate, C.
    gpu_power : float or numpy.ndarray
        Power per GPU, W.
    resistance_k_per_w : float or numpy.ndarray
        Cold-plate resistance, K/W.

    Returns
    -------
    numpy.ndarray
        T_j, C.
    """
    return local_coolant_c + gpu_power * resistance_k_per_w


def cold_plate_conductance_w_per_k(r_design_k_per_w, conv_fraction, flow, design_flow):
    """Cold-plate conductance G = 1 / R(V) = V / (R_d [(1 - f) V + f V_d]).

    The finite form of ``cold_plate_resistance_k_per_w`` for the transient ODE.

    Parameters
    ----------
    r_design_k_per_w : float or numpy.ndarray
        Resistance R_d at design flow, K/W.
    conv_fraction : float or numpy.ndarray
        Convective share f of R_d.
    flow, design_flow : float or numpy.ndarray
        Coolant flow V and design flow V_d (same unit; negative flow counts as none).

    Returns
    -------
    numpy.ndarray
        G, W/K: 0 without flow when f > 0 (the convective film vanishes), 1/R_d when f = 0.
    """
    flow = np.maximum(np.asarray(flow, dtype=float), 0.0)
    den = r_design_k_per_w * ((1.0 - conv_fraction) * flow + conv_fraction * design_flow)
    both0 = den <= 0  # f = 0 and no flow: pure conduction
    return np.where(both0, 1.0 / r_design_k_per_w, flow / np.where(both0, 1.0, den))


def throttle_fraction(junction_c, throttle_c, band_k):
    """Share of the throttle range in use: s = clip((T_j - T_throttle) / band, 0, 1).

    A proportional band (P controller, Astrom & Hagglund, *PID Controllers*, 1995, ch. 3): the GPU starts to
    reduce its clocks at its slowdown temperature ``t_throttle_c`` (nvidia-smi "GPU Slowdown Temp") and is at
    its minimum power ``band_k`` above it. The band is continuous in T_j, so the stiff solver sees no jump.

    Parameters
    ----------
    junction_c : float or numpy.ndarray
        Junction temperature T_j, C.
    throttle_c : float or numpy.ndarray
        Slowdown temperature T_throttle, C.
    band_k : float
        Proportional band, K.

    Returns
    -------
    numpy.ndarray
        s, 0..1.
    """
    return np.clip((np.asarray(junction_c, dtype=float) - throttle_c) / band_k, 0.0, 1.0)


def throttled_gpu_power_w(command_w, min_power_w, junction_c, throttle_c, band_k):
    """GPU power under thermal throttling: P = P_cmd - max(P_cmd - P_min, 0) s(T_j) (``throttle_fraction``).

    Parameters
    ----------
    command_w : float or numpy.ndarray
        Commanded power per GPU P_cmd, W.
    min_power_w : float or numpy.ndarray
        GPU minimum power P_min, W.
    junction_c, throttle_c : float or numpy.ndarray
        Junction and slowdown temperatures, C.
    band_k : float
        Proportional band, K.

    Returns
    -------
    numpy.ndarray
        Power per GPU, W: never below P_min unless the command already is.
    """
    head = np.maximum(np.asarray(command_w, dtype=float) - min_power_w, 0.0)
    return command_w - head * throttle_fraction(junction_c, throttle_c, band_k)


def throttled_gpu_power_slope_w_per_k(command_w, min_power_w, junction_c, throttle_c, band_k):
    """dP/dT_j of ``throttled_gpu_power_w``: -max(P_cmd - P_min, 0) / band inside the band, 0 outside.

    Parameters are those of ``throttled_gpu_power_w``. Returns the slope in W/K.
    """
    x = (np.asarray(junction_c, dtype=float) - throttle_c) / band_k
    head = np.maximum(np.asarray(command_w, dtype=float) - min_power_w, 0.0)
    return np.where((x > 0.0) & (x < 1.0), -head / band_k, 0.0)


def throttled_junction_c(coolant_c, conductance_w_per_k, command_w, min_power_w, throttle_c, band_k):
    """Steady junction under throttling at a fixed local coolant temperature: the root of
    T_j = T_c + P(T_j) / G with P from ``throttled_gpu_power_w`` (piecewise linear, closed form):
      unthrottled  T_j = T_c + P_cmd / G                          if that is <= T_throttle,
      at minimum   T_j = T_c + P_min / G                          if that is >= T_throttle + band,
      in the band  T_j = (G T_c + P_cmd + h T_throttle / band) / (G + h / band),  h = max(P_cmd - P_min, 0).

    Parameters
    ----------
    coolant_c : float or numpy.ndarray
        Local coolant temperature T_c, C.
    conductance_w_per_k : float or numpy.ndarray
        Cold-plate conductance G, W/K.
    command_w, min_power_w : float or numpy.ndarray
        Commanded and minimum power per GPU, W.
    throttle_c : float or numpy.ndarray
        Slowdown temperature, C.
    band_k : float
        Proportional band, K.

    Returns
    -------
    numpy.ndarray
        Steady T_j, C.
    """
    g = np.asarray(conductance_w_per_k, dtype=float)
    head = np.maximum(np.asarray(command_w, dtype=float) - min_power_w, 0.0)
    free = coolant_c + command_w / g
    floor = coolant_c + np.minimum(command_w, min_power_w) / g
    band = (g * coolant_c + command_w + head * throttle_c / band_k) / (g + head / band_k)
    return np.where(free <= throttle_c, free, np.where(floor >= throttle_c + band_k, floor, band))
