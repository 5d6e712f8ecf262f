"""The compiled facility model: flat tables (struct of arrays) that every solver takes.

``load_model(path)`` reads a layout YAML, validates it (schema, catalog, references, capacity) and expands
every ``repeat`` into one row per hall, pod, row, rack, cooling loop, CDU, electrical node and switch.
Relations are integer index columns (rack -> row -> pod -> hall; rack -> loop; rack -> busway node -> block
node -> substation; rack -> leaf switch). Tables are pandas DataFrames (PyPSA-style components) whose columns
are numpy arrays; solvers read ``model.racks["power_maxp_w"].to_numpy()`` and never walk the YAML.

A compiled model is immutable, so one model can be shared by many threads (a web server's users):
the dataclass is frozen, its layout and catalog entries are frozen pydantic models, and the numpy array
behind every column of every table is read-only (writing into one raises ``ValueError: assignment
destination is read-only``; take ``.copy()`` of a table to edit it, and ``dataclasses.replace(model,
switches=...)`` to derive a changed model). Adding a column to a model table is not prevented by numpy:
solvers build their own tables instead (``tests/test_model.py`` checks they leave the model unchanged). Data derived from a model
(a solver's static network, fabric wiring) is kept with ``model.derived(key, build)``: built once, under a
lock, and shared. ``model.content_hash`` identifies the inputs (layout and catalog) for result caches.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from pydantic import ValidationError

from twin.catalog import Catalog, load_catalog
from twin.errors import LayoutError, Problem, format_loc
from twin.layout import Layout, spare_units
from twin.network.sizing import fabric_switch_counts, leaf_ports
from twin.validate import SQRT3, check_fabric_ports, check_layout, rack_floor_w
from twin.yamlio import line_of, load_yaml

LPM = 1.0 / 60000.0  # 1 L/min in m3/s
T = TypeVar("T")

# the tables of a FacilityModel, in field order
TABLES = (
    "halls",
    "pods",
    "rows",
    "racks",
    "loops",
    "cdus",
    "fws",
    "heat_rejection",
    "air_units",
    "elec",
    "switches",
    "rack_types",
    "gpu_types",
    "tiers",
)


def read_only_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose every column is a read-only numpy array (same columns, dtypes, index, values)."""
    cols = {}
    for c in df.columns:
        a = df[c].to_numpy(copy=True)
        a.flags.writeable = False
        cols[c] = a
    return pd.DataFrame(cols, index=df.index.copy(), columns=df.columns, copy=False)


@dataclass(frozen=True, eq=False)
class FacilityModel:
    """A compiled facility. Every table is indexed 0..n-1; ``*_idx``-free integer columns are row indices.

    Tables (units in column names):
      halls, pods, rows, racks, loops (TCS cooling loops), cdus (one per unit), fws (facility water system
      per hall), heat_rejection (one per dry cooler / chiller unit), air_units, elec (distribution nodes),
      switches (scale-out and frontend), rack_types / gpu_types (catalog entries used), tiers (workload).

    Immutable (see the module docstring): attributes cannot be reassigned and table arrays are read-only.
    Equality and hashing are by identity.
    """

    name: str
    layout: Layout
    catalog: Catalog
    source: str
    halls: pd.DataFrame
    pods: pd.DataFrame
    rows: pd.DataFrame
    racks: pd.DataFrame
    loops: pd.DataFrame
    cdus: pd.DataFrame
    fws: pd.DataFrame
    heat_rejection: pd.DataFrame
    air_units: pd.DataFrame
    elec: pd.DataFrame
    switches: pd.DataFrame
    rack_types: pd.DataFrame
    gpu_types: pd.DataFrame
    tiers: pd.DataFrame
    warnings: tuple[Problem, ...] = ()
    _derived: dict = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _key_locks: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        for name in TABLES:
            object.__setattr__(self, name, read_only_frame(getattr(self, name)))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    # pickling / copy.copy: tables and inputs travel, the derived-data cache and its locks start afresh
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_derived", "_lock", "_key_locks")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        object.__setattr__(self, "_derived", {})
        object.__setattr__(self, "_lock", threading.Lock())
        object.__setattr__(self, "_key_locks", {})
        self.__post_init__()

    def derived(self, key: str, build: Callable[[], T]) -> T:
        """Data derived from this model, built once by ``build()`` and shared by every caller and thread.

        Parameters
        ----------
        key : str
            Name of the derived data, unique per kind (e.g. ``"electrical.network"``).
        build : callable
            Builds the value from the model alone. Called at most once per key, under a per-key lock, so
            concurrent first callers wait for one build; it must not ask for its own key. A build that
            raises leaves nothing cached.

        Returns
        -------
        The cached value. Callers must treat it as read-only: it is shared.
        """
        value = self._derived.get(key, _MISSING)
        if value is not _MISSING:
            return value
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            value = self._derived.get(key, _MISSING)
            if value is _MISSING:
                value = build()
                self._derived[key] = value
        return value

    @property
    def content_hash(self) -> str:
        """sha256 (hex) of the canonical JSON of the validated layout and of the catalog it was compiled with.

        Equal for the same layout content loaded twice (the file path is not part of it); differs when any
        layout value or catalog entry differs. The whole catalog is hashed, not only the entries the layout
        names: solvers also pick entries by property (optics by kind, the comparison's transformers by
        voltage), so any entry may be used. A key for result caches (add the solver's own inputs).
        """
        return self.derived("model.content_hash", lambda: content_hash(self.layout, self.catalog))

    @property
    def n_racks(self) -> int:
        return len(self.racks)

    @property
    def n_gpus(self) -> int:
        return int(self.racks["gpus"].sum())

    def rack_names(self) -> np.ndarray:
        """'hall/pod/row/NN' for every rack (built on demand: solvers work on indices)."""
        rows = self.rows
        k = np.arange(self.n_racks) - rows["first_rack"].to_numpy()[self.racks["row"].to_numpy()]
        row_names = rows["name"].to_numpy()[self.racks["row"].to_numpy()]
        return np.array([f"{r}/{i + 1:02d}" for r, i in zip(row_names, k, strict=True)], dtype=object)


