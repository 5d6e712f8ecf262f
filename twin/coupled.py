"""Coupled steady state: GPU caps -> rack IT power -> thermal <-> electrical (+ fabric power), to a fixed point.

Per rack: GPU power ``p`` (the cap, or less when throttled), rack IT power ``P = other_power_w + gpus p``
(Grace CPUs, NICs and NVLink switch trays are in ``other_power_w``, from the catalog). The fabric switches'
power (``twin.network.fabric_power``) is fed electrically from each pod's first busway and released as heat
into the hall air. One pass:

  1. thermal solve with the rack powers and the hall air heat (switches + in-hall electrical losses) ->
     coolant temperatures, GPU junction temperatures ``T_j``, cooling (mechanical) power per hall;
  2. junction throttling: a GPU above its throttle temperature runs at the power that holds it there. With
     the cold-plate law ``T_j = T_coolant + R p`` (R per GPU, K/W; catalog) the next power is the Newton step
     ``p <- min(cap, p + (T_throttle - T_j) / R)`` (never below the minimum power limit: a GPU that would need
     less is reported as over temperature, not hidden);
  3. electrical solve with the rack powers, the mechanical loads and the fabric power -> losses, grid power;
     the losses released inside the halls (rack conversion, busways, UPS) go back to step 1 as air heat.

The loop stops when the GPU powers and the grid power change by less than ``tol`` (relative) between passes,
or, warm-started from a nearby state, when the GPU powers are settled and the in-hall losses taken as air heat
match the electrical solve's within ``tol / 2`` of the grid power (the grid power then moves by less than
``tol`` in any further pass, the cooling taking less than 1 W per W of air heat).
Energy balance reported: grid = IT + fabric + cooling + losses (``balance_error_w``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from twin.errors import InputError
from twin.perf import PerfModel, perf_model
from twin.perf import tokens_per_s as rack_tokens_per_s

if TYPE_CHECKING:
    from twin.electrical.results import ElectricalResult
    from twin.model import FacilityModel
    from twin.thermal.results import ThermalResult

__all__ = ["CoupledResult", "gpu_caps_per_rack", "solve_coupled"]


@dataclass
class CoupledResult:
    """res_racks: one row per rack (gpu_cap_w, gpu_power_w, throttled, rack_power_w, junction_c, margin_k,
    relative_throughput, tokens_per_s); kpis: see ``solve_coupled``; thermal / electrical: the last results."""

    res_racks: pd.DataFrame
    kpis: dict
    thermal: ThermalResult
    electrical: ElectricalResult
    network_power_w_by_pod: np.ndarray
    converged: bool
    iterations: int
    tolerance: float
    history: list[float] = field(default_factory=list)

    @property
    def facility_power_w(self) -> float:
        return float(self.electrical.grid_power_w)


def gpu_caps_per_rack(
    model, gpu_cap_w, perf: PerfModel | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Normalise caps: None (Max-P: power_max), a scalar W, (n_racks,) W or (n_gpus,) W.

    Returns (mean GPU power cap per rack (n_racks,), per-GPU caps or None). A cap above power_max_w is not an
    error (the GPU simply does not draw more); a cap below the minimum power limit is.
    """
    perf = perf or perf_model(model)
    pmax, pmin, gpus = perf.gpu_power_max_w, perf.gpu_power_min_w, perf.gpus
    n_r, n_g = len(pmax), int(gpus.sum())
    per_gpu = None
    if gpu_cap_w is None:
        cap = pmax.copy()
    else:
        c = np.asarray(gpu_cap_w, dtype=float)
        if not np.all(np.isfinite(c)):
            raise InputError("gpu_cap_w must be finite")
        if c.ndim == 0:
            cap = np.full(n_r, float(c))
        elif c.shape == (n_r,):
            cap = c.copy()
        elif c.shape == (n_g,):
            rack_of = np.repeat(np.arange(n_r), gpus)
            lo = c < pmin[rack_of] * (1 - 1e-9)
            if lo.any():
                k = int(np.flatnonzero(lo)[0])
                raise InputError(
                    f"GPU cap {c[k]:.1f} W of GPU {k} is below the minimum power limit {pmin[rack_of[k]]:.0f} W"
                )
            per_gpu = np.minimum(c, pmax[rack_of])
            cap = np.bincount(rack_of, weights=per_gpu, minlength=n_r) / gpus
        else:
            raise InputError(
                f"gpu_cap_w must be a scalar, ({n_r},) per rack or ({n_g},) per GPU; got {c.shape}"
            )
    low = cap < pmin * (1 - 1e-9)
    if low.any():
        k = int(np.flatnonzero(low)[0])
        raise InputError(
            f"GPU cap {cap[k]:.1f} W (rack {k}) is below the GPU minimum power limit {pmin[k]:.0f} W"
        )
    return np.minimum(cap, pmax), per_gpu


