"""Checks a schema-valid layout against the catalog and itself: references, names, architecture, capacity.

Pure functions: each check returns a list of Problems; nothing is raised here.
Capacity rules (per pod template, since every copy of a pod is identical):
- error   when the rows' *floor* load (every GPU at its minimum power) exceeds the installed capacity of the
          CDUs / busway / block / UPS serving them: it can never work;
- warning when their Max-P nameplate exceeds the firm capacity (installed less redundant spares): at Max-P the
          redundancy is lost and the twin's power caps must hold the load down.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from twin.catalog import Catalog
from twin.errors import Problem, format_loc
from twin.layout import Layout, Pod, spare_units
from twin.yamlio import line_of

SQRT3 = math.sqrt(3.0)


class Ctx:
    def __init__(self, layout: Layout, catalog: Catalog, lines: dict, file: str):
        self.layout, self.catalog, self.lines, self.file = layout, catalog, lines, file
        self.problems: list[Problem] = []

    def add(self, loc: tuple, message: str, severity: str = "error") -> None:
        self.problems.append(Problem(format_loc(loc), message, self.file, line_of(self.lines, loc), severity))

    def ref(self, loc: tuple, section: str, name: str | None, what: str) -> bool:
        if name is None:
            return True
        if self.catalog.has(section, name):
            return True
        self.add(loc, f"unknown {what} '{name}' (known: {', '.join(self.catalog.names(section)) or 'none'})")
        return False


def _dupes(ctx: Ctx, base: tuple, items: Iterable, field: str = "name", what: str = "name") -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        n = getattr(item, field)
        if n in seen:
            ctx.add(base + (i, field), f"duplicate {what} '{n}' (also at index {seen[n]})")
        else:
            seen[n] = i


def rack_floor_w(catalog: Catalog, rack_type: str) -> float:
    """Rack power with every GPU at its minimum power limit, W."""
    r = catalog.rack(rack_type)
    g = catalog.gpu(r.gpu)
    return r.gpus * g.power_min_w + r.other_power_kw * 1e3


MAX_RACKS = 2_000_000  # ~10 GW of Oberon racks: far beyond any campus, small enough to fit in memory


def check_layout(layout: Layout, catalog: Catalog, lines: dict, file: str = "") -> list[Problem]:
    """Every problem of a schema-valid layout against the catalog and itself (errors, warnings, notes).

    Parameters
    ----------
    layout : Layout
        Schema-validated layout.
    catalog : Catalog
        Equipment catalog the layout refers to.
    lines : dict
        YAML line numbers by location (``{}`` when unknown).
    file : str, default ""
        Layout file name for the problems.

    Returns
    -------
    list of Problem
        In layout order; empty when the layout is sound. Nothing is raised.
    """
    ctx = Ctx(layout, catalog, lines, file)
    _check_size(ctx)
    if ctx.problems:
        return ctx.problems
    el = layout.electrical
    ctx.ref(
        ("electrical", "substation", "transformer"), "transformers", el.substation.transformer, "transformer"
    )
    _check_network(ctx)
    tiers = _check_tiers(ctx)
    _dupes(ctx, ("halls",), layout.halls, what="hall name")
    for h, hall in enumerate(layout.halls):
        _check_hall(ctx, ("halls", h), hall, tiers)
    _check_grid(ctx)
    return ctx.problems


def _check_size(ctx: Ctx) -> None:
    """Racks, pods, rows and cooling units the layout expands to, against fixed limits (repeat typos)."""
    layout = ctx.layout
    total = sum(
        r.racks * r.repeat * p.repeat * h.repeat for h in layout.halls for p in h.pods for r in p.rows
    )
    pods = sum(p.repeat * h.repeat for h in layout.halls for p in h.pods)
    rows = sum(r.repeat * p.repeat * h.repeat for h in layout.halls for p in h.pods for r in p.rows)
    units = sum(
        h.repeat
        * (
            h.facility_water.dry_cooler_units
            + h.facility_water.chiller_units
            + h.air_side.units
            + sum(p.repeat * sum(lp.units for lp in p.cooling_loops) for p in h.pods)
        )
        for h in layout.halls
    )
    for what, n, limit in (
        ("racks", total, MAX_RACKS),
        ("pods", pods, 50_000),
        ("rows", rows, 200_000),
        ("cooling units", units, 1_000_000),
    ):
        if n > limit:
            ctx.add(
                ("halls",), f"the layout expands to {n:,} {what} (limit {limit:,}): check the repeat counts"
            )


def _check_network(ctx: Ctx) -> None:
    """Scale-out / frontend switches and the optic exist and match the site's kind of optics."""
    layout, catalog = ctx.layout, ctx.catalog
    sw = layout.network.scale_out
    if ctx.ref(("network", "scale_out", "switch"), "switches", sw.switch, "switch"):
        kind = catalog.get("switches", sw.switch).optics
        if kind != layout.network.optics:
            # a switch is built for one kind of optics: a CPO site needs a CPO switch and vice versa
            others = [
                n
                for n in catalog.names("switches")
                if catalog.get("switches", n).optics == layout.network.optics
            ]
            ctx.add(
                ("network", "optics"),
                f"'{layout.network.optics}' optics, but scale-out switch '{sw.switch}' takes "
                f"{kind} optics (switches for {layout.network.optics}: {', '.join(others) or 'none'})",
            )
    if layout.network.frontend.enabled:
        ctx.ref(("network", "frontend", "switch"), "switches", layout.network.frontend.switch, "switch")
    if layout.network.optic is not None and ctx.ref(
        ("network", "optic"), "optics", layout.network.optic, "optic"
    ):
        if catalog.get("optics", layout.network.optic).kind != layout.network.optics:
            ctx.add(
                ("network", "optic"),
                f"optic '{layout.network.optic}' is not of kind '{layout.network.optics}'",
            )