_MISSING = object()


def content_hash(layout: Layout, catalog: Catalog) -> str:
    """sha256 (hex) of the canonical JSON (sorted keys, no spaces) of a layout and every catalog entry."""
    doc = {
        "layout": layout.model_dump(mode="json"),
        "catalog": {
            section: {name: entry.model_dump(mode="json") for name, entry in sorted(entries.items())}
            for section, entries in sorted(catalog.entries.items())
        },
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _suffix(name: str, i: int, repeat: int) -> str:
    return f"{name}-{i + 1}" if repeat > 1 else name


def parse_layout(data: object, lines: dict, file: str) -> Layout:
    """Schema-validate loaded YAML; every pydantic error becomes a Problem with its place and line."""
    if not isinstance(data, dict):
        raise LayoutError([Problem("", "a layout must be a YAML mapping (site:, halls:, ...)", file, 1)])
    try:
        return Layout.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling)"
            elif err["type"] == "missing":
                msg = "required field is missing"
            elif err["type"] in ("literal_error", "enum"):
                msg = f"{msg} (got {err.get('input')!r})"
            problems.append(Problem(format_loc(loc), msg, file, line_of(lines, loc)))
        raise LayoutError(problems) from None


def load_model(path: str | Path, extra_catalogs: tuple[str | Path, ...] = ()) -> FacilityModel:
    """Read, validate and compile a layout file.

    Parameters
    ----------
    path : str or Path
        Layout YAML file. Its ``catalogs:`` entries are read relative to its folder.
    extra_catalogs : tuple of str or Path, default ()
        More catalog files, read after the layout's own (later files replace entries of the same name).

    Returns
    -------
    FacilityModel
        The compiled, immutable model (tables in SI units, see :class:`FacilityModel`).

    Raises
    ------
    LayoutError
        Listing every problem found (schema, catalog references, capacity), each with its file and line.
    """
    file = str(path)
    data, lines = load_yaml(path)
    layout = parse_layout(data, lines, file)
    base = Path(path).resolve().parent
    cat_files = [base / c for c in layout.catalogs] + [Path(c) for c in extra_catalogs]
    for i, f in enumerate(cat_files[: len(layout.catalogs)]):
        if not f.is_file():
            raise LayoutError(
                [
                    Problem(
                        format_loc(("catalogs", i)),
                        f"catalog file not found: {f}",
                        file,
                        line_of(lines, ("catalogs", i)),
                    )
                ]
            )
    catalog = load_catalog(tuple(cat_files))
    return compile_layout(layout, catalog, lines, file)


