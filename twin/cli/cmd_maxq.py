"""``twin maxq``: GPU power caps for the most tokens/s within a grid budget, policies compared, site sizing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer
from rich.table import Table

from twin.cli.common import (
    AmbOpt,
    CatalogOpt,
    FailOpt,
    ForceOpt,
    JsonOpt,
    OutOpt,
    SupOpt,
    WbOpt,
    app,
    catalogs,
    err,
    finish,
    guarded,
    out,
    prepare_out,
    print_json,
    warn,
    working,
)
from twin.errors import InputError

POLICY_HELP = "maxq (optimal per-GPU caps), uniform (one cap fraction for all), maxp (no caps), all (compare)"


@app.command()
@guarded
def maxq(
    layout: Path = typer.Argument(None, help="facility layout YAML (for --size: template layout, optional)"),
    budget_mw: float = typer.Option(None, "--budget-mw", help="grid power budget at the utility meter, MW"),
    policy: str = typer.Option("maxq", "--policy", help=POLICY_HELP),
    ambient_c: float = AmbOpt,
    wet_bulb_c: float = WbOpt,
    supply_c: float = SupOpt,
    fail: list[str] = FailOpt,
    variation_sigma: float = typer.Option(
        0.0, "--variation-sigma", help="per-GPU throughput variation (log-sigma); > 0 gives per-GPU caps"
    ),
    seed: int = typer.Option(0, "--seed", help="seed of the per-GPU variation"),
    max_outer: int = typer.Option(15, "--max-outer", help="Max-Q: most linearisations of the facility"),
    objective: str = typer.Option(
        "tokens", "--objective", help="tokens (most tokens/s) or revenue (most $/h over the workload tiers)"
    ),
    optimize_cooling: bool = typer.Option(
        False,
        "--optimize-cooling",
        help="co-optimise each hall's facility-water supply setpoint with the caps (vs the fixed setpoints)",
    ),
    energy_tokens_per_s: float = typer.Option(
        None,
        "--energy-tokens-per-s",
        help="energy mode: the least facility power that still serves this many tokens/s (no --budget-mw; "
        "with --optimize-cooling the setpoints are co-optimised)",
    ),
    attribution: bool = typer.Option(
        False,
        "--attribution",
        help="tokens/J and tokens/s at this grid power step by step: AC + pluggable Max-P -> 800 VDC -> CPO -> "
        "Max-Q caps -> cooling setpoints -> shedding (table; waterfall chart with --out)",
    ),
    size: bool = typer.Option(False, "--size", help="size a site: GPUs that fit --site-mw, Max-P vs Max-Q"),
    site_mw: float = typer.Option(None, "--site-mw", help="site power envelope for --size, MW"),
    rack_type: str = typer.Option(None, "--rack-type", help="rack type for --size (catalog name)"),
    headroom_pct: float = typer.Option(
        0.0, "--headroom-pct", help="--size: provisioning headroom above nameplate reserved under Max-P, %"
    ),
    json_out: bool = JsonOpt,
    out_dir: Path = OutOpt,
    force: bool = ForceOpt,
    catalog: list[Path] = CatalogOpt,
) -> None:
    """Max-Q: choose GPU power caps that maximise tokens/s within a grid budget (or size a site with --size)."""
    from twin import Scenario, run, run_many

    if size:
        if site_mw is None or rack_type is None:
            raise InputError("--size needs --site-mw and --rack-type")
        prepare_out(out_dir, force)
        s = Scenario(
            layout=layout,
            analysis="size",
            ambient_c=ambient_c,
            sizing={"site_mw": site_mw, "rack_type": rack_type, "headroom_pct": headroom_pct},
        )
        with working("sizing", quiet=json_out):
            res = run(s)
        finish(res, json_out, out_dir, _render_size)
        return
    if layout is None:
        raise InputError("a LAYOUT file is needed (or use --size)")
    if energy_tokens_per_s is not None:
        _energy(
            layout,
            catalog,
            energy_tokens_per_s,
            optimize_cooling,
            ambient_c,
            wet_bulb_c,
            supply_c,
            fail,
            json_out,
        )
        return
    if budget_mw is None:
        raise InputError("--budget-mw is required")
    if policy not in ("maxq", "uniform", "maxp", "all"):
        raise InputError(f"unknown policy '{policy}' (choose from maxq, uniform, maxp, all)")
    if objective not in ("tokens", "revenue"):
        raise InputError(f"unknown objective '{objective}' (choose from tokens, revenue)")
    if objective == "revenue" and policy != "maxq":
        raise InputError("--objective revenue needs --policy maxq (the other policies are priced afterwards)")
    if optimize_cooling and policy != "maxq":
        raise InputError("--optimize-cooling needs --policy maxq")
    if attribution:
        _attribution(
            layout, catalog, budget_mw, ambient_c, wet_bulb_c, supply_c, fail, json_out, out_dir, force
        )
        return
    prepare_out(out_dir, force)
    base = Scenario(
        layout=layout,
        catalogs=catalogs(catalog),
        budget_mw=budget_mw,
        ambient_c=ambient_c,
        wet_bulb_c=wet_bulb_c,
        supply_c=supply_c,
        failures=tuple(fail or ()),
        maxq={
            "variation_sigma": variation_sigma,
            "seed": seed,
            "max_outer": max_outer,
            "objective": objective,
            "optimize_cooling": optimize_cooling,
        },
    )
    if policy != "all":
        with working(f"Max-Q ({policy})", quiet=json_out):
            res = run(base.replace(policy=policy))
        finish(res, json_out, out_dir, lambda r: _render([r]))
        return
    with working("Max-Q (maxq, uniform, maxp)", quiet=json_out):
        results = list(run_many(base.replace(policy=p) for p in ("maxq", "uniform", "maxp")))
    infeasible = [r for r in results if r.status == "infeasible"]
    files = []
    if out_dir is not None and not infeasible:
        for r in results:
            files += r.save(out_dir / r.scenario.policy, force=force, csv=True)
    if json_out:
        print_json(
            {
                "budget_mw": budget_mw,
                "policies": [r.to_dict() for r in results],
                **({"files": files} if files else {}),
            }
        )
    else:
        _render(results)
        if files:
            out.print(f"results written to {out_dir}/<policy>/", markup=False, highlight=False)
    # a warning every policy shares (the layout's) is printed once; the others name their policy
    shared = set.intersection(*(set(r.warnings) for r in results))
    for w in dict.fromkeys(w for r in results for w in r.warnings if w in shared):
        warn(w)
    for r in results:
        for w in r.warnings:
            if w not in shared:
                warn(f"{r.scenario.policy}: {w}")
    if infeasible:
        err.print(f"error: {infeasible[0].reason}", style="bold red", markup=False, highlight=False)
        raise typer.Exit(2)


def _render(results) -> None:
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
        k, pol = r.kpis, r.scenario.policy
        if r.status == "infeasible":
            t.add_row(pol, "-", "-", "-", "-", "-", "-", "-", f"infeasible (floor {k['floor_mw']:,.3f} MW)")
            continue
        kinds = Counter(b["kind"] for b in k.get("binding_constraints", []))
        bind = ", ".join(kind if n == 1 else f"{kind} x{n}" for kind, n in kinds.items()) or "none"
        t.add_row(
            pol,
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
        if r.status == "ok" and sp:
            # name the limit that binds at the meter (budget, grid connection or substation firm kVA rating)
            fac = [b["name"] for b in r.kpis.get("binding_constraints", []) if b.get("kind") == "facility"]
            what = fac[0] if fac else "grid capacity"
            out.print(f"{r.scenario.policy}: 1 MW more of the {what} = {sp:,.0f} tokens/s")
    from twin.cli.cmd_economics import render_tiers

    for r in results:
        render_tiers(r)
    for r in results:
        if r.status == "ok" and "cooling_setpoints" in r.tables:
            _render_cooling(r)


def _render_cooling(r) -> None:
    """The chosen supply setpoints per hall against the fixed ones, and what they trade."""
    df, k = r.tables["cooling_setpoints"], r.kpis
    t = Table(title="Cooling setpoints co-optimised with the caps", title_justify="left")
    for c in (
        "hall",
        "supply C\nfixed",
        "supply C\nchosen",
        "TCS L/min\nper kW",
        "stage\nchosen",
        "cooling\nMW saved",
        "chiller\nMW saved",
        "GPU MW\ngained",
        "binds",
    ):
        left = c in ("hall", "binds") or c.startswith("stage")
        t.add_column(c, justify="left" if left else "right", overflow="fold")
    for row in df.itertuples():
        t.add_row(
            str(row.hall),
            f"{row.fixed_c:.2f}",
            f"{row.chosen_c:.2f}",
            f"{row.tcs_flow_lpm_per_kw_chosen:.3f}",
            str(row.stage_chosen),
            f"{row.cooling_power_fixed_mw - row.cooling_power_chosen_mw:,.3f}",
            f"{row.chiller_power_fixed_mw - row.chiller_power_chosen_mw:,.3f}",
            f"{row.gpu_power_chosen_mw - row.gpu_power_fixed_mw:,.3f}",
            _short_bind(str(row.binds)),
        )
    out.print(t)
    out.print(
        f"against the fixed setpoints at the same budget: cooling {k['cooling_power_saved_mw']:,.3f} MW saved "
        f"(chillers {k['chiller_power_saved_mw']:,.3f} MW), GPUs {k['gpu_power_gained_mw']:+,.3f} MW, "
        f"tokens/s {k['tokens_per_s_gained']:+,.0f} ({k['tokens_gain_pct']:+.2f} %)",
        markup=False,
        highlight=False,
    )
    gained = float(k.get("revenue_usd_per_h_gained", float("nan")))
    if gained == gained:  # objective revenue (not NaN)
        out.print(
            f"revenue ${k['revenue_usd_per_h_fixed'] + k['revenue_usd_per_h_gained']:,.0f}/h against "
            f"${k['revenue_usd_per_h_fixed']:,.0f}/h at the fixed setpoints "
            f"({k['revenue_usd_per_h_gained']:+,.0f} $/h)",
            markup=False,
            highlight=False,
        )


def _short_bind(b: str) -> str:
    """The setpoint table's ``binds`` in a word or two (the full text is in the table / JSON)."""
    if b.startswith("upper"):
        return "W-class limit"
    if b.startswith("lower"):
        return "dew point"
    return "junction" if "junction" in b else "stage boundary"