def check_fabric_ports(model, lines: dict | None = None, file: str = "") -> list[Problem]:
    """Warnings for scale-out links that carry a fractional number of switch ports (a cable fills a whole port).

    The backend fabric of the compiled model is wired as ``twin.network.topology.build_fabric`` wires it; one
    warning per tier (rack-leaf, leaf-spine, spine-core) with fractional links, at ``network.scale_out``, giving
    how many links, their port counts and one of them by name.

    Parameters
    ----------
    model : FacilityModel
        Compiled facility.
    lines : dict, optional
        YAML line numbers by location.
    file : str, default ""
        Layout file name for the problems.

    Returns
    -------
    list of Problem
        Warnings; empty when every link is a whole number of ports.
    """
    from twin.network.topology import (
        TIER_NAMES,
        build_fabric,
    )  # imported here: twin.network imports the model

    fab = build_fabric(model)
    tier = fab.node_tier[fab.lo]
    frac = np.abs(fab.ports - np.round(fab.ports)) > 1e-6
    loc = ("network", "scale_out")
    out = []
    for k in np.unique(tier[frac]):
        sel = np.flatnonzero(frac & (tier == k))
        i = int(sel[0])
        ends = [
            str(model.rack_names()[n]) if n < fab.n_racks else str(fab.node_names[n])
            for n in (fab.lo[i], fab.hi[i])
        ]
        values = ", ".join(f"{v:.3g}" for v in np.unique(np.round(fab.ports[sel], 3))[:4])
        out.append(
            Problem(
                format_loc(loc),
                f"{len(sel):,} of {int(np.sum(tier == k)):,} {TIER_NAMES[k]}-{TIER_NAMES[k + 1]} links carry a "
                f"fractional number of switch ports ({values} ports per link; e.g. {ends[0]} ~ {ends[1]}: "
                f"{fab.ports[i]:.3g}): cables fill whole ports; choose rails, oversubscription or rack counts "
                "that divide evenly",
                file,
                line_of(lines or {}, loc),
                "warning",
            )
        )
    return out


def _check_tiers(ctx: Ctx) -> set[str]:
    """Workload tier names unique, the default tier known; returns the tier names."""
    workload = ctx.layout.workload
    tiers = {t.name for t in workload.tiers}
    _dupes(ctx, ("workload", "tiers"), workload.tiers, what="tier name")
    if workload.default_tier not in tiers:
        ctx.add(
            ("workload", "default_tier"),
            f"unknown tier '{workload.default_tier}' (known: {', '.join(sorted(tiers))})",
        )
    return tiers


