"""Facility layout schema (pydantic v2). ``twin schema`` prints it as JSON Schema for editors.

A layout is site -> halls -> pods -> rows of racks. Pods hold the equipment their rows reference by name:
technology cooling loops (CDUs) and power blocks with their busways. Halls hold the facility water system
(heat rejection) and air-side units. Halls, pods and rows can be repeated (``repeat: N``) with an offset
between copies, so a 1 GW campus stays a file of a few hundred lines. Names are unique among siblings; a
repeated item's copies get the suffix ``-1 .. -N`` when compiled.

Units are in the field names (``_m``, ``_c``, ``_mw``, ``_kv`` ...). Floor coordinates: x along a row, y across
rows, metres, relative to the parent's origin.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"

_REDUNDANCY = re.compile(r"^(N|N\+(\d+)|2N|(\d+)-to-make-(\d+))$")


def spare_units(redundancy: str, units: int) -> int:
    """Units that may fail with the rest still carrying the design load.

    'N' -> 0; 'N+k' -> k; '2N' -> units/2 (units must be even); 'X-to-make-Y' (block redundancy) -> X-Y
    (units must be a multiple of X).
    """
    m = _REDUNDANCY.match(redundancy)
    if m is None:
        raise ValueError(f"unknown redundancy '{redundancy}' (use N, N+1, N+2, 2N or e.g. 5-to-make-4)")
    if redundancy == "N":
        return 0
    if m.group(2) is not None:
        k = int(m.group(2))
        if k >= units:
            raise ValueError(f"{redundancy} needs more than {k} units (has {units})")
        return k
    if redundancy == "2N":
        if units % 2:
            raise ValueError(f"2N needs an even number of units (has {units})")
        return units // 2
    x, y = int(m.group(3)), int(m.group(4))
    if not 0 < y < x:
        raise ValueError(f"'{redundancy}': need X > Y > 0 in X-to-make-Y")
    if units % x:
        raise ValueError(f"'{redundancy}' needs a multiple of {x} units (has {units})")
    return (units // x) * (x - y)


class Strict(BaseModel):
    # NaN / inf are never a meaningful layout value: reject them at the door
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v, info):
        # YAML reads `racks: true` as a boolean; pydantic's lax mode would take it as 1. A count or a quantity
        # given as yes / no is a mistake, not a number.
        if isinstance(v, bool):
            ann = cls.model_fields[info.field_name].annotation
            if ann in (int, float) or ann in (int | None, float | None):
                raise ValueError(f"expected a number, got {str(v).lower()}")
        return v


XY = tuple[float, float]


class Repeated(Strict):
    name: str = Field(pattern=NAME, description="unique among siblings")
    repeat: int = Field(default=1, ge=1, le=10_000, description="number of copies")
    origin_m: XY = Field(default=(0.0, 0.0), description="floor position of the first copy (x, y), metres")
    pitch_m: XY = Field(default=(0.0, 0.0), description="offset between copies (x, y), metres")
    workload: str | None = Field(default=None, description="workload tier for the racks below (inherited)")

    @model_validator(mode="after")
    def _pitch(self):
        if self.repeat > 1 and self.pitch_m == (0.0, 0.0):
            raise ValueError("repeat > 1 needs a non-zero pitch_m so copies do not overlap")
        return self


class Row(Repeated):
    """A row of identical racks, fed by one busway and cooled by one technology cooling loop."""

    rack_type: str = Field(description="catalog rack name, e.g. vr-nvl72")
    racks: int = Field(ge=1, le=1000, description="racks in the row")
    rack_pitch_m: float | None = Field(
        default=None, gt=0, description="centre-to-centre; default: rack width"
    )
    cooling_loop: str = Field(description="name of a cooling loop of this pod")
    busway: str = Field(description="name of a busway of this pod")


class CoolingLoop(Strict):
    """A technology cooling system (TCS) loop: CDUs in parallel, manifolds to the rack cold plates."""

    name: str = Field(pattern=NAME)
    cdu: str = Field(description="catalog CDU name")
    units: int = Field(ge=1, le=100)
    redundancy: str = Field(default="N+1")
    coolant: Literal["PG25", "water"] = "PG25"
    manifold_length_m: float = Field(default=30.0, gt=0, le=2000)
    manifold_diameter_m: float = Field(default=0.2, gt=0, le=2)
    pipe_roughness_m: float = Field(default=4.5e-5, ge=0, le=0.01)

    @model_validator(mode="after")
    def _r(self):
        spare_units(self.redundancy, self.units)
        return self


class Busway(Strict):
    name: str = Field(pattern=NAME)
    conductor: str = Field(description="catalog conductor name")
    length_m: float = Field(gt=0, le=5000)
    feeds: int = Field(default=2, ge=1, le=2, description="1 = single feed, 2 = A+B feeds (2N)")


class PowerBlock(Strict):
    """A block of parallel sources (MV/LV transformers on AC, MV rectifiers / SSTs on 800 VDC) feeding busways."""

    name: str = Field(pattern=NAME)
    source: str = Field(description="catalog transformer (AC) or rectifier / SST (800 VDC)")
    units: int = Field(ge=1, le=100)
    redundancy: str = "N+1"
    ups: str | None = Field(default=None, description="catalog UPS (AC only)")
    ups_units: int = Field(default=0, ge=0, le=200)
    ups_redundancy: str = "N+1"
    feeder_length_m: float = Field(default=100.0, gt=0, le=20000, description="MV cable from the substation")
    feeder_conductor: str = "mv-cable-630"
    busways: list[Busway] = Field(min_length=1)

    @model_validator(mode="after")
    def _r(self):
        spare_units(self.redundancy, self.units)
        if self.ups is not None:
            if self.ups_units < 1:
                raise ValueError("ups needs ups_units >= 1")
            spare_units(self.ups_redundancy, self.ups_units)
        return self


class Pod(Repeated):
    cooling_loops: list[CoolingLoop] = Field(min_length=1)
    power_blocks: list[PowerBlock] = Field(min_length=1)
    rows: list[Row] = Field(min_length=1)


class FacilityWater(Strict):
    """Facility water system (FWS) of a hall: CDUs' primary side, dry coolers, optional trim chillers."""

    supply_c: float = Field(
        default=45.0, ge=5, le=70, description="supply setpoint, C (above 70 C is not physical here)"
    )
    w_class: Literal["W17", "W27", "W32", "W40", "W45", "W+"] = "W45"
    dry_cooler: str = "drycooler-1500"
    dry_cooler_units: int = Field(ge=1, le=5000)
    dry_cooler_redundancy: str = "N+1"
    adiabatic: bool = False
    chiller: str | None = None
    chiller_units: int = Field(default=0, ge=0, le=1000)
    pump: str = "fw-pump-750"
    pump_units: int = Field(default=2, ge=1, le=500)
    pump_redundancy: str = "N+1"

    @model_validator(mode="after")
    def _v(self):
        limits = {"W17": 17, "W27": 27, "W32": 32, "W40": 40, "W45": 45, "W+": 70}
        if self.supply_c > limits[self.w_class]:
            raise ValueError(
                f"supply_c {self.supply_c} C is above the {self.w_class} class limit of "
                f"{limits[self.w_class]} C"
            )
        spare_units(self.dry_cooler_redundancy, self.dry_cooler_units)
        spare_units(self.pump_redundancy, self.pump_units)
        if self.chiller is not None and self.chiller_units < 1:
            raise ValueError("chiller needs chiller_units >= 1")
        return self


