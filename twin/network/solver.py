"""``solve_network``: fabric, traffic, ECMP routing, max-min rates, failures and power in one call.

Pipeline: build the rack-level fabric (topology), fail the named elements (failures), generate rack-to-rack
traffic (traffic), route it with ECMP over shortest valley-free paths (routing), give every flow its max-min
fair rate by progressive filling (rates), compare with an ideal non-blocking fabric (slowdown = ideal / rate),
and add up network power for the requested optics and for the other kind (power).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from twin.network.failures import apply_failures
from twin.network.power import fabric_power
from twin.network.rates import MaxMinResult, max_min_rates, nonblocking_rates
from twin.network.routing import Router, Routing
from twin.network.topology import TIER_NAMES, Fabric, build_fabric, node_names, nvlink_domains
from twin.network.traffic import make_traffic

if TYPE_CHECKING:
    from twin.model import FacilityModel


@dataclass
class NetworkResult:
    """Result of :func:`solve_network`: tables, KPIs, and the fabric, routing and power for reuse.

    Attributes
    ----------
    res_flows : pandas.DataFrame
        One row per scale-out flow (rack pair, intra-rack traffic excluded): ``src``, ``dst`` (rack names),
        ``demand_gbps``, ``rate_gbps`` (max-min fair rate), ``ideal_gbps`` (rate on a non-blocking fabric),
        all Gb/s; ``slowdown`` (ideal / rate, dimensionless, inf for a stranded flow), ``stranded_gbps``
        (Gb/s with no route), ``bottleneck`` (link ``LO~HI`` that froze the flow, ``""`` if it met its demand).
    res_links : pandas.DataFrame
        One row per link: ``lo``, ``hi`` (node names), ``tier`` (e.g. ``leaf-spine``), ``ports``,
        ``cap_gbps`` (Gb/s per direction), ``load_up_gbps``, ``load_down_gbps`` (Gb/s), ``utilization``
        (larger direction / usable capacity, dimensionless), ``alive``.
    res_switches : pandas.DataFrame
        ``model.switches`` plus ``power_w`` (W, system and switch-side optics), ``ports_used``,
        ``max_link_utilization`` (dimensionless) and ``failed``.
    kpis : dict[str, Any]
        Summary; units in the key names (``_tbps`` Tb/s, ``_tb_s`` TB/s, ``_gbps`` Gb/s, ``_mw`` MW).
    fabric : Fabric
        The fabric the traffic was routed on (failures applied).
    routing : Routing
        ECMP fractions (2 n_links x n_flows) and the stranded share of each flow.
    power : dict[str, Any]
        :func:`twin.network.fabric_power` for the requested optics (W).
    arc_load_gbps : numpy.ndarray or None
        (2 n_links,) load of every arc, Gb/s: link l upward is arc l, downward arc l + n_links.
    """

    res_flows: pd.DataFrame
    res_links: pd.DataFrame
    res_switches: pd.DataFrame
    kpis: dict[str, Any]
    fabric: Fabric
    routing: Routing
    power: dict[str, Any]
    arc_load_gbps: np.ndarray | None = field(default=None, repr=False)


@dataclass
class _Flows:
    """Scale-out flows (rack pairs with demand > 0), rack indices and Gb/s."""

    src: np.ndarray
    dst: np.ndarray
    demand: np.ndarray  # Gb/s
    intra_rack_gbps: float  # demand between GPUs of one rack (NVLink), Gb/s


@dataclass
class _Rates:
    """Max-min fair rates (Gb/s), arc loads (Gb/s), ideal rates and slowdowns of the routed flows."""

    maxmin: MaxMinResult
    rate: np.ndarray
    load: np.ndarray
    ideal: np.ndarray
    slowdown: np.ndarray
    routed: np.ndarray  # flows with a routed share (> 1e-12)


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
    model: FacilityModel,
    *,
    traffic: str | pd.DataFrame = "allreduce",
    failed: tuple[str, ...] | list[str] = (),
    optics: str | None = None,
    traffic_options: dict | None = None,
    hottest: int = 10,
) -> NetworkResult:
    """Route a traffic pattern over the scale-out fabric of ``model`` and report rates, utilisation and power.

    Steps (module docstring): build the fabric and fail the named elements, make the rack-to-rack traffic,
    route it (ECMP), give every flow its max-min fair rate and compare with a non-blocking fabric, tabulate
    links, flows and switches, add up network power for both optics kinds, and summarise.

    Parameters
    ----------
    model : FacilityModel
        Compiled facility.
    traffic : str or pandas.DataFrame, default "allreduce"
        ``allreduce``, ``alltoall``, ``disagg``, a path to a CSV (``src, dst, gbps``), or a table with
        columns ``src, dst, demand_gbps`` (rack indices, Gb/s).
    failed : sequence of str, default ()
        Switch names (``model.switches.name``) or links ``LOWER~UPPER`` to fail.
    optics : {"pluggable", "cpo"} or None, default None
        Switch-side backend optics; None: the layout's ``network.optics``.
    traffic_options : dict or None, default None
        Keyword arguments of the traffic generator (``load``, ``group_racks``, ``scope``, ...).
    hottest : int, default 10
        Number of most utilised links listed in ``kpis["hottest_links"]``.

    Returns
    -------
    NetworkResult
        Flow, link and switch tables (Gb/s, W), KPIs (Tb/s, MW), the fabric, routing and power.

    Raises
    ------
    InputError
        Unknown traffic or traffic option, unknown failed element, unknown optics kind.
    """
    fab0 = build_fabric(model)
    fab, fail_info = apply_failures(fab0, model, tuple(failed))
    flows = _scale_out_flows(model, traffic, traffic_options)
    routing = Router(fab).route(flows.src, flows.dst)
    rates = _fair_rates(fab0, fab, flows, routing)
    res_links, util = _links_table(fab, rates.load)
    res_flows = _flows_table(fab, flows, routing, rates, res_links)
    power = _power_both_optics(model, optics, fab0)
    res_switches = _switches_table(model, fab, power["requested"], util)
    kpis = {
        **_fabric_kpis(model, fab0, fab, power["requested"]["transceivers"]),
        **_traffic_kpis(traffic, fab, flows, routing, rates, util, res_links, hottest),
        "failed": fail_info,
        **_power_kpis(model, power),
    }
    return NetworkResult(
        res_flows=res_flows,
        res_links=res_links,
        res_switches=res_switches,
        kpis=kpis,
        fabric=fab,
        routing=routing,
        power=power["requested"],
        arc_load_gbps=rates.load,
    )


def _scale_out_flows(model: FacilityModel, traffic: str | pd.DataFrame, options: dict | None) -> _Flows:
    """The traffic's rack-to-rack flows with demand; traffic inside a rack stays on its NVLink domain."""
    tr = make_traffic(model, traffic, **(options or {}))
    same = tr["src"] == tr["dst"]
    intra_rack_gbps = float(tr.loc[same, "demand_gbps"].sum())
    tr = tr[~same & (tr["demand_gbps"] > 0)].reset_index(drop=True)
    return _Flows(
        src=tr["src"].to_numpy(),
        dst=tr["dst"].to_numpy(),
        demand=tr["demand_gbps"].to_numpy(dtype=float),
        intra_rack_gbps=intra_rack_gbps,
    )


