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

``solve_arrays`` is the chain of steps, in the order above (each a function of this module)::

    _service            units in service, which nodes and racks are supplied
    _rack_inputs        rack power -> input power through power shelves / DC-DC
    _network_power      pod / hall network power spread over the busways' sources
    _solve_ups_ladders  step 1, AC busways below a UPS (radial sweep)
    _solve_dc_ladders   step 1, 800 VDC busducts below rectifiers (nodal Newton)
    _converter_inputs   step 2
    _solve_grid         step 3 (radial sweep from the grid), then _grid_ladder_results for AC busways on it
    _node_results, _rack_results, _stage_losses, _violations, _kpis   result tables and KPIs

The static network (topology, catalog data, ladder order) is built once per model by ``prepare`` and kept
with ``model.derived`` (the model is immutable, so it is shared safely between threads).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.electrical.conductors import ac_resistance_ohm, loop_factor, operating_temp_c, resistance_ohm
from twin.electrical.losses import converter_input_w, curve_arrays, transformer_z_pu
from twin.electrical.powerflow import AcSweepResult, ac_radial_sweep, dc_nodal, subtree_matrix
from twin.electrical.results import STAGES, ElectricalResult
from twin.errors import InputError
from twin.model import FacilityModel

S_BASE_VA = 1e6
SQRT3 = math.sqrt(3.0)
NET_KEY = "electrical.network"  # key of the static network in ``model.derived``
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
    """Static electrical network of a model: node and rack arrays, catalog data, the networks' topology.

    Built once per model (``prepare``) and read-only afterwards: every solve shares it.
    """

    def __init__(self, model: FacilityModel):
        self.arch = model.layout.electrical.architecture
        self._nodes(model)
        self._conductors(model.catalog)
        self._transformers(model.catalog)
        self._converters(model.catalog)
        self._racks(model)
        self._ladder_order()
        self._load_points(model)
        self._build_ac_networks()
        self._build_dc_network()

    def _nodes(self, model: FacilityModel) -> None:
        """Per elec node: name, kind, parent, place, units, rating, voltage, length; depth in the tree."""
        e = model.elec
        el = model.layout.electrical
        self.v_limits = tuple(el.voltage_limits_pu)
        self.n_e = len(e)
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
        self.conductor = e["conductor"].to_numpy(dtype=object)
        self.name_index = {n: i for i, n in enumerate(self.names)}
        k = self.kind
        self.is_bw = k == "busway"
        self.is_blk = k == "block"
        self.is_ups = k == "ups"
        self.is_mech = k == "mech_feed"
        self.mv_v = el.mv_kv * 1e3
        self.utility_v = el.utility_kv * 1e3
        self.grid_limit_w = float(self.rating_w[0])
        # depth order of elec nodes (to propagate 'alive' and subtree membership)
        self.e_depth = np.zeros(self.n_e, dtype=np.int64)
        cur = self.parent.copy()
        while (cur >= 0).any():
            self.e_depth += cur >= 0
            cur = np.where(cur >= 0, self.parent[np.maximum(cur, 0)], -1)

    def _conductors(self, cat) -> None:
        """Conductor data per elec node (feeder cable of a block, conductor of a busway)."""
        n_e = self.n_e
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
        for i in np.flatnonzero(self.conductor != ""):  # one per block / busway (hundreds), not per rack
            c = cat.get("conductors", self.conductor[i])
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

    def _transformers(self, cat) -> None:
        """Substation, mech feeds, AC blocks: unit impedance on S_base, P0, rating."""
        n_e = self.n_e
        self.t_z1 = np.zeros(n_e, dtype=complex)
        self.t_p0 = np.zeros(n_e)
        self.t_sn = np.ones(n_e)
        is_tr = (self.kind == "substation") | self.is_mech | (self.is_blk & (self.arch == "ac"))
        self.is_tr = is_tr
        for eq in set(self.equipment[is_tr]):
            t = cat.get("transformers", eq)
            sel = is_tr & (self.equipment == eq)
            sn = t.rating_kva * 1e3
            self.t_z1[sel] = transformer_z_pu(sn, t.load_loss_kw * 1e3, t.impedance_percent, S_BASE_VA)
            self.t_p0[sel] = t.no_load_loss_kw * 1e3
            self.t_sn[sel] = sn

    def _converters(self, cat) -> None:
        """Converters at node level (UPS; rectifiers / SSTs of 800 VDC blocks): curves, pf, DC voltage."""
        n_e = self.n_e
        self.is_conv = self.is_ups | (self.is_blk & (self.arch == "dc800"))
        self.conv_groups = []  # (mask, curve_x, curve_eta)
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

    def _racks(self, model: FacilityModel) -> None:
        """Per rack: busway, pod, hall, Max-P; per rack type the conversion stage (shelves or DC/DC)."""
        cat = model.catalog
        r = model.racks
        self.n_r = n_r = len(r)
        self.r_bw = r["busway_node"].to_numpy().astype(np.int64)
        self.r_pod = r["pod"].to_numpy().astype(np.int64)
        self.r_hall = r["hall"].to_numpy().astype(np.int64)
        self.r_maxp = r["power_maxp_w"].to_numpy().astype(float)
        r_type = r["rack_type"].to_numpy().astype(np.int64)
        self.r_type = r_type
        self.rt_groups = []  # per rack type: (type index, curve_x, curve_eta, module rating W, modules, pf)
        for ti, name in enumerate(model.rack_types["name"]):
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

    def _ladder_order(self) -> None:
        """Racks sorted by busway (then index): position on the busway and segment length from the previous tap."""
        n_r, n_e = self.n_r, self.n_e
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

    def _load_points(self, model: FacilityModel) -> None:
        """Where network power (busways of a pod / hall) and the mechanical plant (mech feed of a hall) enter."""
        self.bw_idx = np.flatnonzero(self.is_bw)
        self.bw_pod = self.pod[self.bw_idx]
        self.bw_hall = self.hall[self.bw_idx]
        self.n_pods = len(model.pods)
        # pumps, fans and chillers: one input power factor from the catalog (VFD-driven motors)
        self.mech_pf = model.catalog.get("electrical_loads", MECH_LOAD).power_factor
        self.n_halls = len(model.halls)
        mech_idx = np.flatnonzero(self.is_mech)
        self.hall_mech = np.full(self.n_halls, -1, dtype=np.int64)
        self.hall_mech[self.hall[mech_idx]] = mech_idx

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

    def _build_ac_networks(self) -> None:
        self._build_ups_network()
        self._build_grid_network()

    def _build_ups_network(self) -> None:
        """Pass 1: LV networks below a UPS (roots = UPS output buses)."""
        n_e = self.n_e
        bw_sorted = self.r_bw[self.l_order]
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

    def _build_grid_network(self) -> None:
        """Pass 2: grid -> substation -> MV bus -> mech / blocks (-> LV bus (AC)) (-> racks without UPS)."""
        n_e = self.n_e
        bw_sorted = self.r_bw[self.l_order]
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

    def _build_dc_network(self) -> None:
        """800 VDC busducts: one branch per rack tap, the head branch leaving the block's rectifier output."""
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