class AirSide(Strict):
    unit: str = "fanwall-500"
    units: int = Field(ge=0, le=10000)
    redundancy: str = "N+1"

    @model_validator(mode="after")
    def _r(self):
        if self.units:
            spare_units(self.redundancy, self.units)
        return self


class MechanicalFeed(Strict):
    """Transformers feeding the hall's pumps, fans and chillers from the MV bus."""

    transformer: str = "mv-lv-3mva-480"
    units: int = Field(default=2, ge=1, le=200)
    redundancy: str = "N+1"

    @model_validator(mode="after")
    def _r(self):
        spare_units(self.redundancy, self.units)
        return self


class Hall(Repeated):
    facility_water: FacilityWater
    air_side: AirSide = Field(default_factory=lambda: AirSide(units=0))
    mechanical: MechanicalFeed = Field(default_factory=MechanicalFeed)
    pods: list[Pod] = Field(min_length=1)


class Site(Strict):
    name: str = Field(min_length=1)
    grid_limit_mw: float = Field(gt=0, le=20000, description="grid connection limit, MW")
    location: str = ""
    latitude_deg: float | None = Field(default=None, ge=-90, le=90)
    longitude_deg: float | None = Field(default=None, ge=-180, le=180)
    climate: str | None = Field(
        default=None, description="weather reference, e.g. 'tmy3:723170TYA' (pvlib data)"
    )
    design_ambient_c: float = Field(default=35.0, ge=-50, le=60, description="design dry bulb, C")
    design_wet_bulb_c: float | None = Field(default=None, ge=-50, le=40)
    altitude_m: float = Field(default=0.0, ge=-500, le=6000)

    @model_validator(mode="after")
    def _wb(self):
        if self.design_wet_bulb_c is not None and self.design_wet_bulb_c > self.design_ambient_c:
            raise ValueError("design_wet_bulb_c cannot exceed design_ambient_c")
        return self