def solve_coupled(
    model: FacilityModel,
    *,
    gpu_cap_w=None,
    ambient_c: float | None = None,
    supply_c: float | None = None,
    wet_bulb_c: float | None = None,
    failed=(),
    racks_on: np.ndarray | None = None,
    variation: np.ndarray | None = None,
    perf: PerfModel | None = None,
    tol: float = 1e-6,
    max_iter: int = 40,
    warm: CoupledResult | None = None,
    stop_when_consistent: bool | None = None,
    tcs_flow_scale=None,
) -> CoupledResult:
    """Coupled thermal-electrical-network steady state of the facility at the given GPU caps.

    Parameters
    ----------
    model : FacilityModel
    gpu_cap_w : None, float or array
        GPU power caps, W: None (no caps: every GPU at power_max_w), one for all, (n_racks,) or (n_gpus,).
    ambient_c, wet_bulb_c : float, optional
        Outdoor dry and wet bulb, C (default: the site's design values; the wet bulb is derived by the thermal
        solver from the site's design humidity ratio when only the dry bulb is given).
    supply_c : float or array-like of shape (n_halls,), optional
        Facility-water supply setpoint, C: one for every hall or one per hall (``twin.thermal.solve_thermal``).
    failed : iterable of str
        Unit names; electrical node names go to the electrical solve, the rest to the thermal solve.
    racks_on : numpy.ndarray of bool, shape (n_racks,), optional
        Racks switched off draw nothing and make no tokens (Max-P sizing, shedding).
    variation : numpy.ndarray, optional
        Per-GPU throughput multipliers (``twin.perf.gpu_variation``).
    perf : PerfModel, optional
        The throughput model (built from the model when not given).
    tol : float
        Relative change of GPU powers and grid power between passes that ends the fixed point.
    max_iter : int
        Most passes.
    warm : CoupledResult, optional
        A solved state nearby (e.g. the previous iterate of an optimiser), to start the fixed point from: its
        in-hall losses (scaled per hall by the rack power ratio), its GPU powers where its racks throttled, and
        its coolant property temperatures. The fixed point and its stopping test are unchanged, so the answer
        agrees with a cold start within ``tol``; it takes fewer passes.
    tcs_flow_scale : float or array-like of shape (n_halls,), optional
        TCS flow per kW setpoint over the design value, one or one per hall (``twin.thermal.solve_thermal``).
    stop_when_consistent : bool, optional
        Accept a pass whose in-hall losses match the electrical solve's within ``tol / 2`` of the grid power
        (module docstring) instead of waiting for a pass that changes nothing; None: only when ``warm`` is
        given. The optimisers use it; the default keeps ``twin solve``'s figures as recorded.

    Returns
    -------
    CoupledResult
        ``res_racks`` (on, powered, gpu_cap_w [W], gpu_power_w [W], throttled, over_temperature,
        rack_power_w [W], junction_c [C], margin_k [K], relative_throughput [-], tokens_per_s) and ``kpis``:
        facility_power_mw, it_power_mw (racks), network_power_mw (fabric switches), cooling_power_mw,
        electrical_loss_mw (rack conversion included), rack_conversion_loss_mw (rack power shelves / DC-DC),
        it_input_power_mw (IT equipment input: racks before their power shelves + network), pue = facility /
        IT input (The Green Grid, PUE: A Comprehensive Examination of the Metric, 2012), itue = IT input / IT
        power at the components and tue = itue x pue = facility / (racks + network) (Patterson et al., "TUE, a
        new energy-efficiency metric applied at ORNL's Jaguar", ISC 2013), max_junction_c, min_margin_k (throttle temperature
        minus junction), throttled_racks, over_temperature_racks, racks_on, racks_unpowered, gpus_on,
        tokens_per_s, tokens_per_joule [tokens/J], converged, iterations, tolerance, balance_error_w
        (grid - IT - fabric - cooling - losses), thermal_converged, electrical_converged.
    """
    perf = perf or perf_model(model)
    cap, per_gpu = gpu_caps_per_rack(model, gpu_cap_w, perf)
    n_r = model.n_racks
    on_user = np.ones(n_r, bool) if racks_on is None else np.asarray(racks_on, dtype=bool)
    if on_user.shape != (n_r,):
        raise InputError(f"racks_on must have one value per rack ({n_r})")
    elec_names = set(model.elec["name"])
    failed = tuple(failed)
    f_el = tuple(f for f in failed if f in elec_names)
    f_th = tuple(f for f in failed if f not in elec_names)
    net_pod, net_hall, net_total = _fabric_heat(model)
    it = _iterate(
        model,
        perf,
        cap,
        on_user,
        f_th,
        f_el,
        net_pod,
        net_hall,
        ambient_c,
        wet_bulb_c,
        supply_c,
        tol,
        max_iter,
        warm,
        warm is not None if stop_when_consistent is None else bool(stop_when_consistent),
        tcs_flow_scale,
    )
    th, el, rack_power = it["thermal"], it["electrical"], it["rack_power"]
    res = _rack_table(model, perf, cap, per_gpu, on_user, rack_power, th, el, variation)
    kpis = _kpis(res, th, el, on_user, perf, net_total, it, tol)
    return CoupledResult(
        res_racks=res,
        kpis=kpis,
        thermal=th,
        electrical=el,
        network_power_w_by_pod=net_pod,
        converged=it["converged"],
        iterations=it["iterations"],
        tolerance=tol,
        history=it["history"],
    )