def _check_hall(ctx: Ctx, hl: tuple, hall, tiers: set[str]) -> None:
    """A hall template: its plant references, its pods, its heat against heat rejection and air side."""
    catalog = ctx.catalog
    _tier(ctx, hl, hall.workload, tiers)
    fw = hall.facility_water
    ctx.ref(hl + ("facility_water", "dry_cooler"), "dry_coolers", fw.dry_cooler, "dry cooler")
    ctx.ref(hl + ("facility_water", "chiller"), "chillers", fw.chiller, "chiller")
    ctx.ref(hl + ("facility_water", "pump"), "pumps", fw.pump, "pump")
    if (
        fw.adiabatic
        and catalog.has("dry_coolers", fw.dry_cooler)
        and not catalog.get("dry_coolers", fw.dry_cooler).adiabatic
    ):
        ctx.add(hl + ("facility_water", "adiabatic"), f"dry cooler '{fw.dry_cooler}' has no adiabatic option")
    if hall.air_side.units:
        ctx.ref(hl + ("air_side", "unit"), "air_units", hall.air_side.unit, "air unit")
    ctx.ref(hl + ("mechanical", "transformer"), "transformers", hall.mechanical.transformer, "transformer")
    _dupes(ctx, hl + ("pods",), hall.pods, what="pod name")
    for p, pod in enumerate(hall.pods):
        _check_pod(ctx, hl + ("pods", p), pod, tiers)
    _check_hall_heat(ctx, hl, hall)


def _tier(ctx: Ctx, loc: tuple, tier: str | None, tiers: set[str]) -> None:
    if tier is not None and tier not in tiers:
        ctx.add(loc + ("workload",), f"unknown workload tier '{tier}' (known: {', '.join(sorted(tiers))})")


def _check_pod(ctx: Ctx, pl: tuple, pod: Pod, tiers: set[str]) -> None:
    """A pod template: names, equipment references, rows, then loop / busway / block / UPS capacity."""
    _tier(ctx, pl, pod.workload, tiers)
    _dupes(ctx, pl + ("cooling_loops",), pod.cooling_loops, what="cooling loop name")
    _dupes(ctx, pl + ("power_blocks",), pod.power_blocks, what="power block name")
    _dupes(ctx, pl + ("rows",), pod.rows, what="row name")
    loops = {lp.name: i for i, lp in enumerate(pod.cooling_loops)}
    busways = _busway_names(ctx, pl, pod)
    for i, lp in enumerate(pod.cooling_loops):
        ctx.ref(pl + ("cooling_loops", i, "cdu"), "cdus", lp.cdu, "CDU")
    for b, blk in enumerate(pod.power_blocks):
        _check_block_refs(ctx, pl + ("power_blocks", b), blk)
    load = _row_loads(ctx, pl, pod, tiers, loops, busways)
    _check_loops_capacity(ctx, pl, pod, load)
    for b, blk in enumerate(pod.power_blocks):
        _check_block_capacity(ctx, pl + ("power_blocks", b), blk, load)


def _busway_names(ctx: Ctx, pl: tuple, pod: Pod) -> dict[str, tuple[int, int]]:
    """(block, busway) index of each busway name; a name used twice in the pod is an error."""
    busways: dict[str, tuple[int, int]] = {}
    for b, blk in enumerate(pod.power_blocks):
        bl = pl + ("power_blocks", b)
        for w, bw in enumerate(blk.busways):
            if bw.name in busways:
                ctx.add(bl + ("busways", w, "name"), f"duplicate busway name '{bw.name}' in this pod")
            busways.setdefault(bw.name, (b, w))
    return busways


