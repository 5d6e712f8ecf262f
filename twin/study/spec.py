"""The study spec (YAML, pydantic): a base scenario, the parameters that vary, the analysis and the outputs.

.. code-block:: yaml

    name: hall_envelope
    base:                                   # any key of a scenario file (twin run), layout relative to this file
      layout: ../layouts/hall_100mw_ac.yaml  # or a list of layouts (then `layout` is a parameter)
      overrides: {halls[0].facility_water.adiabatic: true}
    analysis: coupled                       # coupled | thermal | electrical | n-1 | compare-ac-dc | network |
                                            # maxq | transient | size
    parameters:
      grid:                                 # cartesian product; a list or {start, stop, step | num} (stop included)
        ambient_c: {start: 0, stop: 45, step: 5}
        supply_c: [30, 35, 40, 45]
      sample: {method: lhs, n: 64, seed: 1, ranges: {wet_bulb_c: [10, 25]}}   # lhs or sobol (scipy.stats.qmc)
      cases: [{case: hot, ambient_c: 45}, {case: cold, ambient_c: 0}]       # an explicit list
      each_failure: cdu                     # or {kind: cdu, baseline: true}: every unit of that kind, one at a time
    outputs:
      kpis: all                             # or a list of KPI names (result schema)
      tables: {racks: summary, halls: whole}  # summary: min / mean / max / percentiles per column and scenario

The blocks present are combined as a product (grid x cases x sample x each_failure). A parameter is a scenario
input (``ambient_c``, ``wet_bulb_c``, ``relative_humidity``, ``supply_c``, ``it_load``, ``gpu_cap_w``,
``budget_mw``, ``policy``, ``failures``), an option of an analysis (``maxq.seed``, ``transient.step_k`` ...),
``layout`` (a layout file), or any dotted path into the layout (``halls[0].facility_water.supply_c``,
``electrical.architecture``; prefix ``overrides.`` when the path starts like an option group, e.g.
``overrides.network.optics``). Its column in the results is the path with every run of characters other than
letters, digits and ``_`` replaced by ``_`` (``halls_0_facility_water_supply_c``); each_failure gives a column
``failure`` (the unit, null for the baseline) and named cases a column ``case``.

Problems are reported as ``file:line: path: message`` (:class:`~twin.errors.LayoutError`), all of them at once.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, create_model

from twin.errors import InputError, LayoutError, Problem, format_loc
from twin.scenario import (
    ElectricalOptions,
    MaxQOptions,
    NetworkOptions,
    Scenario,
    SizingOptions,
    TransientOptions,
)

__all__ = [
    "FAILURE_KINDS",
    "MAX_SCENARIOS",
    "Param",
    "Recipe",
    "Study",
    "StudySpec",
    "column_name",
    "load_study",
]

MAX_SCENARIOS = 1_000_000
# auto batch size: tasks of about TARGET_TASK_S from a rough cost per scenario (seconds + seconds per rack, by
# analysis, measured on the reference layouts), with at least MIN_TASKS tasks when there are enough scenarios
TARGET_TASK_S = 2.0
MIN_TASKS = 16
AUTO_BATCH_MAX = 200
COST_S = {
    "thermal": (0.015, 2e-5),
    "coupled": (0.03, 5e-5),
    "electrical": (0.03, 5e-5),
    "n-1": (0.1, 3e-4),
    "compare-ac-dc": (0.05, 3e-4),
    "network": (0.1, 5e-5),
    "maxq": (0.3, 5e-4),
    "transient": (1.0, 1e-3),
    "size": (0.05, 0.0),
}
YAML_COST_S = 0.02  # a scenario that changes the layout re-reads and validates it
FAILURE_KINDS = (
    "cdu",
    "tcs_pump",
    "dry_cooler",
    "chiller",
    "air_unit",
    "fw_pump",
    "block",
    "busway",
    "ups",
    "substation",
    "mech_feed",
    "electrical",
    "switch",
)
RESERVED_COLUMNS = ("scenario_index", "scenario_id", "status", "reason")
SCENARIO_PARAMS = (
    "ambient_c",
    "wet_bulb_c",
    "relative_humidity",
    "supply_c",
    "it_load",
    "gpu_cap_w",
    "budget_mw",
    "policy",
    "failures",
)
OPTION_GROUPS: dict[str, type[BaseModel]] = {
    "transient": TransientOptions,
    "network": NetworkOptions,
    "maxq": MaxQOptions,
    "electrical": ElectricalOptions,
    "sizing": SizingOptions,
}
STATS = ("count", "min", "mean", "max", "p01", "p05", "p10", "p25", "p50", "p75", "p90", "p95", "p99")
DEFAULT_STATS = ("min", "mean", "max", "p05", "p50", "p95")
VALIDATE_VALUES = 100  # distinct values of one parameter checked at load time (more: first and last)


# --- the schema (pydantic) --------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


def _base_model() -> type[BaseModel]:
    """Every scenario input except the analysis; ``layout`` is one file or several (relative to the study)."""
    fields: dict[str, Any] = {
        "layout": (
            str | list[str],
            Field(..., description="layout file, or a list of them (relative to the study file)"),
        ),
        "gpu_cap_w": (float | None, Field(None, gt=0, description="GPU power cap for every GPU, W")),
    }
    for name, f in Scenario.model_fields.items():
        if name not in ("layout", "analysis", "gpu_cap_w"):
            fields[name] = (f.annotation, f)
    return create_model(
        "StudyBase",
        __config__=ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True, arbitrary_types_allowed=True),
        __doc__="The scenario every row starts from: the keys of a scenario file except `analysis`.",
        **fields,
    )


StudyBase = _base_model()

_GRID_VALUES = WithJsonSchema(
    {
        "oneOf": [
            {"type": "array", "minItems": 1, "description": "the values"},
            {
                "type": "object",
                "properties": {
                    "start": {"type": "number"},
                    "stop": {"type": "number", "description": "included"},
                    "step": {"type": "number", "exclusiveMinimum": 0},
                    "num": {"type": "integer", "minimum": 1},
                },
                "required": ["start", "stop"],
                "additionalProperties": False,
            },
        ]
    }
)
_RANGE = WithJsonSchema({"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2})
_EACH_FAILURE = WithJsonSchema(
    {
        "oneOf": [
            {"type": "string", "enum": list(FAILURE_KINDS)},
            {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": list(FAILURE_KINDS)},
                    "baseline": {"type": "boolean", "default": True},
                },
                "required": ["kind"],
                "additionalProperties": False,
            },
        ]
    }
)


class Sample(_Strict):
    """Points over ranges from ``scipy.stats.qmc`` (Latin hypercube or scrambled Sobol), reproducible by seed."""

    method: Literal["lhs", "sobol"] = "lhs"
    n: int = Field(..., description="number of points (sobol: a power of 2)")
    seed: int = Field(0, ge=0, description="seed of the sampler")
    ranges: dict[str, Annotated[Any, _RANGE]] = Field(..., description="parameter -> [low, high]")


class Parameters(_Strict):
    """What varies. The blocks given are combined as a product: grid x cases x sample x each_failure."""

    grid: dict[str, Annotated[Any, _GRID_VALUES]] = Field(
        default_factory=dict, description="parameter -> list of values or {start, stop, step | num}"
    )
    sample: Sample | None = None
    cases: list[dict[str, Any]] = Field(
        default_factory=list, description="explicit scenarios: {parameter: value}; `case` names one"
    )
    each_failure: Annotated[Any, _EACH_FAILURE] = Field(
        None, description="every unit of this kind, one at a time (N-1), plus the baseline without failure"
    )


class TableOutput(_Strict):
    mode: Literal["whole", "summary"] = "summary"
    columns: list[str] | None = Field(None, description="columns to keep (default: all)")
    stats: list[Literal[STATS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(DEFAULT_STATS), description="summary statistics per column"
    )


class Outputs(_Strict):
    kpis: Literal["all"] | list[str] = Field("all", description="KPI columns: all, or a list of names")
    tables: dict[str, Literal["whole", "summary"] | TableOutput] = Field(
        default_factory=dict,
        description="result tables to keep: whole (every row) or summary (per scenario and column)",
    )


class ReportOptions(_Strict):
    kpis: list[str] = Field(default_factory=list, description="KPIs to plot (default: chosen by analysis)")


class StudySpec(_Strict):
    """A batch study (``twin study run STUDY.yaml --out DIR``)."""

    name: str | None = Field(None, description="default: the file name")
    description: str = ""
    base: StudyBase  # type: ignore[valid-type]
    analysis: Literal[
        "coupled", "thermal", "electrical", "n-1", "compare-ac-dc", "network", "maxq", "transient", "size"
    ] = "coupled"
    parameters: Parameters
    outputs: Outputs = Field(default_factory=Outputs)
    batch_size: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description=f"scenarios per task (default: tasks of about {TARGET_TASK_S:g} s)",
    )
    partition_by: str | None = Field(
        None, description="a grid parameter: results/<column>=<value>/ directories (hive partitions)"
    )
    report: ReportOptions = Field(default_factory=ReportOptions)


# --- parameters -------------------------------------------------------------------------------------------------


def column_name(path: str) -> str:
    """Column of a parameter path: ``halls[0].facility_water.supply_c`` -> ``halls_0_facility_water_supply_c``."""
    p = path.removeprefix("overrides.")
    return re.sub(r"[^0-9A-Za-z_]+", "_", p).strip("_")


@dataclass(frozen=True)
class Param:
    """One varying input. kind: field (a Scenario input), option (``group.name``), override (a layout path),
    layout (a layout file), failure (each_failure), case (the label of a case)."""

    name: str
    kind: str
    key: Any
    column: str
    dtype: str = "json"  # bool | int | float | str | json


def classify(name: str) -> tuple[str, Any]:
    """(kind, key) of a parameter name; raises ValueError for names that cannot be a parameter."""
    if name == "layout":
        return "layout", None
    if name == "case":
        return "case", None
    if name in SCENARIO_PARAMS:
        return "field", name
    if name.startswith("overrides."):
        path = name.removeprefix("overrides.")
        if not path:
            raise ValueError("empty layout path after overrides.")
        return "override", path
    head, _, rest = name.partition(".")
    if head in OPTION_GROUPS and rest in OPTION_GROUPS[head].model_fields:
        return "option", (head, rest)
    if name in ("overrides", "catalogs", "analysis", "transient", "network", "maxq", "electrical", "sizing"):
        raise ValueError(f"{name} is not a parameter (set it in base; parameters are single values)")
    return "override", name


def _dtype(values: list[Any]) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "float"
    if all(isinstance(v, bool) for v in vals):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return "float"
    if all(isinstance(v, str) for v in vals):
        return "str"
    return "json"


def _nice(v: float) -> float | int:
    """Range values without binary noise (0.30000000000000004 -> 0.3)."""
    r = round(v, 10)
    return r


def _param_dtype(p: Param, values: list) -> str:
    """Column type: from the scenario's field type where there is one (a number typed 30 is still 30.0 C),
    else from the values."""
    if p.kind in ("failure", "case", "layout"):
        return "str"
    ann = None
    if p.kind == "field":
        ann = Scenario.model_fields[p.key].annotation
    elif p.kind == "option":
        ann = OPTION_GROUPS[p.key[0]].model_fields[p.key[1]].annotation
    if ann is not None:
        text = str(ann)
        if ann is float or text in ("float | None", "typing.Optional[float]") or text.startswith("float |"):
            if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
                return "float"
    return _dtype(values)


def _range_values(spec: Any) -> list[Any]:
    """A grid entry as a list; raises ValueError with the reason."""
    if isinstance(spec, list):
        if not spec:
            raise ValueError("empty list of values")
        for v in spec:
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError("values must be finite")
            if isinstance(v, dict):
                raise ValueError("a value cannot be a mapping")
        return list(spec)
    if isinstance(spec, dict):
        unknown = set(spec) - {"start", "stop", "step", "num"}
        if unknown:
            raise ValueError(
                f"unknown key(s) {', '.join(sorted(map(str, unknown)))} (use start, stop, step or num)"
            )
        if "start" not in spec or "stop" not in spec:
            raise ValueError("a range needs start and stop (and step or num)")
        a, b = spec["start"], spec["stop"]
        for k, v in (("start", a), ("stop", b)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{k} must be a finite number, got {v!r}")
        if ("step" in spec) == ("num" in spec):
            raise ValueError("give step or num (not both)")
        if b < a:
            raise ValueError(f"empty range: stop {b} is below start {a}")
        if "num" in spec:
            n = spec["num"]
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"empty range: num must be an integer >= 1, got {n!r}")
            if n > MAX_SCENARIOS:
                raise ValueError(f"num {n:,} is above the limit of {MAX_SCENARIOS:,} scenarios")
            if n == 1:
                return [a]
            return [_nice(a + (b - a) * i / (n - 1)) for i in range(n)]
        step = spec["step"]
        if (
            isinstance(step, bool)
            or not isinstance(step, (int, float))
            or not math.isfinite(step)
            or step <= 0
        ):
            raise ValueError(f"empty range: step must be a number > 0, got {step!r}")
        n = int(math.floor((b - a) / step + 1e-9)) + 1
        if n > MAX_SCENARIOS:
            raise ValueError(f"{n:,} values: above the limit of {MAX_SCENARIOS:,} scenarios")
        if all(isinstance(x, int) for x in (a, b, step)):
            return [a + i * step for i in range(n)]
        return [_nice(a + i * step) for i in range(n)]
    raise ValueError(f"expected a list of values or {{start, stop, step | num}}, got {type(spec).__name__}")


def _failure_spec(v: Any) -> tuple[str, bool]:
    if isinstance(v, str):
        kind, baseline = v, True
    elif isinstance(v, dict):
        unknown = set(v) - {"kind", "baseline"}
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))} (use kind, baseline)")
        kind, baseline = v.get("kind"), v.get("baseline", True)
        if not isinstance(baseline, bool):
            raise ValueError("baseline must be true or false")
    else:
        raise ValueError("expected a unit kind or {kind, baseline}")
    if kind not in FAILURE_KINDS:
        raise ValueError(f"unknown unit kind {kind!r} (choose from {', '.join(FAILURE_KINDS)})")
    return kind, baseline


# --- what a worker needs to build a scenario ------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """Everything needed to build the scenario of a row from its parameter values (picklable, small).

    ``base``: Scenario keyword arguments (layout files absolute); ``params``: name -> Param; ``layouts``: layout
    as written in the study -> absolute path.
    """

    base: dict[str, Any]
    analysis: str
    params: dict[str, Param]
    layouts: dict[str, str]
    kpis: tuple[str, ...] | None
    tables: dict[str, dict]
    spec_hash: str

    def kwargs(self, values: dict[str, Any]) -> dict[str, Any]:
        """Scenario keyword arguments for one row's parameter values (only the names present are set)."""
        kw = dict(self.base)
        kw["analysis"] = self.analysis
        failure = None
        for name, v in values.items():
            p = self.params[name]
            if p.kind == "field":
                kw[p.key] = v
            elif p.kind == "option":
                group, sub = p.key
                kw[group] = {**(kw.get(group) or {}), sub: v}
            elif p.kind == "override":
                kw["overrides"] = {**(kw.get("overrides") or {}), p.key: v}
            elif p.kind == "layout":
                kw["layout"] = self.layouts.get(v, v)
            elif p.kind == "failure":
                failure = v
        if failure is not None:
            kw["failures"] = (*tuple(kw.get("failures") or ()), failure)
        return kw

    def scenario(self, values: dict[str, Any]) -> Scenario:
        return Scenario(**self.kwargs(values))

    def columns(self, values: dict[str, Any]) -> dict[str, Any]:
        """Parameter columns of a row: every parameter (None when a case does not set it)."""
        out = {}
        for name, p in self.params.items():
            v = values.get(name)
            if p.dtype == "json" and v is not None:
                v = json.dumps(v, sort_keys=True, default=str)
            elif p.dtype == "float" and v is not None:
                v = float(v)
            out[p.column] = v
        return out