def _fabric_heat(model: FacilityModel) -> tuple[np.ndarray, np.ndarray, float]:
    """Fabric power per pod (W, fed from the pod's busways), its heat per hall (W, into the hall air), total W.

    Fabric power does not depend on the load: computed once per model (``model.derived``)."""
    from twin.network.power import fabric_power

    fab = model.derived("coupled.fabric_power", lambda: fabric_power(model))
    net_pod = np.asarray(fab["power_w_by_pod"], dtype=float)
    net_hall = np.bincount(model.pods["hall"].to_numpy(), weights=net_pod, minlength=len(model.halls))
    return net_pod, net_hall, float(fab["total_w"])


def _iterate(
    model,
    perf,
    cap,
    on_user,
    f_th,
    f_el,
    net_pod,
    net_hall,
    ambient_c,
    wet_bulb_c,
    supply_c,
    tol,
    max_iter,
    warm=None,
    stop_consistent=False,
    tcs_flow_scale=None,
):
    """The fixed point: thermal -> throttling -> electrical -> in-hall losses, until powers stop changing."""
    from twin.electrical import solve_electrical
    from twin.thermal.solve import solve_thermal_state

    racks = model.racks
    other = racks["other_power_w"].to_numpy(dtype=float)
    gpus = perf.gpus.astype(float)
    r_cp = racks["cold_plate_r_k_per_w"].to_numpy(dtype=float)
    t_thr = racks["t_throttle_c"].to_numpy(dtype=float)
    pmin = perf.gpu_power_min_w
    n_halls = len(model.halls)
    n_r = model.n_racks
    on = on_user
    p = np.where(on, cap, 0.0)
    loss_hall = np.zeros(n_halls)
    t_start = None
    if warm is not None:
        p, loss_hall, t_start = _warm_start(model, warm, cap, on, other, gpus, n_halls)
    grid_prev = np.nan
    hist: list[float] = []
    converged = False
    th = el = rack_power = None
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (reported as the iteration count)
        rack_power = np.where(on, other + gpus * p, 0.0)
        th = solve_thermal_state(
            model,
            rack_power_w=rack_power,
            ambient_c=ambient_c,
            wet_bulb_c=wet_bulb_c,
            supply_c=supply_c,
            failed=f_th,
            extra_air_heat_w_by_hall=net_hall + loss_hall,
            t_start=t_start,
            # warm-started optimiser solves: the first pass takes one property pass (the next pass starts
            # from it); a pass is accepted only with its properties settled (residual_k below)
            max_passes=1 if stop_consistent and it == 1 else None,
            tcs_flow_scale=tcs_flow_scale,
        )
        t_start = th.property_temps_c  # the next pass starts from this one's coolant property temperatures
        # a rack whose loop lost every CDU has no cooling: its GPUs' thermal protection shuts it down, so it is
        # off (no power, heat or tokens), as a rack without electrical supply is
        cooled = np.asarray(th.cooled, dtype=bool)
        tj = np.asarray(th.junction_c, dtype=float)
        # throttling: Newton step on T_j = T_coolant + R p with R the cold-plate resistance at the solved flow,
        # never above the cap nor below the minimum limit
        ok = on & cooled
        r_cp = np.where(ok, np.asarray(th.r_cold_plate_k_per_w, dtype=float), r_cp)
        step = np.divide(t_thr - tj, r_cp, out=np.zeros(n_r), where=ok)
        p_new = np.where(ok, np.clip(np.minimum(cap, p + step), pmin, cap), 0.0)
        el = solve_electrical(
            model,
            rack_power_w=rack_power,
            mech_power_w_by_hall=np.asarray(th.mech_power_w_by_hall, dtype=float),
            extra_it_power_w_by_pod=net_pod,
            failed=f_el,
        )
        loss_used = loss_hall
        loss_hall = _in_hall_losses(model, el, n_halls)
        # racks the electrical solve leaves without supply (failed feeds) draw nothing, make no heat nor tokens
        live = on_user & el.res_racks["powered"].to_numpy(dtype=bool) & cooled
        lost = bool(np.any(live != on))
        on = live
        grid = float(el.grid_power_w)
        hist.append(grid)
        dp = float(np.max(np.abs(p_new - p) / np.maximum(cap, 1.0), initial=0.0))
        dg = abs(grid - grid_prev) / max(abs(grid), 1.0) if np.isfinite(grid_prev) else np.inf
        p_changed = dp > tol or lost
        p = np.where(on, p_new, 0.0)
        # warm start: this pass is also accepted when the in-hall losses its thermal solve took as air heat
        # differ from those its electrical solve found by at most tol / 2 of the grid power in total; the
        # cooling power per W of air heat is below 1 W/W (COP > 1), so the grid power of the consistent state
        # is then within tol of this one (the next pass would only confirm it)
        consistent = (
            stop_consistent
            and th.residual_k <= _PROPERTY_TOL_K
            and float(np.sum(np.abs(loss_hall - loss_used))) <= 0.5 * tol * abs(grid)
        )
        if not p_changed and (dg <= tol or consistent):
            converged = True
            break
        grid_prev = grid
    return {
        "thermal": th.result() if th is not None else None,  # the tables of the last pass only
        "electrical": el,
        "rack_power": rack_power,
        "converged": converged,
        "iterations": it,
        "history": hist,
    }


