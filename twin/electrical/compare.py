"""AC (415/480 V + UPS + rack power shelves) versus 800 VDC (MV rectifier + busduct + rack DC/DC).

For the same racks, rows, busway lengths and MV feeders, the layout is re-built in the other architecture
and both are solved at the same rack power. Blocks are re-sized on the power their units really carry at the
rows' Max-P, walking the conversion chain up from the racks (``_block_sizing``):

- rack input P_r = Max-P / eta_shelf (AC power shelves) or / eta_dcdc (DC/DC), from the catalog curves at the
  rack's Max-P load fraction; AC shelves draw S_r = P_r / pf_shelf;
- AC: UPS output S_ups = sum S_r -> N = ceil(S_ups / rating) (+1: N+1); UPS input P = P_ups / eta_ups at its
  load fraction, S_in = P / pf_ups -> transformers: the least N with S_in / (1 - dV) <= N S_n, dV the
  voltage regulation at that load (IEC 60076-1 Annex A), since the units carry the current S / V_lv (x2: 2N);
- 800 VDC: rectifier output P = sum P_r -> N = ceil(P / rating) (+1: N+1).

The busways take the other system's catalog conductor. End-to-end efficiency = IT power / power from the grid
(cooling left out so both see the same load).

Conductor metal: busway runs (every feed a full run) and MV feeders, mass = conductors * A * L * density
(``conductors.conductor_mass_kg``), both as installed (catalog cross-sections) and sized to the busway current
at Max-P at ONE current density J for both systems (A_sized = I_maxp / J, J = ampacity / cross-section of the
catalog AC copper busway, 1.6 A/mm2, CDA Publication 22), which removes the granularity of catalog sizes and
compares the systems at equal current density: for the same power the current per conductor is
P / (sqrt(3) V pf) on three-phase AC and P / V on two-wire DC, so the metal scales as 3 I_ac vs 2 I_dc.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from twin.electrical.conductors import conductor_mass_kg
from twin.electrical.losses import converter_input_w, curve_arrays
from twin.electrical.solve import SQRT3, prepare, solve_electrical
from twin.errors import InputError, LayoutError
from twin.layout import Layout
from twin.model import FacilityModel, compile_layout


def _pick(cat, section: str, want, what: str) -> str:
    names = [n for n in cat.names(section) if want(cat.get(section, n))]
    if not names:
        raise InputError(f"the catalog has no {what} for the comparison")
    return names[0]


def _rack_input(cat, rack_name: str, arch: str) -> tuple[float, float]:
    """(input power W, input power factor) of one rack at Max-P through its shelves (AC) or DC/DC (800 VDC)."""
    rack = cat.rack(rack_name)
    if arch not in rack.power_inputs:
        raise InputError(
            f"cannot build the {arch} variant of this layout: rack type '{rack_name}' has no {arch} input"
        )
    if arch == "ac":
        conv, modules = cat.get("power_shelves", rack.power_shelf), rack.power_shelves
    else:
        conv = cat.get("dcdc", rack.dcdc)
        modules = max(1, math.ceil(rack.power_maxp_kw / conv.rating_kw - 1e-9))  # as in solve.py
    cx, ce = curve_arrays(conv.efficiency_curve)
    p_in = float(converter_input_w(rack.power_maxp_kw * 1e3, conv.rating_kw * 1e3, cx, ce, modules))
    return p_in, conv.power_factor


def _block_sizing(cat, arch: str, p_w: float, s_va: float, src: str, ups: str | None) -> tuple[int, int]:
    """(N source units, N UPS units) for a block whose racks draw p_w (s_va apparent) at Max-P; see module doc."""
    if arch == "ac":
        u = cat.get("ups", ups)
        ups_w = u.rating_kw * 1e3
        n_ups = max(1, math.ceil(s_va / ups_w - 1e-9))
        cx, ce = curve_arrays(u.efficiency_curve)
        pf = u.power_factor
        s_in = float(converter_input_w(p_w, ups_w, cx, ce, n_ups)) / pf
        t = cat.get("transformers", src)
        sn = t.rating_kva * 1e3
        # the units carry the current S / V_lv: add the voltage regulation at load fraction k,
        # dV = k (u_r cos phi + u_x sin phi) (IEC 60076-1 Annex A, first-order term)
        u_r = t.load_loss_kw / t.rating_kva
        u_x = math.sqrt(max((t.impedance_percent / 100.0) ** 2 - u_r**2, 0.0))
        n = max(1, math.ceil(s_in / sn - 1e-9))
        while s_in / (1.0 - s_in / (n * sn) * (u_r * pf + u_x * math.sqrt(1.0 - pf * pf))) > n * sn:
            n += 1  # a step or two at most
        return n, n_ups
    return max(1, math.ceil(p_w / (cat.get("rectifiers", src).rating_kw * 1e3) - 1e-9)), 0


def _variant(model: FacilityModel, arch: str, hall: str | None, ac_voltage_v: int) -> FacilityModel:
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
    else:
        ups = None
        src = _pick(cat, "rectifiers", lambda r: r.kind == "rectifier", "MV rectifier")
        cond = _pick(
            cat, "conductors", lambda c: c.system == "dc" and c.material == "copper", "DC copper busduct"
        )
    for h in data["halls"]:
        for pod in h["pods"]:
            p_bw: dict[str, float] = {}  # rack input power at Max-P per busway, W
            s_bw: dict[str, float] = {}  # and its apparent power, VA
            for row in pod["rows"]:
                p_in, pf = _rack_input(cat, row["rack_type"], arch)
                n_r = row["racks"] * row.get("repeat", 1)
                p_bw[row["busway"]] = p_bw.get(row["busway"], 0.0) + n_r * p_in
                s_bw[row["busway"]] = s_bw.get(row["busway"], 0.0) + n_r * p_in / pf
            for blk in pod["power_blocks"]:
                p = sum(p_bw.get(bw["name"], 0.0) for bw in blk["busways"])
                s_va = sum(s_bw.get(bw["name"], 0.0) for bw in blk["busways"])
                n, n_ups = _block_sizing(cat, arch, p, s_va, src, ups)
                blk["source"] = src
                for bw in blk["busways"]:
                    bw["conductor"] = cond
                if arch == "ac":
                    blk["units"], blk["redundancy"] = 2 * n, "2N"
                    blk["ups"], blk["ups_units"], blk["ups_redundancy"] = ups, n_ups + 1, "N+1"
                else:
                    blk["units"], blk["redundancy"] = n + 1, "N+1"
                    blk["ups"], blk["ups_units"] = None, 0
    try:
        return compile_layout(Layout.model_validate(data), cat)
    except LayoutError as exc:
        msg = "; ".join(dict.fromkeys(p.message for p in exc.errors))  # unique, in order
        raise InputError(f"cannot build the {arch} variant of this layout: {msg}") from None


def design_current_density_a_mm2(cat) -> float:
    """J of the comparison: ampacity / cross-section of the catalog AC copper busway (A/mm2)."""
    c = cat.get(
        "conductors",
        _pick(cat, "conductors", lambda c: c.system == "ac" and c.material == "copper", "AC copper busway"),
    )
    return c.ampacity_a / c.cross_section_mm2


def _metal(model: FacilityModel, res, j_a_mm2: float) -> dict:
    """Busway copper (installed, and sized to the Max-P current at j_a_mm2) and MV feeder metal, kg."""
    net = prepare(model)
    e = net.bw_idx
    feeds = model.elec["feeds"].to_numpy()[e]
    # rack input power at Max-P (through shelves / DC/DC) and its reactive power, per busway
    p_r = np.zeros(net.n_r)
    q_r = np.zeros(net.n_r)
    for ti, cx, ce, rating, modules, pf in net.rt_groups:
        sel = net.r_type == ti
        p_r[sel] = converter_input_w(net.r_maxp[sel], rating, cx, ce, modules)
        q_r[sel] = p_r[sel] * math.tan(math.acos(pf))
    p_bw = np.bincount(net.r_bw, weights=p_r, minlength=net.n_e)[e]
    s_bw = np.hypot(p_bw, np.bincount(net.r_bw, weights=q_r, minlength=net.n_e)[e])
    is_dc = net.c_loop[e] == 2.0
    v = net.voltage_v[e]
    i_maxp = np.where(is_dc, p_bw / v, s_bw / (SQRT3 * v))
    installed = conductor_mass_kg(net.length_m[e], net.c_area[e], net.c_ncond[e], net.c_density[e], feeds)
    sized_area = i_maxp / j_a_mm2
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
    model: FacilityModel,
    *,
    it_load: float = 1.0,
    hall: str | None = None,
    ac_voltage_v: int = 415,
    conductor_temp_c: float | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Solve the layout as AC and as 800 VDC at the same rack power; see the module docstring.

    Parameters
    ----------
    model : FacilityModel
        Compiled facility (either architecture). Not modified: both variants are compiled anew.
    it_load : float, default 1.0
        Fraction of Max-P drawn by every rack.
    hall : str, optional
        Compare one hall template (one copy of it) instead of the whole site.
    ac_voltage_v : {415, 480}, default 415
        LV voltage of the AC variant, V.
    conductor_temp_c : float, optional
        Fixed conductor temperature, degC. Default None: from each conductor's loading.

    Returns
    -------
    table : DataFrame
        Rows: it_power_mw, facility_power_mw, electrical_loss_mw, efficiency_it_pct, loss_<stage>_mw for
        every stage, busway_copper_installed_kg, busway_copper_sized_kg, busway_current_maxp_ka,
        mv_feeder_metal_kg, busway_copper_sized_kg_per_mw, converged (1.0 / 0.0). Columns: ac, dc800,
        change_pct (dc800 against ac, %).
    summary : dict
        hall, it_load, efficiency_gain_points, grid_power_saving_pct, busway_copper_change_pct,
        copper_sizing, nvidia_claim, drivers (sentences, largest saving first).

    Raises
    ------
    InputError
        For an unknown hall, a rack type without an input of the other system, or a catalog without the
        equipment the variant needs.
    """
    if ac_voltage_v not in (415, 480):
        raise InputError("ac_voltage_v must be 415 or 480")
    out = {}
    j = design_current_density_a_mm2(model.catalog)
    for arch in ("ac", "dc800"):
        m = _variant(model, arch, hall, ac_voltage_v)
        r = solve_electrical(m, it_load=it_load, conductor_temp_c=conductor_temp_c)
        k = r.kpis
        row = {
            "it_power_mw": k["it_power_mw"],
            "facility_power_mw": k["facility_power_mw"],
            "electrical_loss_mw": k["electrical_loss_mw"],
            "efficiency_it_pct": k["efficiency_it_pct"],
        }
        row.update({f"loss_{s}_mw": v for s, v in k["losses_mw_by_stage"].items()})
        row.update(_metal(m, r, j))
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
        "grid_power_saving_pct": (a["facility_power_mw"] - d["facility_power_mw"])
        / a["facility_power_mw"]
        * 100.0,
        "busway_copper_change_pct": (d["busway_copper_sized_kg"] - a["busway_copper_sized_kg"])
        / a["busway_copper_sized_kg"]
        * 100.0,
        "copper_sizing": f"both systems sized at {j:.2f} A/mm2 (catalog AC copper busway ampacity / section)",
        "nvidia_claim": "up to +5 % end-to-end efficiency, -45 % copper (NVIDIA 800 VDC white paper, Oct 2025)",
        "drivers": _drivers(out),
    }
    return t, summary


def _drivers(out: dict) -> list[str]:
    a, d = out["ac"], out["dc800"]
    stages = [k for k in a if k.startswith("loss_") and k.endswith("_mw")]
    diffs = sorted(((a[k] - d[k], k[5:-3]) for k in stages), reverse=True)
    txt = [
        f"{name}: {'saves' if dv > 0 else 'costs'} {abs(dv):.3f} MW with 800 VDC"
        for dv, name in diffs
        if abs(dv) > 1e-6
    ]
    ia, idc = a["busway_current_maxp_ka"], d["busway_current_maxp_ka"]
    txt.append(
        f"busway current at Max-P: {ia:.1f} kA (AC, per phase) vs {idc:.1f} kA (DC): "
        f"3 phase conductors vs 2 poles, so metal ~ 3 x {ia:.1f} vs 2 x {idc:.1f} kA at equal current density"
    )
    return txt