def prepare(model: FacilityModel) -> _Net:
    """Static network of a model, built once and kept with ``model.derived`` (shared, read-only)."""
    return model.derived(NET_KEY, lambda: _Net(model))


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
    model: FacilityModel,
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
    """Electrical power flow of the facility, from the racks to the grid; see the module docstring.

    Parameters
    ----------
    model : FacilityModel
        Compiled facility (``twin.model.load_model``). Not modified.
    rack_power_w : array_like, shape (n_racks,), optional
        IT power of each rack at 54 VDC, W. Default ``it_load * power_maxp_w``.
    mech_power_w_by_hall : array_like, shape (n_halls,), optional
        Pumps, fans and chillers of each hall (from the thermal solver), W; drawn through the hall's
        mechanical-feed transformers at the catalog power factor. Default 0. Reported as
        ``kpis["cooling_power_mw"]``.
    extra_it_power_w_by_pod : array_like, shape (n_pods,), optional
        Network switches etc. of each pod, W; default 0. Spread over the pod's busways in proportion to their
        rack power (rack Max-P if the pod's racks draw nothing) and fed at the busways' source (UPS,
        rectifier or LV bus), so it loads the pod's converters the way its racks do. Reported, with the hall
        part, as ``kpis["network_power_mw"]``.
    extra_it_power_w_by_hall : array_like, shape (n_halls,), optional
        Hall-level network power (spine / core switches), W; default 0. Spread over all busways of the hall
        in the same way.
    it_load : float, default 1.0
        Fraction of Max-P drawn by every rack when ``rack_power_w`` is not given.
    failed : iterable of str, default ()
        Elec node names; each entry takes one unit (or one busway feed) out of service.
    conductor_temp_c : float, optional
        Fixed conductor temperature, degC (-50 to 250). Default None: from each conductor's loading.
    tol : float, default 1e-11
        Convergence tolerance of the power flows (per unit voltage on AC, relative on DC).
    max_iter : int, default 100
        Iteration limit of each power flow.

    Returns
    -------
    ElectricalResult
        ``res_nodes`` (one row per ``model.elec`` node), ``res_racks`` (one row per rack), ``kpis``
        (facility_power_mw, it_power_mw, network_power_mw, cooling_power_mw, electrical_loss_mw,
        electrical_loss_pct, losses by stage, efficiency, electrical_violations ...; see
        :class:`~twin.electrical.results.ElectricalResult`) and ``violations``.

    Raises
    ------
    InputError
        For an input of the wrong shape, negative or non-finite, or an unknown failed component.
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
# the solve: state of one case, passed from step to step


@dataclass
class _Service:
    """Units in service and supply of one case."""

    active: np.ndarray  # units in service per elec node
    alive: np.ndarray  # every node on the path from the grid keeps at least one unit in service
    n_act: np.ndarray  # units sharing the load (max(active, 1)), float
    r_alive: np.ndarray  # rack supplied


@dataclass
class _RackLoads:
    """Racks' power (0 when unpowered) and what they draw through their shelves / DC-DC."""

    power_w: np.ndarray  # IT power at 54 VDC
    input_w: np.ndarray  # at the busway tap
    input_var: np.ndarray  # reactive power at the tap (AC shelves)
    conversion_loss_w: np.ndarray