def _fair_rates(fab0: Fabric, fab: Fabric, flows: _Flows, routing: Routing) -> _Rates:
    """Max-min fair rates of the routed part of every flow, and the ideal (non-blocking) rates and slowdowns.

    ``fab0``: the fabric before failures, whose rack links set the ideal rates.
    """
    routed = routing.routed
    ok = routed > 1e-12
    # the routed part of each flow is a sub-flow of demand * routed with fractions scaled to one unit of it
    scale = np.where(ok, 1.0 / np.where(ok, routed, 1.0), 0.0)
    A = routing.matrix @ _diag(scale)
    mm = max_min_rates(A, fab.arc_cap_gbps, flows.demand * routed)
    rate = mm.rate
    load = routing.matrix @ (rate * scale)
    ideal = nonblocking_rates(flows.src, flows.dst, fab0.rack_capacity_gbps(), flows.demand)
    with np.errstate(divide="ignore", invalid="ignore"):
        slowdown = np.where(rate > 0, ideal / np.where(rate > 0, rate, 1.0), np.inf)
    slowdown = np.where(ideal <= 0, 1.0, slowdown)
    return _Rates(maxmin=mm, rate=rate, load=load, ideal=ideal, slowdown=slowdown, routed=ok)


def _link_utilization(fab: Fabric, load: np.ndarray) -> np.ndarray:
    """(n_links,) larger direction's load / usable capacity (0 on dead links)."""
    L = fab.n_links
    cap = fab.cap_gbps * fab.usable
    up, down = load[:L], load[L:]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cap > 0, np.maximum(up, down) / np.where(cap > 0, cap, 1.0), 0.0)