_PROPERTY_TOL_K = 1e-4  # K: coolant property temperatures settled (twin.thermal.solve._PROPERTY_TOL_K)


def _warm_start(model, warm: CoupledResult, cap, on, other, gpus, n_halls):
    """First GPU powers, in-hall losses (W per hall) and coolant property temperatures from a nearby state.

    GPU powers: the cap, or where the warm state's rack throttled, its power (never above the cap). In-hall
    losses (rack conversion, busways, UPS): the warm state's, scaled per hall by the ratio of rack power (the
    conversion losses dominate and scale with the load)."""
    wr = warm.res_racks
    p_w = wr["gpu_power_w"].to_numpy(dtype=float)
    thr = wr["throttled"].to_numpy(dtype=bool)
    p = np.where(on, np.where(thr, np.minimum(cap, p_w), cap), 0.0)
    hall = model.racks["hall"].to_numpy()
    rp_w = np.bincount(hall, weights=wr["rack_power_w"].to_numpy(dtype=float), minlength=n_halls)
    rp = np.bincount(hall, weights=np.where(on, other + gpus * p, 0.0), minlength=n_halls)
    loss_w = _in_hall_losses(model, warm.electrical, n_halls)
    ratio = np.divide(rp, rp_w, out=np.ones(n_halls), where=rp_w > 0)
    return p, loss_w * ratio, warm.thermal.property_temps_c