# --- the loaded study -------------------------------------------------------------------------------------------


@dataclass
class _Dim:
    """One factor of the product: its size and the parameter values of its j-th entry."""

    size: int
    names: tuple[str, ...]
    values: Any  # list (grid / layouts / failures), list of dicts (cases), or an (n, d) array (sample)
    kind: str

    def at(self, j: int) -> dict[str, Any]:
        if self.kind == "cases":
            return dict(self.values[j])
        if self.kind == "sample":
            return {n: float(self.values[j][k]) for k, n in enumerate(self.names)}
        return {self.names[0]: self.values[j]}


@dataclass
class Study:
    """A validated study: its spec, where it came from, its parameters and the scenarios they make."""

    spec: StudySpec
    file: str
    text: str
    params: dict[str, Param]
    dims: list[_Dim]
    layouts: dict[str, str]
    spec_hash: str
    inputs: dict[str, str]
    base_kwargs: dict[str, Any] = field(repr=False)
    est_scenario_s: float = 0.05
    fixed_batch_size: int | None = None  # set by a resume: the batch size the study was started with

    @property
    def name(self) -> str:
        return self.spec.name or Path(self.file).stem

    @cached_property
    def n_scenarios(self) -> int:
        return math.prod(d.size for d in self.dims)

    @property
    def batch_size(self) -> int:
        if self.fixed_batch_size:
            return self.fixed_batch_size
        if self.spec.batch_size:
            return self.spec.batch_size
        by_time = math.ceil(TARGET_TASK_S / max(self.est_scenario_s, 1e-3))
        return max(1, min(AUTO_BATCH_MAX, by_time, math.ceil(self.n_scenarios / MIN_TASKS)))

    @cached_property
    def recipe(self) -> Recipe:
        o = self.spec.outputs
        tables = {}
        for name, t in o.tables.items():
            t = TableOutput(mode=t) if isinstance(t, str) else t
            tables[name] = {"mode": t.mode, "columns": t.columns, "stats": list(t.stats)}
        return Recipe(
            base=self.base_kwargs,
            analysis=self.spec.analysis,
            params=self.params,
            layouts=self.layouts,
            kpis=None if o.kpis == "all" else tuple(o.kpis),
            tables=tables,
            spec_hash=self.spec_hash,
        )

    def params_at(self, i: int) -> dict[str, Any]:
        """Parameter values of scenario ``i`` (0 <= i < n_scenarios): mixed radix over the dims, last fastest."""
        if not 0 <= i < self.n_scenarios:
            raise IndexError(f"scenario {i} (the study has {self.n_scenarios})")
        out: dict[str, Any] = {}
        for d in reversed(self.dims):
            i, j = divmod(i, d.size)
            out.update(d.at(j))
        return out

    def scenario(self, i: int) -> Scenario:
        """The run API scenario of row ``i`` (``run(study.scenario(i))`` gives that row's KPIs)."""
        return self.recipe.scenario(self.params_at(i))

    def scenarios(self) -> Iterator[tuple[int, Scenario]]:
        for i in range(self.n_scenarios):
            yield i, self.scenario(i)

    @cached_property
    def partition(self) -> Param | None:
        return None if self.spec.partition_by is None else self.params[self.spec.partition_by]

    def batches(self) -> Iterator[tuple[int, int, int, Any]]:
        """(batch, start, stop, partition value): contiguous index ranges, never across a partition."""
        n, bs = self.n_scenarios, self.batch_size
        if self.partition is None:
            for b, start in enumerate(range(0, n, bs)):
                yield b, start, min(n, start + bs), None
            return
        d0 = self.dims[0]  # the partition dim is the outermost one
        per = n // d0.size
        b = 0
        for j, v in enumerate(d0.values):
            if self.partition.dtype == "float" and v is not None:
                v = float(v)  # 35 in the file is the float column's 35.0 (and its directory supply_c=35.0)
            for start in range(j * per, (j + 1) * per, bs):
                yield b, start, min((j + 1) * per, start + bs), v
                b += 1

    @property
    def n_batches(self) -> int:
        return sum(1 for _ in self.batches())

    def describe(self) -> dict:
        return {
            "name": self.name,
            "file": self.file,
            "analysis": self.spec.analysis,
            "scenarios": self.n_scenarios,
            "batch_size": self.batch_size,
            "batches": self.n_batches,
            "parameters": {
                n: {"column": p.column, "kind": p.kind, "dtype": p.dtype} for n, p in self.params.items()
            },
            "spec_hash": self.spec_hash,
        }