def _check_block_refs(ctx: Ctx, bl: tuple, blk) -> None:
    """A power block's source, UPS, feeder and busway conductors exist and suit the site's architecture."""
    cat, el = ctx.catalog, ctx.layout.electrical
    if el.architecture == "ac":
        if ctx.ref(bl + ("source",), "transformers", blk.source, "transformer (AC architecture)"):
            t = cat.get("transformers", blk.source)
            if abs(t.lv_kv * 1000 - el.ac_voltage_v) > 1:
                ctx.add(
                    bl + ("source",),
                    f"transformer '{blk.source}' secondary is {t.lv_kv * 1000:g} V but "
                    f"electrical.ac_voltage_v is {el.ac_voltage_v} V",
                )
        ctx.ref(bl + ("ups",), "ups", blk.ups, "UPS")
    else:
        ctx.ref(bl + ("source",), "rectifiers", blk.source, "rectifier / SST (800 VDC architecture)")
        if blk.ups is not None:
            ctx.add(bl + ("ups",), "a UPS belongs to the AC architecture; 800 VDC uses DC-side storage")
    ctx.ref(bl + ("feeder_conductor",), "conductors", blk.feeder_conductor, "conductor")
    for w, bw in enumerate(blk.busways):
        if ctx.ref(bl + ("busways", w, "conductor"), "conductors", bw.conductor, "conductor"):
            want = "ac" if el.architecture == "ac" else "dc"
            if cat.get("conductors", bw.conductor).system != want:
                ctx.add(
                    bl + ("busways", w, "conductor"),
                    f"conductor '{bw.conductor}' is for {cat.get('conductors', bw.conductor).system.upper()}"
                    f" but the site is {el.architecture}",
                )


@dataclass
class _PodLoads:
    """What a pod template's rows put on its loops and busways (W), and which of them rows use."""

    loop: list[list[float]]  # per cooling loop: floor heat, Max-P heat, Max-P power
    bus: dict[str, list[float]]  # per busway name: floor power, Max-P power
    used_loops: set[str] = field(default_factory=set)
    used_busways: set[str] = field(default_factory=set)


def _row_loads(ctx: Ctx, pl: tuple, pod: Pod, tiers: set[str], loops: dict, busways: dict) -> _PodLoads:
    """Rows: references and architecture checked, their floor / Max-P loads summed per loop and busway."""
    cat, el = ctx.catalog, ctx.layout.electrical
    load = _PodLoads([[0.0, 0.0, 0.0] for _ in pod.cooling_loops], {n: [0.0, 0.0] for n in busways})
    for r, row in enumerate(pod.rows):
        rl = pl + ("rows", r)
        _tier(ctx, rl, row.workload, tiers)
        ok = ctx.ref(rl + ("rack_type",), "racks", row.rack_type, "rack type")
        if row.cooling_loop not in loops:
            ctx.add(
                rl + ("cooling_loop",),
                f"no cooling loop '{row.cooling_loop}' in this pod (known: {', '.join(loops) or 'none'})",
            )
        if row.busway not in busways:
            ctx.add(
                rl + ("busway",),
                f"no busway '{row.busway}' in this pod (known: {', '.join(busways) or 'none'})",
            )
        if not ok:
            continue
        rack = cat.rack(row.rack_type)
        if el.architecture not in rack.power_inputs:
            ctx.add(
                rl + ("rack_type",),
                f"rack type '{row.rack_type}' takes {' or '.join(rack.power_inputs)} power, "
                f"not the site's '{el.architecture}'",
            )
        n = row.racks * row.repeat
        floor_w = rack_floor_w(cat, row.rack_type) * n
        maxp_w = rack.power_maxp_kw * 1e3 * n
        if row.cooling_loop in loops:
            load.used_loops.add(row.cooling_loop)
            acc = load.loop[loops[row.cooling_loop]]
            acc[0] += floor_w * rack.liquid_fraction
            acc[1] += maxp_w * rack.liquid_fraction
        if row.busway in busways:
            load.used_busways.add(row.busway)
            load.bus[row.busway][0] += floor_w
            load.bus[row.busway][1] += maxp_w
    return load


