"""``Scenario``: an immutable, hashable description of one what-if, the one input of :func:`twin.run`.

A scenario names a layout (a file or a loaded :class:`~twin.layout.Layout`), **overrides** of that layout by
dotted path, the outdoor conditions, the load (Max-P, an IT-load fraction, GPU caps, or a grid budget with a
policy), the failed units and the analysis to run. ``Scenario.id`` is a content hash: the same inputs give the
same id in any process on any machine (a path and the loaded layout it holds give the same id; overrides in
any order give the same id), so results can be cached and studies resumed.

    >>> s = Scenario(layout="layouts/pod_small.yaml", overrides={"halls[0].facility_water.supply_c": 40},
    ...              ambient_c=38.0, budget_mw=3.0)            # doctest: +SKIP
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from collections import OrderedDict
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from twin.errors import InputError, LayoutError, Problem, format_loc
from twin.layout import Layout

__all__ = [
    "ANALYSES",
    "ElectricalOptions",
    "MaxQOptions",
    "NetworkOptions",
    "Scenario",
    "SizingOptions",
    "TransientOptions",
    "load_scenario",
]

ANALYSES = (
    "coupled",
    "thermal",
    "electrical",
    "n-1",
    "compare-ac-dc",
    "network",
    "maxq",
    "transient",
    "size",
)
Analysis = Literal[
    "coupled", "thermal", "electrical", "n-1", "compare-ac-dc", "network", "maxq", "transient", "size"
]
POLICIES = ("maxq", "uniform", "maxp")


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TransientOptions(_Options):
    """A cooling transient of one hall (``analysis="transient"``)."""

    kind: Literal["pump-trip", "cdu-loss", "supply-step", "load-step"] = "pump-trip"
    hall: str | None = Field(None, description="hall name (default: the first hall)")
    target: str | None = Field(None, description="loop or CDU for pump-trip / cdu-loss (default: the first)")
    duration_s: float = Field(600.0, gt=0, le=7 * 86400, description="simulated time, s")
    dt_s: float = Field(1.0, gt=0, description="output interval, s")
    event_s: float = Field(30.0, ge=0, description="time of the event, s")
    step_k: float = Field(5.0, ge=-30, le=30, description="supply-step: setpoint change, K")
    load_from: float = Field(0.3, gt=0, le=1, description="load-step: IT load before (fraction of Max-P)")
    load_to: float = Field(1.0, gt=0, le=1, description="load-step: IT load after (fraction of Max-P)")

    @model_validator(mode="after")
    def _event_in_run(self):
        if self.event_s >= self.duration_s:
            raise ValueError(
                f"event_s ({self.event_s:g} s) must be before the end of the run ({self.duration_s:g} s)"
            )
        if self.dt_s > self.duration_s:
            raise ValueError(f"dt_s ({self.dt_s:g} s) is longer than the run ({self.duration_s:g} s)")
        return self


class NetworkOptions(_Options):
    """Traffic routed over the scale-out fabric (``analysis="network"``)."""

    traffic: str = Field(
        "allreduce", description="allreduce | alltoall | disagg | path of a CSV (src, dst, gbps)"
    )
    load: float = Field(
        1.0, gt=0, le=1, description="allreduce / alltoall injection, fraction of the NIC rate"
    )
    optics: Literal["pluggable", "cpo"] | None = Field(
        None, description="optics for the power figures (default: the layout's)"
    )

    @model_validator(mode="after")
    def _traffic(self):
        builtin = ("allreduce", "alltoall", "disagg")
        if self.traffic not in builtin and not Path(self.traffic).is_file():
            raise ValueError(
                f"traffic {self.traffic!r}: not allreduce, alltoall, disagg or an existing CSV file"
            )
        if self.load != 1.0 and self.traffic not in ("allreduce", "alltoall"):
            raise ValueError(
                "load applies to allreduce and alltoall only (disagg follows tokens/s; a CSV gives Gb/s)"
            )
        return self


class MaxQOptions(_Options):
    """Options of the Max-Q optimiser (``analysis="maxq"``)."""

    variation_sigma: float = Field(0.0, ge=0, le=1, description="per-GPU throughput variation (log-sigma)")
    seed: int = Field(0, ge=0, description="seed of the per-GPU variation")
    max_outer: int = Field(15, ge=1, le=200, description="most linearisations of the facility")
    shed: bool = Field(
        True, description="maxq: switch racks off when that gives more tokens/s within the budget"
    )
    objective: Literal["tokens", "revenue"] = Field(
        "tokens",
        description="maxq: maximise tokens/s, or revenue ($/s over the workload tiers' prices, interactivity and "
        "demand limits; twin.economics)",
    )
    optimize_cooling: bool = Field(
        False,
        description="maxq: co-optimise each hall's facility-water supply setpoint with the caps (twin.maxq.cooling); "
        "supply_c is then the fixed setpoint compared against",
    )


class ElectricalOptions(_Options):
    """Options of ``n-1`` and ``compare-ac-dc``."""

    exact: bool = Field(False, description="n-1: solve every contingency separately")
    hall: str | None = Field(None, description="compare-ac-dc: hall (template name); default all halls")


class SizingOptions(_Options):
    """MaxLPS-style sizing of a site (``analysis="size"``; the layout, if given, is the template)."""

    site_mw: float = Field(..., gt=0, le=100_000, description="site power envelope, MW")
    rack_type: str = Field(..., description="rack type (catalog name)")
    headroom_pct: float = Field(
        0.0, ge=0, le=100, description="provisioning headroom reserved under Max-P, %"
    )


_PATH_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def parse_path(path: str) -> tuple[str | int, ...]:
    """``"halls[0].facility_water.supply_c"`` -> ``("halls", 0, "facility_water", "supply_c")``."""
    parts: list[str | int] = []
    pos = 0
    s = path.strip()
    while pos < len(s):
        if parts and s[pos] == ".":
            pos += 1
        m = _PATH_TOKEN.match(s, pos)
        if not m or (parts and m.group(1) and s[pos - 1] != "."):
            raise LayoutError(
                [
                    Problem(
                        path, "not a dotted layout path (e.g. halls[0].facility_water.supply_c)", "overrides"
                    )
                ]
            )
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not parts or not isinstance(parts[0], str):
        raise LayoutError(
            [Problem(path, "not a dotted layout path (e.g. halls[0].facility_water.supply_c)", "overrides")]
        )
    return tuple(parts)


def apply_overrides(data: dict, overrides: dict[str, Any]) -> dict:
    """A copy of layout data with each ``{dotted path: value}`` set; a path that leads nowhere is a LayoutError."""
    out = _unshare(data)
    problems = []
    for path, value in overrides.items():
        loc = parse_path(path)
        node: Any = out
        for i, key in enumerate(loc):
            last = i == len(loc) - 1
            here = format_loc(loc[: i + 1])
            if isinstance(key, int):
                if not isinstance(node, list):
                    problems.append(
                        Problem(path, f"{format_loc(loc[:i]) or 'the layout'} is not a list", "overrides")
                    )
                    break
                if not 0 <= key < len(node):
                    problems.append(
                        Problem(path, f"{here}: index out of range (there are {len(node)})", "overrides")
                    )
                    break
            elif not isinstance(node, dict):
                problems.append(
                    Problem(path, f"{format_loc(loc[:i]) or 'the layout'} is not a mapping", "overrides")
                )
                break
            elif not last and key not in node:
                # an absent optional section may be created by the override (the schema then checks its keys)
                node[key] = {}
            if last:
                node[key] = copy.deepcopy(value)
            else:
                node = node[key]
    if problems:
        raise LayoutError(problems)
    return out


def _unshare(o: Any) -> Any:
    """A copy in which no two places share a mapping or list. YAML aliases (``<<: *hall``) make the loader share
    one object between places and ``copy.deepcopy`` keeps that sharing, so an override of one hall would change
    every hall merged from the same anchor."""
    if isinstance(o, dict):
        return {k: _unshare(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_unshare(v) for v in o]
    return o


def _blame_overrides(exc: LayoutError, overrides: dict[str, Any]) -> LayoutError:
    """Problems at (or under) an overridden path are the override's: say so instead of pointing at a file line."""
    if not overrides:
        return exc
    paths = {format_loc(parse_path(p)): p for p in overrides}
    out = []
    for pr in exc.problems:
        hit = next(
            (
                p
                for norm, p in paths.items()
                if _under(pr.path, norm) or (_under(norm, pr.path) and "unknown key" in pr.message)
            ),
            None,
        )
        if hit is None:
            out.append(pr)
        else:
            out.append(
                Problem(
                    pr.path,
                    f"{pr.message} (override {hit} = {overrides[hit]!r})",
                    "overrides",
                    None,
                    pr.severity,
                )
            )
    return LayoutError(out)


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top + ".") or path.startswith(top + "[")