# --- loading ----------------------------------------------------------------------------------------------------


def _clean_loc(data: Any, loc: tuple) -> tuple:
    """A pydantic error location with union / validator tags removed (the parts that are not in the data)."""
    out: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(part, str) and (
            "[" in part or part[:1].isupper() or part in ("str", "int", "float", "bool", "none")
        ):
            continue  # a union member tag
        else:
            out.append(part)
            node = None
    return tuple(out)


def _pydantic_problems(exc: ValidationError, data: Any, lines: dict, file: str, prefix: tuple = ()) -> list:
    from twin.yamlio import line_of

    problems = []
    seen = set()
    for e in exc.errors():
        loc = prefix + _clean_loc(_get(data, prefix), tuple(e["loc"]))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif e["type"] in ("literal_error", "enum"):
            msg = f"{msg} (got {e.get('input')!r})"
        key = (loc, msg)
        if key in seen:
            continue
        seen.add(key)
        problems.append(Problem(format_loc(loc), msg, file, line_of(lines, loc)))
    return problems


def _get(data: Any, loc: tuple) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _file_sha(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _builtin_catalog_sha() -> str:
    from twin.catalog import DATA_DIR

    h = hashlib.sha256()
    for f in sorted(DATA_DIR.glob("*.yaml")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


class _Checker:
    """Collects problems with their study file line."""

    def __init__(self, file: str, lines: dict):
        self.file, self.lines, self.problems = file, lines, []

    def add(self, loc: tuple, message: str) -> None:
        from twin.yamlio import line_of

        self.problems.append(Problem(format_loc(loc), message, self.file, line_of(self.lines, loc)))


def load_study(path: str | Path) -> Study:
    """Read and check a study file: structure, every parameter path and value, outputs; build its scenarios.

    Raises
    ------
    LayoutError
        Every problem, as ``file:line: path: message`` (layout problems keep the layout's file and line).
    """
    from twin.yamlio import load_yaml

    file = str(path)
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise LayoutError([Problem("", "a study must be a YAML mapping (base:, parameters:, ...)", file, 1)])
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as exc:
        raise LayoutError(_pydantic_problems(exc, data, lines, file)) from None
    try:
        return _check(spec, data, lines, file, Path(path).read_text(encoding="utf-8"))
    except LayoutError as exc:  # in the order of the file (a layout's own problems after the study's)
        order = sorted(enumerate(exc.problems), key=lambda ip: (ip[1].file != file, ip[1].line or 0, ip[0]))
        raise LayoutError([p for _, p in order]) from None


def _check(spec: StudySpec, data: dict, lines: dict, file: str, text: str) -> Study:
    """Every check of a parsed study, section by section; raises LayoutError with every problem found."""
    sc = _SpecCheck(spec, data, lines, file)
    sc.base()
    sc.grid()
    sc.cases()
    sc.sample()
    model = sc.probe_model()
    sc.each_failure(model)
    sc.columns()
    sc.values()
    sc.partition()
    return sc.study(model, text)


class _SpecCheck:
    """The state of one study check: the parameters declared so far, their values and where they were written."""

    def __init__(self, spec: StudySpec, data: dict, lines: dict, file: str):
        self.spec, self.data, self.lines, self.file = spec, data, lines, file
        self.ck = _Checker(file, lines)
        self.here = Path(file).resolve().parent
        self.params: dict[str, Param] = {}
        self.values_of: dict[str, list] = {}
        self.value_locs: dict[str, list[tuple[Any, tuple]]] = {}
        self.param_loc: dict[str, tuple] = {}
        self.dims: list[_Dim] = []
        self.layouts: dict[str, str] = {}
        self.failure_units: list[str | None] = []
        self.context: dict[str, Any] = {}

    def _file(self, name: str) -> Path:
        return Path(name) if Path(name).is_absolute() else self.here / name

    # --- base: layouts, the scenario it describes --------------------------------------------------------------
    def base(self) -> None:
        spec, ck = self.spec, self.ck
        self.base_layouts = spec.base.layout if isinstance(spec.base.layout, list) else [spec.base.layout]
        if not self.base_layouts:
            ck.add(("base", "layout"), "give at least one layout")
        for i, lay in enumerate(self.base_layouts):
            loc = ("base", "layout") + ((i,) if isinstance(spec.base.layout, list) else ())
            p = self._file(lay)
            if not p.is_file():
                ck.add(loc, f"layout file not found: {p}")
            self.layouts[lay] = str(p)
        base_kw = spec.base.model_dump(exclude_unset=True)
        base_kw.pop("layout", None)
        if "catalogs" in base_kw:
            base_kw["catalogs"] = tuple(str(self._file(c)) for c in base_kw["catalogs"])
        base_kw["layout"] = self.layouts[self.base_layouts[0]] if self.base_layouts else None
        self.base_kw = base_kw
        if ck.problems:
            raise LayoutError(ck.problems)
        if len(self.base_layouts) > 1:
            self.params["layout"] = Param("layout", "layout", None, "layout")
            self.values_of["layout"] = list(self.base_layouts)
            self.value_locs["layout"] = []
            self.dims.append(_Dim(len(self.base_layouts), ("layout",), list(self.base_layouts), "layout"))

    # --- parameters ---------------------------------------------------------------------------------------------
    def declare(self, name: str, loc: tuple, where: str) -> bool:
        """Register parameter ``name`` written at ``loc`` in block ``where``; False (with a problem) if it can't be."""
        ck, params = self.ck, self.params
        if name in RESERVED_COLUMNS:
            ck.add(loc, f"{name} is a column of every study; it cannot be a parameter")
            return False
        try:
            kind, key = classify(name)
        except ValueError as exc:
            ck.add(loc, str(exc))
            return False
        if kind == "case" and where != "cases":
            ck.add(loc, "case (the name of a case) belongs in cases")
            return False
        if kind == "layout" and where == "sample":
            ck.add(loc, "layout cannot be sampled (list the files in grid or cases)")
            return False
        if kind == "layout" and len(self.base_layouts) > 1:
            ck.add(loc, "base gives several layouts already (they are the `layout` parameter)")
            return False
        if name in params and (where != "cases" or self.param_loc[name][1] != "cases"):
            ck.add(loc, f"{name} is a parameter twice (in two blocks)")
            return False
        if name not in params:
            self.param_loc[name] = loc
            params[name] = Param(name, kind, key, column_name(name) if kind not in ("case",) else "case")
            self.values_of[name] = []
            self.value_locs[name] = []
        return True

    def grid(self) -> None:
        for name, spec_v in self.spec.parameters.grid.items():
            loc = ("parameters", "grid", name)
            if not self.declare(name, loc, "grid"):
                continue
            try:
                vals = _range_values(spec_v)
            except ValueError as exc:
                self.ck.add(loc, str(exc))
                continue
            self.values_of[name] = vals
            self.value_locs[name] = [
                (v, loc + ((i,) if isinstance(spec_v, list) else ())) for i, v in enumerate(vals)
            ]
            self.dims.append(_Dim(len(vals), (name,), vals, "grid"))

    def cases(self) -> None:
        cases = self.spec.parameters.cases
        if not cases:
            return
        ok = True
        for i, case in enumerate(cases):
            if not case:
                self.ck.add(("parameters", "cases", i), "an empty case (give at least one parameter)")
                ok = False
            for name, v in case.items():
                loc = ("parameters", "cases", i, name)
                if not self.declare(name, loc, "cases"):
                    ok = False
                    continue
                if self.params[name].kind == "case" and not isinstance(v, str):
                    self.ck.add(loc, "case is the name of the case (a string)")
                    ok = False
                self.values_of[name].append(v)
        if ok:
            self.dims.append(_Dim(len(cases), tuple(sorted({k for c in cases for k in c})), cases, "cases"))

    def _sample_size_ok(self, sm: Sample, loc: tuple) -> bool:
        if sm.n < 1 or sm.n > MAX_SCENARIOS:
            self.ck.add(loc + ("n",), f"bad sample size {sm.n}: use 1 .. {MAX_SCENARIOS:,} points")
            return False
        if sm.method == "sobol" and sm.n & (sm.n - 1):
            lo = 1 << (sm.n.bit_length() - 1)
            self.ck.add(
                loc + ("n",),
                f"bad sample size {sm.n}: a Sobol sample needs a power of 2 (e.g. {lo} or {lo * 2}) to keep its balance",
            )
            return False
        return True

    def _range_problem(self, name: str, r: Any) -> str | None:
        """Why ``r`` is not a usable sample range of parameter ``name`` (None: it is)."""
        if (
            not isinstance(r, list)
            or len(r) != 2
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in r)
        ):
            return f"a range is [low, high] (two numbers), got {r!r}"
        if not all(math.isfinite(x) for x in r):
            return "range bounds must be finite"
        if not r[0] < r[1]:
            return f"empty range: low {r[0]} must be below high {r[1]}"
        if self.params[name].kind in ("failure", "case") or name in ("policy", "failures"):
            return f"{name} is not a number; it cannot be sampled"
        return None

    def sample(self) -> None:
        sm = self.spec.parameters.sample
        if sm is None:
            return
        loc = ("parameters", "sample")
        good = self._sample_size_ok(sm, loc)
        if not sm.ranges:
            self.ck.add(loc + ("ranges",), "give at least one parameter range")
            good = False
        lows, highs, names = [], [], []
        for name, r in sm.ranges.items():
            rloc = loc + ("ranges", name)
            if not self.declare(name, rloc, "sample"):
                good = False
                continue
            why = self._range_problem(name, r)
            if why:
                self.ck.add(rloc, why)
                good = False
                continue
            lows.append(float(r[0]))
            highs.append(float(r[1]))
            names.append(name)
            self.values_of[name] += [float(r[0]), float(r[1])]
            self.value_locs[name] = [(float(r[0]), rloc + (0,)), (float(r[1]), rloc + (1,))]
        if good and names:
            self.dims.append(_Dim(sm.n, tuple(names), _sample(sm, lows, highs), "sample"))

    # --- the base with the first value of every parameter: a scenario, and its layout compiles -------------------
    def probe_model(self):
        ck, params, file, lines = self.ck, self.params, self.file, self.lines
        for d in self.dims:
            self.context.update(d.at(0))
        probe = Recipe(dict(self.base_kw), self.spec.analysis, params, self.layouts, None, {}, "")
        try:
            model = probe.scenario(
                {k: v for k, v in self.context.items() if params[k].kind in ("field", "option")}
            ).model()
        except ValidationError as exc:  # nothing more can be checked without a base: these and what was found
            raise LayoutError(
                ck.problems + _pydantic_problems(exc, self.data, lines, file, ("base",))
            ) from None
        except InputError as exc:
            raise LayoutError(ck.problems + [Problem("base", str(exc), file, lines.get(("base",)))]) from None
        except LayoutError as exc:
            raise LayoutError(ck.problems + exc.problems) from None
        for lay in self.base_layouts[1:]:
            try:
                probe.scenario({"layout": lay}).model()
            except ValidationError:
                pass  # reported above for the first layout
            except InputError as exc:
                raise LayoutError(
                    [Problem("base.layout", str(exc), file, lines.get(("base", "layout")))]
                ) from None
        return model

    def each_failure(self, model) -> None:
        ef = self.spec.parameters.each_failure
        if ef is None:
            return
        loc = ("parameters", "each_failure")
        try:
            kind, baseline = _failure_spec(ef)
        except ValueError as exc:
            self.ck.add(loc, str(exc))
            return
        if len(self.base_layouts) > 1 or "layout" in self.params:
            self.ck.add(loc, "each_failure enumerates the units of one layout: run one study per layout")
            return
        from twin.failures import unit_names

        units = unit_names(model, kind)
        if not units:
            self.ck.add(loc, f"the layout has no unit of kind {kind} (`twin units LAYOUT` lists them)")
            return
        self.failure_units = ([None] if baseline else []) + list(units)
        self.params["failure"] = Param("failure", "failure", kind, "failure", "str")
        self.dims.append(_Dim(len(self.failure_units), ("failure",), self.failure_units, "failure"))

    def columns(self) -> None:
        """Something varies; column names are unique and usable; every parameter gets its column dtype."""
        if not self.dims and not self.ck.problems:
            self.ck.add(("parameters",), "nothing varies: give grid, sample, cases or each_failure")
        by_col: dict[str, str] = {}
        for name, p in self.params.items():
            if not p.column:
                self.ck.add(("parameters",), f"{name!r}: not a usable parameter name")
            elif p.column in by_col:
                self.ck.add(("parameters",), f"{name} and {by_col[p.column]} both make the column {p.column}")
            by_col[p.column] = name
        self.params = {
            n: replace(p, dtype=_param_dtype(p, self.values_of.get(n, []))) for n, p in self.params.items()
        }

    # --- every parameter value (with the first value of the others), and every case, builds a scenario -----------
    def _layout_value(self, v: Any, vloc: tuple) -> bool:
        """A layout value names a file that exists (registered); False with a problem if not."""
        if not isinstance(v, str):
            self.ck.add(vloc, "a layout is a file name")
            return False
        f = self._file(v)
        if not f.is_file():
            self.ck.add(vloc, f"layout file not found: {f}")
            return False
        self.layouts[v] = str(f)
        return True

    def values(self) -> None:
        ck, params = self.ck, self.params
        probe = Recipe(dict(self.base_kw), self.spec.analysis, params, self.layouts, None, {}, "")
        plain = {k: v for k, v in self.context.items() if params[k].kind in ("field", "option")}
        for name, p in params.items():
            if p.kind in ("failure", "case") or (p.kind == "layout" and len(self.base_layouts) > 1):
                continue
            items = self.value_locs.get(name) or []
            if len(items) > VALIDATE_VALUES:
                items = [items[0], items[-1]]
            seen: set = set()
            for v, vloc in items:
                key = json.dumps(v, sort_keys=True, default=str)
                if key in seen:
                    continue
                seen.add(key)
                if p.kind == "layout" and not self._layout_value(v, vloc):
                    continue
                msg = _try_scenario(
                    probe, {**plain, name: v}, resolve=p.kind in ("override", "layout"), field=name
                )
                if msg and p.kind == "override" and any(w in msg for w in _PATH_ERRORS):
                    ck.add(
                        self.param_loc[name], _explain(name, p, msg)
                    )  # the path, not this value: said once
                    break
                if msg:
                    ck.add(vloc, _explain(name, p, msg))
        for i, case in enumerate(self.spec.parameters.cases[:VALIDATE_VALUES]):
            usable = all(name in params for name in case)
            for name, v in case.items():
                if usable and params[name].kind == "layout" and isinstance(v, str):
                    f = self._file(v)
                    if not f.is_file():
                        ck.add(("parameters", "cases", i, name), f"layout file not found: {f}")
                        usable = False
                    self.layouts[v] = str(f)
            if not usable:
                continue
            resolve = any(params[n].kind in ("override", "layout") for n in case)
            msg = _try_scenario(probe, {**plain, **case}, resolve=resolve, field=tuple(case))
            if msg:
                ck.add(("parameters", "cases", i), msg)

    # --- partition, outputs, size --------------------------------------------------------------------------------
    def partition(self) -> None:
        spec, ck = self.spec, self.ck
        if spec.partition_by is not None:
            loc = ("partition_by",)
            pb = spec.partition_by
            if pb not in spec.parameters.grid or pb not in self.params:
                ck.add(loc, f"{pb!r} is not a grid parameter (partitions are by one grid parameter)")
            else:
                bad = [v for v in self.values_of[pb] if not re.fullmatch(r"[A-Za-z0-9_.+\-]+", _part_text(v))]
                if bad:
                    ck.add(
                        loc, f"{pb}: value {bad[0]!r} cannot name a directory (letters, digits, _ . + - only)"
                    )
                else:
                    i = next(k for k, d in enumerate(self.dims) if d.names == (pb,))
                    self.dims.insert(0, self.dims.pop(i))
        _check_outputs(spec, ck)
        n = math.prod(d.size for d in self.dims) if self.dims else 0
        if n > MAX_SCENARIOS:
            ck.add(
                ("parameters",), f"{n:,} scenarios: above the limit of {MAX_SCENARIOS:,} (split the study)"
            )
        if ck.problems:
            raise LayoutError(ck.problems)

    def study(self, model, text: str) -> Study:
        spec, params, dims = self.spec, self.params, self.dims
        # layout-changing dims first (outer), so consecutive scenarios share a compiled model; the partition stays first
        head = dims[:1] if spec.partition_by is not None else []
        rest = dims[len(head) :]
        changes_layout = [d for d in rest if any(params[x].kind in ("override", "layout") for x in d.names)]
        dims = head + changes_layout + [d for d in rest if d not in changes_layout]

        inputs = {lay: _file_sha(Path(p)) for lay, p in sorted(self.layouts.items())}
        for c in self.base_kw.get("catalogs", ()):
            inputs[str(c)] = _file_sha(Path(c))
        fu = self.failure_units
        hashed = {
            "spec": spec.model_dump(mode="json"),
            "inputs": inputs,
            "builtin_catalog": _builtin_catalog_sha(),
            "failures": hashlib.sha256(json.dumps(fu).encode()).hexdigest() if fu else None,
        }
        if spec.parameters.sample is not None:
            import scipy

            hashed["scipy"] = scipy.__version__
        spec_hash = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:16]
        a, per_rack = COST_S.get(spec.analysis, (0.05, 1e-4))
        est = a + per_rack * model.n_racks
        if any(p.kind in ("override", "layout") for p in params.values()):
            est += YAML_COST_S
        recipe_base = dict(self.base_kw)
        return Study(spec, self.file, text, params, dims, self.layouts, spec_hash, inputs, recipe_base, est)


