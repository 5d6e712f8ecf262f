"""Schema of catalog entries (pydantic). Units are in the field names; every entry needs a ``source``."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

Pos = Field(gt=0)


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    display_name: str = ""
    source: str = Field(min_length=3, description="where the numbers come from ([O] maker, [S] second-hand)")


class Curve(BaseModel):
    """A tabulated curve y(x); x strictly increasing."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def _check(self, x: list[float], y: list[float], xname: str, yname: str, lo: float, hi: float) -> None:
        if len(x) != len(y):
            raise ValueError(f"{xname} and {yname} must have the same length ({len(x)} != {len(y)})")
        if len(x) < 2:
            raise ValueError("a curve needs at least 2 points")
        if np.any(np.diff(x) <= 0):
            raise ValueError(f"{xname} must be strictly increasing")
        if min(y) <= lo or max(y) > hi:
            raise ValueError(f"{yname} must be in ({lo}, {hi}]")


class EfficiencyCurve(Curve):
    load_fraction: list[float]
    efficiency: list[float]

    @model_validator(mode="after")
    def _v(self):
        self._check(self.load_fraction, self.efficiency, "load_fraction", "efficiency", 0.0, 1.0)
        if self.load_fraction[0] <= 0:
            raise ValueError("load_fraction must be > 0")
        return self


class PumpEfficiencyCurve(Curve):
    """Pump efficiency over its best-point efficiency vs flow over its best-point flow, at rated speed."""

    flow_fraction: list[float]
    efficiency_ratio: list[float]

    @model_validator(mode="after")
    def _v(self):
        self._check(self.flow_fraction, self.efficiency_ratio, "flow_fraction", "efficiency_ratio", 0.0, 1.0)
        if self.flow_fraction[0] <= 0:
            raise ValueError("flow_fraction must be > 0")
        return self


class ThroughputCurve(Curve):
    power_fraction: list[float]
    relative_throughput: list[float]

    @model_validator(mode="after")
    def _v(self):
        x, y = np.asarray(self.power_fraction), np.asarray(self.relative_throughput)
        self._check(
            self.power_fraction, self.relative_throughput, "power_fraction", "relative_throughput", 0.0, 1.0
        )
        if abs(x[-1] - 1.0) > 1e-9 or abs(y[-1] - 1.0) > 1e-9:
            raise ValueError("the last point must be power_fraction 1.0 -> relative_throughput 1.0")
        slopes = np.diff(y) / np.diff(x)
        if np.any(slopes <= 0):
            raise ValueError("relative_throughput must increase with power")
        if len(x) < 3 or np.any(np.diff(slopes) >= -1e-9 * slopes[:-1]):
            # a straight piece makes the best power cap all-or-nothing (no unique Max-Q optimum)
            raise ValueError(
                "throughput curve must be strictly concave: at least 3 points with strictly decreasing slopes"
            )
        return self