@dataclass
class _LvState:
    """Results of the LV ladders (busways), filled by each ladder solve."""

    r_v_pu: np.ndarray  # rack voltage, per unit of the busway's nominal
    r_src_v_pu: np.ndarray  # voltage at the rack's busway source
    bw_i_a: np.ndarray  # busway head current, A (per elec node)
    bw_loss: np.ndarray  # busway I^2 R loss, W
    bw_temp: np.ndarray  # busway conductor temperature, C
    conv_out: np.ndarray  # converter output power, W (UPS, rectifier)
    iterations: int = 0  # of every power flow of the case (pass 2 included)
    converged: bool = True

    @classmethod
    def start(cls, net: _Net) -> _LvState:
        """Before any ladder is solved: racks at 1 pu, no busway current, loss or output."""
        return cls(
            r_v_pu=np.ones(net.n_r),
            r_src_v_pu=np.ones(net.n_r),
            bw_i_a=np.zeros(net.n_e),
            bw_loss=np.zeros(net.n_e),
            bw_temp=np.full(net.n_e, np.nan),
            conv_out=np.zeros(net.n_e),
        )


@dataclass
class _GridFlow:
    """Pass 2 (the AC network from the grid) and the quantities the node results need from it."""

    res: AcSweepResult
    loss: np.ndarray  # series loss of each branch, W
    shunt_loss: np.ndarray  # magnetising loss on each transformer branch, W
    s_send: np.ndarray  # apparent power entering each branch at its sending end, VA
    grid_w: float
    g_tr: np.ndarray  # magnetising conductance of each transformer branch, pu
    tr_bus: np.ndarray  # transformer branches (their bus) and their elec nodes
    tr_e: np.ndarray
    cab_bus: np.ndarray  # MV feeder cable branches and their elec nodes (blocks)
    cab_e: np.ndarray
    ib_mv: float  # base current on the MV bus, A
    mech_on: np.ndarray  # mechanical load of each hall with a live mech feed, W


def _conductor_temp_c(net: _Net, e, current_a, fixed_t: float | None):
    """Operating temperature of conductors e at current_a (or the fixed temperature)."""
    if fixed_t is not None:
        return fixed_t
    return operating_temp_c(current_a, net.c_amp[e], net.c_tmax[e], net.c_tamb[e])


def _cond_r_ohm(net: _Net, e, length_m, temp_c):
    """Circuit resistance of conductor runs of elec nodes e (per phase on AC, loop on DC).

    R = loop * k_ac * rho(T) L / A with k_ac = R_ac / R_dc from the catalog (skin and proximity effect,
    IEC 60287-1-1 sec. 2.1: R_ac = R_dc (1 + y_s + y_p)); k_ac = 1 on DC.
    """
    r_dc = resistance_ohm(length_m, net.c_area[e], net.c_rho20[e], net.c_alpha[e], temp_c)
    return net.c_loop[e] * ac_resistance_ohm(r_dc, net.c_acr[e])


def _segment_z_pu(net: _Net, e_seg, len_seg, base_v, npar, fixed_t) -> Callable[[np.ndarray], np.ndarray]:
    """Busway segment impedance in pu as a function of |J| (pu): R at the loading-dependent temperature."""
    zb = base_v * base_v / S_BASE_VA
    ib = S_BASE_VA / (SQRT3 * base_v)
    x = net.c_x_ohm_m[e_seg] * len_seg / zb / npar

    def f(j_abs):
        t = _conductor_temp_c(net, e_seg, j_abs * ib / npar, fixed_t)
        return _cond_r_ohm(net, e_seg, len_seg, t) / zb / npar + 1j * x

    return f


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
) -> ElectricalResult:
    """Solve one case with validated arrays (N-1 calls it directly to skip name parsing).

    rack (n_racks,), mech (n_halls,), extra (n_pods,), extra_hall (n_halls,) in W; fcnt: failed units per
    elec node; conductor_temp_c: fixed conductor temperature or None. The steps, in order, are listed in
    the module docstring.
    """
    fixed_t = conductor_temp_c
    sv = _service(net, fcnt)
    rk = _rack_inputs(net, sv, rack)
    extra_e, extra_src = _network_power(net, sv, rk, extra, extra_hall)
    lv = _LvState.start(net)
    if net.p1_n:
        _solve_ups_ladders(net, sv, rk, lv, fixed_t, tol, max_iter)
    if len(net.dc_racks):
        _solve_dc_ladders(net, sv, rk, lv, fixed_t, tol, max_iter)
    conv_out, conv_in, conv_q = _converter_inputs(net, sv, lv.conv_out, extra_src)
    gf = _solve_grid(net, sv, rk, conv_in, conv_q, mech, extra_src, fixed_t, tol, max_iter, lv)
    if net.arch == "ac" and len(net.p2.bus):
        _grid_ladder_results(net, sv, gf, lv, fixed_t)
    lv.r_v_pu = np.where(sv.r_alive, lv.r_v_pu, 0.0)  # unpowered racks: 0 V
    res_nodes, feeder_loss = _node_results(net, sv, rk, gf, conv_out, conv_in, lv, fixed_t)
    res_racks = _rack_results(net, sv, rk, lv)
    stage = _stage_losses(net, rk, res_nodes["loss_w"].to_numpy(), feeder_loss)
    violations = _violations(net, res_nodes, res_racks, sv.alive, gf.grid_w)
    kpis = _kpis(net, rk, res_racks, gf, stage, extra_e, lv, violations)
    return ElectricalResult(res_nodes, res_racks, kpis, gf.grid_w, violations)