def _part_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _sample(sm: Sample, lows: list[float], highs: list[float]):
    import numpy as np
    from scipy.stats import qmc

    d = len(lows)
    if sm.method == "sobol":
        pts = qmc.Sobol(d, scramble=True, rng=sm.seed).random_base2(int(round(math.log2(sm.n))))
    else:
        pts = qmc.LatinHypercube(d, rng=sm.seed).random(sm.n)
    out = qmc.scale(pts, lows, highs)
    return np.ascontiguousarray(out, dtype=float)


def _try_scenario(probe: Recipe, values: dict, resolve: bool, field: str | tuple) -> str | None:
    """None if the scenario builds (and, for layout changes, its layout validates), else the reason.

    Only errors of the parameter(s) ``field`` count (an option group's error counts for its ``group.name``):
    a combination that some scenarios cannot make is a row with status error, not a bad study."""
    names = (field,) if isinstance(field, str) else field
    heads = {n.split(".")[0] for n in names}
    try:
        s = probe.scenario(values)
        if resolve:
            s.id  # noqa: B018 - applies the overrides and validates the layout
    except ValidationError as exc:
        errs = [e for e in exc.errors() if e["loc"] and str(e["loc"][0]) in heads]
        if not errs:
            return None
        return "; ".join(
            f"{format_loc(tuple(e['loc']))}: {e['msg'].removeprefix('Value error, ')}".lstrip(": ")
            for e in errs
        )
    except LayoutError as exc:
        return "; ".join(p.message if p.file == "overrides" else p.format() for p in exc.problems)
    except InputError as exc:
        return str(exc)
    return None