def _rack_throughput(model, perf, cap, per_gpu, on, p_solved, variation):
    """Relative throughput per GPU (mean per rack) and tokens/s per rack at the solved GPU powers."""
    n_r = model.n_racks
    gpus = perf.gpus.astype(float)
    pmin = perf.gpu_power_min_w
    rel = np.zeros(n_r)
    tok = np.zeros(n_r)
    if on.any() and per_gpu is not None:
        # per-GPU caps: each GPU runs at its own cap, scaled down with its rack when the rack throttles
        rack_of = np.repeat(np.arange(n_r), perf.gpus)
        # a throttled rack: each GPU moves from its cap towards the minimum limit by the same fraction t, so the
        # GPUs stay within [p_min, cap] and their mean is the solved rack power (p_min + t (cap - p_min))
        span = cap - pmin
        t = np.where(on & (span > 0), (p_solved - pmin) / np.where(span > 0, span, 1.0), 1.0)
        t = np.clip(t, 0.0, 1.0)
        pg = pmin[rack_of] + t[rack_of] * (per_gpu - pmin[rack_of])
        rel_g = perf.fraction_value(
            np.minimum(pg / perf.gpu_power_max_w[rack_of], 1.0), perf.curve_id[rack_of]
        )
        tok_g = perf.tokens_full_per_gpu[rack_of] * rel_g
        if variation is not None:
            tok_g = tok_g * np.asarray(variation, dtype=float)
        rel = np.where(on, np.bincount(rack_of, weights=rel_g, minlength=n_r) / gpus, 0.0)
        tok = np.where(on, np.bincount(rack_of, weights=tok_g, minlength=n_r), 0.0)
    elif on.any():
        p_eval = np.where(on, np.maximum(p_solved, pmin), pmin)
        rel = np.where(on, perf.fraction_value(np.minimum(p_eval / perf.gpu_power_max_w, 1.0)), 0.0)
        if variation is not None:
            tok = np.where(on, rack_tokens_per_s(model, p_eval, perf, variation), 0.0)
        else:
            tok = np.where(on, rack_tokens_per_s(model, p_eval, perf), 0.0)
    return rel, tok


def _rack_table(model, perf, cap, per_gpu, on_user, rack_power, th, el, variation) -> pd.DataFrame:
    """The last solved state per rack (the GPU powers that produced it); a rack that lost its supply is off."""
    racks = model.racks
    other = racks["other_power_w"].to_numpy(dtype=float)
    gpus = perf.gpus.astype(float)
    t_thr = racks["t_throttle_c"].to_numpy(dtype=float)
    pmin = perf.gpu_power_min_w
    on = rack_power > 0
    p_solved = np.where(on, (rack_power - other) / gpus, 0.0)
    tj = th.res_racks["junction_c"].to_numpy(dtype=float)
    margin = np.where(on, t_thr - tj, np.inf)
    # a GPU pinned at its minimum limit and still above its throttle temperature: over temperature
    over = on & (margin < -1e-6) & (p_solved <= pmin * (1 + 1e-9))
    rel, tok = _rack_throughput(model, perf, cap, per_gpu, on, p_solved, variation)
    return pd.DataFrame(
        {
            "on": on,
            "powered": el.res_racks["powered"].to_numpy(dtype=bool) | ~on_user,
            "gpu_cap_w": np.where(on, cap, 0.0),
            "gpu_power_w": p_solved,
            "throttled": on & (p_solved < cap * (1 - 1e-6)),
            "over_temperature": over,
            "rack_power_w": rack_power,
            "junction_c": np.where(on, tj, np.nan),
            "margin_k": np.where(on, margin, np.nan),
            "relative_throughput": rel,
            "tokens_per_s": tok,
        }
    )