def _energy(layout, catalog, tokens, optimize_cooling, ambient_c, wet_bulb_c, supply_c, fail, json_out):
    """``--energy-tokens-per-s``: ``twin.maxq.cooling.least_power_for_tokens`` and its answer."""
    from twin import Scenario
    from twin.failures import FailureSet
    from twin.maxq.cooling import least_power_for_tokens

    model = Scenario(layout=layout, catalogs=catalogs(catalog)).model()
    fails = FailureSet.parse(model, tuple(fail or ()))
    with working("energy mode (Max-Q at trial budgets)", quiet=json_out):
        budget, res = least_power_for_tokens(
            model,
            tokens_per_s=tokens,
            optimize_setpoints=optimize_cooling,
            ambient_c=ambient_c,
            wet_bulb_c=wet_bulb_c,
            supply_c=supply_c,
            failed=fails.thermal + fails.electrical,
        )
    mq = res.maxq if optimize_cooling else res
    k = mq.kpis
    out_d = {
        "ok": True,
        "tokens_per_s_required": tokens,
        "budget_mw": budget,
        "facility_power_mw": k["facility_power_mw"],
        "tokens_per_s": k["tokens_per_s"],
        "tokens_per_joule": k["tokens_per_joule"],
        "cooling_power_mw": k["cooling_power_mw"],
        "optimize_cooling": bool(optimize_cooling),
    }
    if optimize_cooling:
        out_d["cooling_setpoints"] = res.kpis["cooling_setpoints"]
    if json_out:
        print_json(out_d)
        return
    out.print(
        f"least facility power for {tokens:,.0f} tokens/s: {k['facility_power_mw']:,.3f} MW "
        f"({k['tokens_per_s']:,.0f} tokens/s, {k['tokens_per_joule']:.4f} tokens/J, cooling "
        f"{k['cooling_power_mw']:,.3f} MW"
        + (
            ", supply "
            + ", ".join(f"{d['hall']} {d['supply_c']:.1f} C" for d in res.kpis["cooling_setpoints"])
            if optimize_cooling
            else ""
        )
        + ")",
        markup=False,
        highlight=False,
    )


