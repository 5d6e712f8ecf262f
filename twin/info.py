"""Counts and nameplate figures of a compiled model, overall and by hall (``twin info``).

A report over a model: this module imports ``twin.model``, never the other way round.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.model import FacilityModel
from twin.network.power import fabric_power


def transceivers(model: FacilityModel) -> dict[str, int]:
    """Optical port-ends of the scale-out and frontend fabrics, as cabled by the network model.

    Counted from the wired fabric (``twin.network.fabric_power``), so ``twin info`` and ``twin network`` agree:
    every used switch port (a pluggable module, or a co-packaged port on a CPO switch) plus the NIC-side modules.
    """
    p = fabric_power(model)
    backend = (model.switches["plane"] == "backend").to_numpy()
    used = np.asarray(p["switch_ports_used"], dtype=float)
    switch_side = int(round(used[backend].sum()))
    total = int(p["transceivers"])
    cpo = model.layout.network.optics == "cpo"
    return {
        "switch_side_ports": switch_side,
        "host_and_frontend_ends": total - switch_side,
        "pluggable_modules": total - (switch_side if cpo else 0),
        "cpo_ports": switch_side if cpo else 0,
        "total_optical_ends": total,
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
    """Counts (halls ... switches), nameplate / Max-Q / floor IT power in MW, optics, warnings, per-hall table."""
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