def _check_loops_capacity(ctx: Ctx, pl: tuple, pod: Pod, load: _PodLoads) -> None:
    """Each cooling loop serves a row, and its CDUs carry the rows' liquid heat."""
    cat = ctx.catalog
    for i, lp in enumerate(pod.cooling_loops):
        ll = pl + ("cooling_loops", i)
        if lp.name not in load.used_loops:
            ctx.add(ll + ("name",), f"cooling loop '{lp.name}' serves no row", "warning")
        if not cat.has("cdus", lp.cdu):
            continue
        cap = cat.get("cdus", lp.cdu).capacity_kw * 1e3
        _capacity(
            ctx,
            ll,
            f"cooling loop '{lp.name}' ({lp.units} x {lp.cdu}, {lp.redundancy})",
            load.loop[i][0],
            load.loop[i][1],
            cap * lp.units,
            cap * (lp.units - spare_units(lp.redundancy, lp.units)),
            "liquid heat",
        )


def _check_block_capacity(ctx: Ctx, bl: tuple, blk, load: _PodLoads) -> None:
    """A block's busways (each feed carries the whole load alone), its source units and UPS carry its rows."""
    cat, el = ctx.catalog, ctx.layout.electrical
    v_lv = el.ac_voltage_v if el.architecture == "ac" else 800.0
    blk_floor = blk_maxp = 0.0
    for w, bw in enumerate(blk.busways):
        floor_w, maxp_w = load.bus.get(bw.name, [0.0, 0.0])
        blk_floor += floor_w
        blk_maxp += maxp_w
        if bw.name not in load.used_busways:
            ctx.add(bl + ("busways", w, "name"), f"busway '{bw.name}' feeds no row", "warning")
        if not cat.has("conductors", bw.conductor):
            continue
        c = cat.get("conductors", bw.conductor)
        rating = (SQRT3 if c.system == "ac" else 1.0) * v_lv * c.ampacity_a
        # with A+B feeds each feed must carry the whole load alone (2N); installed = both feeds sharing
        _capacity(
            ctx,
            bl + ("busways", w),
            f"busway '{bw.name}' ({bw.feeds} feed(s) of {rating / 1e6:.2f} MW)",
            floor_w,
            maxp_w,
            rating * bw.feeds,
            rating,
            "power",
        )
    if el.architecture == "ac" and cat.has("transformers", blk.source):
        unit = cat.get("transformers", blk.source).rating_kva * 1e3  # at unity power factor
    elif el.architecture == "dc800" and cat.has("rectifiers", blk.source):
        unit = cat.get("rectifiers", blk.source).rating_kw * 1e3
    else:
        return
    _capacity(
        ctx,
        bl,
        f"power block '{blk.name}' ({blk.units} x {blk.source}, {blk.redundancy})",
        blk_floor,
        blk_maxp,
        unit * blk.units,
        unit * (blk.units - spare_units(blk.redundancy, blk.units)),
        "power",
    )
    if blk.ups is not None and cat.has("ups", blk.ups):
        u = cat.get("ups", blk.ups).rating_kw * 1e3
        _capacity(
            ctx,
            bl + ("ups",),
            f"UPS of block '{blk.name}' ({blk.ups_units} x {blk.ups}, {blk.ups_redundancy})",
            blk_floor,
            blk_maxp,
            u * blk.ups_units,
            u * (blk.ups_units - spare_units(blk.ups_redundancy, blk.ups_units)),
            "power",
        )


def _capacity(
    ctx: Ctx,
    loc: tuple,
    what: str,
    floor_w: float,
    maxp_w: float,
    installed_w: float,
    firm_w: float,
    quantity: str,
) -> None:
    if floor_w > installed_w:
        ctx.add(
            loc,
            f"{what}: the rows it serves need {floor_w / 1e6:.2f} MW of {quantity} even with every GPU at "
            f"minimum power, more than the {installed_w / 1e6:.2f} MW installed: it can never work",
        )
    elif maxp_w > firm_w:
        ctx.add(
            loc,
            f"{what}: Max-P nameplate {maxp_w / 1e6:.2f} MW of {quantity} exceeds the firm capacity "
            f"{firm_w / 1e6:.2f} MW; power caps must hold the load down or redundancy is lost",
            "warning",
        )


