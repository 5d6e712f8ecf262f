"""``solve_network``: fabric, traffic, ECMP routing, max-min rates, failures and power in one call.

Pipeline: build the rack-level fabric (topology), fail the named elements (failures), generate rack-to-rack
traffic (traffic), route it with ECMP over shortest valley-free paths (routing), give every flow its max-min
fair rate by progressive filling (rates), compare with an ideal non-blocking fabric (slowdown = ideal / rate),
and add up network power for the requested optics and for the other kind (power).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.network.failures import apply_failures
from twin.network.power import fabric_power
from twin.network.rates import max_min_rates, nonblocking_rates
from twin.network.routing import Router, Routing
from twin.network.topology import TIER_NAMES, Fabric, build_fabric, node_names, nvlink_domains
from twin.network.traffic import make_traffic


@dataclass
class NetworkResult:
    """res_flows, res_links, res_switches (DataFrames), kpis (dict); fabric, routing and power for reuse."""

    res_flows: pd.DataFrame
    res_links: pd.DataFrame
    res_switches: pd.DataFrame
    kpis: dict
    fabric: Fabric
    routing: Routing
    power: dict
    arc_load_gbps: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]


def _percentiles(x: np.ndarray) -> dict:
    if len(x) == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    p = np.percentile(x, [50, 90, 99])
    return {
        "p50": float(p[0]),
        "p90": float(p[1]),
        "p99": float(p[2]),
        "max": float(x.max()),
        "mean": float(x.mean()),
    }


def solve_network(
    model,
    *,
    traffic: str | pd.DataFrame = "allreduce",
    failed: tuple[str, ...] | list[str] = (),
    optics: str | None = None,
    traffic_options: dict | None = None,
    hottest: int = 10,
) -> NetworkResult:
    """Route a traffic pattern over the scale-out fabric of ``model`` and report rates, utilisation and power.

    traffic: allreduce | alltoall | disagg | path to a CSV (src, dst, gbps) | DataFrame (src, dst, demand_gbps).
    failed: switch names (``model.switches.name``) or links ``LOWER~UPPER``. optics: pluggable | cpo (default:
    the layout's). traffic_options: keyword arguments of the traffic generator (load, group_racks, ...).
    """
    fab0 = build_fabric(model)
    fab, fail_info = apply_failures(fab0, model, tuple(failed))
    tr = make_traffic(model, traffic, **(traffic_options or {}))
    same = tr["src"] == tr["dst"]  # traffic inside a rack stays on its NVLink domain
    intra_rack_gbps = float(tr.loc[same, "demand_gbps"].sum())
    tr = tr[~same & (tr["demand_gbps"] > 0)].reset_index(drop=True)
    src, dst = tr["src"].to_numpy(), tr["dst"].to_numpy()
    demand = tr["demand_gbps"].to_numpy(dtype=float)
    routing = Router(fab).route(src, dst)
    routed = routing.routed
    ok = routed > 1e-12
    # the routed part of each flow is a sub-flow of demand * routed with fractions scaled to one unit of it
    scale = np.where(ok, 1.0 / np.where(ok, routed, 1.0), 0.0)
    A = routing.matrix @ _diag(scale)
    mm = max_min_rates(A, fab.arc_cap_gbps, demand * routed)
    rate = mm.rate
    load = routing.matrix @ (rate * scale)
    ideal = nonblocking_rates(src, dst, fab0.rack_capacity_gbps(), demand)
    with np.errstate(divide="ignore", invalid="ignore"):
        slowdown = np.where(rate > 0, ideal / np.where(rate > 0, rate, 1.0), np.inf)
    slowdown = np.where(ideal <= 0, 1.0, slowdown)

    L = fab.n_links
    cap = fab.cap_gbps * fab.usable
    up, down = load[:L], load[L:]
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(cap > 0, np.maximum(up, down) / np.where(cap > 0, cap, 1.0), 0.0)
    names = node_names(fab)
    tier_lo = fab.node_tier[fab.lo]
    res_links = pd.DataFrame(
        dict(
            lo=names[fab.lo],
            hi=names[fab.hi],
            tier=np.array([f"{TIER_NAMES[t]}-{TIER_NAMES[t + 1]}" for t in range(3)], dtype=object)[tier_lo],
            ports=fab.ports,
            cap_gbps=fab.cap_gbps,
            load_up_gbps=up,
            load_down_gbps=down,
            utilization=util,
            alive=fab.usable,
        )
    )
    rack_names = names[: fab.n_racks]
    bott = np.where(mm.bottleneck >= 0, mm.bottleneck % L, -1)
    res_flows = pd.DataFrame(
        dict(
            src=rack_names[src],
            dst=rack_names[dst],
            demand_gbps=demand,
            rate_gbps=rate,
            ideal_gbps=ideal,
            slowdown=slowdown,
            stranded_gbps=demand * routing.stranded,
            bottleneck=np.where(
                bott >= 0, res_links["lo"].to_numpy()[bott] + "~" + res_links["hi"].to_numpy()[bott], ""
            ),
        )
    )

    pw = fabric_power(model, optics, fabric=fab0)
    other = "cpo" if pw["optics"] == "pluggable" else "pluggable"
    pw_other = fabric_power(model, other, fabric=fab0)
    plug, cpo = (pw, pw_other) if pw["optics"] == "pluggable" else (pw_other, pw)

    sw = model.switches.copy()
    sw["power_w"] = pw["switch_power_w"]
    sw["ports_used"] = pw["switch_ports_used"]
    node_util = np.zeros(fab.n_nodes)
    np.maximum.at(node_util, fab.lo, util)
    np.maximum.at(node_util, fab.hi, util)
    sw["max_link_utilization"] = 0.0
    s = fab.switch_row >= 0
    sw.loc[fab.switch_row[s], "max_link_utilization"] = node_util[s]
    sw["failed"] = False
    sw.loc[fab.switch_row[s], "failed"] = ~fab.node_alive[s]
    res_switches = sw

    live = cap > 0
    sw_links = live & (tier_lo >= 1)
    order = np.argsort(-util)[:hottest]
    so = model.layout.network.scale_out
    leaf_nodes = fab.node_tier == 1
    leaf_dn = np.bincount(fab.hi[tier_lo == 0], weights=cap[tier_lo == 0], minlength=fab.n_nodes)[leaf_nodes]
    leaf_up = np.bincount(fab.lo[tier_lo == 1], weights=cap[tier_lo == 1], minlength=fab.n_nodes)[leaf_nodes]
    rate_ok = rate[ok]
    nvl = nvlink_domains(model)
    kpis = {
        "topology": fab0.topology,
        "switches": int(len(model.switches)),
        "switches_by_tier": {
            f"{p}_{t}": int(n) for (p, t), n in model.switches.groupby(["plane", "tier"]).size().items()
        },
        "links": int(fab0.n_links),
        "transceivers": pw["transceivers"],
        "bisection_tbps": fab.bisection_gbps() / 1e3,
        "bisection_tbps_design": fab0.bisection_gbps() / 1e3,
        "oversubscription": float(so.oversubscription),
        "fabric_warnings": list(fab0.warnings),  # wiring compromises, e.g. core links clamped to the radix
        "oversubscription_measured": float(leaf_dn.sum() / leaf_up.sum()) if leaf_up.sum() > 0 else None,
        "rails": int(so.rails),
        "traffic": traffic if isinstance(traffic, str) else "table",
        "flows": int(len(tr)),
        "intra_rack_tbps": intra_rack_gbps / 1e3,
        "demand_tbps": float(demand.sum() / 1e3),
        "throughput_tbps": float(rate.sum() / 1e3),
        "ideal_throughput_tbps": float(ideal.sum() / 1e3),
        "max_link_utilization": float(util.max(initial=0.0)),
        "fabric_link_utilization": _percentiles(util[sw_links]),
        "utilization_histogram": {
            "edges": [round(x, 1) for x in np.linspace(0, 1, 11)],
            "links": np.histogram(np.minimum(util[live], 1.0), bins=np.linspace(0, 1, 11))[0].tolist(),
        },
        "saturated_links": int(np.sum(util >= 1.0 - 1e-9)),
        "slowdown": _percentiles(slowdown[ok]) if ok.any() else _percentiles(np.zeros(0)),
        "flows_slowed": int(np.sum(slowdown[ok] > 1.0 + 1e-9)),
        "min_rate_gbps": float(rate_ok.min()) if len(rate_ok) else 0.0,
        "stranded_flows": int(np.sum(routing.stranded > 1e-12)),
        "stranded_tbps": float((demand * routing.stranded).sum() / 1e3),
        "maxmin_iterations": int(mm.iterations),
        "hottest_links": [
            {"link": f"{res_links['lo'].iat[i]}~{res_links['hi'].iat[i]}", "utilization": float(util[i])}
            for i in order
            if util[i] > 0
        ],
        "failed": fail_info,
        "optics": pw["optics"],
        "network_power_mw": pw["total_w"] / 1e6,
        "switch_power_mw": pw["switch_system_w"] / 1e6,
        "optics_power_mw": (pw["switch_optics_w"] + pw["host_optics_w"]) / 1e6,
        "pluggable_network_power_mw": plug["total_w"] / 1e6,
        "cpo_network_power_mw": cpo["total_w"] / 1e6,
        "cpo_saving_mw": (plug["total_w"] - cpo["total_w"]) / 1e6,
        "backend_switch_optics_ratio": plug["backend_switch_optics_w"] / cpo["backend_switch_optics_w"]
        if cpo["backend_switch_optics_w"] > 0
        else None,
        "nic_power_mw_in_racks": pw["nic_power_w"] / 1e6,
        "nvlink_domains": int(nvl["domains"].sum()),
        "nvlink_tb_s": float((nvl["racks"] * nvl["nvlink_tb_s_per_rack"]).sum()),
        "nvlink_by_rack_type": nvl.to_dict("records"),
        "nvlink_switch_trays": pw["nvlink_switch_trays"],
    }
    return NetworkResult(
        res_flows=res_flows,
        res_links=res_links,
        res_switches=res_switches,
        kpis=kpis,
        fabric=fab,
        routing=routing,
        power=pw,
        arc_load_gbps=load,
    )


def _diag(x: np.ndarray):
    import scipy.sparse as sp

    return sp.diags(x).tocsr()
