"""AC (415/480 V + UPS + rack power shelves) versus 800 VDC (MV rectifier + busduct + rack DC/DC).

For the same racks, rows, busway lengths and MV feeders, the layout is re-built in the other architecture
(blocks re-sized to their rows' Max-P: AC blocks 2N transformers and N+1 UPS, DC blocks N+1 rectifiers; the
busways take the other system's catalog conductor) and both are solved at the same rack power.

End-to-end efficiency = IT power / power from the grid (cooling left out so both see the same load).

Conductor metal: busway runs (every feed a full run) and MV feeders, mass = conductors * A * L * density
(``conductors.conductor_mass_kg``), both as installed (catalog cross-sections) and sized to the Max-P current
at the catalog conductor's current density (A_sized = A * I_maxp / I_rated per run), which removes the
granularity of catalog sizes: for the same power the current per conductor is P / (sqrt(3) V pf) on
three-phase AC and P / V on two-wire DC, so the metal scales as 3 I_ac vs 2 I_dc conductors x current.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from twin.electrical.conductors import conductor_mass_kg
from twin.electrical.solve import SQRT3, prepare, solve_electrical
from twin.errors import InputError, LayoutError
from twin.layout import Layout
from twin.model import compile_layout


def _pick(cat, section: str, want, what: str) -> str:
    names = [n for n in cat.names(section) if want(cat.get(section, n))]
    if not names:
        raise InputError(f"the catalog has no {what} for the comparison")
    return names[0]


def _variant(model, arch: str, hall: str | None, ac_voltage_v: int) -> object:
    """The model's layout re-built in architecture ``arch`` (see module doc); compiled with the same catalog."""
    cat = model.catalog
    data = model.layout.model_dump(mode="python")
    if hall is not None:
        halls = [h for h in data["halls"] if h["name"] == hall]
        if not halls:
            raise InputError(f"unknown hall '{hall}' (known: {', '.join(h['name'] for h in data['halls'])})")
        halls[0]["repeat"] = 1
        data["halls"] = halls
    el = data["electrical"]
    el["architecture"] = arch
    if arch == "ac":
        el["ac_voltage_v"] = ac_voltage_v
        src = _pick(
            cat,
            "transformers",
            lambda t: abs(t.lv_kv * 1e3 - ac_voltage_v) < 1,
            f"{ac_voltage_v} V transformer",
        )
        ups = _pick(cat, "ups", lambda u: True, "UPS")
        cond = _pick(
            cat, "conductors", lambda c: c.system == "ac" and c.material == "copper", "AC copper busway"
        )
        unit_w = cat.get("transformers", src).rating_kva * 1e3
        ups_w = cat.get("ups", ups).rating_kw * 1e3
    else:
        src = _pick(cat, "rectifiers", lambda r: r.kind == "rectifier", "MV rectifier")
        cond = _pick(
            cat, "conductors", lambda c: c.system == "dc" and c.material == "copper", "DC copper busduct"
        )
        unit_w = cat.get("rectifiers", src).rating_kw * 1e3
    for h in data["halls"]:
        for pod in h["pods"]:
            maxp_bw: dict[str, float] = {}
            for row in pod["rows"]:
                rt = cat.rack(row["rack_type"])
                maxp_bw[row["busway"]] = maxp_bw.get(row["busway"], 0.0) + (
                    row["racks"] * row.get("repeat", 1) * rt.power_maxp_kw * 1e3
                )
            for blk in pod["power_blocks"]:
                p = sum(maxp_bw.get(bw["name"], 0.0) for bw in blk["busways"])
                n = max(1, math.ceil(p / unit_w - 1e-9))
                blk["source"] = src
                for bw in blk["busways"]:
                    bw["conductor"] = cond
                if arch == "ac":
                    blk["units"], blk["redundancy"] = 2 * n, "2N"
                    blk["ups"], blk["ups_units"], blk["ups_redundancy"] = (
                        ups,
                        math.ceil(p / ups_w - 1e-9) + 1,
                        "N+1",
                    )
                else:
                    blk["units"], blk["redundancy"] = n + 1, "N+1"
                    blk["ups"], blk["ups_units"] = None, 0
    try:
        return compile_layout(Layout.model_validate(data), cat)
    except LayoutError as exc:
        msg = "; ".join(dict.fromkeys(p.message for p in exc.errors))  # unique, in order
        raise InputError(f"cannot build the {arch} variant of this layout: {msg}") from None


