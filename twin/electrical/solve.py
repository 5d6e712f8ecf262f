"""``solve_electrical``: from every rack's power (and the cooling plant's) to the power drawn from the grid.

The compiled distribution tree (``model.elec``: grid -> substation -> mech feeds / power blocks -> UPS ->
busways; racks on busways) becomes three kinds of network, solved in dependency order:

1. Converter-fed LV networks, whose source voltage is regulated by a converter (UPS output at 1 pu on AC,
   rectifier / SST output at its DC voltage on 800 VDC): one busway is a ladder of segments with one rack
   per tap (racks equally spaced, the first half a pitch from the feed end). AC ladders below a UPS are
   solved by the radial sweep, DC ladders by sparse nodal analysis (``powerflow``).
2. Converters: output power from step 1 -> input power through the catalog efficiency curve at the
   units' load fraction (``losses.converter_input_w``), with the catalog input power factor.
3. The AC network from the grid (slack, 1 pu at utility voltage) through the substation transformers, the MV
   bus, MV feeder cables, block transformers (AC) and mechanical-feed transformers, down to converter inputs,
   mechanical loads and - for AC blocks without UPS - the busways and racks themselves (radial sweep).

Rack loads are the 54 VDC IT power (``rack_power_w``) seen through the rack power shelves (AC) or DC/DC
converters (800 VDC). Transformers: series impedance from Pk and u_k and a magnetising conductance from P0
(``losses``); conductors: R(T) with the temperature following the loading (``conductors``) unless
``conductor_temp_c`` fixes it. Parallel units share load equally; a failed unit is taken out of service.
Per-unit system: S_base = 1 MVA, each bus on its nominal voltage (transformers at nominal ratio).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.electrical.conductors import loop_factor, operating_temp_c, resistance_ohm
from twin.electrical.losses import converter_input_w, curve_arrays, transformer_z_pu
from twin.electrical.powerflow import ac_radial_sweep, dc_nodal, subtree_matrix
from twin.electrical.results import STAGES, ElectricalResult
from twin.errors import InputError

S_BASE_VA = 1e6
SQRT3 = math.sqrt(3.0)
_CACHE_ATTR = "_twin_electrical_net"
MECH_LOAD = "mechanical-vfd"  # catalog electrical_loads entry of the mechanical plant


# --------------------------------------------------------------------------------------------------------
# static network (topology and catalog data), built once per model


@dataclass
class _Ladder:
    """Racks of a set of busways as ladders hanging on given source buses."""

    racks: np.ndarray  # rack indices in ladder order
    bus: np.ndarray  # bus index of each rack in its network
    parent_bus: np.ndarray  # previous rack's bus or the source bus
    busway: np.ndarray  # elec node of each rack's busway
    seg_len_m: np.ndarray  # conductor length from the previous tap


class _Net:
    def __init__(self, model):
        cat = model.catalog
        e = model.elec
        self.model = model
        self.arch = model.layout.electrical.architecture
        self.v_limits = tuple(model.layout.electrical.voltage_limits_pu)
        self.n_e = n_e = len(e)
        self.names = e["name"].to_numpy(dtype=object)
        self.kind = e["kind"].to_numpy(dtype=object)
        self.parent = e["parent"].to_numpy().astype(np.int64)
        self.hall = e["hall"].to_numpy().astype(np.int64)
        self.pod = e["pod"].to_numpy().astype(np.int64)
        self.units = e["units"].to_numpy().astype(np.int64)
        self.spare = e["spare_units"].to_numpy().astype(np.int64)
        self.rating_w = e["rating_w"].to_numpy().astype(float)
        self.voltage_v = e["voltage_v"].to_numpy().astype(float)
        self.length_m = e["length_m"].to_numpy().astype(float)
        self.equipment = e["equipment"].to_numpy(dtype=object)
        cond = e["conductor"].to_numpy(dtype=object)
        self.name_index = {n: i for i, n in enumerate(self.names)}
        k = self.kind
        self.is_bw = k == "busway"
        self.is_blk = k == "block"
        self.is_ups = k == "ups"
        self.is_mech = k == "mech_feed"
        mv_v = model.layout.electrical.mv_kv * 1e3
        self.mv_v = mv_v
        self.utility_v = model.layout.electrical.utility_kv * 1e3
        self.grid_limit_w = float(self.rating_w[0])

        # conductor data per elec node (feeder cable of a block, conductor of a busway)
        self.c_area = np.ones(n_e)
        self.c_rho20 = np.zeros(n_e)
        self.c_alpha = np.zeros(n_e)
        self.c_amp = np.full(n_e, np.inf)
        self.c_x_ohm_m = np.zeros(n_e)
        self.c_tmax = np.zeros(n_e)
        self.c_tamb = np.zeros(n_e)
        self.c_loop = np.ones(n_e)
        self.c_acr = np.ones(n_e)  # R_ac / R_dc (skin + proximity effect), 1 on DC
        self.c_ncond = np.zeros(n_e)
        self.c_density = np.zeros(n_e)
        self.c_material = np.full(n_e, "", dtype=object)
        for i in np.flatnonzero(cond != ""):  # one per block / busway (hundreds), not per rack
            c = cat.get("conductors", cond[i])
            mat = cat.get("materials", c.material)
            self.c_area[i] = c.cross_section_mm2
            self.c_rho20[i] = mat.resistivity_20c_ohm_m
            self.c_alpha[i] = mat.temp_coeff_per_k
            self.c_amp[i] = c.ampacity_a
            self.c_x_ohm_m[i] = c.reactance_ohm_per_km / 1000.0
            self.c_tmax[i] = c.max_temp_c
            self.c_tamb[i] = c.ambient_c
            self.c_loop[i] = loop_factor(c.system)
            self.c_acr[i] = c.ac_resistance_ratio if c.system == "ac" else 1.0
            self.c_ncond[i] = c.conductors
            self.c_density[i] = mat.density_kg_m3
            self.c_material[i] = c.material

        # transformers (substation, mech feeds, AC blocks): unit impedance on S_base, P0, Pk, rating
        self.t_z1 = np.zeros(n_e, dtype=complex)
        self.t_p0 = np.zeros(n_e)
        self.t_sn = np.ones(n_e)
        is_tr = (k == "substation") | self.is_mech | (self.is_blk & (self.arch == "ac"))
        self.is_tr = is_tr
        for eq in set(self.equipment[is_tr]):
            t = cat.get("transformers", eq)
            sel = is_tr & (self.equipment == eq)
            sn = t.rating_kva * 1e3
            self.t_z1[sel] = transformer_z_pu(sn, t.load_loss_kw * 1e3, t.impedance_percent, S_BASE_VA)
            self.t_p0[sel] = t.no_load_loss_kw * 1e3
            self.t_sn[sel] = sn

        # converters at node level (UPS; rectifiers / SSTs of 800 VDC blocks)
        self.is_conv = self.is_ups | (self.is_blk & (self.arch == "dc800"))
        self.conv_groups = []  # (mask, curve_x, curve_eta, pf)
        self.conv_pf = np.ones(n_e)
        self.dc_v = np.zeros(n_e)
        for eq in set(self.equipment[self.is_conv]):
            sel = self.is_conv & (self.equipment == eq)
            entry = cat.get("ups", eq) if cat.has("ups", eq) and self.is_ups[sel].all() else None
            if entry is None:
                entry = cat.get("rectifiers", eq)
                self.dc_v[sel] = entry.dc_voltage_v
            cx, ce = curve_arrays(entry.efficiency_curve)
            self.conv_groups.append((sel, cx, ce))
            self.conv_pf[sel] = entry.power_factor

        # depth order of elec nodes (to propagate 'alive' and subtree membership)
        self.e_depth = np.zeros(n_e, dtype=np.int64)
        cur = self.parent.copy()
        while (cur >= 0).any():
            self.e_depth += cur >= 0
            cur = np.where(cur >= 0, self.parent[np.maximum(cur, 0)], -1)

        # racks: type data and ladder order on their busway
        r = model.racks
        self.n_r = n_r = len(r)
        self.r_bw = r["busway_node"].to_numpy().astype(np.int64)
        self.r_pod = r["pod"].to_numpy().astype(np.int64)
        self.r_hall = r["hall"].to_numpy().astype(np.int64)
        self.r_maxp = r["power_maxp_w"].to_numpy().astype(float)
        rt = model.rack_types
        r_type = r["rack_type"].to_numpy().astype(np.int64)
        self.r_type = r_type
        self.rt_groups = []  # per rack type: (type index, curve_x, curve_eta, module rating W, modules, pf)
        for ti, name in enumerate(rt["name"]):
            rack = cat.rack(name)
            if self.arch == "ac":
                if "ac" not in rack.power_inputs:
                    raise InputError(f"rack type '{name}' has no AC input but the site is AC")
                conv = cat.get("power_shelves", rack.power_shelf)
                modules = rack.power_shelves
            else:
                if "dc800" not in rack.power_inputs:
                    raise InputError(f"rack type '{name}' has no 800 VDC input but the site is 800 VDC")
                conv = cat.get("dcdc", rack.dcdc)
                # the catalog gives no DC/DC count: enough modules to carry the rack's Max-P
                modules = max(1, math.ceil(rack.power_maxp_kw / conv.rating_kw - 1e-9))
            cx, ce = curve_arrays(conv.efficiency_curve)
            self.rt_groups.append((ti, cx, ce, conv.rating_kw * 1e3, modules, conv.power_factor))
        self.r_cap_w = np.zeros(n_r)
        for ti, _cx, _ce, rating, modules, _pf in self.rt_groups:
            self.r_cap_w[r_type == ti] = rating * modules

        order = np.lexsort((np.arange(n_r), self.r_bw))
        bw_sorted = self.r_bw[order]
        first = np.r_[True, bw_sorted[1:] != bw_sorted[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(n_r), 0))
        pos = np.arange(n_r) - start
        n_on = np.bincount(self.r_bw, minlength=n_e)
        pitch = self.length_m[bw_sorted] / np.maximum(n_on[bw_sorted], 1)
        self.l_order = order
        self.l_pos = pos
        self.l_seg = np.where(pos == 0, 0.5, 1.0) * pitch
        self.l_first = first
        self.n_on_bw = n_on
        self.bw_src_kind = np.where(
            self.is_bw, np.where(self.is_ups[np.maximum(self.parent, 0)], "ups", self.arch), ""
        )
        # busways with their pod and hall: network power of a pod (hall) is spread over them
        self.bw_idx = np.flatnonzero(self.is_bw)
        self.bw_pod = self.pod[self.bw_idx]
        self.bw_hall = self.hall[self.bw_idx]
        self.n_pods = len(model.pods)
        # pumps, fans and chillers: one input power factor from the catalog (VFD-driven motors)
        self.mech_pf = cat.get("electrical_loads", MECH_LOAD).power_factor
        self.n_halls = len(model.halls)
        mech_idx = np.flatnonzero(self.is_mech)
        self.hall_mech = np.full(self.n_halls, -1, dtype=np.int64)
        self.hall_mech[self.hall[mech_idx]] = mech_idx

        self._build_ac_networks()
        self._build_dc_network()

    # ---- AC networks -------------------------------------------------------------------------------------
    def _ladder(self, racks_mask_sorted: np.ndarray, src_bus_of_bw: np.ndarray, bus0: int) -> _Ladder:
        """Ladder buses for the racks (in ladder order) selected by racks_mask_sorted."""
        sel = np.flatnonzero(racks_mask_sorted)
        racks = self.l_order[sel]
        bus = bus0 + np.arange(len(sel))
        first = self.l_first[sel]
        bw = self.r_bw[racks]
        parent_bus = np.where(first, src_bus_of_bw[bw], bus - 1)
        return _Ladder(racks, bus, parent_bus, bw, self.l_seg[sel])

    def _build_ac_networks(self):
        n_e = self.n_e
        bw_sorted = self.r_bw[self.l_order]
        # pass 1: LV networks below a UPS (roots = UPS output buses)
        ups = np.flatnonzero(self.is_ups)
        self.p1_ups = ups
        src = np.full(n_e, -1, dtype=np.int64)
        src[ups] = np.arange(len(ups))
        bw_src = np.full(n_e, -1, dtype=np.int64)
        bw_src[self.is_bw] = src[self.parent[self.is_bw]]
        in_p1 = self.bw_src_kind[bw_sorted] == "ups"
        self.p1 = self._ladder(in_p1, bw_src, len(ups))
        n1 = len(ups) + len(self.p1.racks)
        parent1 = np.full(n1, -1, dtype=np.int64)
        parent1[self.p1.bus] = self.p1.parent_bus
        self.p1_n = n1
        self.p1_base_v = np.r_[self.voltage_v[ups], self.voltage_v[self.p1.busway]]
        if n1:
            self.p1_m, self.p1_root, _ = subtree_matrix(parent1)

        # pass 2: grid -> substation -> MV bus -> mech / blocks (-> LV bus (AC)) (-> racks without UPS)
        buses_e = [0, 1]  # elec node owning the branch into the bus
        br = [0, 1]  # branch kind: 0 root, 1 transformer, 2 feeder cable, 3 busway segment
        par = [-1, 0]
        base = [self.utility_v, self.mv_v]
        mech = np.flatnonzero(self.is_mech)
        blk = np.flatnonzero(self.is_blk)
        self.p2_mech_bus = 2 + np.arange(len(mech))
        self.p2_blk_mv_bus = 2 + len(mech) + np.arange(len(blk))
        buses_e += list(mech) + list(blk)
        br += [1] * len(mech) + [2] * len(blk)
        par += [1] * (len(mech) + len(blk))
        base += list(self.voltage_v[mech]) + [self.mv_v] * len(blk)
        nb = len(buses_e)
        self.e_bus_out = np.full(n_e, -1, dtype=np.int64)  # bus at the output of each elec node
        self.e_bus_out[0], self.e_bus_out[1] = 0, 1
        self.e_bus_out[mech] = self.p2_mech_bus
        self.e_bus_out[blk] = self.p2_blk_mv_bus
        if self.arch == "ac":
            lv = nb + np.arange(len(blk))
            buses_e += list(blk)
            br += [1] * len(blk)
            par += list(self.p2_blk_mv_bus)
            base += list(self.voltage_v[blk])
            self.e_bus_out[blk] = lv
            self.p2_blk_lv_bus = lv
            nb += len(blk)
            bw_src = np.full(n_e, -1, dtype=np.int64)
            bw_src[self.is_bw] = self.e_bus_out[self.parent[self.is_bw]]
            in_p2 = self.bw_src_kind[bw_sorted] == "ac"
            self.p2 = self._ladder(in_p2, bw_src, nb)
            buses_e += list(self.p2.busway)
            br += [3] * len(self.p2.racks)
            par += list(self.p2.parent_bus)
            base += list(self.voltage_v[self.p2.busway])
        else:
            self.p2_blk_lv_bus = np.zeros(0, dtype=np.int64)
            self.p2 = self._ladder(np.zeros(self.n_r, bool), np.zeros(n_e, np.int64), nb)
        self.p2_e = np.asarray(buses_e, dtype=np.int64)
        self.p2_br = np.asarray(br, dtype=np.int64)
        self.p2_parent = np.asarray(par, dtype=np.int64)
        self.p2_base_v = np.asarray(base, dtype=float)
        self.p2_n = len(buses_e)
        self.p2_m, self.p2_root, _ = subtree_matrix(self.p2_parent)
        # shunt (magnetising) of each transformer branch sits on its HV (parent) bus
        self.p2_is_tr = self.p2_br == 1

    def _build_dc_network(self):
        bw_sorted = self.r_bw[self.l_order]
        in_dc = self.bw_src_kind[bw_sorted] == "dc800"
        sel = np.flatnonzero(in_dc)
        self.dc_racks = self.l_order[sel]
        n = len(sel)
        first = self.l_first[sel]
        self.dc_frm = np.where(first, -1, np.arange(n) - 1)
        self.dc_to = np.arange(n)
        self.dc_bw = self.r_bw[self.dc_racks]
        self.dc_blk = self.parent[self.dc_bw]
        self.dc_seg = self.l_seg[sel]
        self.dc_vsrc = self.dc_v[self.dc_blk]


def prepare(model) -> _Net:
    """Static network of a model (cached on the model object: topology and catalog data do not change)."""
    net = model.__dict__.get(_CACHE_ATTR)
    if net is None or net.model is not model:
        net = _Net(model)
        model.__dict__[_CACHE_ATTR] = net
    return net


# --------------------------------------------------------------------------------------------------------
# inputs


def _vector(x, n: int, what: str, default: np.ndarray) -> np.ndarray:
    if x is None:
        return default
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape != (n,):
        raise InputError(f"{what} must have {n} values (got shape {a.shape})")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{what} must be finite numbers")
    if np.any(a < 0):
        raise InputError(f"{what} must not be negative (min {a.min():g})")
    return a


def failed_counts(net: _Net, failed: Iterable[str]) -> np.ndarray:
    """Units out of service per elec node. Each name takes one unit (a busway name: one feed) out."""
    if isinstance(failed, str):
        failed = (failed,)
    cnt = np.zeros(net.n_e, dtype=np.int64)
    for name in failed:
        i = net.name_index.get(name)
        if i is None or i == 0:
            near = [n for n in net.names if name.split("/")[-1] in n][:5]
            hint = f" (e.g. {', '.join(near)})" if near else ""
            raise InputError(f"unknown electrical component '{name}' in failed{hint}")
        cnt[i] += 1
    over = cnt > net.units
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise InputError(f"'{net.names[i]}' has {net.units[i]} unit(s); {cnt[i]} failed")
    return cnt


def solve_electrical(
    model,
    *,
    rack_power_w=None,
    mech_power_w_by_hall=None,
    extra_it_power_w_by_pod=None,
    extra_it_power_w_by_hall=None,
    it_load: float = 1.0,
    failed: Iterable[str] = (),
    conductor_temp_c: float | None = None,
    tol: float = 1e-11,
    max_iter: int = 100,
) -> ElectricalResult:
    """Electrical power flow of the facility; see the module docstring for the model.

    rack_power_w: (n_racks,) IT power at 54 VDC, W; default it_load * power_maxp_w.
    mech_power_w_by_hall: (n_halls,) pumps, fans, chillers (thermal solver), W; default 0.
    extra_it_power_w_by_pod: (n_pods,) network switches etc., W; default 0. Spread over the pod's busways in
        proportion to their rack power (rack Max-P if the pod's racks draw nothing) and fed at the busways'
        source (UPS, rectifier or LV bus), so it loads the pod's converters the way its racks do.
    extra_it_power_w_by_hall: (n_halls,) hall-level network power (spine / core switches), W; default 0.
        Spread over all busways of the hall in the same way.
    failed: elec node names; each entry takes one unit (or one busway feed) out of service.
    conductor_temp_c: fixed conductor temperature, C; default None = from each conductor's loading.
    """
    net = prepare(model)
    if not (isinstance(it_load, (int, float)) and math.isfinite(it_load) and it_load >= 0):
        raise InputError(f"it_load must be a finite fraction >= 0 (got {it_load!r})")
    rack = _vector(rack_power_w, net.n_r, "rack_power_w", it_load * net.r_maxp)
    mech = _vector(mech_power_w_by_hall, net.n_halls, "mech_power_w_by_hall", np.zeros(net.n_halls))
    extra = _vector(extra_it_power_w_by_pod, net.n_pods, "extra_it_power_w_by_pod", np.zeros(net.n_pods))
    extra_hall = _vector(
        extra_it_power_w_by_hall, net.n_halls, "extra_it_power_w_by_hall", np.zeros(net.n_halls)
    )
    if conductor_temp_c is not None and not (-50.0 <= conductor_temp_c <= 250.0):
        raise InputError(f"conductor_temp_c must be between -50 and 250 C (got {conductor_temp_c})")
    fcnt = failed_counts(net, failed)
    return solve_arrays(net, rack, mech, extra, fcnt, conductor_temp_c, tol, max_iter, extra_hall=extra_hall)


# --------------------------------------------------------------------------------------------------------
# the solve


def _cond_r_ohm(net: _Net, e, length_m, temp_c):
    """Circuit resistance of conductor runs of elec nodes e (per phase on AC, loop on DC).

    R = loop * k_ac * rho(T) L / A with k_ac = R_ac / R_dc from the catalog (skin and proximity effect,
    IEC 60287-1-1 sec. 2.1: R_ac = R_dc (1 + y_s + y_p)); k_ac = 1 on DC.
    """
    r_dc = resistance_ohm(length_m, net.c_area[e], net.c_rho20[e], net.c_alpha[e], temp_c)
    return net.c_loop[e] * net.c_acr[e] * r_dc


def spread_over_busways(net: _Net, rack_w, r_alive, amount_w, group_of_bw, n_groups):
    """Split amount_w (per pod or hall) over the group's powered busways in proportion to their rack power.

    A group whose racks draw nothing is split by the busways' rack Max-P; a group without a powered busway
    gets nothing (its loss of supply is reported as such). Returns W per busway (aligned with net.bw_idx).
    """
    w_run = np.bincount(net.r_bw, weights=rack_w, minlength=net.n_e)[net.bw_idx]
    w_cap = np.bincount(net.r_bw, weights=np.where(r_alive, net.r_maxp, 0.0), minlength=net.n_e)[net.bw_idx]
    tot_run = np.bincount(group_of_bw, weights=w_run, minlength=n_groups)[group_of_bw]
    tot_cap = np.bincount(group_of_bw, weights=w_cap, minlength=n_groups)[group_of_bw]
    use_run = tot_run > 0
    w = np.where(use_run, w_run, w_cap)
    tot = np.where(use_run, tot_run, tot_cap)
    return np.where(tot > 0, amount_w[group_of_bw] * w / np.where(tot > 0, tot, 1.0), 0.0)


def solve_arrays(
    net: _Net, rack, mech, extra, fcnt, conductor_temp_c, tol=1e-11, max_iter=100, *, extra_hall=None
):
    """Solve with validated arrays (used by N-1 to skip name parsing)."""
    n_e = net.n_e
    active = net.units - fcnt
    # alive: every node on the path from the grid keeps at least one unit in service
    alive = active > 0
    for _ in range(int(net.e_depth.max()) + 1):
        alive = alive & np.where(net.parent >= 0, alive[np.maximum(net.parent, 0)], True)
    n_act = np.maximum(active, 1).astype(float)
    r_alive = alive[net.r_bw]
    rack_eff = np.where(r_alive, rack, 0.0)

    # rack conversion (power shelves / DC-DC), per rack type
    r_in = np.zeros(net.n_r)
    r_q = np.zeros(net.n_r)
    for ti, cx, ce, rating, modules, pf in net.rt_groups:
        sel = net.r_type == ti
        r_in[sel] = converter_input_w(rack_eff[sel], rating, cx, ce, modules)
        r_q[sel] = r_in[sel] * math.tan(math.acos(pf))
    r_in = np.where(r_alive, r_in, 0.0)
    r_q = np.where(r_alive, r_q, 0.0)
    r_conv_loss = r_in - rack_eff

    # network power of each pod (and hall) spread over its busways like the racks' load, so no single
    # converter carries a whole pod's (or hall's) switches; fed at the node feeding each busway
    extra_e = np.zeros(n_e)
    bw = net.bw_idx
    extra_e[bw] = spread_over_busways(net, rack_eff, r_alive, extra, net.bw_pod, net.n_pods)
    if extra_hall is not None:
        extra_e[bw] += spread_over_busways(net, rack_eff, r_alive, extra_hall, net.bw_hall, net.n_halls)
    extra_e = np.where(alive, extra_e, 0.0)
    extra_src = np.zeros(n_e)  # at the node feeding the busway
    np.add.at(extra_src, net.parent[bw], extra_e[bw])

    fixed_t = conductor_temp_c
    iters = 0
    converged = True
    r_v_pu = np.ones(net.n_r)
    r_src_v_pu = np.ones(net.n_r)
    bw_i_a = np.zeros(n_e)
    bw_loss = np.zeros(n_e)
    bw_temp = np.full(n_e, np.nan)
    conv_out = np.zeros(n_e)  # converter output power W (UPS, rectifier)

    def seg_z_fn(e_seg, len_seg, base_v, npar):
        """Busway segment impedance in pu, R at the loading-dependent temperature."""
        zb = base_v * base_v / S_BASE_VA
        ib = S_BASE_VA / (SQRT3 * base_v)
        x = net.c_x_ohm_m[e_seg] * len_seg / zb / npar

        def f(j_abs):
            if fixed_t is not None:
                t = fixed_t
            else:
                t = operating_temp_c(
                    j_abs * ib / npar, net.c_amp[e_seg], net.c_tmax[e_seg], net.c_tamb[e_seg]
                )
            return _cond_r_ohm(net, e_seg, len_seg, t) / zb / npar + 1j * x

        return f

    # ---- pass 1: AC below UPS
    if net.p1_n:
        p1 = net.p1
        n1 = net.p1_n
        s1 = np.zeros(n1, dtype=complex)
        s1[p1.bus] = (r_in[p1.racks] + 1j * r_q[p1.racks]) / S_BASE_VA
        npar = n_act[p1.busway]
        zf_seg = seg_z_fn(p1.busway, p1.seg_len_m, net.voltage_v[p1.busway], npar)

        def z1(j_abs):
            z = np.zeros(n1, dtype=complex)
            z[p1.bus] = zf_seg(j_abs[p1.bus])
            return z

        v_root = np.ones(n1, dtype=complex)
        res1 = ac_radial_sweep(
            net.p1_m, net.p1_root, v_root, s1, np.zeros(n1), z1, tol=tol, max_iter=max_iter
        )
        iters += res1.iterations
        converged &= res1.converged
        # power delivered by each UPS = sum of V conj(I) over its tree + branch losses
        p_load = (res1.v_pu * np.conj(res1.i_pu)).real
        loss_b = (res1.z_pu * np.abs(res1.j_pu) ** 2).real
        root_idx = np.arange(len(net.p1_ups))
        out_pu = np.bincount(net.p1_root, weights=p_load + loss_b, minlength=n1)[root_idx]
        conv_out[net.p1_ups] = out_pu * S_BASE_VA
        r_v_pu[p1.racks] = np.abs(res1.v_pu[p1.bus])
        r_src_v_pu[p1.racks] = 1.0
        ib = S_BASE_VA / (SQRT3 * net.voltage_v[p1.busway])
        first = p1.parent_bus < len(net.p1_ups)
        bw_i_a[p1.busway[first]] = np.abs(res1.j_pu[p1.bus[first]]) * ib[first]
        np.add.at(bw_loss, p1.busway, loss_b[p1.bus] * S_BASE_VA)
        if fixed_t is None:
            bw_temp[p1.busway] = operating_temp_c(
                bw_i_a[p1.busway] / npar, net.c_amp[p1.busway], net.c_tmax[p1.busway], net.c_tamb[p1.busway]
            )
        else:
            bw_temp[p1.busway] = fixed_t

    # ---- DC ladders below rectifiers / SSTs
    nd = len(net.dc_racks)
    if nd:
        e_s = net.dc_bw
        npar = n_act[e_s]

        def g_fn(i_abs):
            if fixed_t is not None:
                t = fixed_t
            else:
                t = operating_temp_c(i_abs / npar, net.c_amp[e_s], net.c_tmax[e_s], net.c_tamb[e_s])
            return npar / _cond_r_ohm(net, e_s, net.dc_seg, t)

        load = r_in[net.dc_racks]
        resd = dc_nodal(
            net.dc_frm, net.dc_to, net.dc_vsrc, load, g_fn, net.dc_vsrc.copy(), tol_rel=tol, max_iter=max_iter
        )
        iters += resd.iterations
        converged &= resd.converged
        r_v_pu[net.dc_racks] = resd.v_v / net.dc_vsrc
        r_src_v_pu[net.dc_racks] = 1.0
        head = net.dc_frm < 0
        i_head = resd.i_branch_a[head]
        bw_i_a[e_s[head]] = np.abs(i_head)
        seg_loss = resd.i_branch_a**2 / resd.g_s
        np.add.at(bw_loss, e_s, seg_loss)
        np.add.at(conv_out, net.dc_blk[head], net.dc_vsrc[head] * i_head)
        if fixed_t is None:
            bw_temp[e_s] = operating_temp_c(
                bw_i_a[e_s] / npar, net.c_amp[e_s], net.c_tmax[e_s], net.c_tamb[e_s]
            )
        else:
            bw_temp[e_s] = fixed_t

    # ---- converters: output -> input through the efficiency curve at the units' load fraction
    # (power fed at a converter's output bus, e.g. network switches, adds to its output)
    conv_out = conv_out + np.where(net.is_conv, extra_src, 0.0)
    conv_out = np.where(alive, conv_out, 0.0)
    conv_in = np.zeros(n_e)
    for sel, cx, ce in net.conv_groups:
        conv_in[sel] = converter_input_w(conv_out[sel], net.rating_w[sel], cx, ce, n_act[sel])
    conv_in = np.where(alive & net.is_conv, conv_in, 0.0)
    conv_q = conv_in * np.tan(np.arccos(net.conv_pf))

    # ---- pass 2: the AC network from the grid
    n2 = net.p2_n
    s2 = np.zeros(n2, dtype=complex)
    hm = net.hall_mech >= 0
    mech_bus = net.e_bus_out[net.hall_mech[hm]]
    mech_alive = alive[net.hall_mech[hm]]
    mech_on = np.where(mech_alive, mech[hm], 0.0)
    # constant-power motor loads at the catalog power factor: S = P (1 + j tan(acos pf))
    np.add.at(s2, mech_bus, mech_on * (1.0 + 1j * math.tan(math.acos(net.mech_pf))) / S_BASE_VA)
    ups = np.flatnonzero(net.is_ups)
    np.add.at(s2, net.e_bus_out[net.parent[ups]], (conv_in[ups] + 1j * conv_q[ups]) / S_BASE_VA)
    if net.arch == "dc800":
        blk = np.flatnonzero(net.is_blk)
        s2[net.e_bus_out[blk]] += (conv_in[blk] + 1j * conv_q[blk]) / S_BASE_VA
    else:
        blk = np.flatnonzero(net.is_blk)
        no_ups_extra = np.where(net.is_blk, extra_src, 0.0)
        s2[net.e_bus_out[blk]] += no_ups_extra[blk] / S_BASE_VA
        p2 = net.p2
        s2[p2.bus] += (r_in[p2.racks] + 1j * r_q[p2.racks]) / S_BASE_VA
    # magnetising conductance of in-service transformer units on the HV bus
    tr_bus = np.flatnonzero(net.p2_is_tr)
    tr_e = net.p2_e[tr_bus]
    g_tr = np.where(alive[tr_e], active[tr_e] * net.t_p0[tr_e] / S_BASE_VA, 0.0)
    y2 = np.zeros(n2, dtype=complex)
    np.add.at(y2, net.p2_parent[tr_bus], g_tr)

    z_tr = np.zeros(n2, dtype=complex)
    z_tr[tr_bus] = net.t_z1[tr_e] / n_act[tr_e]
    cab_bus = np.flatnonzero(net.p2_br == 2)
    cab_e = net.p2_e[cab_bus]
    zb_mv = net.mv_v**2 / S_BASE_VA
    ib_mv = S_BASE_VA / (SQRT3 * net.mv_v)
    x_cab = net.c_x_ohm_m[cab_e] * net.length_m[cab_e] / zb_mv
    seg_bus = net.p2.bus
    zf_seg2 = None
    if len(seg_bus):
        npar2 = n_act[net.p2.busway]
        zf_seg2 = seg_z_fn(net.p2.busway, net.p2.seg_len_m, net.voltage_v[net.p2.busway], npar2)

    def z2(j_abs):
        z = z_tr.copy()
        if fixed_t is not None:
            t = fixed_t
        else:
            t = operating_temp_c(
                j_abs[cab_bus] * ib_mv, net.c_amp[cab_e], net.c_tmax[cab_e], net.c_tamb[cab_e]
            )
        z[cab_bus] = _cond_r_ohm(net, cab_e, net.length_m[cab_e], t) / zb_mv + 1j * x_cab
        if zf_seg2 is not None:
            z[seg_bus] = zf_seg2(j_abs[seg_bus])
        return z

    v_root2 = np.ones(n2, dtype=complex)
    res2 = ac_radial_sweep(net.p2_m, net.p2_root, v_root2, s2, y2, z2, tol=tol, max_iter=max_iter)
    iters += res2.iterations
    converged &= res2.converged
    v2 = res2.v_pu
    loss2 = (res2.z_pu * np.abs(res2.j_pu) ** 2).real * S_BASE_VA
    shunt_loss = np.zeros(n2)
    shunt_loss[tr_bus] = g_tr * np.abs(v2[net.p2_parent[tr_bus]]) ** 2 * S_BASE_VA
    p_bus = (v2 * np.conj(res2.i_pu)).real
    grid_pu = float(np.sum(p_bus) + np.sum((res2.z_pu * np.abs(res2.j_pu) ** 2).real))
    grid_w = grid_pu * S_BASE_VA
    # apparent power entering each branch (sending end) = V_parent conj(J)
    s_send = np.zeros(n2, dtype=complex)
    nr = net.p2_parent >= 0
    s_send[nr] = v2[net.p2_parent[nr]] * np.conj(res2.j_pu[nr]) * S_BASE_VA

    # ---- per-node results
    loss = np.zeros(n_e)
    feeder_loss = np.zeros(n_e)
    p_in = np.zeros(n_e)
    loading = np.full(n_e, np.nan)
    feeder_loading = np.full(n_e, np.nan)
    v_out = np.full(n_e, np.nan)
    i_a = np.full(n_e, np.nan)
    temp = np.full(n_e, np.nan)
    # transformers (substation, mech, AC block): series + magnetising loss, loading on |S| at the HV side
    np.add.at(loss, tr_e, loss2[tr_bus] + shunt_loss[tr_bus])
    s_tr = np.abs(s_send[tr_bus]) + 0.0
    loading[tr_e] = s_tr / (n_act[tr_e] * net.t_sn[tr_e]) * 100.0
    v_out[tr_e] = np.abs(v2[tr_bus])
    # feeders
    feeder_loss[cab_e] = loss2[cab_bus]
    i_cab = np.abs(res2.j_pu[cab_bus]) * ib_mv
    feeder_loading[cab_e] = i_cab / net.c_amp[cab_e] * 100.0
    p_in[cab_e] = s_send[cab_bus].real
    if fixed_t is None:
        temp[cab_e] = operating_temp_c(i_cab, net.c_amp[cab_e], net.c_tmax[cab_e], net.c_tamb[cab_e])
    else:
        temp[cab_e] = fixed_t
    p_in[0] = grid_w
    p_in[1] = s_send[1].real + shunt_loss[1]  # substation: into its HV side incl. magnetising
    p_in[net.is_mech] = s_send[net.p2_mech_bus].real + shunt_loss[net.p2_mech_bus]
    v_out[0] = abs(v2[0])
    loading[0] = grid_w / net.grid_limit_w * 100.0
    # converters
    conv = net.is_conv
    loss[conv] = (conv_in - conv_out)[conv]
    loading[conv] = conv_out[conv] / (n_act[conv] * net.rating_w[conv]) * 100.0
    p_in[net.is_ups] = conv_in[net.is_ups]
    v_out[net.is_ups] = 1.0
    if net.arch == "dc800":
        v_out[net.is_blk] = 1.0
    # busways: segment losses (the busway's ladder also gives the rack voltages)
    if net.arch == "ac" and len(seg_bus):
        p2 = net.p2
        ib = S_BASE_VA / (SQRT3 * net.voltage_v[p2.busway])
        first = p2.parent_bus < p2.bus[0]
        bw_i_a[p2.busway[first]] = np.abs(res2.j_pu[p2.bus[first]]) * ib[first]
        np.add.at(bw_loss, p2.busway, loss2[p2.bus])
        r_v_pu[p2.racks] = np.abs(v2[p2.bus])
        r_src_v_pu[p2.racks] = np.abs(v2[net.e_bus_out[net.parent[p2.busway]]])
        npar2 = n_act[p2.busway]
        bw_temp[p2.busway] = (
            operating_temp_c(
                bw_i_a[p2.busway] / npar2, net.c_amp[p2.busway], net.c_tmax[p2.busway], net.c_tamb[p2.busway]
            )
            if fixed_t is None
            else fixed_t
        )
    isb = net.is_bw
    loss[isb] = bw_loss[isb]
    i_a[isb] = bw_i_a[isb]
    temp[isb] = bw_temp[isb]
    loading[isb] = bw_i_a[isb] / (n_act[isb] * net.c_amp[isb]) * 100.0
    r_in_bw = np.bincount(net.r_bw, weights=r_in, minlength=n_e)
    p_in[isb] = (r_in_bw + bw_loss)[isb]
    i_a[cab_e] = i_cab
    # rack voltages of unpowered racks are 0
    r_v_pu = np.where(r_alive, r_v_pu, 0.0)
    v_min_bw = np.full(n_e, np.nan)
    if net.n_r:
        v_min_bw_tmp = np.full(n_e, np.inf)
        np.minimum.at(v_min_bw_tmp, net.r_bw, r_v_pu)
        v_min_bw = np.where(np.isfinite(v_min_bw_tmp), v_min_bw_tmp, np.nan)
    v_out[isb] = v_min_bw[isb]
    loss = np.where(alive, loss, 0.0)
    loading = np.where(alive | (np.arange(n_e) == 0), loading, 0.0)

    # ---- stage losses
    stage = dict.fromkeys(STAGES, 0.0)
    stage["rack_conversion"] = float(r_conv_loss.sum())
    stage["busways"] = float(loss[isb].sum())
    stage["ups"] = float(loss[net.is_ups].sum())
    if net.arch == "ac":
        stage["lv_transformers"] = float(loss[net.is_blk].sum())
    else:
        stage["rectifiers"] = float(loss[net.is_blk].sum())
    stage["mv_feeders"] = float(feeder_loss.sum())
    stage["mech_transformers"] = float(loss[net.is_mech].sum())
    stage["substation"] = float(loss[1])
    loss_total = sum(stage.values())
    it_w = float(rack_eff.sum())
    mech_w = float(mech_on.sum())
    extra_w = float(extra_e.sum())
    it_path_w = grid_w - mech_w - stage["mech_transformers"]

    res_nodes = pd.DataFrame(
        {
            "name": net.names,
            "kind": net.kind,
            "units": net.units,
            "units_in_service": np.where(np.arange(n_e) == 0, 1, active),
            "powered": alive,
            "power_in_w": np.where(alive, p_in, 0.0),
            "loss_w": loss,
            "feeder_loss_w": feeder_loss,
            "loading_pct": loading,
            "feeder_loading_pct": feeder_loading,
            "voltage_pu": np.where(alive, v_out, 0.0),
            "current_a": i_a,
            "conductor_temp_c": temp,
        }
    )
    drop = np.where(r_alive, (r_src_v_pu - r_v_pu) * 100.0, 0.0)
    res_racks = pd.DataFrame(
        {
            "power_w": rack_eff,
            "input_power_w": r_in,
            "input_reactive_power_var": r_q,
            "conversion_loss_w": r_conv_loss,
            "conversion_load_pct": rack_eff / net.r_cap_w * 100.0,
            "voltage_v": r_v_pu * net.voltage_v[net.r_bw],
            "voltage_pu": r_v_pu,
            "busway_drop_pct": drop,
            "powered": r_alive,
        }
    )
    lo, hi = net.v_limits
    violations = _violations(net, res_nodes, res_racks, alive, grid_w, mech, lo, hi)
    min_v = float(r_v_pu[r_alive].min()) if r_alive.any() else float("nan")
    kpis = {
        "architecture": net.arch,
        "grid_power_mw": grid_w / 1e6,
        "grid_limit_mw": net.grid_limit_w / 1e6,
        "it_power_mw": it_w / 1e6,
        "extra_it_power_mw": extra_w / 1e6,
        "mech_power_mw": mech_w / 1e6,
        "loss_mw": loss_total / 1e6,
        "loss_pct": loss_total / grid_w * 100.0 if grid_w > 0 else 0.0,
        "losses_mw_by_stage": {k: v / 1e6 for k, v in stage.items()},
        "losses_pct_by_stage": {k: (v / grid_w * 100.0 if grid_w > 0 else 0.0) for k, v in stage.items()},
        # IT delivery: IT power over the grid power of the IT path (cooling and its transformers left out)
        "efficiency_it_pct": (it_w + extra_w) / it_path_w * 100.0 if it_path_w > 0 else 0.0,
        "balance_error_w": grid_w - (it_w + extra_w + mech_w + loss_total),
        "converged": bool(converged),
        "iterations": int(iters),
        "min_rack_voltage_pu": min_v,
        "racks_unpowered": int((~r_alive).sum()),
        "n_violations": len(violations),
        "violations": violations,
    }
    return ElectricalResult(res_nodes, res_racks, kpis, grid_w, violations)


def _violations(net, rn, rr, alive, grid_w, mech, lo, hi) -> list[dict]:
    """Overloads (> 100 % of in-service units), voltages outside the layout's limits, lost supply."""
    out: list[dict] = []
    names, kind = net.names, net.kind
    if grid_w > net.grid_limit_w:
        out.append(
            dict(
                component="grid",
                kind="grid_limit",
                value=grid_w / 1e6,
                limit=net.grid_limit_w / 1e6,
                message=f"grid power {grid_w / 1e6:.2f} MW exceeds the {net.grid_limit_w / 1e6:.2f} MW limit",
            )
        )
    load = rn["loading_pct"].to_numpy()
    for i in np.flatnonzero((load > 100.0 + 1e-9) & (np.arange(net.n_e) > 0) & alive):
        out.append(
            dict(
                component=names[i],
                kind="overload",
                value=float(load[i]),
                limit=100.0,
                message=f"{kind[i]} '{names[i]}' loaded {load[i]:.1f} % of its {int(rn['units_in_service'][i])} "
                f"unit(s) in service",
            )
        )
    fl = rn["feeder_loading_pct"].to_numpy()
    for i in np.flatnonzero((fl > 100.0 + 1e-9) & alive):
        out.append(
            dict(
                component=names[i],
                kind="overload",
                value=float(fl[i]),
                limit=100.0,
                message=f"MV feeder of '{names[i]}' loaded {fl[i]:.1f} % of its ampacity",
            )
        )
    # bus voltages of transformer secondaries
    v = rn["voltage_pu"].to_numpy()
    trs = net.is_tr & alive
    for i in np.flatnonzero(trs & ((v < lo) | (v > hi))):
        out.append(
            dict(
                component=names[i],
                kind="voltage",
                value=float(v[i]),
                limit=lo if v[i] < lo else hi,
                message=f"voltage at '{names[i]}' is {v[i]:.4f} pu (limits {lo}-{hi})",
            )
        )
    # rack voltages, grouped per busway
    rv = rr["voltage_pu"].to_numpy()
    bad = rr["powered"].to_numpy() & ((rv < lo) | (rv > hi))
    if bad.any():
        cnt = np.bincount(net.r_bw[bad], minlength=net.n_e)
        for i in np.flatnonzero(cnt):
            vmin = float(rv[bad & (net.r_bw == i)].min())
            out.append(
                dict(
                    component=names[i],
                    kind="voltage",
                    value=vmin,
                    limit=lo,
                    message=f"{cnt[i]} rack(s) on '{names[i]}' outside {lo}-{hi} pu (lowest {vmin:.4f} pu)",
                )
            )
    # rack power shelves / DC-DC above their rating
    over = rr["conversion_load_pct"].to_numpy() > 100.0 + 1e-9
    if over.any():
        cnt = np.bincount(net.r_bw[over], minlength=net.n_e)
        for i in np.flatnonzero(cnt):
            out.append(
                dict(
                    component=names[i],
                    kind="overload",
                    value=float(rr["conversion_load_pct"].to_numpy()[over & (net.r_bw == i)].max()),
                    limit=100.0,
                    message=f"{cnt[i]} rack(s) on '{names[i]}' above their power shelf / DC-DC rating",
                )
            )
    # lost supply: report the top-most dead node of each dead subtree
    dead = ~alive
    top = dead & np.where(net.parent >= 0, alive[np.maximum(net.parent, 0)], True)
    r_dead = ~rr["powered"].to_numpy()
    if top.any():
        # racks below each top dead node: walk each dead rack's busway up to its top dead ancestor
        anc = net.r_bw.copy()
        top_of = np.full(net.n_r, -1, dtype=np.int64)
        for _ in range(int(net.e_depth.max()) + 1):
            hit = top[anc] & (top_of < 0)
            top_of[hit] = anc[hit]
            anc = np.where(net.parent[anc] >= 0, net.parent[anc], anc)
        cnt = np.bincount(top_of[r_dead & (top_of >= 0)], minlength=net.n_e)
        for i in np.flatnonzero(top):
            msg = f"all units of {kind[i]} '{names[i]}' out of service: {cnt[i]} rack(s) lose power"
            if kind[i] in ("mech_feed", "substation"):
                msg += "; pumps, fans and chillers lose power"
            out.append(
                dict(component=names[i], kind="lost_supply", value=float(cnt[i]), limit=0.0, message=msg)
            )
    return out
