"""The compiled facility model: flat tables (struct of arrays) that every solver takes.

``load_model(path)`` reads a layout YAML, validates it (schema, catalog, references, capacity) and expands
every ``repeat`` into one row per hall, pod, row, rack, cooling loop, CDU, electrical node and switch.
Relations are integer index columns (rack -> row -> pod -> hall; rack -> loop; rack -> busway node -> block
node -> substation; rack -> leaf switch). Tables are pandas DataFrames (PyPSA-style components) whose columns
are numpy arrays; solvers read ``model.racks["power_maxp_w"].to_numpy()`` and never walk the YAML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from twin.catalog import Catalog, load_catalog
from twin.errors import LayoutError, Problem, format_loc
from twin.layout import Layout, spare_units
from twin.network.sizing import fabric_switch_counts, leaf_ports
from twin.validate import SQRT3, check_layout, rack_floor_w
from twin.yamlio import line_of, load_yaml

LPM = 1.0 / 60000.0  # 1 L/min in m3/s


@dataclass
class FacilityModel:
    """A compiled facility. Every table is indexed 0..n-1; ``*_idx``-free integer columns are row indices.

    Tables (units in column names):
      halls, pods, rows, racks, loops (TCS cooling loops), cdus (one per unit), fws (facility water system
      per hall), heat_rejection (one per dry cooler / chiller unit), air_units, elec (distribution nodes),
      switches (scale-out and frontend), rack_types / gpu_types (catalog entries used), tiers (workload).
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
    warnings: list[Problem] = field(default_factory=list)

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

    def summary(self) -> dict:
        """Counts and nameplate figures for ``twin info``."""
        from twin.info import summarize

        return summarize(self)


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
    """Read, validate and compile a layout file. Raises LayoutError listing every problem found."""
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
    """Check a validated Layout against the catalog and expand it into flat tables."""
    catalog = catalog or load_catalog()
    problems = check_layout(layout, catalog, lines or {}, file)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise LayoutError(problems)
    return _Compiler(layout, catalog, file).run(catalog.warnings + problems)