_PATH_ERRORS = (
    "unknown key",
    "not a dotted layout path",
    "index out of range",
    "is not a list",
    "is not a mapping",
)


def _explain(name: str, p: Param, msg: str) -> str:
    if p.kind == "override" and "unknown key" in msg:
        close = difflib.get_close_matches(name, [*SCENARIO_PARAMS, *_option_names()], n=2, cutoff=0.75)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        return f"unknown parameter: neither a scenario input nor a path in the layout{hint}: {msg}"
    return msg


def _option_names() -> list[str]:
    return [f"{g}.{f}" for g, m in OPTION_GROUPS.items() for f in m.model_fields]


def _check_outputs(spec: StudySpec, ck: _Checker) -> None:
    from twin.resultschema import load_schema

    schema = load_schema()
    kpis = schema["kpis"]
    if spec.outputs.kpis != "all":
        for i, k in enumerate(spec.outputs.kpis):
            if k not in kpis:
                close = difflib.get_close_matches(k, list(kpis), n=2)
                ck.add(
                    ("outputs", "kpis", i),
                    f"unknown KPI {k!r}"
                    + (f" (closest: {', '.join(close)})" if close else "")
                    + " (`twin schema --results` lists them)",
                )
    for name, t in spec.outputs.tables.items():
        loc = ("outputs", "tables", name)
        if name not in schema["tables"]:
            ck.add(loc, f"unknown table {name!r} (known: {', '.join(schema['tables'])})")
            continue
        if isinstance(t, TableOutput) and t.columns:
            cols = schema["tables"][name]["columns"]
            for j, c in enumerate(t.columns):
                if c not in cols:
                    ck.add(loc + ("columns", j), f"table {name} has no column {c!r}")
    for i, k in enumerate(spec.report.kpis):
        if k not in kpis:
            ck.add(("report", "kpis", i), f"unknown KPI {k!r}")


def study_json_schema() -> dict:
    """The study file's JSON Schema (``twin schema --study``)."""
    s = StudySpec.model_json_schema()
    s["title"] = "AI-factory twin batch study (twin study run)"
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return s