def _service(net: _Net, fcnt: np.ndarray) -> _Service:
    """Units in service per node; a node is alive when every node from the grid to it keeps a unit."""
    active = net.units - fcnt
    alive = active > 0
    for _ in range(int(net.e_depth.max()) + 1):
        alive = alive & np.where(net.parent >= 0, alive[np.maximum(net.parent, 0)], True)
    n_act = np.maximum(active, 1).astype(float)
    return _Service(active, alive, n_act, alive[net.r_bw])


def _rack_inputs(net: _Net, sv: _Service, rack: np.ndarray) -> _RackLoads:
    """Rack conversion (power shelves / DC-DC), per rack type, at each rack's load fraction."""
    r_alive = sv.r_alive
    rack_eff = np.where(r_alive, rack, 0.0)
    r_in = np.zeros(net.n_r)
    r_q = np.zeros(net.n_r)
    for ti, cx, ce, rating, modules, pf in net.rt_groups:
        sel = net.r_type == ti
        r_in[sel] = converter_input_w(rack_eff[sel], rating, cx, ce, modules)
        r_q[sel] = r_in[sel] * math.tan(math.acos(pf))
    r_in = np.where(r_alive, r_in, 0.0)
    r_q = np.where(r_alive, r_q, 0.0)
    return _RackLoads(rack_eff, r_in, r_q, r_in - rack_eff)


def _network_power(net: _Net, sv: _Service, rk: _RackLoads, extra, extra_hall):
    """Network power of each pod (and hall) per busway, and per node feeding the busways (W, W).

    Spread over the busways like the racks' load, so no single converter carries a whole pod's (or hall's)
    switches; fed at the node feeding each busway.
    """
    extra_e = np.zeros(net.n_e)
    bw = net.bw_idx
    extra_e[bw] = spread_over_busways(net, rk.power_w, sv.r_alive, extra, net.bw_pod, net.n_pods)
    if extra_hall is not None:
        extra_e[bw] += spread_over_busways(net, rk.power_w, sv.r_alive, extra_hall, net.bw_hall, net.n_halls)
    extra_e = np.where(sv.alive, extra_e, 0.0)
    extra_src = np.zeros(net.n_e)  # at the node feeding the busway
    np.add.at(extra_src, net.parent[bw], extra_e[bw])
    return extra_e, extra_src


def _solve_ups_ladders(net: _Net, sv: _Service, rk: _RackLoads, lv: _LvState, fixed_t, tol, max_iter) -> None:
    """Pass 1: AC busways below a UPS, each UPS output a 1 pu root (radial sweep)."""
    p1 = net.p1
    n1 = net.p1_n
    s1 = np.zeros(n1, dtype=complex)
    s1[p1.bus] = (rk.input_w[p1.racks] + 1j * rk.input_var[p1.racks]) / S_BASE_VA
    npar = sv.n_act[p1.busway]
    zf_seg = _segment_z_pu(net, p1.busway, p1.seg_len_m, net.voltage_v[p1.busway], npar, fixed_t)

    def z1(j_abs):
        z = np.zeros(n1, dtype=complex)
        z[p1.bus] = zf_seg(j_abs[p1.bus])
        return z

    v_root = np.ones(n1, dtype=complex)
    res1 = ac_radial_sweep(net.p1_m, net.p1_root, v_root, s1, np.zeros(n1), z1, tol=tol, max_iter=max_iter)
    lv.iterations += res1.iterations
    lv.converged &= res1.converged
    # power delivered by each UPS = sum of V conj(I) over its tree + branch losses
    p_load = (res1.v_pu * np.conj(res1.i_pu)).real
    loss_b = (res1.z_pu * np.abs(res1.j_pu) ** 2).real
    root_idx = np.arange(len(net.p1_ups))
    out_pu = np.bincount(net.p1_root, weights=p_load + loss_b, minlength=n1)[root_idx]
    lv.conv_out[net.p1_ups] = out_pu * S_BASE_VA
    lv.r_v_pu[p1.racks] = np.abs(res1.v_pu[p1.bus])
    lv.r_src_v_pu[p1.racks] = 1.0
    ib = S_BASE_VA / (SQRT3 * net.voltage_v[p1.busway])
    first = p1.parent_bus < len(net.p1_ups)
    lv.bw_i_a[p1.busway[first]] = np.abs(res1.j_pu[p1.bus[first]]) * ib[first]
    np.add.at(lv.bw_loss, p1.busway, loss_b[p1.bus] * S_BASE_VA)
    lv.bw_temp[p1.busway] = _conductor_temp_c(net, p1.busway, lv.bw_i_a[p1.busway] / npar, fixed_t)