class Frontier(BaseModel):
    """Throughput per accelerator vs interactivity at full power: a Pareto frontier (one serving recipe per point).

    ``tokens_per_s_per_gpu`` (output tokens/s of one accelerator at ``power_max_w``) must fall strictly as
    ``interactivity_tok_s_per_user`` (output tokens/s seen by one user) rises: a faster token costs throughput.
    ``serving``: ``aggregated`` (prefill and decode on the same accelerators; the frontier includes the prefill of
    the reference workload) or ``decode`` (decode only: the prefill is served disaggregated on another rack type,
    at that type's ``prefill_tokens_per_s_per_gpu``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    model: str = Field(min_length=1, description="reference model and sequence lengths of the frontier")
    serving: Literal["aggregated", "decode"] = "aggregated"
    interactivity_tok_s_per_user: list[float]
    tokens_per_s_per_gpu: list[float]
    prefill_tokens_per_s_per_gpu: float | None = Field(
        default=None, gt=0, description="input tokens/s of one accelerator doing prefill only (disaggregated)"
    )
    source: str = Field(min_length=3)

    @model_validator(mode="after")
    def _v(self):
        x, y = np.asarray(self.interactivity_tok_s_per_user), np.asarray(self.tokens_per_s_per_gpu)
        if len(x) != len(y):
            raise ValueError(
                "interactivity_tok_s_per_user and tokens_per_s_per_gpu must have the same length"
            )
        if len(x) < 2:
            raise ValueError("a frontier needs at least 2 points")
        if np.any(x <= 0) or np.any(np.diff(x) <= 0):
            raise ValueError("interactivity_tok_s_per_user must be positive and strictly increasing")
        if np.any(y <= 0) or np.any(np.diff(y) >= 0):
            raise ValueError(
                "tokens_per_s_per_gpu must be positive and strictly decreasing in interactivity "
                "(a Pareto frontier: faster tokens cost throughput)"
            )
        if self.serving == "decode" and self.prefill_tokens_per_s_per_gpu is not None:
            raise ValueError("a decode-only accelerator has no prefill rate")
        return self


class RackType(Entry):
    form_factor: Literal["oberon", "kyber", "hgx", "lpx", "other"]
    gpu: str
    gpus: int = Field(gt=0)
    power_maxp_kw: float = Pos
    power_maxq_kw: float = Pos
    other_power_kw: float = Field(ge=0)
    liquid_fraction: float = Field(ge=0, le=1)
    coolant: Literal["PG25", "water"] = "PG25"
    design_flow_lpm_per_kw: float = Pos
    cold_plate_r_k_per_w: float = Pos
    cold_plate_r_conv_fraction: float = Field(ge=0, le=1, description="share of R that scales as 1/flow")
    dp_design_kpa: float = Pos
    dp_exponent: float = Field(ge=1.0, le=2.5)
    thermal_time_constant_s: float = Field(
        default=2.0,
        gt=0,
        description="rack coolant/cold-plate lag, s ([O] Modelica Buildings PartialRack tau ~2 s)",
    )
    die_time_constant_s: float = Field(
        default=2.0,
        gt=0,
        description="GPU die + cold-plate lumped lag at design flow, s: heat capacity per GPU = tau / "
        "cold_plate_r_k_per_w ([O] Modelica Buildings LiquidCooled PartialRack tau ~2 s, facts.md)",
    )
    power_inputs: list[Literal["ac", "dc800"]] = Field(min_length=1)
    power_shelf: str | None = None
    power_shelves: int = Field(ge=0)
    dcdc: str | None = None
    nvlink_domain_gpus: int = Field(gt=0)
    nvlink_switch_trays: int = Field(ge=0)
    nvlink_tb_s: float = Field(ge=0)
    nics_per_gpu: float = Field(gt=0)
    nic: str
    width_m: float = Pos
    depth_m: float = Pos
    height_m: float = Pos

    @model_validator(mode="after")
    def _v(self):
        if self.power_maxq_kw > self.power_maxp_kw:
            raise ValueError("power_maxq_kw must not exceed power_maxp_kw")
        if "ac" in self.power_inputs and (self.power_shelf is None or self.power_shelves < 1):
            raise ValueError("an AC-fed rack needs power_shelf and power_shelves >= 1")
        if "dc800" in self.power_inputs and self.dcdc is None:
            raise ValueError("an 800 VDC-fed rack needs dcdc")
        return self


class GpuType(Entry):
    power_max_w: float = Pos
    power_min_w: float = Pos
    power_maxq_w: float = Pos
    t_max_operating_c: float
    t_throttle_c: float
    t_shutdown_c: float
    tokens_per_s: dict[str, float]
    throughput_curves: dict[str, ThroughputCurve]
    frontier: Frontier | None = Field(
        default=None, description="inference throughput vs interactivity at full power (twin.economics)"
    )

    @model_validator(mode="after")
    def _v(self):
        if not self.power_min_w < self.power_maxq_w <= self.power_max_w:
            raise ValueError("need power_min_w < power_maxq_w <= power_max_w")
        if not self.t_max_operating_c <= self.t_throttle_c < self.t_shutdown_c:
            raise ValueError("need t_max_operating_c <= t_throttle_c < t_shutdown_c")
        if set(self.tokens_per_s) != set(self.throughput_curves):
            raise ValueError("tokens_per_s and throughput_curves must name the same workload kinds")
        for kind, curve in self.throughput_curves.items():
            if curve.power_fraction[0] > self.power_min_w / self.power_max_w + 1e-9:
                raise ValueError(f"throughput_curves.{kind} must start at or below power_min_w / power_max_w")
        return self


class Cdu(Entry):
    capacity_kw: float = Pos
    approach_k: float = Pos
    flow_lpm: float = Pos
    pump_head_kpa: float = Pos
    pump_efficiency: float = Field(gt=0, le=1)
    secondary_volume_l: float = Pos
    # thermal-hydraulic solver (twin.thermal); defaults are typical values, catalog entries state their own
    pump_shutoff_head_ratio: float = Field(
        default=1.25, gt=1, le=2, description="pump head at zero flow / rated head (quadratic curve)"
    )
    min_flow_fraction: float = Field(default=0.3, gt=0, le=1, description="minimum pump flow / rated")
    pump_ramp_s: float = Field(default=5.0, gt=0, description="time constant of pump flow changes, s")
    failover_s: float = Field(default=10.0, ge=0, description="delay before remaining units take over, s")
    ua_flow_exponent: float = Field(
        default=0.7, gt=0, le=1, description="film coefficient ~ flow^n on each side of the plates"
    )
    pump_efficiency_curve: PumpEfficiencyCurve | None = Field(
        default=None,
        description="pump efficiency / best-point efficiency vs flow / rated flow at rated speed; None: the "
        "Euler-number correlation along the quadratic head curve (twin.thermal.hydraulics)",
    )
    # the loop's rack flow-control valves and its differential-pressure control
    valve_authority: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="share of a rack branch's design differential taken by its fully open flow-control valve",
    )
    dp_setpoint_kpa: float | None = Field(
        default=None,
        gt=0,
        description="header differential the pumps hold at the index rack, kPa; None: commissioned to the "
        "loop's largest design branch differential (rack dP / (1 - valve_authority))",
    )
    rack_min_flow_fraction: float = Field(
        default=0.2, gt=0, le=1, description="flow a powered rack's valve never closes below, / design flow"
    )


class DryCooler(Entry):
    capacity_kw: float = Pos
    rating_water_in_c: float
    rating_water_out_c: float
    rating_ambient_c: float
    fan_power_kw: float = Pos
    airflow_m3_s: float = Pos
    adiabatic: bool = False
    adiabatic_effectiveness: float = Field(default=0.0, ge=0, le=1)
    ua_airflow_exponent: float = Field(
        default=0.8, gt=0, le=1.5, description="UA ~ airflow^x (air-side film, Dittus-Boelter-like)"
    )

    @model_validator(mode="after")
    def _v(self):
        if not self.rating_water_in_c > self.rating_water_out_c > self.rating_ambient_c:
            raise ValueError("need rating_water_in_c > rating_water_out_c > rating_ambient_c")
        return self


class Chiller(Entry):
    capacity_kw: float = Pos
    cop_rated: float = Pos
    rating_leaving_c: float
    rating_ambient_c: float
    evaporator_approach_k: float = Field(
        default=3.0, gt=0, le=20, description="leaving water - evaporating, K"
    )
    condenser_approach_k: float = Field(
        gt=0, le=40, description="condensing - ambient dry bulb (air-cooled condenser CTD), K"
    )
    cop_max: float = Field(default=9.0, gt=1, description="highest COP of the compressor map (minimum lift)")
    ambient_min_c: float = Field(default=-10.0, description="lowest ambient of the operating map, C")
    ambient_max_c: float = Field(default=50.0, description="highest ambient of the operating map, C")
    leaving_max_c: float = Field(
        description="highest leaving water of the operating map, C (above it the expansion valve's maximum "
        "operating pressure holds the evaporating temperature)"
    )

    @model_validator(mode="after")
    def _v(self):
        if not self.rating_leaving_c <= self.leaving_max_c:
            raise ValueError("need rating_leaving_c <= leaving_max_c")
        if not self.ambient_min_c <= self.rating_ambient_c <= self.ambient_max_c:
            raise ValueError("need ambient_min_c <= rating_ambient_c <= ambient_max_c")
        return self


class Pump(Entry):
    flow_m3_s: float = Pos
    head_kpa: float = Pos
    efficiency: float = Field(gt=0, le=1)
    system_head_kpa: float | None = Field(
        default=None, gt=0, description="facility-water loop head at its design flow; None: the rated head"
    )
    shutoff_head_ratio: float = Field(
        default=1.25, gt=1, le=2, description="head at zero flow / rated head (quadratic curve)"
    )
    min_flow_fraction: float = Field(
        default=0.3, ge=0, le=1, description="minimum flow of a running pump / rated"
    )
    efficiency_curve: PumpEfficiencyCurve | None = Field(
        default=None,
        description="efficiency / best-point efficiency vs flow / rated flow at rated speed; None: the "
        "Euler-number correlation along the quadratic head curve (twin.thermal.hydraulics)",
    )


class AirUnit(Entry):
    capacity_kw: float = Pos
    fan_power_kw: float = Pos


class Transformer(Entry):
    rating_kva: float = Pos
    hv_kv: float = Pos
    lv_kv: float = Pos
    no_load_loss_kw: float = Field(ge=0)
    load_loss_kw: float = Field(ge=0)
    impedance_percent: float = Pos


class Rectifier(Entry):
    kind: Literal["rectifier", "sst"]
    rating_kw: float = Pos
    dc_voltage_v: float = Pos
    efficiency_curve: EfficiencyCurve
    power_factor: float = Field(default=1.0, gt=0, le=1, description="AC input power factor")


class Converter(Entry):
    rating_kw: float = Pos
    efficiency_curve: EfficiencyCurve
    power_factor: float = Field(default=1.0, gt=0, le=1, description="AC input power factor")


class Conductor(Entry):
    system: Literal["ac", "dc"]
    material: Literal["copper", "aluminium"]
    cross_section_mm2: float = Pos
    conductors: int = Field(ge=2)
    ampacity_a: float = Pos
    reactance_ohm_per_km: float = Field(ge=0)
    max_temp_c: float = Field(default=90.0, description="conductor temperature at rated ampacity")
    ambient_c: float = Field(default=30.0, description="ambient temperature of the ampacity rating")
    ac_resistance_ratio: float = Field(
        default=1.0, ge=1.0, le=3.0, description="R_ac / R_dc at power frequency (skin + proximity effect)"
    )


class Material(Entry):
    """Conductor material: R(T) = resistivity_20c_ohm_m * (1 + temp_coeff_per_k * (T - 20))."""

    resistivity_20c_ohm_m: float = Pos
    temp_coeff_per_k: float = Field(ge=0)
    density_kg_m3: float = Pos


class ElectricalLoad(Entry):
    """A class of electrical load (e.g. VFD-driven pumps and fans): its input power factor."""

    power_factor: float = Field(gt=0, le=1)


class Switch(Entry):
    ports: int = Field(gt=1)
    port_gbps: float = Pos
    power_w: float = Pos
    optics: Literal["pluggable", "cpo"]


class Optic(Entry):
    kind: Literal["pluggable", "cpo"]
    gbps: float = Pos
    power_w: float = Pos


class Nic(Entry):
    gbps: float = Pos
    power_w: float = Pos


# catalog section name -> entry model
SECTIONS: dict[str, type[Entry]] = {
    "racks": RackType,
    "gpus": GpuType,
    "cdus": Cdu,
    "dry_coolers": DryCooler,
    "chillers": Chiller,
    "pumps": Pump,
    "air_units": AirUnit,
    "transformers": Transformer,
    "rectifiers": Rectifier,
    "ups": Converter,
    "power_shelves": Converter,
    "dcdc": Converter,
    "conductors": Conductor,
    "materials": Material,
    "electrical_loads": ElectricalLoad,
    "switches": Switch,
    "optics": Optic,
    "nics": Nic,
}