class _Compiler:
    def __init__(self, layout: Layout, catalog: Catalog, file: str):
        self.lay, self.cat, self.file = layout, catalog, file
        self.rack_type_names = sorted({r.rack_type for h in layout.halls for p in h.pods for r in p.rows})
        self.rt_index = {n: i for i, n in enumerate(self.rack_type_names)}
        self.gpu_names = sorted({catalog.rack(n).gpu for n in self.rack_type_names})
        self.tier_index = {t.name: i for i, t in enumerate(layout.workload.tiers)}

    def run(self, warnings: list[Problem]) -> FacilityModel:
        lay, cat = self.lay, self.cat
        el = lay.electrical
        halls, pods, rows, loops, cdus, fws, hrej, airs = [], [], [], [], [], [], [], []
        elec: list[dict] = []
        sub = cat.get("transformers", el.substation.transformer)
        elec.append(
            dict(
                name="grid",
                kind="grid",
                parent=-1,
                hall=-1,
                pod=-1,
                equipment="",
                units=1,
                spare_units=0,
                rating_w=lay.site.grid_limit_mw * 1e6,
                voltage_v=el.utility_kv * 1e3,
                length_m=0.0,
                feeds=1,
            )
        )
        elec.append(
            dict(
                name="substation",
                kind="substation",
                parent=0,
                hall=-1,
                pod=-1,
                equipment=sub.name,
                units=el.substation.units,
                spare_units=spare_units(el.substation.redundancy, el.substation.units),
                rating_w=sub.rating_kva * 1e3,
                voltage_v=el.mv_kv * 1e3,
                length_m=0.0,
                feeds=1,
            )
        )
        v_lv = float(el.ac_voltage_v) if el.architecture == "ac" else 800.0
        for hall_t in lay.halls:
            for hi in range(hall_t.repeat):
                h = len(halls)
                hname = _suffix(hall_t.name, hi, hall_t.repeat)
                hx = hall_t.origin_m[0] + hi * hall_t.pitch_m[0]
                hy = hall_t.origin_m[1] + hi * hall_t.pitch_m[1]
                halls.append(dict(name=hname, template=hall_t.name, x_m=hx, y_m=hy))
                fw = hall_t.facility_water
                dc = cat.get("dry_coolers", fw.dry_cooler)
                fws.append(
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
                    hrej.append(
                        dict(
                            name=f"{hname}/dc-{u + 1}",
                            hall=h,
                            kind="dry_cooler",
                            equipment=fw.dry_cooler,
                            capacity_w=dc.capacity_kw * 1e3,
                        )
                    )
                if fw.chiller:
                    ch = cat.get("chillers", fw.chiller)
                    for u in range(fw.chiller_units):
                        hrej.append(
                            dict(
                                name=f"{hname}/ch-{u + 1}",
                                hall=h,
                                kind="chiller",
                                equipment=fw.chiller,
                                capacity_w=ch.capacity_kw * 1e3,
                            )
                        )
                for u in range(hall_t.air_side.units):
                    au = cat.get("air_units", hall_t.air_side.unit)
                    airs.append(
                        dict(
                            name=f"{hname}/air-{u + 1}",
                            hall=h,
                            equipment=au.name,
                            capacity_w=au.capacity_kw * 1e3,
                            fan_power_w=au.fan_power_kw * 1e3,
                        )
                    )
                mech = cat.get("transformers", hall_t.mechanical.transformer)
                elec.append(
                    dict(
                        name=f"{hname}/mech",
                        kind="mech_feed",
                        parent=1,
                        hall=h,
                        pod=-1,
                        equipment=mech.name,
                        units=hall_t.mechanical.units,
                        spare_units=spare_units(hall_t.mechanical.redundancy, hall_t.mechanical.units),
                        rating_w=mech.rating_kva * 1e3,
                        voltage_v=mech.lv_kv * 1e3,
                        length_m=0.0,
                        feeds=1,
                    )
                )
                for pod_t in hall_t.pods:
                    for pi in range(pod_t.repeat):
                        p = len(pods)
                        pname = f"{hname}/{_suffix(pod_t.name, pi, pod_t.repeat)}"
                        px = hx + pod_t.origin_m[0] + pi * pod_t.pitch_m[0]
                        py = hy + pod_t.origin_m[1] + pi * pod_t.pitch_m[1]
                        pods.append(dict(name=pname, hall=h, x_m=px, y_m=py))
                        loop_idx = {}
                        for lp in pod_t.cooling_loops:
                            c = cat.get("cdus", lp.cdu)
                            loop_idx[lp.name] = len(loops)
                            loops.append(
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
                                cdus.append(
                                    dict(
                                        name=f"{pname}/{lp.name}/cdu-{u + 1}",
                                        loop=loop_idx[lp.name],
                                        hall=h,
                                        pod=p,
                                        equipment=lp.cdu,
                                        capacity_w=c.capacity_kw * 1e3,
                                    )
                                )
                        bus_idx = {}
                        for blk in pod_t.power_blocks:
                            if el.architecture == "ac":
                                t = cat.get("transformers", blk.source)
                                rating, v_src = t.rating_kva * 1e3, t.lv_kv * 1e3
                            else:
                                r = cat.get("rectifiers", blk.source)
                                rating, v_src = r.rating_kw * 1e3, r.dc_voltage_v
                            b = len(elec)
                            elec.append(
                                dict(
                                    name=f"{pname}/{blk.name}",
                                    kind="block",
                                    parent=1,
                                    hall=h,
                                    pod=p,
                                    equipment=blk.source,
                                    units=blk.units,
                                    spare_units=spare_units(blk.redundancy, blk.units),
                                    rating_w=rating,
                                    voltage_v=v_src,
                                    length_m=blk.feeder_length_m,
                                    feeds=1,
                                    conductor=blk.feeder_conductor,
                                )
                            )
                            parent = b
                            if blk.ups:
                                u = cat.get("ups", blk.ups)
                                parent = len(elec)
                                elec.append(
                                    dict(
                                        name=f"{pname}/{blk.name}/ups",
                                        kind="ups",
                                        parent=b,
                                        hall=h,
                                        pod=p,
                                        equipment=blk.ups,
                                        units=blk.ups_units,
                                        spare_units=spare_units(blk.ups_redundancy, blk.ups_units),
                                        rating_w=u.rating_kw * 1e3,
                                        voltage_v=v_src,
                                        length_m=0.0,
                                        feeds=1,
                                    )
                                )
                            for bw in blk.busways:
                                c = cat.get("conductors", bw.conductor)
                                bus_idx[bw.name] = len(elec)
                                rating = (SQRT3 if c.system == "ac" else 1.0) * v_lv * c.ampacity_a
                                elec.append(
                                    dict(
                                        name=f"{pname}/{bw.name}",
                                        kind="busway",
                                        parent=parent,
                                        hall=h,
                                        pod=p,
                                        equipment=bw.conductor,
                                        units=bw.feeds,
                                        spare_units=1 if bw.feeds == 2 else 0,
                                        rating_w=rating,
                                        voltage_v=v_lv,
                                        length_m=bw.length_m,
                                        feeds=bw.feeds,
                                        conductor=bw.conductor,
                                    )
                                )
                        tier_pod = pod_t.workload or hall_t.workload or lay.workload.default_tier
                        for row_t in pod_t.rows:
                            rt = cat.rack(row_t.rack_type)
                            pitch = row_t.rack_pitch_m or rt.width_m
                            tier = row_t.workload or tier_pod
                            for ri in range(row_t.repeat):
                                rows.append(
                                    dict(
                                        name=f"{pname}/{_suffix(row_t.name, ri, row_t.repeat)}",
                                        hall=h,
                                        pod=p,
                                        loop=loop_idx[row_t.cooling_loop],
                                        busway_node=bus_idx[row_t.busway],
                                        block_node=elec[bus_idx[row_t.busway]]["parent"],
                                        rack_type=self.rt_index[row_t.rack_type],
                                        tier=self.tier_index[tier],
                                        n_racks=row_t.racks,
                                        rack_pitch_m=pitch,
                                        x_m=px + row_t.origin_m[0] + ri * row_t.pitch_m[0],
                                        y_m=py + row_t.origin_m[1] + ri * row_t.pitch_m[1],
                                    )
                                )
        # fix block_node for rows behind a UPS: walk up to the block
        elec_df = pd.DataFrame(elec)
        elec_df["conductor"] = elec_df.get("conductor", pd.Series(dtype=object)).fillna("")
        kind = elec_df["kind"].to_numpy()
        parent = elec_df["parent"].to_numpy()
        rows_df = pd.DataFrame(rows)
        bn = rows_df["block_node"].to_numpy()
        bn = np.where(kind[bn] == "ups", parent[bn], bn)
        rows_df["block_node"] = bn
        rows_df["first_rack"] = np.concatenate([[0], np.cumsum(rows_df["n_racks"].to_numpy())[:-1]])
        rack_types = self._rack_types()
        racks = self._racks(rows_df, rack_types)
        switches = self._switches(racks, pd.DataFrame(pods), rack_types)
        return FacilityModel(
            name=lay.site.name,
            layout=lay,
            catalog=cat,
            source=self.file,
            halls=pd.DataFrame(halls),
            pods=pd.DataFrame(pods),
            rows=rows_df,
            racks=racks,
            loops=pd.DataFrame(loops),
            cdus=pd.DataFrame(cdus),
            fws=pd.DataFrame(fws),
            heat_rejection=pd.DataFrame(hrej, columns=["name", "hall", "kind", "equipment", "capacity_w"]),
            air_units=pd.DataFrame(airs, columns=["name", "hall", "equipment", "capacity_w", "fan_power_w"]),
            elec=elec_df,
            switches=switches,
            rack_types=rack_types,
            gpu_types=self._gpu_types(),
            tiers=pd.DataFrame([t.model_dump() for t in lay.workload.tiers]),
            warnings=warnings,
        )

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

    def _switches(self, racks: pd.DataFrame, pods: pd.DataFrame, rt: pd.DataFrame) -> pd.DataFrame:
        """Leaves per pod (rail groups), spines per pod (3-tier) or per hall (2-tier), cores per site.

        Host ports are NIC ports expressed in switch ports (a 1.6T NIC takes two 800G ports). Racks fill leaf
        groups in order; each group is `rails` leaves, one per rail plane, and a rack is wired to every leaf of
        its group. Frontend leaves are sized the same way from `gbps_per_gpu`.
        """
        net = self.lay.network
        so = net.scale_out
        sw = self.cat.get("switches", so.switch)
        tiers = 3 if so.topology == "fat-tree-3" else 2
        down, up = leaf_ports(sw.ports, so.oversubscription)
        t = racks["rack_type"].to_numpy()
        ports = (rt["nic_ports"].to_numpy() * rt["nic_gbps"].to_numpy() / sw.port_gbps)[t]
        pod = racks["pod"].to_numpy()
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
        rows = []
        px, py, ph = pods["x_m"].to_numpy(), pods["y_m"].to_numpy(), pods["hall"].to_numpy()
        n_leaf = int(leaves_per_pod.sum())
        leaf_pod = np.repeat(np.arange(n_pods), leaves_per_pod)
        leaf_k = np.arange(n_leaf) - leaf_start[leaf_pod]
        leaves = pd.DataFrame(
            dict(
                tier="leaf",
                plane="backend",
                hall=ph[leaf_pod],
                pod=leaf_pod,
                x_m=px[leaf_pod] - 3.0,
                y_m=py[leaf_pod] + 0.6 * leaf_k,
                equipment=sw.name,
                ports=sw.ports,
                ports_down=down,
                ports_up=up,
            )
        )
        rows.append(leaves)
        racks["leaf"] = leaf_start[pod] + group_in_pod * so.rails  # first leaf of the rack's rail group
        counts_pod = [
            fabric_switch_counts(int(math.ceil(p)), sw.ports, tiers, so.oversubscription) for p in pod_ports
        ]
        if tiers == 3:
            n_sp = np.array([c["spine"] for c in counts_pod], dtype=np.int64)
            sp_pod = np.repeat(np.arange(n_pods), n_sp)
            rows.append(
                pd.DataFrame(
                    dict(
                        tier="spine",
                        plane="backend",
                        hall=ph[sp_pod],
                        pod=sp_pod,
                        x_m=px[sp_pod] - 5.0,
                        y_m=py[sp_pod],
                        equipment=sw.name,
                        ports=sw.ports,
                        ports_down=sw.ports // 2,
                        ports_up=sw.ports - sw.ports // 2,
                    )
                )
            )
            n_core = math.ceil(int(n_sp.sum()) * (sw.ports - sw.ports // 2) / sw.ports)
            # cores are shared by the whole site: spread them round-robin over the halls (network rooms) so
            # their power and heat are not all placed in the first hall
            n_halls = int(ph.max()) + 1
            core_hall = np.arange(n_core) % n_halls
            core_pod0 = np.searchsorted(ph, core_hall)  # first pod of each core's hall, for a floor position
            rows.append(
                pd.DataFrame(
                    dict(
                        tier="core",
                        plane="backend",
                        hall=core_hall,
                        pod=-1,
                        x_m=px[core_pod0] - 10.0,
                        y_m=py[core_pod0] + 0.6 * (np.arange(n_core) // n_halls),
                        equipment=sw.name,
                        ports=sw.ports,
                        ports_down=sw.ports,
                        ports_up=0,
                    )
                )
            )
        else:
            halls = pods["hall"].to_numpy()
            n_halls = int(halls.max()) + 1
            hall_up = np.bincount(ph[leaf_pod], minlength=n_halls) * up
            n_sp = np.ceil(hall_up / sw.ports).astype(np.int64)
            sp_hall = np.repeat(np.arange(n_halls), n_sp)
            first_pod = np.searchsorted(halls, sp_hall)
            rows.append(
                pd.DataFrame(
                    dict(
                        tier="spine",
                        plane="backend",
                        hall=sp_hall,
                        pod=-1,
                        x_m=px[first_pod] - 8.0,
                        y_m=py[first_pod] + 0.6 * np.arange(len(sp_hall)),
                        equipment=sw.name,
                        ports=sw.ports,
                        ports_down=sw.ports,
                        ports_up=0,
                    )
                )
            )
        if net.frontend.enabled:
            fe = self.cat.get("switches", net.frontend.switch)
            fdown, fup = leaf_ports(fe.ports, 1.0)
            gpus_pod = np.bincount(pod, weights=racks["gpus"].to_numpy(), minlength=n_pods)
            n_fe = np.ceil(gpus_pod * net.frontend.gbps_per_gpu / fe.port_gbps / fdown).astype(np.int64)
            fe_pod = np.repeat(np.arange(n_pods), n_fe)
            rows.append(
                pd.DataFrame(
                    dict(
                        tier="leaf",
                        plane="frontend",
                        hall=ph[fe_pod],
                        pod=fe_pod,
                        x_m=px[fe_pod] - 4.0,
                        y_m=py[fe_pod],
                        equipment=fe.name,
                        ports=fe.ports,
                        ports_down=fdown,
                        ports_up=fup,
                    )
                )
            )
        out = pd.concat(rows, ignore_index=True)
        # vectorised names 'leaf-b-12' (tier, plane initial, index): no Python loop per switch
        tag = out["tier"].astype(str) + "-" + out["plane"].str[0] + "-"
        out.insert(0, "name", tag + np.arange(len(out)).astype(str))
        return out