def _links_table(fab: Fabric, load: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """res_links and the link utilisation."""
    L = fab.n_links
    util = _link_utilization(fab, load)
    names = node_names(fab)
    tier_lo = fab.node_tier[fab.lo]
    res_links = pd.DataFrame(
        dict(
            lo=names[fab.lo],
            hi=names[fab.hi],
            tier=np.array([f"{TIER_NAMES[t]}-{TIER_NAMES[t + 1]}" for t in range(3)], dtype=object)[tier_lo],
            ports=fab.ports,
            cap_gbps=fab.cap_gbps,
            load_up_gbps=load[:L],
            load_down_gbps=load[L:],
            utilization=util,
            alive=fab.usable,
        )
    )
    return res_links, util


def _flows_table(
    fab: Fabric, flows: _Flows, routing: Routing, rates: _Rates, res_links: pd.DataFrame
) -> pd.DataFrame:
    """res_flows: rates, ideal rates, slowdowns, stranded traffic and the bottleneck link of every flow."""
    rack_names = node_names(fab)[: fab.n_racks]
    bn = rates.maxmin.bottleneck
    bott = np.where(bn >= 0, bn % fab.n_links, -1)
    return pd.DataFrame(
        dict(
            src=rack_names[flows.src],
            dst=rack_names[flows.dst],
            demand_gbps=flows.demand,
            rate_gbps=rates.rate,
            ideal_gbps=rates.ideal,
            slowdown=rates.slowdown,
            stranded_gbps=flows.demand * routing.stranded,
            bottleneck=np.where(
                bott >= 0, res_links["lo"].to_numpy()[bott] + "~" + res_links["hi"].to_numpy()[bott], ""
            ),
        )
    )


def _power_both_optics(model: FacilityModel, optics: str | None, fab0: Fabric) -> dict[str, dict]:
    """fabric_power for the requested optics (``requested``) and by kind (``pluggable``, ``cpo``)."""
    pw = fabric_power(model, optics, fabric=fab0)
    other = "cpo" if pw["optics"] == "pluggable" else "pluggable"
    pw_other = fabric_power(model, other, fabric=fab0)
    plug, cpo = (pw, pw_other) if pw["optics"] == "pluggable" else (pw_other, pw)
    return {"requested": pw, "pluggable": plug, "cpo": cpo}


def _switches_table(model: FacilityModel, fab: Fabric, pw: dict, util: np.ndarray) -> pd.DataFrame:
    """res_switches: model.switches with power, used ports, hottest link and failed flag."""
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
    return sw


def _fabric_kpis(model: FacilityModel, fab0: Fabric, fab: Fabric, transceivers: int) -> dict[str, Any]:
    """Switch, link and transceiver counts, bisection (Tb/s, design and after failures), oversubscription."""
    so = model.layout.network.scale_out
    cap = fab.cap_gbps * fab.usable
    tier_lo = fab.node_tier[fab.lo]
    leaf_nodes = fab.node_tier == 1
    leaf_dn = np.bincount(fab.hi[tier_lo == 0], weights=cap[tier_lo == 0], minlength=fab.n_nodes)[leaf_nodes]
    leaf_up = np.bincount(fab.lo[tier_lo == 1], weights=cap[tier_lo == 1], minlength=fab.n_nodes)[leaf_nodes]
    return {
        "topology": fab0.topology,
        "switches": int(len(model.switches)),
        "switches_by_tier": {
            f"{p}_{t}": int(n) for (p, t), n in model.switches.groupby(["plane", "tier"]).size().items()
        },
        "links": int(fab0.n_links),
        "transceivers": transceivers,
        "bisection_tbps": fab.bisection_gbps() / 1e3,
        "bisection_tbps_design": fab0.bisection_gbps() / 1e3,
        "oversubscription": float(so.oversubscription),
        "fabric_warnings": list(fab0.warnings),  # wiring compromises, e.g. core links clamped to the radix
        "oversubscription_measured": float(leaf_dn.sum() / leaf_up.sum()) if leaf_up.sum() > 0 else None,
        "rails": int(so.rails),
    }


def _traffic_kpis(
    traffic: str | pd.DataFrame,
    fab: Fabric,
    flows: _Flows,
    routing: Routing,
    rates: _Rates,
    util: np.ndarray,
    res_links: pd.DataFrame,
    hottest: int,
) -> dict[str, Any]:
    """Demand and throughput (Tb/s), link utilisation, slowdown, stranded traffic and the hottest links."""
    cap = fab.cap_gbps * fab.usable
    live = cap > 0
    sw_links = live & (fab.node_tier[fab.lo] >= 1)
    order = np.argsort(-util)[:hottest]
    demand, rate, ok, slowdown = flows.demand, rates.rate, rates.routed, rates.slowdown
    rate_ok = rate[ok]
    return {
        "traffic": traffic if isinstance(traffic, str) else "table",
        "flows": int(len(flows.src)),
        "intra_rack_tbps": flows.intra_rack_gbps / 1e3,
        "demand_tbps": float(demand.sum() / 1e3),
        "throughput_tbps": float(rate.sum() / 1e3),
        "ideal_throughput_tbps": float(rates.ideal.sum() / 1e3),
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
        "maxmin_iterations": int(rates.maxmin.iterations),
        "hottest_links": [
            {"link": f"{res_links['lo'].iat[i]}~{res_links['hi'].iat[i]}", "utilization": float(util[i])}
            for i in order
            if util[i] > 0
        ],
    }


def _power_kpis(model: FacilityModel, power: dict[str, dict]) -> dict[str, Any]:
    """Network power (MW) for the requested optics and both kinds, NICs and the NVLink domains."""
    pw, plug, cpo = power["requested"], power["pluggable"], power["cpo"]
    nvl = nvlink_domains(model)
    return {
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


def _diag(x: np.ndarray):
    import scipy.sparse as sp

    return sp.diags(x).tocsr()
