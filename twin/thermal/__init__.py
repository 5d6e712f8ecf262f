"""Thermal-hydraulic solver for warm-water liquid cooling: steady state (``solve_thermal``) and transients
(``simulate_transient``). Physics by domain: ``properties`` (CoolProp tables), ``hydraulics`` (loop networks),
``heat`` (racks and junctions), ``cdu`` (eps-NTU), ``heat_rejection`` (dry coolers, adiabatic, chillers)."""

from twin.thermal.results import ThermalResult, TransientResult
from twin.thermal.solve import solve_thermal
from twin.thermal.transient import SCENARIOS, simulate_transient

__all__ = ["SCENARIOS", "ThermalResult", "TransientResult", "simulate_transient", "solve_thermal"]