def _solve_dc_ladders(net: _Net, sv: _Service, rk: _RackLoads, lv: _LvState, fixed_t, tol, max_iter) -> None:
    """800 VDC busducts below rectifiers / SSTs, each at its rectifier's DC voltage (nodal Newton)."""
    e_s = net.dc_bw
    npar = sv.n_act[e_s]

    def g_fn(i_abs):
        t = _conductor_temp_c(net, e_s, i_abs / npar, fixed_t)
        return npar / _cond_r_ohm(net, e_s, net.dc_seg, t)

    load = rk.input_w[net.dc_racks]
    resd = dc_nodal(
        net.dc_frm, net.dc_to, net.dc_vsrc, load, g_fn, net.dc_vsrc.copy(), tol_rel=tol, max_iter=max_iter
    )
    lv.iterations += resd.iterations
    lv.converged &= resd.converged
    lv.r_v_pu[net.dc_racks] = resd.v_v / net.dc_vsrc
    lv.r_src_v_pu[net.dc_racks] = 1.0
    head = net.dc_frm < 0
    i_head = resd.i_branch_a[head]
    lv.bw_i_a[e_s[head]] = np.abs(i_head)
    seg_loss = resd.i_branch_a**2 / resd.g_s
    np.add.at(lv.bw_loss, e_s, seg_loss)
    np.add.at(lv.conv_out, net.dc_blk[head], net.dc_vsrc[head] * i_head)
    lv.bw_temp[e_s] = _conductor_temp_c(net, e_s, lv.bw_i_a[e_s] / npar, fixed_t)


def _converter_inputs(net: _Net, sv: _Service, conv_out, extra_src):
    """Converters: output -> input through the efficiency curve at the units' load fraction.

    Power fed at a converter's output bus (network switches) adds to its output. Returns (output W,
    input W, input reactive power var) per elec node.
    """
    conv_out = conv_out + np.where(net.is_conv, extra_src, 0.0)
    conv_out = np.where(sv.alive, conv_out, 0.0)
    conv_in = np.zeros(net.n_e)
    for sel, cx, ce in net.conv_groups:
        conv_in[sel] = converter_input_w(conv_out[sel], net.rating_w[sel], cx, ce, sv.n_act[sel])
    conv_in = np.where(sv.alive & net.is_conv, conv_in, 0.0)
    conv_q = conv_in * np.tan(np.arccos(net.conv_pf))
    return conv_out, conv_in, conv_q


def _grid_loads(net: _Net, sv: _Service, rk: _RackLoads, conv_in, conv_q, mech, extra_src):
    """Constant-power loads on the pass-2 buses (pu) and the mechanical load of each hall that is fed (W)."""
    s2 = np.zeros(net.p2_n, dtype=complex)
    hm = net.hall_mech >= 0
    mech_bus = net.e_bus_out[net.hall_mech[hm]]
    mech_alive = sv.alive[net.hall_mech[hm]]
    mech_on = np.where(mech_alive, mech[hm], 0.0)
    # constant-power motor loads at the catalog power factor: S = P (1 + j tan(acos pf))
    np.add.at(s2, mech_bus, mech_on * (1.0 + 1j * math.tan(math.acos(net.mech_pf))) / S_BASE_VA)
    ups = np.flatnonzero(net.is_ups)
    np.add.at(s2, net.e_bus_out[net.parent[ups]], (conv_in[ups] + 1j * conv_q[ups]) / S_BASE_VA)
    blk = np.flatnonzero(net.is_blk)
    if net.arch == "dc800":
        s2[net.e_bus_out[blk]] += (conv_in[blk] + 1j * conv_q[blk]) / S_BASE_VA
    else:
        no_ups_extra = np.where(net.is_blk, extra_src, 0.0)
        s2[net.e_bus_out[blk]] += no_ups_extra[blk] / S_BASE_VA
        p2 = net.p2
        s2[p2.bus] += (rk.input_w[p2.racks] + 1j * rk.input_var[p2.racks]) / S_BASE_VA
    return s2, mech_on


def _solve_grid(
    net: _Net, sv: _Service, rk: _RackLoads, conv_in, conv_q, mech, extra_src, fixed_t, tol, max_iter, lv
) -> _GridFlow:
    """Pass 2: the AC network from the grid (1 pu slack) down to converters, mech loads, AC busways.

    Its iterations and convergence are added to ``lv`` (one count for the whole case).
    """
    n2 = net.p2_n
    s2, mech_on = _grid_loads(net, sv, rk, conv_in, conv_q, mech, extra_src)
    # magnetising conductance of in-service transformer units on the HV bus
    tr_bus = np.flatnonzero(net.p2_is_tr)
    tr_e = net.p2_e[tr_bus]
    g_tr = np.where(sv.alive[tr_e], sv.active[tr_e] * net.t_p0[tr_e] / S_BASE_VA, 0.0)
    y2 = np.zeros(n2, dtype=complex)
    np.add.at(y2, net.p2_parent[tr_bus], g_tr)

    z_tr = np.zeros(n2, dtype=complex)
    z_tr[tr_bus] = net.t_z1[tr_e] / sv.n_act[tr_e]
    cab_bus = np.flatnonzero(net.p2_br == 2)
    cab_e = net.p2_e[cab_bus]
    zb_mv = net.mv_v**2 / S_BASE_VA
    ib_mv = S_BASE_VA / (SQRT3 * net.mv_v)
    x_cab = net.c_x_ohm_m[cab_e] * net.length_m[cab_e] / zb_mv
    seg_bus = net.p2.bus
    zf_seg2 = None
    if len(seg_bus):
        npar2 = sv.n_act[net.p2.busway]
        zf_seg2 = _segment_z_pu(
            net, net.p2.busway, net.p2.seg_len_m, net.voltage_v[net.p2.busway], npar2, fixed_t
        )

    def z2(j_abs):
        z = z_tr.copy()
        t = _conductor_temp_c(net, cab_e, j_abs[cab_bus] * ib_mv, fixed_t)
        z[cab_bus] = _cond_r_ohm(net, cab_e, net.length_m[cab_e], t) / zb_mv + 1j * x_cab
        if zf_seg2 is not None:
            z[seg_bus] = zf_seg2(j_abs[seg_bus])
        return z

    v_root2 = np.ones(n2, dtype=complex)
    res2 = ac_radial_sweep(net.p2_m, net.p2_root, v_root2, s2, y2, z2, tol=tol, max_iter=max_iter)
    lv.iterations += res2.iterations
    lv.converged &= res2.converged
    v2 = res2.v_pu
    loss2 = (res2.z_pu * np.abs(res2.j_pu) ** 2).real * S_BASE_VA
    shunt_loss = np.zeros(n2)
    shunt_loss[tr_bus] = g_tr * np.abs(v2[net.p2_parent[tr_bus]]) ** 2 * S_BASE_VA
    p_bus = (v2 * np.conj(res2.i_pu)).real
    grid_pu = float(np.sum(p_bus) + np.sum((res2.z_pu * np.abs(res2.j_pu) ** 2).real))
    # apparent power entering each branch (sending end) = V_parent conj(J)
    s_send = np.zeros(n2, dtype=complex)
    nr = net.p2_parent >= 0
    s_send[nr] = v2[net.p2_parent[nr]] * np.conj(res2.j_pu[nr]) * S_BASE_VA
    return _GridFlow(
        res2,
        loss2,
        shunt_loss,
        s_send,
        grid_pu * S_BASE_VA,
        g_tr,
        tr_bus,
        tr_e,
        cab_bus,
        cab_e,
        ib_mv,
        mech_on,
    )