class Substation(Strict):
    transformer: str = "hv-mv-100mva"
    units: int = Field(ge=1, le=500)
    redundancy: str = "N+1"

    @model_validator(mode="after")
    def _r(self):
        spare_units(self.redundancy, self.units)
        return self


class Electrical(Strict):
    architecture: Literal["ac", "dc800"]
    ac_voltage_v: Literal[415, 480] = Field(
        default=415, description="LV AC distribution voltage (ac architecture)"
    )
    utility_kv: float = Field(default=230.0, gt=0, le=800)
    mv_kv: float = Field(default=34.5, gt=0, le=72.5)
    substation: Substation
    voltage_limits_pu: tuple[float, float] = (0.95, 1.05)

    @field_validator("voltage_limits_pu")
    @classmethod
    def _lim(cls, v):
        if not 0 < v[0] < 1 < v[1] < 2:
            raise ValueError("need 0 < lower < 1 < upper < 2")
        return v


class ScaleOut(Strict):
    topology: Literal["leaf-spine", "fat-tree-3"] = "leaf-spine"
    switch: str = "sn5600"
    oversubscription: float = Field(
        default=1.0, ge=1.0, le=16.0, description="downlink : uplink bandwidth at the leaf"
    )
    rails: int = Field(default=8, ge=1, le=64, description="rail-optimised planes")


class Frontend(Strict):
    enabled: bool = True
    switch: str = "sn5600"
    gbps_per_gpu: float = Field(default=200.0, gt=0)


class Network(Strict):
    scale_out: ScaleOut = Field(default_factory=ScaleOut)
    optics: Literal["pluggable", "cpo"] = "pluggable"
    optic: str | None = Field(default=None, description="catalog optic; default by optics kind")
    frontend: Frontend = Field(default_factory=Frontend)


class Tier(Strict):
    """A service tier. Inference tiers are sold per million output tokens at an interactivity (output tokens/s
    seen by one user); training tiers per GPU-hour at full throughput (twin.economics)."""

    name: str = Field(pattern=NAME)
    kind: Literal["inference", "training"]
    price_usd_per_mtok: float | None = Field(default=None, ge=0)
    description: str = ""
    interactivity_tok_s_per_user: float | None = Field(
        default=None,
        gt=0,
        le=100_000,
        description="output tokens/s per user the tier sells (inference); None: 50 (the keynote's $6 tier)",
    )
    demand_limit_tok_s: float | None = Field(
        default=None, ge=0, description="most output tokens/s the market takes at this price; None: unlimited"
    )
    share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="most fraction of the priced inference tokens served in this tier (the market's mix); "
        "None: no limit",
    )
    input_output_ratio: float = Field(
        default=8.0,
        ge=0,
        le=1000,
        description="input (prefill) tokens per output token; sizes the prefill of disaggregated serving",
    )
    price_usd_per_gpu_hour: float | None = Field(
        default=None, ge=0, description="training: value of one GPU-hour at full throughput, USD"
    )

    @model_validator(mode="after")
    def _kind_fields(self):
        if self.kind == "training" and self.price_usd_per_mtok is not None and self.price_usd_per_gpu_hour:
            raise ValueError("a training tier is priced per GPU-hour or per Mtok, not both")
        if self.kind == "inference" and self.price_usd_per_gpu_hour is not None:
            raise ValueError("price_usd_per_gpu_hour is for training tiers (inference: price_usd_per_mtok)")
        return self


def keynote_tiers() -> list[Tier]:
    """The GTC 2026 keynote's inference tiers: free, ~$3, ~$6, ~$45, ~$150 per million tokens as speed rises.

    Prices are the keynote's; the interactivity of each tier is our reading of its "speed rises" (tokens/s per
    user: 10, 25, 50, 150, 500), the last one beyond a GPU rack's frontier (decode-engine territory).
    """
    spec = [
        ("free", 0.0, 10.0),
        ("t3", 3.0, 25.0),
        ("t6", 6.0, 50.0),
        ("t45", 45.0, 150.0),
        ("t150", 150.0, 500.0),
    ]
    return [
        Tier(name=n, kind="inference", price_usd_per_mtok=p, interactivity_tok_s_per_user=i)
        for n, p, i in spec
    ]


class Workload(Strict):
    default_tier: str
    tiers: list[Tier] = Field(min_length=1)


class Layout(Strict):
    """A facility layout file."""

    version: Literal[1] = 1
    site: Site
    catalogs: list[str] = Field(
        default_factory=list, description="extra catalog files, relative to the layout"
    )
    workload: Workload
    electrical: Electrical
    network: Network = Field(default_factory=Network)
    halls: list[Hall] = Field(min_length=1)