def compile_layout(
    layout: Layout, catalog: Catalog | None = None, lines: dict | None = None, file: str = ""
) -> FacilityModel:
    """Check a validated Layout against the catalog and expand it into flat tables.

    Parameters
    ----------
    layout : Layout
        A schema-validated layout (``Layout.model_validate(data)``).
    catalog : Catalog, optional
        Equipment catalog; default the built-in one (``load_catalog()``).
    lines : dict, optional
        YAML line numbers by location (from ``load_yaml``), for the problems' line numbers.
    file : str, default ""
        Name of the layout file, for the problems.

    Returns
    -------
    FacilityModel
        The compiled, immutable model; its ``warnings`` hold the catalog's and the checks' warnings and notes.

    Raises
    ------
    LayoutError
        When the checks find an error (all problems listed, warnings included).
    """
    catalog = catalog or load_catalog()
    problems = check_layout(layout, catalog, lines or {}, file)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise LayoutError(problems)
    model = _Compiler(layout, catalog, file).run(catalog.warnings + problems)
    fabric = check_fabric_ports(model, lines, file)  # needs the compiled switch counts
    if fabric:  # a fresh model nobody holds yet
        object.__setattr__(model, "warnings", model.warnings + tuple(fabric))
    return model


def _elec_node(
    name: str,
    kind: str,
    parent: int,
    hall: int,
    pod: int,
    equipment: str,
    units: int,
    spare: int,
    rating_w: float,
    voltage_v: float,
    length_m: float = 0.0,
    feeds: int = 1,
    conductor: str = "",
) -> dict:
    """One row of ``model.elec`` (conductor: catalog conductor of a block's feeder or of a busway, else "")."""
    return dict(
        name=name,
        kind=kind,
        parent=parent,
        hall=hall,
        pod=pod,
        equipment=equipment,
        units=units,
        spare_units=spare,
        rating_w=rating_w,
        voltage_v=voltage_v,
        length_m=length_m,
        feeds=feeds,
        conductor=conductor,
    )