def _kpis(res, th, el, on_user, perf, net_total, it, tol) -> dict:
    on = res["on"].to_numpy()
    rack_power = res["rack_power_w"].to_numpy()
    tj = res["junction_c"].to_numpy()
    margin = res["margin_k"].to_numpy()
    it_w = float(rack_power.sum())
    # the rack power shelves / DC-DC converters are part of the IT equipment: The Green Grid measures IT energy
    # at the IT equipment's input, so their loss is IT energy for PUE (and overhead only for TUE)
    conv_w = float(el.res_racks["conversion_loss_w"].to_numpy(dtype=float).sum())
    mech_w = float(np.sum(th.mech_power_w_by_hall))
    loss_w = float(el.kpis["electrical_loss_mw"]) * 1e6
    grid = float(el.grid_power_w)
    tokens = float(res["tokens_per_s"].sum())
    return {
        "facility_power_mw": grid / 1e6,
        "it_power_mw": it_w / 1e6,
        "network_power_mw": net_total / 1e6,
        "cooling_power_mw": mech_w / 1e6,
        "electrical_loss_mw": loss_w / 1e6,
        "rack_conversion_loss_mw": conv_w / 1e6,
        "it_input_power_mw": (it_w + conv_w + net_total) / 1e6,
        "pue": grid / max(it_w + conv_w + net_total, 1e-300),
        "itue": (it_w + conv_w + net_total) / max(it_w + net_total, 1e-300),
        "tue": grid / max(it_w + net_total, 1e-300),
        "max_junction_c": float(np.max(tj[on])) if on.any() else float("nan"),
        "min_margin_k": float(np.min(margin[on])) if on.any() else float("nan"),
        "throttled_racks": int(res["throttled"].sum()),
        "over_temperature_racks": int(res["over_temperature"].sum()),
        "racks_on": int(on.sum()),
        "racks_unpowered": int(np.count_nonzero(on_user & ~res["powered"].to_numpy())),
        "racks_uncooled": int(np.count_nonzero(on_user & ~th.res_racks["cooled"].to_numpy(dtype=bool))),
        "gpus_on": int(perf.gpus[on].sum()),
        "tokens_per_s": tokens,
        "tokens_per_joule": tokens / grid if grid > 0 else 0.0,
        "converged": bool(it["converged"]),
        "iterations": it["iterations"],
        "tolerance": tol,
        "balance_error_w": grid - (it_w + net_total + mech_w + loss_w),
        "thermal_converged": bool(th.kpis["converged"]),
        "electrical_converged": bool(el.kpis["converged"]),
    }


def _in_hall_losses(model: FacilityModel, el: ElectricalResult, n_halls: int) -> np.ndarray:
    """Electrical losses released as heat inside each hall: rack conversion, busways, UPS (W per hall)."""
    rr = el.res_racks
    out = np.bincount(
        model.racks["hall"].to_numpy(),
        weights=rr["conversion_loss_w"].to_numpy(dtype=float),
        minlength=n_halls,
    )
    kind = model.elec["kind"].to_numpy()
    hall = model.elec["hall"].to_numpy()
    inside = np.isin(kind, ("busway", "ups")) & (hall >= 0)
    return out + np.bincount(
        hall[inside], weights=el.res_nodes["loss_w"].to_numpy(dtype=float)[inside], minlength=n_halls
    )