def _hall_loads(ctx: Ctx, hall) -> tuple[float, float, float]:
    """(liquid heat at Max-P, air heat at Max-P, air heat at floor) of one copy of a hall, W."""
    liquid = air = air_floor = 0.0
    for pod in hall.pods:
        for row in pod.rows:
            if not ctx.catalog.has("racks", row.rack_type):
                continue
            rack = ctx.catalog.rack(row.rack_type)
            n = row.racks * row.repeat * pod.repeat
            liquid += n * rack.power_maxp_kw * 1e3 * rack.liquid_fraction
            air += n * rack.power_maxp_kw * 1e3 * (1 - rack.liquid_fraction)
            air_floor += n * rack_floor_w(ctx.catalog, row.rack_type) * (1 - rack.liquid_fraction)
    return liquid, air, air_floor


def _check_hall_heat(ctx: Ctx, hl: tuple, hall) -> None:
    liquid, air, air_floor = _hall_loads(ctx, hall)
    fw = hall.facility_water
    if ctx.catalog.has("dry_coolers", fw.dry_cooler):
        dc = ctx.catalog.get("dry_coolers", fw.dry_cooler)
        firm = (
            dc.capacity_kw
            * 1e3
            * (fw.dry_cooler_units - spare_units(fw.dry_cooler_redundancy, fw.dry_cooler_units))
        )
        if liquid > firm:
            ctx.add(
                hl + ("facility_water", "dry_cooler_units"),
                f"Max-P liquid heat {liquid / 1e6:.1f} MW exceeds the dry coolers' firm rated capacity "
                f"{firm / 1e6:.1f} MW (at {dc.rating_ambient_c:g} C ambient)",
                "warning",
            )
    if air > 0:
        units = hall.air_side.units
        if units == 0 or not ctx.catalog.has("air_units", hall.air_side.unit):
            if units == 0:
                ctx.add(
                    hl + ("air_side",),
                    f"racks reject {air / 1e6:.2f} MW to air at Max-P but the hall has no air-side units",
                    "error" if air_floor > 0 else "warning",
                )
            return
        au = ctx.catalog.get("air_units", hall.air_side.unit)
        _capacity(
            ctx,
            hl + ("air_side",),
            f"air side ({units} x {hall.air_side.unit})",
            air_floor,
            air,
            au.capacity_kw * 1e3 * units,
            au.capacity_kw * 1e3 * (units - spare_units(hall.air_side.redundancy, units)),
            "air heat",
        )


def _check_grid(ctx: Ctx) -> None:
    lay, cat = ctx.layout, ctx.catalog
    maxp = floor = 0.0
    for hall in lay.halls:
        for pod in hall.pods:
            for row in pod.rows:
                if cat.has("racks", row.rack_type):
                    n = row.racks * row.repeat * pod.repeat * hall.repeat
                    maxp += n * cat.rack(row.rack_type).power_maxp_kw * 1e3
                    floor += n * rack_floor_w(cat, row.rack_type)
    grid = lay.site.grid_limit_mw * 1e6
    if floor > grid:
        ctx.add(
            ("site", "grid_limit_mw"),
            f"IT load with every GPU at minimum power is {floor / 1e6:.1f} MW, above the "
            f"{lay.site.grid_limit_mw:g} MW grid connection: no power cap can make this site feasible",
        )
    elif maxp > grid:
        ctx.add(
            ("site", "grid_limit_mw"),
            f"Max-P IT nameplate {maxp / 1e6:.1f} MW exceeds the {lay.site.grid_limit_mw:g} "
            "MW grid connection: a Max-Q site, GPU power caps are required",
            "note",
        )
    sub = lay.electrical.substation
    if cat.has("transformers", sub.transformer):
        t = cat.get("transformers", sub.transformer)
        firm = t.rating_kva * 1e3 * (sub.units - spare_units(sub.redundancy, sub.units))
        if firm < grid:
            ctx.add(
                ("electrical", "substation", "units"),
                f"substation firm capacity {firm / 1e6:.0f} MVA is below the "
                f"{lay.site.grid_limit_mw:g} MW grid connection",
                "warning",
            )