def _grid_ladder_results(net: _Net, sv: _Service, gf: _GridFlow, lv: _LvState, fixed_t) -> None:
    """AC busways fed straight from a block's LV bus (no UPS): their segments are pass-2 branches."""
    p2 = net.p2
    res2 = gf.res
    v2 = res2.v_pu
    ib = S_BASE_VA / (SQRT3 * net.voltage_v[p2.busway])
    first = p2.parent_bus < p2.bus[0]
    lv.bw_i_a[p2.busway[first]] = np.abs(res2.j_pu[p2.bus[first]]) * ib[first]
    np.add.at(lv.bw_loss, p2.busway, gf.loss[p2.bus])
    lv.r_v_pu[p2.racks] = np.abs(v2[p2.bus])
    lv.r_src_v_pu[p2.racks] = np.abs(v2[net.e_bus_out[net.parent[p2.busway]]])
    npar2 = sv.n_act[p2.busway]
    lv.bw_temp[p2.busway] = _conductor_temp_c(net, p2.busway, lv.bw_i_a[p2.busway] / npar2, fixed_t)


def _node_results(
    net: _Net, sv: _Service, rk: _RackLoads, gf: _GridFlow, conv_out, conv_in, lv: _LvState, fixed_t
):
    """``res_nodes`` table (see ``ElectricalResult``) and the MV feeder loss of each node (W)."""
    n_e = net.n_e
    alive, n_act = sv.alive, sv.n_act
    res2, v2 = gf.res, gf.res.v_pu
    tr_bus, tr_e, cab_bus, cab_e = gf.tr_bus, gf.tr_e, gf.cab_bus, gf.cab_e
    loss = np.zeros(n_e)
    feeder_loss = np.zeros(n_e)
    p_in = np.zeros(n_e)
    loading = np.full(n_e, np.nan)
    feeder_loading = np.full(n_e, np.nan)
    v_out = np.full(n_e, np.nan)
    i_a = np.full(n_e, np.nan)
    temp = np.full(n_e, np.nan)
    # transformers (substation, mech, AC block): series + magnetising loss, loading on |S| at the HV side
    np.add.at(loss, tr_e, gf.loss[tr_bus] + gf.shunt_loss[tr_bus])
    s_tr = np.abs(gf.s_send[tr_bus]) + 0.0
    loading[tr_e] = s_tr / (n_act[tr_e] * net.t_sn[tr_e]) * 100.0
    v_out[tr_e] = np.abs(v2[tr_bus])
    # feeders
    feeder_loss[cab_e] = gf.loss[cab_bus]
    i_cab = np.abs(res2.j_pu[cab_bus]) * gf.ib_mv
    feeder_loading[cab_e] = i_cab / net.c_amp[cab_e] * 100.0
    p_in[cab_e] = gf.s_send[cab_bus].real
    temp[cab_e] = _conductor_temp_c(net, cab_e, i_cab, fixed_t)
    p_in[0] = gf.grid_w
    p_in[1] = gf.s_send[1].real + gf.shunt_loss[1]  # substation: into its HV side incl. magnetising
    p_in[net.is_mech] = gf.s_send[net.p2_mech_bus].real + gf.shunt_loss[net.p2_mech_bus]
    v_out[0] = abs(v2[0])
    loading[0] = gf.grid_w / net.grid_limit_w * 100.0
    # converters
    conv = net.is_conv
    loss[conv] = (conv_in - conv_out)[conv]
    loading[conv] = conv_out[conv] / (n_act[conv] * net.rating_w[conv]) * 100.0
    p_in[net.is_ups] = conv_in[net.is_ups]
    v_out[net.is_ups] = 1.0
    if net.arch == "dc800":
        v_out[net.is_blk] = 1.0
    # busways (the ladders also gave the rack voltages)
    isb = net.is_bw
    loss[isb] = lv.bw_loss[isb]
    i_a[isb] = lv.bw_i_a[isb]
    temp[isb] = lv.bw_temp[isb]
    loading[isb] = lv.bw_i_a[isb] / (n_act[isb] * net.c_amp[isb]) * 100.0
    r_in_bw = np.bincount(net.r_bw, weights=rk.input_w, minlength=n_e)
    p_in[isb] = (r_in_bw + lv.bw_loss)[isb]
    i_a[cab_e] = i_cab
    v_out[isb] = _lowest_rack_voltage_by_busway(net, lv.r_v_pu)[isb]
    loss = np.where(alive, loss, 0.0)
    loading = np.where(alive | (np.arange(n_e) == 0), loading, 0.0)
    res_nodes = pd.DataFrame(
        {
            "name": net.names,
            "kind": net.kind,
            "units": net.units,
            "units_in_service": np.where(np.arange(n_e) == 0, 1, sv.active),
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
    return res_nodes, feeder_loss


def _lowest_rack_voltage_by_busway(net: _Net, r_v_pu: np.ndarray) -> np.ndarray:
    """Lowest rack voltage (pu) on each elec node's busway; NaN for nodes without racks."""
    v_min_bw = np.full(net.n_e, np.nan)
    if net.n_r:
        v_min_bw_tmp = np.full(net.n_e, np.inf)
        np.minimum.at(v_min_bw_tmp, net.r_bw, r_v_pu)
        v_min_bw = np.where(np.isfinite(v_min_bw_tmp), v_min_bw_tmp, np.nan)
    return v_min_bw


def _rack_results(net: _Net, sv: _Service, rk: _RackLoads, lv: _LvState) -> pd.DataFrame:
    """``res_racks`` table (see ``ElectricalResult``); rack voltages are 0 when unpowered."""
    r_alive = sv.r_alive
    drop = np.where(r_alive, (lv.r_src_v_pu - lv.r_v_pu) * 100.0, 0.0)
    return pd.DataFrame(
        {
            "rack_power_w": rk.power_w,
            "input_power_w": rk.input_w,
            "input_reactive_power_var": rk.input_var,
            "conversion_loss_w": rk.conversion_loss_w,
            "conversion_load_pct": rk.power_w / net.r_cap_w * 100.0,
            "voltage_v": lv.r_v_pu * net.voltage_v[net.r_bw],
            "voltage_pu": lv.r_v_pu,
            "busway_drop_pct": drop,
            "powered": r_alive,
        }
    )


def _stage_losses(net: _Net, rk: _RackLoads, loss: np.ndarray, feeder_loss: np.ndarray) -> dict[str, float]:
    """Losses by conversion / distribution stage (``STAGES``), W."""
    stage = dict.fromkeys(STAGES, 0.0)
    stage["rack_conversion"] = float(rk.conversion_loss_w.sum())
    stage["busways"] = float(loss[net.is_bw].sum())
    stage["ups"] = float(loss[net.is_ups].sum())
    if net.arch == "ac":
        stage["lv_transformers"] = float(loss[net.is_blk].sum())
    else:
        stage["rectifiers"] = float(loss[net.is_blk].sum())
    stage["mv_feeders"] = float(feeder_loss.sum())
    stage["mech_transformers"] = float(loss[net.is_mech].sum())
    stage["substation"] = float(loss[1])
    return stage


def _kpis(net, rk, res_racks, gf, stage, extra_e, lv, violations) -> dict:
    """Facility-level figures of one solve (see ``ElectricalResult``)."""
    grid_w = gf.grid_w
    loss_total = sum(stage.values())
    it_w = float(rk.power_w.sum())
    mech_w = float(gf.mech_on.sum())
    extra_w = float(extra_e.sum())
    it_path_w = grid_w - mech_w - stage["mech_transformers"]
    r_alive = res_racks["powered"].to_numpy()
    r_v_pu = res_racks["voltage_pu"].to_numpy()
    min_v = float(r_v_pu[r_alive].min()) if r_alive.any() else float("nan")
    return {
        "architecture": net.arch,
        "facility_power_mw": grid_w / 1e6,
        "grid_limit_mw": net.grid_limit_w / 1e6,
        "it_power_mw": it_w / 1e6,
        "network_power_mw": extra_w / 1e6,
        "cooling_power_mw": mech_w / 1e6,
        "electrical_loss_mw": loss_total / 1e6,
        "electrical_loss_pct": loss_total / grid_w * 100.0 if grid_w > 0 else 0.0,
        "losses_mw_by_stage": {k: v / 1e6 for k, v in stage.items()},
        "losses_pct_by_stage": {k: (v / grid_w * 100.0 if grid_w > 0 else 0.0) for k, v in stage.items()},
        # IT delivery: IT power over the grid power of the IT path (cooling and its transformers left out)
        "efficiency_it_pct": (it_w + extra_w) / it_path_w * 100.0 if it_path_w > 0 else 0.0,
        "balance_error_w": grid_w - (it_w + extra_w + mech_w + loss_total),
        "converged": bool(lv.converged),
        "iterations": int(lv.iterations),
        "min_rack_voltage_pu": min_v,
        "racks_unpowered": int((~r_alive).sum()),
        "electrical_violations": len(violations),
        "violations": violations,
    }


# --------------------------------------------------------------------------------------------------------
# violations


def _violations(
    net: _Net, rn: pd.DataFrame, rr: pd.DataFrame, alive: np.ndarray, grid_w: float
) -> list[dict]:
    """Overloads (> 100 % of in-service units), voltages outside the layout's limits, lost supply."""
    return (
        _grid_limit(net, grid_w)
        + _node_overloads(net, rn, alive)
        + _transformer_voltages(net, rn, alive)
        + _rack_violations(net, rr)
        + _lost_supply(net, rr, alive)
    )


def _violation(component: str, kind: str, value: float, limit: float, message: str) -> dict:
    return dict(component=component, kind=kind, value=value, limit=limit, message=message)


def _grid_limit(net: _Net, grid_w: float) -> list[dict]:
    if grid_w <= net.grid_limit_w:
        return []
    lim = net.grid_limit_w / 1e6
    msg = f"grid power {grid_w / 1e6:.2f} MW exceeds the {lim:.2f} MW limit"
    return [_violation("grid", "grid_limit", grid_w / 1e6, lim, msg)]


def _node_overloads(net: _Net, rn: pd.DataFrame, alive: np.ndarray) -> list[dict]:
    """Nodes loaded above 100 % of their units in service, then MV feeders above their ampacity."""
    out = []
    names, kind = net.names, net.kind
    load = rn["loading_pct"].to_numpy()
    for i in np.flatnonzero((load > 100.0 + 1e-9) & (np.arange(net.n_e) > 0) & alive):
        msg = (
            f"{kind[i]} '{names[i]}' loaded {load[i]:.1f} % of its {int(rn['units_in_service'][i])} "
            f"unit(s) in service"
        )
        out.append(_violation(names[i], "overload", float(load[i]), 100.0, msg))
    fl = rn["feeder_loading_pct"].to_numpy()
    for i in np.flatnonzero((fl > 100.0 + 1e-9) & alive):
        msg = f"MV feeder of '{names[i]}' loaded {fl[i]:.1f} % of its ampacity"
        out.append(_violation(names[i], "overload", float(fl[i]), 100.0, msg))
    return out


def _transformer_voltages(net: _Net, rn: pd.DataFrame, alive: np.ndarray) -> list[dict]:
    """Bus voltages of transformer secondaries outside the layout's limits."""
    lo, hi = net.v_limits
    names = net.names
    v = rn["voltage_pu"].to_numpy()
    out = []
    for i in np.flatnonzero(net.is_tr & alive & ((v < lo) | (v > hi))):
        msg = f"voltage at '{names[i]}' is {v[i]:.4f} pu (limits {lo}-{hi})"
        out.append(_violation(names[i], "voltage", float(v[i]), lo if v[i] < lo else hi, msg))
    return out


def _rack_violations(net: _Net, rr: pd.DataFrame) -> list[dict]:
    """Rack voltages outside the limits, then racks above their shelf / DC-DC rating; one entry per busway."""
    lo, hi = net.v_limits
    names = net.names
    out = []
    rv = rr["voltage_pu"].to_numpy()
    bad = rr["powered"].to_numpy() & ((rv < lo) | (rv > hi))
    if bad.any():
        cnt = np.bincount(net.r_bw[bad], minlength=net.n_e)
        for i in np.flatnonzero(cnt):
            vmin = float(rv[bad & (net.r_bw == i)].min())
            msg = f"{cnt[i]} rack(s) on '{names[i]}' outside {lo}-{hi} pu (lowest {vmin:.4f} pu)"
            out.append(_violation(names[i], "voltage", vmin, lo, msg))
    over = rr["conversion_load_pct"].to_numpy() > 100.0 + 1e-9
    if over.any():
        cnt = np.bincount(net.r_bw[over], minlength=net.n_e)
        for i in np.flatnonzero(cnt):
            worst = float(rr["conversion_load_pct"].to_numpy()[over & (net.r_bw == i)].max())
            msg = f"{cnt[i]} rack(s) on '{names[i]}' above their power shelf / DC-DC rating"
            out.append(_violation(names[i], "overload", worst, 100.0, msg))
    return out


def _lost_supply(net: _Net, rr: pd.DataFrame, alive: np.ndarray) -> list[dict]:
    """The top-most dead node of each dead subtree, with the racks below it."""
    dead = ~alive
    top = dead & np.where(net.parent >= 0, alive[np.maximum(net.parent, 0)], True)
    if not top.any():
        return []
    names, kind = net.names, net.kind
    r_dead = ~rr["powered"].to_numpy()
    # racks below each top dead node: walk each dead rack's busway up to its top dead ancestor
    anc = net.r_bw.copy()
    top_of = np.full(net.n_r, -1, dtype=np.int64)
    for _ in range(int(net.e_depth.max()) + 1):
        hit = top[anc] & (top_of < 0)
        top_of[hit] = anc[hit]
        anc = np.where(net.parent[anc] >= 0, net.parent[anc], anc)
    cnt = np.bincount(top_of[r_dead & (top_of >= 0)], minlength=net.n_e)
    out = []
    for i in np.flatnonzero(top):
        msg = f"all units of {kind[i]} '{names[i]}' out of service: {cnt[i]} rack(s) lose power"
        if kind[i] in ("mech_feed", "substation"):
            msg += "; pumps, fans and chillers lose power"
        out.append(_violation(names[i], "lost_supply", float(cnt[i]), 0.0, msg))
    return out
