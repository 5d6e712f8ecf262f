"""Rack heat: energy balance of the coolant through a rack and GPU junction temperature on the cold plate.

Coolant rise (steady flow energy equation):  T_out = T_in + P_liquid / (m_dot c_p).
Cold-plate resistance vs flow (Modelica Buildings ``LiquidCooled`` ``Generic_R_m_flow``, lbl-srg PR 4667, from
OCP guidance: R V is linear in V):  R(V) = R_d [(1 - f) + f V_d / V],  f = convective share of R at design.
Junction: T_j = T_local + P_gpu R(V). The hottest GPU is taken at the rack outlet temperature (cold plates in
series along the tray: the last plate sees the fully heated coolant), an upper bound for the rack.
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