def _sha(obj: Any) -> str:
    return hashlib.sha256(
        json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


@lru_cache(maxsize=1)
def _builtin_catalog_hash() -> str:
    from twin.catalog import DATA_DIR

    h = hashlib.sha256()
    for f in sorted(DATA_DIR.glob("*.yaml")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


class _Resolved:
    """The effective layout of a scenario: validated Layout, line map, file, catalog files, content key."""

    def __init__(self, layout: Layout, lines: dict, file: str, catalog_files: tuple[Path, ...]):
        self.layout = layout
        self.lines = lines
        self.file = file
        self.catalog_files = catalog_files
        cats = []
        for f in catalog_files:
            try:
                cats.append(hashlib.sha256(f.read_bytes()).hexdigest())
            except OSError as exc:
                raise InputError(f"cannot read catalog file {f}: {exc}") from None
        self.canonical = layout.model_dump(mode="json")
        self.key = _sha({"layout": self.canonical, "catalogs": cats, "builtin": _builtin_catalog_hash()})


_MODEL_CACHE: OrderedDict[str, Any] = OrderedDict()
_MODEL_LOCK = threading.Lock()
MODEL_CACHE_SIZE = 8


class Scenario(BaseModel):
    """One what-if: layout (+ overrides), conditions, load, failures and the analysis to run.

    Parameters
    ----------
    layout : str, Path, Layout or None
        Layout file, or a loaded :class:`~twin.layout.Layout`. None only for ``analysis="size"`` (no template).
    overrides : dict
        ``{dotted path: value}`` applied to the layout before validation, e.g.
        ``{"electrical.architecture": "dc800", "halls[0].facility_water.supply_c": 40, "network.optics": "cpo"}``.
    catalogs : tuple of str
        Extra catalog files (later files win), in addition to those the layout names.
    ambient_c, wet_bulb_c : float, optional
        Outdoor dry bulb and wet bulb, C (default: the site's design values).
    relative_humidity : float, optional
        Outdoor relative humidity, 0..1; gives the wet bulb (exclusive with ``wet_bulb_c``).
    supply_c : float, optional
        Facility-water supply setpoint of every hall, C (default: each hall's design value).
    it_load : float, optional
        Every rack at this fraction of its Max-P power, in (0, 1] (as GPU caps; thermal / transient: rack power).
    gpu_cap_w : float or array, optional
        GPU power caps, W: one for all, (n_racks,) or (n_gpus,).
    budget_mw : float, optional
        Grid budget at the utility meter, MW, met by ``policy`` (``analysis`` becomes ``maxq``).
    policy : {"maxq", "uniform", "maxp"}
    failures : tuple of str
        Failed units (see :mod:`twin.failures`).
    analysis : str
        One of ``ANALYSES``: coupled (default), thermal, electrical, n-1, compare-ac-dc, network, maxq,
        transient, size.
    transient, network, maxq, electrical, sizing : option groups of those analyses.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, arbitrary_types_allowed=True)

    layout: str | Layout | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    catalogs: tuple[str, ...] = ()
    ambient_c: float | None = Field(None, ge=-60, le=60)
    wet_bulb_c: float | None = Field(None, ge=-60, le=45)
    relative_humidity: float | None = Field(None, ge=0, le=1)
    supply_c: float | None = Field(None, ge=5, le=70)
    it_load: float | None = Field(None, gt=0, le=1)
    gpu_cap_w: (
        float | Annotated[np.ndarray, WithJsonSchema({"type": "array", "items": {"type": "number"}})] | None
    ) = Field(None, description="GPU power cap, W: one for all, one per rack or one per GPU")
    budget_mw: float | None = Field(None, gt=0, le=1e6)
    policy: Literal["maxq", "uniform", "maxp"] = "maxq"
    failures: tuple[str, ...] = ()
    analysis: Analysis = "coupled"
    transient: TransientOptions = Field(default_factory=TransientOptions)
    network: NetworkOptions = Field(default_factory=NetworkOptions)
    maxq: MaxQOptions = Field(default_factory=MaxQOptions)
    electrical: ElectricalOptions = Field(default_factory=ElectricalOptions)
    sizing: SizingOptions | None = None

    @field_validator("layout", mode="before")
    @classmethod
    def _layout_path(cls, v):
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, dict):  # a layout given as data (e.g. a scenario file with the layout inline)
            return Layout.model_validate(v)
        return v

    @field_validator("catalogs", "failures", mode="before")
    @classmethod
    def _tuple(cls, v):
        if v is None:
            return ()
        if isinstance(v, (str, Path)):
            return (str(v),)
        return tuple(str(x) for x in v)

    @field_validator("gpu_cap_w", mode="before")
    @classmethod
    def _caps(cls, v):
        if v is None:
            return None
        a = np.array(v, dtype=float)
        if not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise ValueError("GPU caps must be finite and > 0 W")
        if a.ndim == 0:
            return float(a)
        if a.ndim != 1:
            raise ValueError("GPU caps must be a scalar, one per rack or one per GPU")
        a.setflags(write=False)
        return a

    @model_validator(mode="before")
    @classmethod
    def _budget_means_maxq(cls, data):
        if (
            isinstance(data, dict)
            and data.get("budget_mw") is not None
            and data.get("analysis", "coupled") == "coupled"
        ):
            data = {**data, "analysis": "maxq"}
        return data

    @model_validator(mode="after")
    def _consistent(self):
        loads = [n for n in ("it_load", "gpu_cap_w", "budget_mw") if getattr(self, n) is not None]
        if len(loads) > 1:
            raise ValueError(f"give one load: {' or '.join(loads)}, not both")
        if self.analysis == "maxq" and self.budget_mw is None:
            raise ValueError("analysis maxq needs budget_mw")
        if self.budget_mw is not None and self.analysis != "maxq":
            raise ValueError(f"budget_mw applies to analysis maxq, not {self.analysis}")
        if self.analysis == "size" and self.sizing is None:
            raise ValueError("analysis size needs sizing (site_mw, rack_type)")
        if self.analysis != "size" and self.layout is None:
            raise ValueError(f"analysis {self.analysis} needs a layout")
        if self.wet_bulb_c is not None and self.relative_humidity is not None:
            raise ValueError("give wet_bulb_c or relative_humidity, not both")
        if (
            self.wet_bulb_c is not None
            and self.ambient_c is not None
            and self.wet_bulb_c > self.ambient_c + 1e-9
        ):
            raise ValueError(
                f"wet_bulb_c {self.wet_bulb_c:g} C is above the dry bulb ambient_c {self.ambient_c:g} C"
            )
        if self.gpu_cap_w is not None and self.analysis in (
            "thermal",
            "transient",
            "compare-ac-dc",
            "size",
            "network",
        ):
            raise ValueError(f"gpu_cap_w does not apply to analysis {self.analysis} (use it_load)")
        return self

    # --- identity ------------------------------------------------------------------------------------------

    @cached_property
    def _resolved(self) -> _Resolved | None:
        return None if self.layout is None else _resolve(self.layout, self.overrides, self.catalogs)

    @cached_property
    def id(self) -> str:
        """Content hash (hex, 16 characters) of everything that determines the result."""
        r = self._resolved
        body = {
            "v": 1,
            "layout": None if r is None else r.key,
            "conditions": [self.ambient_c, self.wet_bulb_c, self.relative_humidity, self.supply_c],
            "load": [
                self.it_load,
                _cap_key(self.gpu_cap_w),
                self.budget_mw,
                self.policy if self.budget_mw else None,
            ],
            "failures": sorted(self.failures),  # order does not matter; a repeat fails one more unit
            "analysis": self.analysis,
            "options": self._options_for_id(),
        }
        return _sha(body)[:16]

    def _options_for_id(self):
        group = {
            "transient": self.transient,
            "network": self.network,
            "maxq": self.maxq,
            "n-1": self.electrical,
            "compare-ac-dc": self.electrical,
            "size": self.sizing,
        }.get(self.analysis)
        return None if group is None else group.model_dump(mode="json")

    def __hash__(self) -> int:
        return hash(self.id)

    def __eq__(self, other) -> bool:
        return isinstance(other, Scenario) and self.id == other.id

    # --- what a run needs -------------------------------------------------------------------------------------

    def model(self):
        """The compiled :class:`~twin.model.FacilityModel` of the effective layout (cached by content)."""
        r = self._resolved
        if r is None:
            raise InputError(f"analysis {self.analysis} has no layout")
        # the file name is part of the key: problems in the compiled model name the file they came from
        key = f"{r.key}:{r.file}"
        with _MODEL_LOCK:
            hit = _MODEL_CACHE.get(key)
            if hit is not None:
                _MODEL_CACHE.move_to_end(key)
                return hit
        from twin.catalog import load_catalog
        from twin.model import compile_layout

        try:
            catalog = load_catalog(r.catalog_files)
            model = compile_layout(r.layout, catalog, r.lines, r.file)
        except LayoutError as exc:
            raise _blame_overrides(exc, self.overrides) from None
        with _MODEL_LOCK:
            _MODEL_CACHE[key] = model
            while len(_MODEL_CACHE) > MODEL_CACHE_SIZE:
                _MODEL_CACHE.popitem(last=False)
        return model

    @property
    def layout_name(self) -> str:
        if isinstance(self.layout, str):
            return self.layout
        return "(layout)" if self.layout is not None else "(none)"

    def replace(self, **changes) -> Scenario:
        """A new scenario with some inputs changed (validated again)."""
        return Scenario(**{**self._fields(), **changes})

    def _fields(self) -> dict:
        return {name: getattr(self, name) for name in type(self).model_fields}

    def to_dict(self) -> dict:
        """JSON-able description (``scenario.yaml`` of a saved result); ``Scenario(**d)`` gives the same id."""
        d: dict[str, Any] = {
            "layout": self.layout
            if isinstance(self.layout, str) or self.layout is None
            else self.layout.model_dump(mode="json")
        }
        defaults = Scenario.model_construct()
        for name in type(self).model_fields:
            if name == "layout":
                continue
            v = getattr(self, name)
            if name == "gpu_cap_w" and isinstance(v, np.ndarray):
                d[name] = v.tolist()
                continue
            if isinstance(v, BaseModel):
                dv = getattr(defaults, name, None)
                if dv is not None and v == dv:
                    continue
                d[name] = v.model_dump(mode="json")
                continue
            if (
                v is None
                or v == ()
                or v == {}
                or (name in ("policy", "analysis") and v == getattr(defaults, name))
            ):
                continue
            d[name] = list(v) if isinstance(v, tuple) else v
        d["id"] = self.id
        return d


def _cap_key(v):
    if v is None or isinstance(v, float):
        return v
    return {
        "n": int(v.size),
        "sha": hashlib.sha256(np.ascontiguousarray(v, dtype=np.float64).tobytes()).hexdigest(),
    }


def _resolve(layout: str | Layout, overrides: dict[str, Any], catalogs: tuple[str, ...]) -> _Resolved:
    """Read (or take) the layout, apply the overrides, validate with the layout schema."""
    from twin.model import parse_layout
    from twin.yamlio import line_of, load_yaml

    if isinstance(layout, Layout):
        data, lines, file, base = layout.model_dump(mode="json"), {}, "", Path.cwd()
    else:
        data, lines = load_yaml(layout)
        file, base = str(layout), Path(layout).resolve().parent
    if overrides:
        if not isinstance(data, dict):
            raise LayoutError([Problem("", "a layout must be a YAML mapping (site:, halls:, ...)", file, 1)])
        data = apply_overrides(data, overrides)
    try:
        parsed = parse_layout(data, lines, file)
    except LayoutError as exc:
        raise _blame_overrides(exc, overrides) from None
    files = [base / c for c in parsed.catalogs]
    for i, f in enumerate(files):
        if not f.is_file():
            loc = ("catalogs", i)
            raise LayoutError(
                [Problem(format_loc(loc), f"catalog file not found: {f}", file, line_of(lines, loc))]
            )
    files += [Path(c) for c in catalogs]
    for f in files[len(parsed.catalogs) :]:
        if not f.is_file():
            raise InputError(f"catalog file not found: {f}")
    return _Resolved(parsed, lines, file, tuple(files))


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario YAML file (the keys of :class:`Scenario`; ``layout`` relative to the file).

    Raises LayoutError with ``file:line: path: message`` for every problem.
    """
    from twin.yamlio import line_of, load_yaml

    file = str(path)
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise LayoutError(
            [Problem("", "a scenario must be a YAML mapping (layout:, analysis:, ...)", file, 1)]
        )
    data = dict(data)
    data.pop("id", None)  # written by RunResult.save for reference; recomputed
    lay = data.get("layout")
    if isinstance(lay, str) and not Path(lay).is_absolute():
        data["layout"] = str(Path(path).resolve().parent / lay)
    try:
        return Scenario(**data)
    except ValidationError as exc:
        raise LayoutError(
            [
                Problem(
                    format_loc(tuple(e["loc"])),
                    e["msg"].removeprefix("Value error, "),
                    file,
                    line_of(lines, tuple(e["loc"])),
                )
                for e in exc.errors()
            ]
        ) from None