def _metal(model, res) -> dict:
    """Busway copper (installed and sized to Max-P current) and MV feeder metal, kg."""
    net = prepare(model)
    e = np.flatnonzero(net.is_bw)
    feeds = model.elec["feeds"].to_numpy()[e]
    maxp_bw = np.bincount(net.r_bw, weights=net.r_maxp, minlength=net.n_e)[e]
    is_dc = net.c_loop[e] == 2.0
    if net.arch == "ac":
        shelf_pf = np.array([g[5] for g in net.rt_groups])[net.r_type]
        pf = np.bincount(net.r_bw, weights=shelf_pf * net.r_maxp, minlength=net.n_e)[e] / np.maximum(
            maxp_bw, 1e-9
        )
    else:
        pf = np.ones(len(e))
    v = net.voltage_v[e]
    i_maxp = np.where(is_dc, maxp_bw / v, maxp_bw / (SQRT3 * v * pf))
    installed = conductor_mass_kg(net.length_m[e], net.c_area[e], net.c_ncond[e], net.c_density[e], feeds)
    sized_area = net.c_area[e] * i_maxp / net.c_amp[e]
    sized = conductor_mass_kg(net.length_m[e], sized_area, net.c_ncond[e], net.c_density[e], feeds)
    b = np.flatnonzero(net.is_blk)
    feeder = conductor_mass_kg(net.length_m[b], net.c_area[b], net.c_ncond[b], net.c_density[b])
    cu = net.c_material[e] == "copper"
    return {
        "busway_copper_installed_kg": float(installed[cu].sum()),
        "busway_copper_sized_kg": float(sized[cu].sum()),
        "busway_current_maxp_ka": float(i_maxp.sum() / 1e3),
        "mv_feeder_metal_kg": float(feeder.sum()),
    }


def compare_ac_dc(
    model,
    *,
    it_load: float = 1.0,
    hall: str | None = None,
    ac_voltage_v: int = 415,
    conductor_temp_c: float | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Solve the layout as AC and as 800 VDC; returns (table metric x [ac, dc800, change_pct], summary)."""
    if ac_voltage_v not in (415, 480):
        raise InputError("ac_voltage_v must be 415 or 480")
    out = {}
    for arch in ("ac", "dc800"):
        m = _variant(model, arch, hall, ac_voltage_v)
        r = solve_electrical(m, it_load=it_load, conductor_temp_c=conductor_temp_c)
        k = r.kpis
        row = {
            "it_power_mw": k["it_power_mw"],
            "grid_power_mw": k["grid_power_mw"],
            "loss_mw": k["loss_mw"],
            "efficiency_it_pct": k["efficiency_it_pct"],
        }
        row.update({f"loss_{s}_mw": v for s, v in k["losses_mw_by_stage"].items()})
        row.update(_metal(m, r))
        row["busway_copper_sized_kg_per_mw"] = row["busway_copper_sized_kg"] / max(k["it_power_mw"], 1e-12)
        row["converged"] = float(k["converged"])
        out[arch] = row
    t = pd.DataFrame(out)
    t["change_pct"] = (t["dc800"] - t["ac"]) / t["ac"].where(t["ac"] != 0) * 100.0
    a, d = out["ac"], out["dc800"]
    summary = {
        "hall": hall or "all",
        "it_load": it_load,
        "efficiency_gain_points": d["efficiency_it_pct"] - a["efficiency_it_pct"],
        "grid_power_saving_pct": (a["grid_power_mw"] - d["grid_power_mw"]) / a["grid_power_mw"] * 100.0,
        "busway_copper_change_pct": (d["busway_copper_sized_kg"] - a["busway_copper_sized_kg"])
        / a["busway_copper_sized_kg"]
        * 100.0,
        "nvidia_claim": "up to +5 % end-to-end efficiency, -45 % copper (NVIDIA 800 VDC white paper, Oct 2025)",
        "drivers": _drivers(out),
    }
    return t, summary


def _drivers(out: dict) -> list[str]:
    a, d = out["ac"], out["dc800"]
    stages = [k for k in a if k.startswith("loss_") and k.endswith("_mw") and k != "loss_mw"]
    diffs = sorted(((a[k] - d[k], k[5:-3]) for k in stages), reverse=True)
    txt = [
        f"{name}: {'saves' if dv > 0 else 'costs'} {abs(dv):.3f} MW with 800 VDC"
        for dv, name in diffs
        if abs(dv) > 1e-6
    ]
    ia, idc = a["busway_current_maxp_ka"], d["busway_current_maxp_ka"]
    txt.append(
        f"busway current at Max-P: {ia:.1f} kA (AC, per phase) vs {idc:.1f} kA (DC): "
        f"3 phase conductors vs 2 poles, so metal ~ 3 x {ia:.1f} vs 2 x {idc:.1f} kA at the catalog current "
        "densities"
    )
    return txt
