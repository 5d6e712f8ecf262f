"""Counts and nameplate figures of a compiled model, overall and by hall (``twin info``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.model import FacilityModel


def transceivers(model: FacilityModel) -> dict[str, int]:
    """Optical port-ends of the scale-out and frontend fabrics.

    Every used switch port is an optical port-end (a pluggable module, or a co-packaged port on a CPO switch);
    NIC-side ends are pluggable modules. Leaf downlinks in use = host ports; uplinks = all leaf uplinks.
    """
    sw = model.switches
    net = model.layout.network
    t = model.racks["rack_type"].to_numpy()
    rt = model.rack_types
    port_gbps = model.catalog.get("switches", net.scale_out.switch).port_gbps
    host_ports = int(np.ceil((rt["nic_ports"].to_numpy() * rt["nic_gbps"].to_numpy() / port_gbps)[t].sum()))
    back = sw[sw["plane"] == "backend"]
    leaf = back[back["tier"] == "leaf"]
    inter = int(leaf["ports_up"].sum())  # leaf<->spine links
    if (back["tier"] == "core").any():
        inter += int(back.loc[back["tier"] == "spine", "ports_up"].sum())  # spine<->core links
    switch_side = host_ports + 2 * inter
    front = sw[sw["plane"] == "frontend"]
    fe_hosts = int(np.ceil(model.n_gpus * net.frontend.gbps_per_gpu / 800.0)) if len(front) else 0
    fe_ends = 2 * fe_hosts + 2 * int(front["ports_up"].sum())
    cpo = net.optics == "cpo"
    return {
        "host_ports": host_ports,
        "switch_side_ports": switch_side,
        "nic_side_modules": host_ports,
        "pluggable_modules": host_ports + (0 if cpo else switch_side) + fe_ends,
        "cpo_ports": switch_side if cpo else 0,
        "total_optical_ends": host_ports + switch_side + fe_ends,
    }


def _by_hall(model: FacilityModel) -> pd.DataFrame:
    r = model.racks
    h = model.halls
    n = len(h)
    hall = r["hall"].to_numpy()
    el = model.elec
    conv = el[el["kind"] == "block"]
    sw = model.switches
    return pd.DataFrame(
        {
            "hall": h["name"],
            "racks": np.bincount(hall, minlength=n),
            "gpus": np.bincount(hall, weights=r["gpus"].to_numpy(), minlength=n).astype(np.int64),
            "nameplate_it_mw": np.bincount(hall, weights=r["power_maxp_w"].to_numpy(), minlength=n) / 1e6,
            "maxq_it_mw": np.bincount(hall, weights=r["power_maxq_w"].to_numpy(), minlength=n) / 1e6,
            "cdus": np.bincount(model.cdus["hall"].to_numpy(), minlength=n),
            "heat_rejection_units": np.bincount(
                model.heat_rejection["hall"].to_numpy().astype(np.int64), minlength=n
            ),
            "transformers_rectifiers": np.bincount(
                conv["hall"].to_numpy(), weights=conv["units"].to_numpy(), minlength=n
            ).astype(np.int64),
            "switches": np.bincount(sw.loc[sw["hall"] >= 0, "hall"].to_numpy().astype(np.int64), minlength=n),
        }
    )


def summarize(model: FacilityModel) -> dict:
    r = model.racks
    el = model.elec
    lay = model.layout
    sw = model.switches
    blocks = el[el["kind"] == "block"]
    tx = transceivers(model)
    by_hall = _by_hall(model)
    rack_counts = r.groupby("rack_type").size()
    return {
        "name": model.name,
        "source": model.source,
        "architecture": lay.electrical.architecture,
        "grid_limit_mw": lay.site.grid_limit_mw,
        "halls": len(model.halls),
        "pods": len(model.pods),
        "rows": len(model.rows),
        "racks": model.n_racks,
        "gpus": model.n_gpus,
        "racks_by_type": {model.rack_types["name"][int(k)]: int(v) for k, v in rack_counts.items()},
        "nameplate_it_mw": float(r["power_maxp_w"].sum() / 1e6),
        "maxq_it_mw": float(r["power_maxq_w"].sum() / 1e6),
        "floor_it_mw": float(r["power_floor_w"].sum() / 1e6),
        "cooling_loops": len(model.loops),
        "cdus": len(model.cdus),
        "heat_rejection_units": len(model.heat_rejection),
        "dry_coolers": int((model.heat_rejection["kind"] == "dry_cooler").sum()),
        "chillers": int((model.heat_rejection["kind"] == "chiller").sum()),
        "air_units": len(model.air_units),
        "substation_transformers": int(el.loc[el["kind"] == "substation", "units"].sum()),
        "transformers_rectifiers": int(blocks["units"].sum()),
        "ups_modules": int(el.loc[el["kind"] == "ups", "units"].sum()),
        "busways": int((el["kind"] == "busway").sum()),
        "switches": len(sw),
        "switches_by_tier": {
            f"{p}/{t}": int(v) for (p, t), v in sw.groupby(["plane", "tier"]).size().items()
        },
        "optics": lay.network.optics,
        "transceivers": tx["total_optical_ends"],
        "optics_detail": tx,
        "warnings": [p.format() for p in model.warnings if p.severity == "warning"],
        "notes": [p.format() for p in model.warnings if p.severity == "note"],
        "by_hall": by_hall.to_dict(orient="records"),
    }
