"""Network power: switch systems, optics per used port, NICs and the NVLink scale-up domains.

Power of the fabric that sits outside the racks' own power budget (catalog rack ``other_power_kw`` already
covers NICs and NVLink switch trays):

    P_switch_i = P_system(equipment_i) + n_used_ports_i * p_optic(kind) * port_gbps / optic_gbps
    P_host_optics(pod) = (NIC-side port-ends of the pod's racks + far ends of frontend uplinks) * p_pluggable
    total = sum_i P_switch_i + sum_pod P_host_optics(pod)

Every backend link is optical with a module (or co-packaged port) at each end; port counts are in switch-port
units (a 1.6T NIC takes two 800G ports). Switch-side backend ports use the requested optics kind (pluggable
modules, or co-packaged optics on a photonics switch: NVIDIA quotes 3.5x better optics power efficiency,
GTC 2025, facts.md); NIC-side ends and the frontend (Ethernet, pluggable) stay pluggable. Switch system power,
optic power per port and NIC power are catalog data (``twin/catalog/data/network.yaml``) with sources.

Switches without a pod (leaf-spine spines per hall, cores) are shared over the pods of their hall in proportion
to rack count, so that ``power_w_by_pod`` sums to ``total_w`` and no single pod's block feeds a hall's fabric.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from twin.errors import InputError
from twin.network.sizing import leaf_ports
from twin.network.topology import Fabric, build_fabric, rack_host_ports

if TYPE_CHECKING:
    from twin.model import FacilityModel


def optic_for(model: FacilityModel, kind: str, gbps: float):
    """Catalog optic of the given kind: the layout's ``network.optic`` if it is of that kind, else the entry of
    that kind whose rate is closest to the switch port rate (ties by name)."""
    if kind not in ("pluggable", "cpo"):
        raise InputError(f"optics must be 'pluggable' or 'cpo', got {kind!r}")
    cat = model.catalog
    name = model.layout.network.optic
    if name and cat.has("optics", name) and cat.get("optics", name).kind == kind:
        return cat.get("optics", name)
    cands = [cat.get("optics", n) for n in cat.names("optics") if cat.get("optics", n).kind == kind]
    if not cands:
        raise InputError(f"the catalog has no optic of kind {kind!r}")
    return min(cands, key=lambda o: (abs(o.gbps - gbps), o.name))


def _switch_ports_used(model: FacilityModel, fab: Fabric) -> np.ndarray:
    """Used ports of every row of model.switches (backend from the fabric links, frontend from GPU demand)."""
    sw = model.switches
    used = np.zeros(len(sw))
    per_node = np.bincount(fab.lo, weights=fab.ports, minlength=fab.n_nodes) + np.bincount(
        fab.hi, weights=fab.ports, minlength=fab.n_nodes
    )
    s = fab.switch_row >= 0
    used[fab.switch_row[s]] = per_node[s]
    fe = np.flatnonzero((sw["plane"] == "frontend").to_numpy())
    if len(fe):
        net = model.layout.network.frontend
        cat = model.catalog.get("switches", net.switch)
        fdown, fup = leaf_ports(cat.ports, 1.0)
        n_pods = len(model.pods)
        gpus_pod = np.bincount(model.racks["pod"].to_numpy(), weights=model.racks["gpus"], minlength=n_pods)
        host_ports = gpus_pod * net.gbps_per_gpu / cat.port_gbps
        fe_pod = sw["pod"].to_numpy()[fe].astype(np.int64)
        n_fe = np.bincount(fe_pod, minlength=n_pods)
        down = host_ports[fe_pod] / n_fe[fe_pod]
        used[fe] = down * (1.0 + fup / fdown)  # uplinks in proportion to the used downlinks
    return used


def fabric_power(model: FacilityModel, optics: str | None = None, *, fabric: Fabric | None = None) -> dict:
    """Power of the scale-out switches and optics, per switch and per pod (formulas in the module docstring).

    Parameters
    ----------
    model : FacilityModel
        Compiled facility (switches, racks and the catalog's switch, optic and NIC data).
    optics : {"pluggable", "cpo"} or None, default None
        Kind of the switch-side backend optics; None: the layout's ``network.optics``. NIC-side and frontend
        optics are always pluggable.
    fabric : Fabric or None, default None
        The backend fabric of ``model`` if already built (its links give the used switch ports).

    Returns
    -------
    dict
        ``switch_power_w`` (n_switches,) W, system plus switch-side optics of each row of ``model.switches``;
        ``power_w_by_pod`` (n_pods,) W, sums to ``total_w``; ``total_w`` W, switches plus host-side optics;
        the breakdown ``switch_system_w``, ``switch_optics_w``, ``backend_switch_optics_w``,
        ``host_optics_w`` (W); ``transceivers`` (optical port-ends, count); ``switch_ports_used``
        (n_switches,); ``optics`` (kind), ``optic`` (catalog name), ``optic_w_per_port`` (W per switch port);
        ``nic_power_w`` (W) and ``nvlink_switch_trays`` (count), which are inside the racks' power and not
        in ``total_w``.

    Raises
    ------
    InputError
        Unknown optics kind, or no catalog optic of that kind.
    """
    kind = optics or model.layout.network.optics
    fab = fabric if fabric is not None else build_fabric(model)
    sw = model.switches
    backend = (sw["plane"] == "backend").to_numpy()
    used = _switch_ports_used(model, fab)
    opt_b = optic_for(model, kind, fab.port_gbps)
    opt_p = optic_for(model, "pluggable", fab.port_gbps)
    sys_w, sw_optics = _switch_system_and_optics_w(model, used, backend, opt_b, opt_p)
    switch_power = sys_w + sw_optics
    host_ports = rack_host_ports(model, fab.port_gbps)
    host_w_pod, fe_host = _host_optics_w_by_pod(model, fab, host_ports, backend, opt_p)
    by_pod = _switch_w_by_pod(model, switch_power) + host_w_pod
    rt = model.rack_types
    t = model.racks["rack_type"].to_numpy()
    nic_w = float((rt["nic_ports"].to_numpy() * rt["nic_power_w"].to_numpy())[t].sum())
    trays = int(rt["nvlink_switch_trays"].to_numpy()[t].sum())
    transceivers = float(used.sum() + host_ports.sum() + fe_host.sum())
    return {
        "switch_power_w": switch_power,
        "power_w_by_pod": by_pod,
        "total_w": float(switch_power.sum() + host_w_pod.sum()),
        "switch_system_w": float(sys_w.sum()),
        "switch_optics_w": float(sw_optics.sum()),
        "backend_switch_optics_w": float(sw_optics[backend].sum()),
        "host_optics_w": float(host_w_pod.sum()),
        "transceivers": int(round(transceivers)),
        "switch_ports_used": used,
        "optics": kind,
        "optic": opt_b.name,
        "optic_w_per_port": float(opt_b.power_w * fab.port_gbps / opt_b.gbps),
        "nic_power_w": nic_w,
        "nvlink_switch_trays": trays,
    }


def _switch_system_and_optics_w(model: FacilityModel, used: np.ndarray, backend: np.ndarray, opt_b, opt_p):
    """(system W, switch-side optics W) of every switch: backend ports use ``opt_b``, frontend ``opt_p``."""
    sw, cat = model.switches, model.catalog
    equip, e_idx = np.unique(sw["equipment"].to_numpy().astype(str), return_inverse=True)
    sys_w = np.array([cat.get("switches", e).power_w for e in equip], dtype=float)[e_idx]
    gbps = np.array([cat.get("switches", e).port_gbps for e in equip], dtype=float)[e_idx]
    w_port = np.where(backend, opt_b.power_w / opt_b.gbps, opt_p.power_w / opt_p.gbps) * gbps
    return sys_w, used * w_port


def _host_optics_w_by_pod(
    model: FacilityModel, fab: Fabric, host_ports: np.ndarray, backend: np.ndarray, opt_p
) -> tuple[np.ndarray, np.ndarray]:
    """(W by pod, frontend port-ends by pod) of the pluggable modules outside the switches, all in the pods.

    NIC-side ends of the backend host ports, and of the frontend host ports plus the far ends of the frontend
    leaves' uplinks (in the frontend aggregation, not modelled as switches).
    """
    n_pods = len(model.pods)
    pod = model.racks["pod"].to_numpy()
    fe_host = np.zeros(n_pods)
    if (~backend).any():
        cat = model.catalog
        fe = model.layout.network.frontend
        fe_gbps = cat.get("switches", fe.switch).port_gbps
        fe_host = np.bincount(pod, weights=model.racks["gpus"].to_numpy() * fe.gbps_per_gpu, minlength=n_pods)
        fe_cat = cat.get("switches", fe.switch)
        fdown, fup = leaf_ports(fe_cat.ports, 1.0)
        fe_host = fe_host / fe_gbps * (1.0 + fup / fdown)
        fe_w = opt_p.power_w * fe_gbps / opt_p.gbps
    else:
        fe_w = 0.0
    host_w_pod = (
        np.bincount(pod, weights=host_ports, minlength=n_pods) * opt_p.power_w * fab.port_gbps / opt_p.gbps
        + fe_host * fe_w
    )
    return host_w_pod, fe_host


def _switch_w_by_pod(model: FacilityModel, switch_power: np.ndarray) -> np.ndarray:
    """Switch power by pod (W): a pod's own switches, plus its rack share of its hall's pod-less switches.

    Pod-less switches (spines of a leaf-spine hall, cores) are fed from the whole hall: their power is shared
    over the hall's pods in proportion to rack count, so no single pod's block carries a hall's fabric.
    """
    sw = model.switches
    n_pods = len(model.pods)
    pod = model.racks["pod"].to_numpy()
    s_pod = sw["pod"].to_numpy().astype(np.int64)
    pod_hall = model.pods["hall"].to_numpy()
    n_halls = len(model.halls)
    racks_pod = np.bincount(pod, minlength=n_pods).astype(float)
    racks_hall = np.bincount(pod_hall, weights=racks_pod, minlength=n_halls)
    in_pod = s_pod >= 0
    hall_w = np.bincount(
        sw["hall"].to_numpy()[~in_pod].astype(np.int64), weights=switch_power[~in_pod], minlength=n_halls
    )
    share = np.divide(racks_pod, racks_hall[pod_hall], out=np.zeros(n_pods), where=racks_hall[pod_hall] > 0)
    return (
        np.bincount(s_pod[in_pod], weights=switch_power[in_pod], minlength=n_pods) + hall_w[pod_hall] * share
    )