class _Compiler:
    """Expands a checked layout into the model's tables: one step per level of the layout tree.

    ``run`` walks halls -> pods -> (cooling loops, power blocks, rows), each step appending rows to the
    tables in layout order (a row's index is its position), then derives racks and switches from the rows.
    """

    def __init__(self, layout: Layout, catalog: Catalog, file: str):
        self.lay, self.cat, self.file = layout, catalog, file
        self.rack_type_names = sorted({r.rack_type for h in layout.halls for p in h.pods for r in p.rows})
        self.rt_index = {n: i for i, n in enumerate(self.rack_type_names)}
        self.gpu_names = sorted({catalog.rack(n).gpu for n in self.rack_type_names})
        self.tier_index = {t.name: i for i, t in enumerate(layout.workload.tiers)}
        el = layout.electrical
        self.v_lv = float(el.ac_voltage_v) if el.architecture == "ac" else 800.0
        self.halls: list[dict] = []
        self.pods: list[dict] = []
        self.rows: list[dict] = []
        self.loops: list[dict] = []
        self.cdus: list[dict] = []
        self.fws: list[dict] = []
        self.hrej: list[dict] = []
        self.airs: list[dict] = []
        self.elec: list[dict] = []

    def run(self, warnings: list[Problem]) -> FacilityModel:
        lay = self.lay
        self._site_nodes()
        for hall_t in lay.halls:
            for hi in range(hall_t.repeat):
                self._hall(hall_t, hi)
        elec = pd.DataFrame(self.elec)
        rows = self._rows_table(elec)
        rack_types = self._rack_types()
        racks = self._racks(rows, rack_types)
        pods = pd.DataFrame(self.pods)
        switches, racks["leaf"] = self._switches(racks, pods, rack_types)
        return FacilityModel(
            name=lay.site.name,
            layout=lay,
            catalog=self.cat,
            source=self.file,
            halls=pd.DataFrame(self.halls),
            pods=pods,
            rows=rows,
            racks=racks,
            loops=pd.DataFrame(self.loops),
            cdus=pd.DataFrame(self.cdus),
            fws=pd.DataFrame(self.fws),
            heat_rejection=pd.DataFrame(
                self.hrej, columns=["name", "hall", "kind", "equipment", "capacity_w"]
            ),
            air_units=pd.DataFrame(
                self.airs, columns=["name", "hall", "equipment", "capacity_w", "fan_power_w"]
            ),
            elec=elec,
            switches=switches,
            rack_types=rack_types,
            gpu_types=self._gpu_types(),
            tiers=pd.DataFrame([t.model_dump() for t in lay.workload.tiers]),
            warnings=warnings,
        )

    # ---- site and hall level ------------------------------------------------------------------------------
    def _site_nodes(self) -> None:
        """Electrical nodes 0 (grid connection) and 1 (HV/MV substation)."""
        el = self.lay.electrical
        sub = self.cat.get("transformers", el.substation.transformer)
        self.elec.append(
            _elec_node(
                "grid", "grid", -1, -1, -1, "", 1, 0, self.lay.site.grid_limit_mw * 1e6, el.utility_kv * 1e3
            )
        )
        self.elec.append(
            _elec_node(
                "substation",
                "substation",
                0,
                -1,
                -1,
                sub.name,
                el.substation.units,
                spare_units(el.substation.redundancy, el.substation.units),
                sub.rating_kva * 1e3,
                el.mv_kv * 1e3,
            )
        )

    def _hall(self, hall_t, hi: int) -> None:
        """One copy of a hall template: its row, facility water, heat rejection, air side, mech feed, pods."""
        h = len(self.halls)
        hname = _suffix(hall_t.name, hi, hall_t.repeat)
        hx = hall_t.origin_m[0] + hi * hall_t.pitch_m[0]
        hy = hall_t.origin_m[1] + hi * hall_t.pitch_m[1]
        self.halls.append(dict(name=hname, template=hall_t.name, x_m=hx, y_m=hy))
        self._facility_water(hall_t, h, hname)
        self._air_units(hall_t, h, hname)
        self._mech_feed(hall_t, h, hname)
        for pod_t in hall_t.pods:
            for pi in range(pod_t.repeat):
                self._pod(hall_t, pod_t, pi, h, hname, hx, hy)

    def _facility_water(self, hall_t, h: int, hname: str) -> None:
        """The hall's facility water system and its heat-rejection units (dry coolers, then chillers)."""
        fw = hall_t.facility_water
        dc = self.cat.get("dry_coolers", fw.dry_cooler)
        self.fws.append(
            dict(
                hall=h,
                supply_c=fw.supply_c,
                w_class=fw.w_class,
                dry_cooler=fw.dry_cooler,
                dry_cooler_units=fw.dry_cooler_units,
                dry_cooler_spare=spare_units(fw.dry_cooler_redundancy, fw.dry_cooler_units),
                dry_cooler_capacity_w=dc.capacity_kw * 1e3,
                adiabatic=fw.adiabatic,
                chiller=fw.chiller or "",
                chiller_units=fw.chiller_units if fw.chiller else 0,
                pump=fw.pump,
                pump_units=fw.pump_units,
                pump_spare=spare_units(fw.pump_redundancy, fw.pump_units),
            )
        )
        for u in range(fw.dry_cooler_units):
            self.hrej.append(
                dict(
                    name=f"{hname}/dc-{u + 1}",
                    hall=h,
                    kind="dry_cooler",
                    equipment=fw.dry_cooler,
                    capacity_w=dc.capacity_kw * 1e3,
                )
            )
        if fw.chiller:
            ch = self.cat.get("chillers", fw.chiller)
            for u in range(fw.chiller_units):
                self.hrej.append(
                    dict(
                        name=f"{hname}/ch-{u + 1}",
                        hall=h,
                        kind="chiller",
                        equipment=fw.chiller,
                        capacity_w=ch.capacity_kw * 1e3,
                    )
                )

    def _air_units(self, hall_t, h: int, hname: str) -> None:
        for u in range(hall_t.air_side.units):
            au = self.cat.get("air_units", hall_t.air_side.unit)
            self.airs.append(
                dict(
                    name=f"{hname}/air-{u + 1}",
                    hall=h,
                    equipment=au.name,
                    capacity_w=au.capacity_kw * 1e3,
                    fan_power_w=au.fan_power_kw * 1e3,
                )
            )

    def _mech_feed(self, hall_t, h: int, hname: str) -> None:
        """Transformers feeding the hall's pumps, fans and chillers (on the MV bus)."""
        mf = hall_t.mechanical
        mech = self.cat.get("transformers", mf.transformer)
        self.elec.append(
            _elec_node(
                f"{hname}/mech",
                "mech_feed",
                1,
                h,
                -1,
                mech.name,
                mf.units,
                spare_units(mf.redundancy, mf.units),
                mech.rating_kva * 1e3,
                mech.lv_kv * 1e3,
            )
        )

    # ---- pod level --------------------------------------------------------------------------------------
    def _pod(self, hall_t, pod_t, pi: int, h: int, hname: str, hx: float, hy: float) -> None:
        """One copy of a pod template: its cooling loops and CDUs, power blocks and busways, rows."""
        p = len(self.pods)
        pname = f"{hname}/{_suffix(pod_t.name, pi, pod_t.repeat)}"
        px = hx + pod_t.origin_m[0] + pi * pod_t.pitch_m[0]
        py = hy + pod_t.origin_m[1] + pi * pod_t.pitch_m[1]
        self.pods.append(dict(name=pname, hall=h, x_m=px, y_m=py))
        loop_idx = self._cooling_loops(pod_t, p, h, pname)
        bus_idx: dict[str, int] = {}
        for blk in pod_t.power_blocks:
            self._power_block(blk, p, h, pname, bus_idx)
        tier_pod = pod_t.workload or hall_t.workload or self.lay.workload.default_tier
        for row_t in pod_t.rows:
            self._row(row_t, tier_pod, p, h, pname, px, py, loop_idx, bus_idx)

    def _cooling_loops(self, pod_t, p: int, h: int, pname: str) -> dict[str, int]:
        """The pod's TCS loops (one row each) and their CDUs (one row per unit); returns loop index by name."""
        loop_idx = {}
        for lp in pod_t.cooling_loops:
            c = self.cat.get("cdus", lp.cdu)
            loop_idx[lp.name] = len(self.loops)
            self.loops.append(
                dict(
                    name=f"{pname}/{lp.name}",
                    hall=h,
                    pod=p,
                    cdu=lp.cdu,
                    units=lp.units,
                    spare_units=spare_units(lp.redundancy, lp.units),
                    capacity_w=c.capacity_kw * 1e3,
                    approach_k=c.approach_k,
                    flow_m3_s=c.flow_lpm * LPM,
                    pump_head_pa=c.pump_head_kpa * 1e3,
                    pump_efficiency=c.pump_efficiency,
                    coolant=lp.coolant,
                    volume_m3=c.secondary_volume_l * 1e-3 * lp.units,
                    manifold_length_m=lp.manifold_length_m,
                    manifold_diameter_m=lp.manifold_diameter_m,
                    pipe_roughness_m=lp.pipe_roughness_m,
                )
            )
            for u in range(lp.units):
                self.cdus.append(
                    dict(
                        name=f"{pname}/{lp.name}/cdu-{u + 1}",
                        loop=loop_idx[lp.name],
                        hall=h,
                        pod=p,
                        equipment=lp.cdu,
                        capacity_w=c.capacity_kw * 1e3,
                    )
                )
        return loop_idx

    def _power_block(self, blk, p: int, h: int, pname: str, bus_idx: dict[str, int]) -> None:
        """Block node (transformers on AC, rectifiers / SSTs on 800 VDC), its UPS node, its busway nodes."""
        el = self.lay.electrical
        cat = self.cat
        if el.architecture == "ac":
            t = cat.get("transformers", blk.source)
            rating, v_src = t.rating_kva * 1e3, t.lv_kv * 1e3
        else:
            r = cat.get("rectifiers", blk.source)
            rating, v_src = r.rating_kw * 1e3, r.dc_voltage_v
        b = len(self.elec)
        self.elec.append(
            _elec_node(
                f"{pname}/{blk.name}",
                "block",
                1,
                h,
                p,
                blk.source,
                blk.units,
                spare_units(blk.redundancy, blk.units),
                rating,
                v_src,
                length_m=blk.feeder_length_m,
                conductor=blk.feeder_conductor,
            )
        )
        parent = b
        if blk.ups:
            u = cat.get("ups", blk.ups)
            parent = len(self.elec)
            self.elec.append(
                _elec_node(
                    f"{pname}/{blk.name}/ups",
                    "ups",
                    b,
                    h,
                    p,
                    blk.ups,
                    blk.ups_units,
                    spare_units(blk.ups_redundancy, blk.ups_units),
                    u.rating_kw * 1e3,
                    v_src,
                )
            )
        for bw in blk.busways:
            c = cat.get("conductors", bw.conductor)
            bus_idx[bw.name] = len(self.elec)
            rating = (SQRT3 if c.system == "ac" else 1.0) * self.v_lv * c.ampacity_a
            self.elec.append(
                _elec_node(
                    f"{pname}/{bw.name}",
                    "busway",
                    parent,
                    h,
                    p,
                    bw.conductor,
                    bw.feeds,
                    1 if bw.feeds == 2 else 0,
                    rating,
                    self.v_lv,
                    length_m=bw.length_m,
                    feeds=bw.feeds,
                    conductor=bw.conductor,
                )
            )

    def _row(self, row_t, tier_pod: str, p, h, pname, px, py, loop_idx, bus_idx) -> None:
        """The copies of one row template (block_node: the busway's parent, fixed up in ``_rows_table``)."""
        rt = self.cat.rack(row_t.rack_type)
        pitch = row_t.rack_pitch_m or rt.width_m
        tier = row_t.workload or tier_pod
        for ri in range(row_t.repeat):
            self.rows.append(
                dict(
                    name=f"{pname}/{_suffix(row_t.name, ri, row_t.repeat)}",
                    hall=h,
                    pod=p,
                    loop=loop_idx[row_t.cooling_loop],
                    busway_node=bus_idx[row_t.busway],
                    block_node=self.elec[bus_idx[row_t.busway]]["parent"],
                    rack_type=self.rt_index[row_t.rack_type],
                    tier=self.tier_index[tier],
                    n_racks=row_t.racks,
                    rack_pitch_m=pitch,
                    x_m=px + row_t.origin_m[0] + ri * row_t.pitch_m[0],
                    y_m=py + row_t.origin_m[1] + ri * row_t.pitch_m[1],
                )
            )

    # ---- derived tables ---------------------------------------------------------------------------------
    def _rows_table(self, elec: pd.DataFrame) -> pd.DataFrame:
        """Rows with block_node walked up past a UPS to the block, and each row's first rack index."""
        kind = elec["kind"].to_numpy()
        parent = elec["parent"].to_numpy()
        rows = pd.DataFrame(self.rows)
        bn = rows["block_node"].to_numpy()
        rows["block_node"] = np.where(kind[bn] == "ups", parent[bn], bn)
        rows["first_rack"] = np.concatenate([[0], np.cumsum(rows["n_racks"].to_numpy())[:-1]])
        return rows

    def _rack_types(self) -> pd.DataFrame:
        out = []
        for n in self.rack_type_names:
            r = self.cat.rack(n)
            g = self.cat.gpu(r.gpu)
            nic = self.cat.get("nics", r.nic)
            out.append(
                dict(
                    name=n,
                    gpu=r.gpu,
                    gpu_type=self.gpu_names.index(r.gpu),
                    gpus=r.gpus,
                    power_maxp_w=r.power_maxp_kw * 1e3,
                    power_maxq_w=r.power_maxq_kw * 1e3,
                    power_floor_w=rack_floor_w(self.cat, n),
                    other_power_w=r.other_power_kw * 1e3,
                    gpu_power_max_w=g.power_max_w,
                    gpu_power_min_w=g.power_min_w,
                    gpu_power_maxq_w=g.power_maxq_w,
                    liquid_fraction=r.liquid_fraction,
                    coolant=r.coolant,
                    design_flow_m3_s=r.design_flow_lpm_per_kw * r.power_maxp_kw * LPM,
                    dp_design_pa=r.dp_design_kpa * 1e3,
                    dp_exponent=r.dp_exponent,
                    cold_plate_r_k_per_w=r.cold_plate_r_k_per_w,
                    cold_plate_r_conv_fraction=r.cold_plate_r_conv_fraction,
                    t_throttle_c=g.t_throttle_c,
                    t_shutdown_c=g.t_shutdown_c,
                    t_max_operating_c=g.t_max_operating_c,
                    nvlink_domain_gpus=r.nvlink_domain_gpus,
                    nvlink_switch_trays=r.nvlink_switch_trays,
                    nic=r.nic,
                    nic_ports=r.gpus * r.nics_per_gpu,
                    nic_gbps=nic.gbps,
                    nic_power_w=nic.power_w,
                    form_factor=r.form_factor,
                    width_m=r.width_m,
                    depth_m=r.depth_m,
                    height_m=r.height_m,
                )
            )
        return pd.DataFrame(out)

    def _gpu_types(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {k: v for k, v in self.cat.gpu(n).model_dump().items() if not isinstance(v, dict)}
                for n in self.gpu_names
            ]
        )

    def _racks(self, rows: pd.DataFrame, rt: pd.DataFrame) -> pd.DataFrame:
        n_per_row = rows["n_racks"].to_numpy()
        row_of = np.repeat(np.arange(len(rows)), n_per_row)
        k = np.arange(len(row_of)) - rows["first_rack"].to_numpy()[row_of]
        t = rows["rack_type"].to_numpy()[row_of]
        racks = {
            "row": row_of,
            "pod": rows["pod"].to_numpy()[row_of],
            "hall": rows["hall"].to_numpy()[row_of],
            "loop": rows["loop"].to_numpy()[row_of],
            "busway_node": rows["busway_node"].to_numpy()[row_of],
            "block_node": rows["block_node"].to_numpy()[row_of],
            "rack_type": t,
            "tier": rows["tier"].to_numpy()[row_of],
            "x_m": rows["x_m"].to_numpy()[row_of] + k * rows["rack_pitch_m"].to_numpy()[row_of],
            "y_m": rows["y_m"].to_numpy()[row_of],
        }
        for col in (
            "gpus",
            "power_maxp_w",
            "power_maxq_w",
            "power_floor_w",
            "other_power_w",
            "gpu_power_max_w",
            "gpu_power_min_w",
            "liquid_fraction",
            "design_flow_m3_s",
            "dp_design_pa",
            "dp_exponent",
            "cold_plate_r_k_per_w",
            "cold_plate_r_conv_fraction",
            "t_throttle_c",
            "t_shutdown_c",
            "gpu_type",
        ):
            racks[col] = rt[col].to_numpy()[t]
        return pd.DataFrame(racks)

    def _switches(
        self, racks: pd.DataFrame, pods: pd.DataFrame, rt: pd.DataFrame
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Leaves per pod (rail groups), spines per pod (3-tier) or per hall (2-tier), cores per site.

        Host ports are NIC ports expressed in switch ports (a 1.6T NIC takes two 800G ports). Racks fill leaf
        groups in order; each group is `rails` leaves, one per rail plane, and a rack is wired to every leaf of
        its group. Frontend leaves are sized the same way from `gbps_per_gpu`. Returns (switches, first leaf
        of each rack's rail group).
        """
        net = self.lay.network
        so = net.scale_out
        sw = self.cat.get("switches", so.switch)
        t = racks["rack_type"].to_numpy()
        ports = (rt["nic_ports"].to_numpy() * rt["nic_gbps"].to_numpy() / sw.port_gbps)[t]
        pod = racks["pod"].to_numpy()
        leaves, rack_leaf, pod_ports, leaf_pod = _leaves(sw, so, ports, pod, pods)
        parts = [leaves]
        if so.topology == "fat-tree-3":
            parts += _spines_and_cores(sw, so, pod_ports, pods)
        else:
            parts.append(_hall_spines(sw, so, leaf_pod, pods))
        if net.frontend.enabled:
            fe = self.cat.get("switches", net.frontend.switch)
            parts.append(_frontend_leaves(fe, net.frontend.gbps_per_gpu, pod, racks["gpus"].to_numpy(), pods))
        out = pd.concat(parts, ignore_index=True)
        # vectorised names 'leaf-b-12' (tier, plane initial, index): no Python loop per switch
        tag = out["tier"].astype(str) + "-" + out["plane"].str[0] + "-"
        out.insert(0, "name", tag + np.arange(len(out)).astype(str))
        return out, rack_leaf


def _switch_rows(tier, plane, hall, pod, x_m, y_m, sw, ports_down, ports_up) -> pd.DataFrame:
    """Switch table rows (one per element of the array arguments; scalars broadcast)."""
    return pd.DataFrame(
        dict(
            tier=tier,
            plane=plane,
            hall=hall,
            pod=pod,
            x_m=x_m,
            y_m=y_m,
            equipment=sw.name,
            ports=sw.ports,
            ports_down=ports_down,
            ports_up=ports_up,
        )
    )


def _leaves(sw, so, ports: np.ndarray, pod: np.ndarray, pods: pd.DataFrame):
    """Backend leaves: racks fill rail groups of ``so.rails`` leaves in order, per pod.

    Returns (leaf rows, first leaf of each rack's group, host ports per pod, pod of each leaf).
    """
    down, up = leaf_ports(sw.ports, so.oversubscription)
    n_pods = len(pods)
    # leaf groups per pod: cumulative host ports within the pod / ports per group
    group_ports = down * so.rails
    order_start = np.searchsorted(pod, np.arange(n_pods))  # racks are contiguous per pod
    cum = np.cumsum(ports) - ports
    cum_in_pod = cum - cum[np.minimum(order_start, len(cum) - 1)][pod]
    group_in_pod = np.floor(cum_in_pod / group_ports).astype(np.int64)
    pod_ports = np.bincount(pod, weights=ports, minlength=n_pods)
    groups_per_pod = np.ceil(pod_ports / group_ports).astype(np.int64)
    leaves_per_pod = groups_per_pod * so.rails
    leaf_start = np.concatenate([[0], np.cumsum(leaves_per_pod)[:-1]])
    px, py, ph = pods["x_m"].to_numpy(), pods["y_m"].to_numpy(), pods["hall"].to_numpy()
    n_leaf = int(leaves_per_pod.sum())
    leaf_pod = np.repeat(np.arange(n_pods), leaves_per_pod)
    leaf_k = np.arange(n_leaf) - leaf_start[leaf_pod]
    leaves = _switch_rows(
        "leaf",
        "backend",
        ph[leaf_pod],
        leaf_pod,
        px[leaf_pod] - 3.0,
        py[leaf_pod] + 0.6 * leaf_k,
        sw,
        down,
        up,
    )
    rack_leaf = leaf_start[pod] + group_in_pod * so.rails  # first leaf of the rack's rail group
    return leaves, rack_leaf, pod_ports, leaf_pod


def _spines_and_cores(sw, so, pod_ports: np.ndarray, pods: pd.DataFrame) -> list[pd.DataFrame]:
    """3-tier fat tree: spines per pod (from the closed-form counts), cores shared by the site."""
    n_pods = len(pods)
    px, py, ph = pods["x_m"].to_numpy(), pods["y_m"].to_numpy(), pods["hall"].to_numpy()
    counts_pod = [
        fabric_switch_counts(int(math.ceil(p)), sw.ports, 3, so.oversubscription) for p in pod_ports
    ]
    n_sp = np.array([c["spine"] for c in counts_pod], dtype=np.int64)
    sp_pod = np.repeat(np.arange(n_pods), n_sp)
    half = sw.ports // 2
    spines = _switch_rows(
        "spine", "backend", ph[sp_pod], sp_pod, px[sp_pod] - 5.0, py[sp_pod], sw, half, sw.ports - half
    )
    n_core = math.ceil(int(n_sp.sum()) * (sw.ports - half) / sw.ports)
    # cores are shared by the whole site: spread them round-robin over the halls (network rooms) so
    # their power and heat are not all placed in the first hall
    n_halls = int(ph.max()) + 1
    core_hall = np.arange(n_core) % n_halls
    core_pod0 = np.searchsorted(ph, core_hall)  # first pod of each core's hall, for a floor position
    cores = _switch_rows(
        "core",
        "backend",
        core_hall,
        -1,
        px[core_pod0] - 10.0,
        py[core_pod0] + 0.6 * (np.arange(n_core) // n_halls),
        sw,
        sw.ports,
        0,
    )
    return [spines, cores]


def _hall_spines(sw, so, leaf_pod: np.ndarray, pods: pd.DataFrame) -> pd.DataFrame:
    """2-tier leaf-spine: spines per hall, enough ports for the hall's leaf uplinks."""
    _, up = leaf_ports(sw.ports, so.oversubscription)
    px, py, ph = pods["x_m"].to_numpy(), pods["y_m"].to_numpy(), pods["hall"].to_numpy()
    halls = pods["hall"].to_numpy()
    n_halls = int(halls.max()) + 1
    hall_up = np.bincount(ph[leaf_pod], minlength=n_halls) * up
    n_sp = np.ceil(hall_up / sw.ports).astype(np.int64)
    sp_hall = np.repeat(np.arange(n_halls), n_sp)
    first_pod = np.searchsorted(halls, sp_hall)
    return _switch_rows(
        "spine",
        "backend",
        sp_hall,
        -1,
        px[first_pod] - 8.0,
        py[first_pod] + 0.6 * np.arange(len(sp_hall)),
        sw,
        sw.ports,
        0,
    )


def _frontend_leaves(
    fe, gbps_per_gpu: float, pod: np.ndarray, gpus: np.ndarray, pods: pd.DataFrame
) -> pd.DataFrame:
    """Frontend (north-south) leaves per pod, sized on ``gbps_per_gpu`` at 1:1."""
    n_pods = len(pods)
    px, py, ph = pods["x_m"].to_numpy(), pods["y_m"].to_numpy(), pods["hall"].to_numpy()
    fdown, fup = leaf_ports(fe.ports, 1.0)
    gpus_pod = np.bincount(pod, weights=gpus, minlength=n_pods)
    n_fe = np.ceil(gpus_pod * gbps_per_gpu / fe.port_gbps / fdown).astype(np.int64)
    fe_pod = np.repeat(np.arange(n_pods), n_fe)
    return _switch_rows("leaf", "frontend", ph[fe_pod], fe_pod, px[fe_pod] - 4.0, py[fe_pod], fe, fdown, fup)
