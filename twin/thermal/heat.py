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
    """dT = P / (m_dot c_p); racks without flow get +inf (no steady state: see ``cooled`` in the results)."""
    heat_w = np.asarray(heat_w, dtype=float)
    mc = np.asarray(mass_flow_kg_s, dtype=float) * cp_j_kg_k
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mc > 0, heat_w / np.where(mc > 0, mc, 1.0), np.where(heat_w > 0, np.inf, 0.0))


def cold_plate_resistance_k_per_w(r_design_k_per_w, conv_fraction, flow, design_flow):
    """R(V) = R_d [(1 - f) + f V_d / V] (R V linear in V); infinite without flow."""
    flow = np.asarray(flow, dtype=float)
    with np.errstate(divide="ignore"):
        ratio = np.where(flow > 0, design_flow / np.where(flow > 0, flow, 1.0), np.inf)
    return r_design_k_per_w * ((1.0 - conv_fraction) + conv_fraction * ratio)


def gpu_power_w(rack_power_w, other_power_w, gpus):
    """Per-GPU power (P_rack - P_other) / gpus (architecture contract), never below zero."""
    return np.maximum(np.asarray(rack_power_w, dtype=float) - other_power_w, 0.0) / gpus


def junction_temp_c(local_coolant_c, gpu_power, resistance_k_per_w):
    """T_j = T_coolant + P_gpu R."""
    return local_coolant_c + gpu_power * resistance_k_per_w


def cold_plate_conductance_w_per_k(r_design_k_per_w, conv_fraction, flow, design_flow):
    """G = 1 / R(V) = V / (R_d [(1 - f) V + f V_d]): finite form of ``cold_plate_resistance_k_per_w`` for the
    transient ODE; 0 without flow when f > 0 (the convective film vanishes), 1/R_d when f = 0."""
    flow = np.maximum(np.asarray(flow, dtype=float), 0.0)
    den = r_design_k_per_w * ((1.0 - conv_fraction) * flow + conv_fraction * design_flow)
    both0 = den <= 0  # f = 0 and no flow: pure conduction
    return np.where(both0, 1.0 / r_design_k_per_w, flow / np.where(both0, 1.0, den))


def throttle_fraction(junction_c, throttle_c, band_k):
    """Share of the throttle range in use: s = clip((T_j - T_throttle) / band, 0, 1).

    A proportional band (P controller, Astrom & Hagglund, *PID Controllers*, 1995, ch. 3): the GPU starts to
    reduce its clocks at its slowdown temperature ``t_throttle_c`` (nvidia-smi "GPU Slowdown Temp") and is at
    its minimum power ``band_k`` above it. The band is continuous in T_j, so the stiff solver sees no jump.
    """
    return np.clip((np.asarray(junction_c, dtype=float) - throttle_c) / band_k, 0.0, 1.0)


def throttled_gpu_power_w(command_w, min_power_w, junction_c, throttle_c, band_k):
    """GPU power under thermal throttling: P = P_cmd - max(P_cmd - P_min, 0) s(T_j) (``throttle_fraction``);
    never below the GPU minimum power P_min unless the command already is."""
    head = np.maximum(np.asarray(command_w, dtype=float) - min_power_w, 0.0)
    return command_w - head * throttle_fraction(junction_c, throttle_c, band_k)


def throttled_gpu_power_slope_w_per_k(command_w, min_power_w, junction_c, throttle_c, band_k):
    """dP/dT_j of ``throttled_gpu_power_w``: -max(P_cmd - P_min, 0) / band inside the band, 0 outside."""
    x = (np.asarray(junction_c, dtype=float) - throttle_c) / band_k
    head = np.maximum(np.asarray(command_w, dtype=float) - min_power_w, 0.0)
    return np.where((x > 0.0) & (x < 1.0), -head / band_k, 0.0)


def throttled_junction_c(coolant_c, conductance_w_per_k, command_w, min_power_w, throttle_c, band_k):
    """Steady junction under throttling at a fixed local coolant temperature: the root of
    T_j = T_c + P(T_j) / G with P from ``throttled_gpu_power_w`` (piecewise linear, closed form):
      unthrottled  T_j = T_c + P_cmd / G                          if that is <= T_throttle,
      at minimum   T_j = T_c + P_min / G                          if that is >= T_throttle + band,
      in the band  T_j = (G T_c + P_cmd + h T_throttle / band) / (G + h / band),  h = max(P_cmd - P_min, 0).
    """
    g = np.asarray(conductance_w_per_k, dtype=float)
    head = np.maximum(np.asarray(command_w, dtype=float) - min_power_w, 0.0)
    free = coolant_c + command_w / g
    floor = coolant_c + np.minimum(command_w, min_power_w) / g
    band = (g * coolant_c + command_w + head * throttle_c / band_k) / (g + head / band_k)
    return np.where(free <= throttle_c, free, np.where(floor >= throttle_c + band_k, floor, band))
