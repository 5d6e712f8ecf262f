"""Independent reference: the same AC network built in pandapower (test / benchmark only).

Buses, transformers (pandapower ``trafo`` from the catalog short-circuit and no-load data), MV feeder cables,
busway segments (``line`` with ``parallel`` = feeds) and rack loads (the input power of the rack power shelves
that our solver computed) are taken from the compiled model; only the power flow is pandapower's.
"""

from __future__ import annotations

import math

import numpy as np
import pandapower as pp

from twin.electrical.conductors import loop_factor, resistance_ohm
from twin.electrical.solve import prepare


def build_pandapower(model, res, conductor_temp_c: float, mech_power_w_by_hall=None):
    """pandapower network equal to our model of an AC layout without UPS (every load on one AC network)."""
    net = prepare(model)
    cat = model.catalog
    e = model.elec
    if net.is_ups.any() or net.arch != "ac":
        raise ValueError("the pandapower reference covers AC layouts without UPS")
    pn = pp.create_empty_network(sn_mva=1.0)
    kind = e["kind"].to_numpy()
    parent = e["parent"].to_numpy()
    volt = e["voltage_v"].to_numpy()
    units = e["units"].to_numpy()
    out_bus = {}
    b_grid = pp.create_bus(pn, vn_kv=net.utility_v / 1e3, name="grid")
    pp.create_ext_grid(pn, b_grid, vm_pu=1.0)
    b_mv = pp.create_bus(pn, vn_kv=net.mv_v / 1e3, name="mv")
    out_bus[0], out_bus[1] = b_grid, b_mv

    def trafo(i, hv, lv):
        t = cat.get("transformers", e["equipment"][i])
        sn = t.rating_kva / 1e3
        pfe = t.no_load_loss_kw
        pp.create_transformer_from_parameters(
            pn,
            hv,
            lv,
            sn_mva=sn,
            vn_hv_kv=pn.bus.vn_kv[hv],
            vn_lv_kv=pn.bus.vn_kv[lv],
            vkr_percent=t.load_loss_kw / t.rating_kva * 100.0,
            vk_percent=t.impedance_percent,
            pfe_kw=pfe,
            i0_percent=pfe / t.rating_kva * 100.0,  # magnetising branch purely resistive, as in our model
            parallel=int(units[i]),
            name=e["name"][i],
        )

    def r_x_per_km(i):
        c = cat.get("conductors", e["conductor"][i])
        m = cat.get("materials", c.material)
        # AC conductors carry the catalog R_ac / R_dc (skin + proximity effect)
        k_ac = c.ac_resistance_ratio if c.system == "ac" else 1.0
        r_km = (
            loop_factor(c.system)
            * k_ac
            * resistance_ohm(
                1000.0, c.cross_section_mm2, m.resistivity_20c_ohm_m, m.temp_coeff_per_k, conductor_temp_c
            )
        )
        return float(r_km), c.reactance_ohm_per_km, c.ampacity_a / 1e3

    def line(i, fb, tb, length_m, parallel=1):
        r_km, x_km, imax = r_x_per_km(i)
        pp.create_line_from_parameters(
            pn,
            fb,
            tb,
            length_km=length_m / 1e3,
            r_ohm_per_km=r_km,
            x_ohm_per_km=x_km,
            c_nf_per_km=0.0,
            max_i_ka=imax,
            parallel=int(parallel),
        )

    trafo(1, b_grid, b_mv)
    mech = mech_power_w_by_hall if mech_power_w_by_hall is not None else np.zeros(len(model.halls))
    for i in np.flatnonzero(kind == "mech_feed"):
        b = pp.create_bus(pn, vn_kv=volt[i] / 1e3, name=e["name"][i])
        trafo(i, b_mv, b)
        p_mw = mech[e["hall"][i]] / 1e6
        pf = cat.get("electrical_loads", "mechanical-vfd").power_factor
        pp.create_load(pn, b, p_mw=p_mw, q_mvar=p_mw * np.tan(np.arccos(pf)))
        out_bus[i] = b
    for i in np.flatnonzero(kind == "block"):
        b_feed = pp.create_bus(pn, vn_kv=net.mv_v / 1e3, name=e["name"][i] + "/mv")
        line(i, b_mv, b_feed, e["length_m"][i])
        b_lv = pp.create_bus(pn, vn_kv=volt[i] / 1e3, name=e["name"][i] + "/lv")
        trafo(i, b_feed, b_lv)
        out_bus[i] = b_lv
    rr = res.res_racks
    rack_bus = np.zeros(model.n_racks, dtype=np.int64)
    r_bw = model.racks["busway_node"].to_numpy()
    for i in np.flatnonzero(kind == "busway"):  # vectorised creation per busway (thousands of racks)
        racks = np.flatnonzero(r_bw == i)
        pitch = e["length_m"][i] / len(racks)
        buses = pp.create_buses(pn, len(racks), vn_kv=volt[i] / 1e3)
        frm = np.r_[out_bus[parent[i]], buses[:-1]]
        seg = np.full(len(racks), pitch)
        seg[0] *= 0.5
        r_km, x_km, imax = r_x_per_km(i)
        pp.create_lines_from_parameters(
            pn,
            frm,
            buses,
            length_km=seg / 1e3,
            r_ohm_per_km=r_km,
            x_ohm_per_km=x_km,
            c_nf_per_km=0.0,
            max_i_ka=imax,
            parallel=int(e["feeds"][i]),
        )
        pp.create_loads(
            pn,
            buses,
            p_mw=rr["input_power_w"].to_numpy()[racks] / 1e6,
            q_mvar=rr["input_reactive_power_var"].to_numpy()[racks] / 1e6,
        )
        rack_bus[racks] = buses
    return pn, out_bus, rack_bus


def no_ups(data: dict) -> dict:
    """Layout dict with the UPS removed from every power block (the whole facility on one AC network)."""
    for hall in data["halls"]:
        for pod in hall["pods"]:
            for blk in pod["power_blocks"]:
                for k in ("ups", "ups_units", "ups_redundancy"):
                    blk.pop(k, None)
    return data


def losses_mw(pn) -> float:
    return float(pn.res_line.pl_mw.sum() + pn.res_trafo.pl_mw.sum())


__all__ = ["build_pandapower", "losses_mw", "no_ups", "math"]