def _attribution(layout, catalog, budget_mw, ambient_c, wet_bulb_c, supply_c, fail, json_out, out_dir, force):
    """``--attribution``: the steps of ``twin.maxq.attribution``, a table and (with --out) a waterfall chart."""
    from twin.maxq.attribution import attribute, waterfall_html

    prepare_out(out_dir, force)
    with working("attribution (one solve per step)", quiet=json_out):
        res = attribute(
            layout,
            budget_mw=budget_mw,
            catalogs=catalogs(catalog),
            ambient_c=ambient_c,
            wet_bulb_c=wet_bulb_c,
            supply_c=supply_c,
            failures=tuple(fail or ()),
        )
    files = []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        csv = out_dir / "attribution.csv"
        res.table.to_csv(csv, index=False)
        html = out_dir / "attribution_waterfall.html"
        html.write_text(waterfall_html(res), encoding="utf-8")
        files = [str(csv), str(html)]
    if json_out:
        print_json({"ok": True, **res.to_dict(), **({"files": files} if files else {})})
        return
    t = Table(title=f"Efficiency attribution at {budget_mw:,.1f} MW grid power", title_justify="left")
    for c in ("step", "status", "facility\nMW", "tokens/s\n(M)", "tokens\nper J", "vs previous", "note"):
        t.add_column(c, justify="left" if c in ("step", "status", "note") else "right", overflow="fold")
    for row in res.table.itertuples():
        ok = row.status == "ok"
        t.add_row(
            str(row.step),
            str(row.status),
            f"{row.facility_power_mw:,.2f}" if ok else "-",
            f"{row.tokens_per_s / 1e6:,.2f}" if ok else "-",
            f"{row.tokens_per_joule:.4f}" if ok else "-",
            f"x{row.gain_vs_previous:.4f}" if ok and row.gain_vs_previous == row.gain_vs_previous else "-",
            str(row.note),
        )
    out.print(t)
    k = res.kpis
    out.print(
        f"overall: x{k['tokens_per_joule_gain']:.3f} tokens/J from the first to the last step taken "
        f"({k['steps_taken']} of {k['steps']} steps)",
        markup=False,
        highlight=False,
    )
    if files:
        out.print(f"results written to {out_dir}/", markup=False, highlight=False)


