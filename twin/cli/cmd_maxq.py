"""``twin maxq``: GPU power caps for the most tokens/s within a grid budget, policies compared, site sizing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from twin.cli.common import app, err, guarded, out, prepare_out_dir, print_json, write_kpis, write_table
from twin.errors import InputError

POLICY_HELP = "maxq (optimal per-GPU caps), uniform (one cap fraction for all), maxp (no caps), all (compare)"

KPI_KEYS = (
    "policy",
    "budget_mw",
    "feasible",
    "facility_power_mw",
    "it_power_mw",
    "network_power_mw",
    "cooling_power_mw",
    "electrical_loss_mw",
    "pue",
    "tokens_per_s",
    "tokens_per_joule",
    "max_junction_c",
    "min_margin_k",
    "gpus_on",
    "racks_on",
    "throttled_racks",
    "over_temperature_racks",
    "floor_mw",
    "binding_constraints",
    "shadow_price_tokens_per_s_per_mw",
    "cap_fraction",
    "racks_off",
    "racks_shed",
    "warnings",
    "outer_iterations",
    "optimizer_converged",
    "outer_converged",
    "converged",
)


def _kpis(res) -> dict:
    k = {key: res.kpis[key] for key in KPI_KEYS if key in res.kpis}
    if res.gpu_cap_w is not None:
        caps = np.asarray(res.gpu_cap_w, dtype=float)
        k["gpu_cap_w_min"], k["gpu_cap_w_mean"], k["gpu_cap_w_max"] = (
            float(caps.min()),
            float(caps.mean()),
            float(caps.max()),
        )
    return k


@app.command()
@guarded
def maxq(
    layout: Path = typer.Argument(None, help="facility layout YAML (for --size: template layout, optional)"),
    budget_mw: float = typer.Option(None, "--budget-mw", help="grid power budget at the utility meter, MW"),
    policy: str = typer.Option("maxq", "--policy", help=POLICY_HELP),
    ambient_c: float = typer.Option(None, "--ambient-c", help="outdoor dry bulb, C (default: site design)"),
    supply_c: float = typer.Option(None, "--supply-c", help="facility water supply setpoint override, C"),
    variation_sigma: float = typer.Option(
        0.0, "--variation-sigma", help="per-GPU throughput variation (log-sigma); > 0 gives per-GPU caps"
    ),
    seed: int = typer.Option(0, "--seed", help="seed of the per-GPU variation"),
    max_outer: int = typer.Option(
        15, "--max-outer", min=1, help="Max-Q: most linearisations of the facility"
    ),
    size: bool = typer.Option(False, "--size", help="size a site: GPUs that fit --site-mw, Max-P vs Max-Q"),
    site_mw: float = typer.Option(None, "--site-mw", help="site power envelope for --size, MW"),
    rack_type: str = typer.Option(None, "--rack-type", help="rack type for --size (catalog name)"),
    headroom_pct: float = typer.Option(
        0.0, "--headroom-pct", help="--size: provisioning headroom above nameplate reserved under Max-P, %"
    ),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object (for scripts)"),
    out_dir: Path = typer.Option(
        None, "--out", help="write res_racks / res_constraints tables and kpis.json"
    ),
    force: bool = typer.Option(False, "--force", help="allow writing into a non-empty --out directory"),
) -> None:
    """Max-Q: choose GPU power caps that maximise tokens/s within a grid budget (or size a site with --size)."""
    if size:
        _size(layout, site_mw, rack_type, ambient_c, headroom_pct, json_out, out_dir, force)
        return
    if layout is None:
        raise InputError("a LAYOUT file is needed (or use --size)")
    if budget_mw is None:
        raise InputError("--budget-mw is required")
    pols = ("maxq", "uniform", "maxp") if policy == "all" else (policy,)
    from twin.maxq.optimize import POLICIES, optimize_maxq
    from twin.model import load_model

    for p in pols:
        if p not in POLICIES:
            raise InputError(f"unknown policy '{p}' (choose from maxq, uniform, maxp, all)")
    if out_dir is not None:
        prepare_out_dir(out_dir, force)
    model = load_model(layout)
    results = [
        optimize_maxq(
            model,
            budget_mw=budget_mw,
            policy=p,
            ambient_c=ambient_c,
            supply_c=supply_c,
            variation_sigma=variation_sigma,
            seed=seed,
            max_outer=max_outer,
        )
        for p in pols
    ]
    infeasible = [r for r in results if not r.feasible]
    if out_dir is not None and not infeasible:
        for r in results:
            suffix = "" if len(results) == 1 else f"_{r.policy}"
            write_table(r.res_racks.assign(name=model.rack_names()), out_dir, f"res_racks{suffix}")
            if not r.res_constraints.empty:
                write_table(r.res_constraints, out_dir, f"res_constraints{suffix}")
            if r.gpu_cap_w is not None and len(r.gpu_cap_w) != model.n_racks:
                write_table(pd.DataFrame({"gpu_cap_w": r.gpu_cap_w}), out_dir, f"res_gpus{suffix}")
        kp = [_kpis(r) for r in results]
        write_kpis(out_dir, kp[0] if len(kp) == 1 else {"policies": kp})
    if json_out:
        kp = [_kpis(r) for r in results]
        print_json(kp[0] if len(kp) == 1 else {"budget_mw": budget_mw, "policies": kp})
    else:
        _print_table(results)
    for r in results:
        # a feasible answer that is not proven optimal (or has limits no cap can meet) is not an error (exit 0),
        # but it must not pass silently
        if not r.feasible:
            continue
        if r.kpis.get("outer_converged") is False:
            err.print(
                f"warning: {r.policy}: the optimizer did not converge; the caps returned are the best verified "
                "feasible ones found (outer_converged = false)",
                style="bold yellow",
                markup=False,
                highlight=False,
            )
        for w in r.kpis.get("warnings", []):
            if "did not converge" not in w:
                err.print(f"warning: {r.policy}: {w}", style="yellow", markup=False, highlight=False)
        n_hot = int(r.kpis.get("over_temperature_racks", 0) or 0)
        if n_hot:
            err.print(
                f"warning: {r.policy}: {n_hot} rack(s) above the throttle temperature even at minimum GPU power",
                style="yellow",
                markup=False,
                highlight=False,
            )
    if infeasible:
        r = infeasible[0]
        err.print(f"error: {r.reason}", style="bold red", markup=False, highlight=False)
        raise typer.Exit(2)


def _print_table(results) -> None:
    t = Table(title="Max-Q power capping", title_justify="left")
    # two-line headers and compact figures so the table fits an 80-column terminal without truncating numbers
    for c in (
        "policy",
        "facility\nMW",
        "IT\nMW",
        "cooling\nMW",
        "losses\nMW",
        "PUE",
        "tokens/s\n(M)",
        "tokens\nper J",
        "binding",
    ):
        left = c in ("policy", "binding")
        t.add_column(
            c,
            justify="left" if left else "right",
            overflow="fold",
            no_wrap=c != "binding",
            min_width=8 if c == "binding" else None,
        )
    for r in results:
        k = r.kpis
        if not r.feasible:
            t.add_row(r.policy, "-", "-", "-", "-", "-", "-", "-", f"infeasible (floor {r.floor_mw:,.3f} MW)")
            continue
        bind = ", ".join(b["kind"] for b in k.get("binding_constraints", [])) or "none"
        t.add_row(
            r.policy,
            f"{k['facility_power_mw']:,.2f}",
            f"{k['it_power_mw']:,.1f}",
            f"{k['cooling_power_mw']:,.2f}",
            f"{k['electrical_loss_mw']:,.2f}",
            f"{k['pue']:.4f}",
            f"{k['tokens_per_s'] / 1e6:,.2f}",
            f"{k['tokens_per_joule']:.4f}",
            bind,
        )
    out.print(t)
    for r in results:
        sp = r.kpis.get("shadow_price_tokens_per_s_per_mw")
        if r.feasible and sp:
            # name the limit that binds at the meter (budget, grid connection or substation firm kVA rating)
            fac = [b["name"] for b in r.kpis.get("binding_constraints", []) if b.get("kind") == "facility"]
            what = fac[0] if fac else "grid capacity"
            out.print(f"{r.policy}: 1 MW more of the {what} = {sp:,.0f} tokens/s")


def _size(layout, site_mw, rack_type, ambient_c, headroom_pct, json_out, out_dir, force) -> None:
    if site_mw is None or rack_type is None:
        raise InputError("--size needs --site-mw and --rack-type")
    from twin.maxq.sizing import size_site

    if out_dir is not None:
        prepare_out_dir(out_dir, force)
    res = size_site(site_mw, rack_type, ambient_c=ambient_c, template=layout, headroom_pct=headroom_pct)
    if out_dir is not None:
        (out_dir / "sizing.json").write_text(json.dumps(res, indent=2, default=str))
    if json_out:
        print_json(res)
        return
    ref = res["nvidia_reference"]
    t = Table(
        title=f"Sizing {site_mw:,.0f} MW with {rack_type} (template {res['template']})", title_justify="left"
    )
    for c in ("", "facility kW / rack", "racks", "GPUs", "tokens/s"):
        t.add_column(c, justify="left" if not c else "right")
    t.add_row(
        "Max-P",
        f"{res['facility_w_per_rack_maxp'] / 1e3:,.1f}",
        f"{res['racks_maxp']:,}",
        f"{res['gpus_maxp']:,}",
        f"{res['tokens_per_s_maxp']:,.0f}",
    )
    t.add_row(
        "Max-Q",
        f"{res['facility_w_per_rack_maxq'] / 1e3:,.1f}",
        f"{res['racks_maxq']:,}",
        f"{res['gpus_maxq']:,}",
        f"{res['tokens_per_s_maxq']:,.0f}",
    )
    out.print(t)
    d = res["gain_decomposition"]
    out.print(
        f"GPU gain x{res['gpu_gain']:.3f} = caps at efficiency point x{d['caps_at_efficiency_point']:.3f} "
        f"* overhead at real load x{d['overhead_at_real_load']:.3f} * ambient x{d['ambient']:.3f} "
        f"* provisioning headroom removed x{d['provisioning_headroom_removed']:.3f}"
    )
    out.print(
        f"NVIDIA (at {ref['site_mw']:,.0f} MW): {ref['gpus_maxp']:,} -> {ref['gpus_maxq']:,} GPUs "
        f"(x{ref['gpus_maxq'] / ref['gpus_maxp']:.3f}); not explained by this model: "
        f"x{res['unexplained_vs_nvidia']:.3f}"
    )