def _render_size(res) -> None:
    k = res.kpis
    o = res.scenario.sizing
    ref = k["nvidia_reference"]
    t = Table(
        title=f"Sizing {o.site_mw:,.0f} MW with {o.rack_type} (template {k['template']})",
        title_justify="left",
    )
    for c in ("", "facility kW / rack", "racks", "GPUs", "tokens/s"):
        t.add_column(c, justify="left" if not c else "right")
    for label, tag in (("Max-P", "maxp"), ("Max-Q", "maxq")):
        t.add_row(
            label,
            f"{k[f'facility_w_per_rack_{tag}'] / 1e3:,.1f}",
            f"{k[f'racks_{tag}']:,}",
            f"{k[f'gpus_{tag}']:,}",
            f"{k[f'tokens_per_s_{tag}']:,.0f}",
        )
    out.print(t)
    d = k["gain_decomposition"]
    out.print(
        f"GPU gain x{k['gpu_gain']:.3f} = caps at efficiency point x{d['caps_at_efficiency_point']:.3f} "
        f"* overhead at real load x{d['overhead_at_real_load']:.3f} * ambient x{d['ambient']:.3f} "
        f"* provisioning headroom removed x{d['provisioning_headroom_removed']:.3f}"
    )
    out.print(
        f"NVIDIA (at {ref['site_mw']:,.0f} MW): {ref['gpus_maxp']:,} -> {ref['gpus_maxq']:,} GPUs "
        f"(x{ref['gpus_maxq'] / ref['gpus_maxp']:.3f}); not explained by this model: "
        f"x{k['unexplained_vs_nvidia']:.3f}"
    )
