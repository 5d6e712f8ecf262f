"""``twin study run / status / query / report``: batch studies of many scenarios on Dask (see twin.study)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from twin.cli.common import (
    EXIT_BAD_INPUT,
    ForceOpt,
    JsonOpt,
    app,
    err,
    guarded,
    out,
    print_json,
    report_problems,
    warn,
)
from twin.errors import LayoutError

study_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Batch studies: grids, samples, cases and N-1 enumerations of many scenarios on Dask, queried with DuckDB.",
)
app.add_typer(study_app, name="study")

DirArg = typer.Argument(..., help="study directory (the --out of `twin study run`)", show_default=False)


def _spec_failure(exc: LayoutError, json_out: bool) -> None:
    """A bad study file: one line per problem (file:line: path: message), exit 2."""
    n = len(exc.errors)
    summary = f"{n} error{'s' if n != 1 else ''}: the study cannot be run"
    if json_out:
        print_json({"ok": False, "problems": [p.to_dict() for p in exc.problems], "message": summary})
    else:
        report_problems(exc.problems)
        err.print(summary, style="bold red", markup=False, highlight=False)
    raise typer.Exit(EXIT_BAD_INPUT)


@study_app.command("run")
@guarded
def run_cmd(
    study_file: Path = typer.Argument(..., help="study YAML (`twin schema --study` gives its JSON Schema)"),
    out_dir: Path = typer.Option(..., "--out", help="study directory: manifest + one Parquet file per batch"),
    workers: int = typer.Option(
        None, "--workers", help="processes of the local Dask cluster (default: one per CPU)", min=1
    ),
    scheduler: str = typer.Option(
        None, "--scheduler", help="run on an existing Dask cluster, e.g. tcp://host:8786 (shared file system)"
    ),
    resume: bool = typer.Option(False, "--resume", help="keep the finished batches, run the rest"),
    force: bool = ForceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Run a study: every scenario of its parameters, in batches on Dask; progress on stderr."""
    from twin.study.engine import run_study
    from twin.study.spec import load_study

    try:
        study = load_study(study_file)
    except LayoutError as exc:
        _spec_failure(exc, json_out)
    if workers is not None and scheduler is not None:
        from twin.errors import InputError

        raise InputError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    progress, bar = _progress(study, quiet=json_out)
    try:
        with bar:
            res = run_study(
                study,
                out_dir,
                workers=workers,
                scheduler=scheduler,
                resume=resume,
                force=force,
                progress=progress,
            )
    except KeyboardInterrupt:
        msg = f"interrupted: the batches written are kept; `twin study run {study_file} --out {out_dir} --resume` finishes it"
        if json_out:
            print_json({"ok": False, "problems": [{"message": msg}], "message": msg})
        else:
            err.print(msg, style="bold red", markup=False, highlight=False)
        raise typer.Exit(130) from None
    failed = res["failed_batches"]
    if json_out:
        body = {"ok": not failed, **res}
        if failed:
            body["problems"] = [
                {"message": f"batch {b} failed (its task crashed after retries); --resume runs it again"}
                for b in failed
            ]
        print_json(body)
    else:
        _render_run(res)
    if failed:
        warn(
            f"{len(failed)} batch(es) failed (a worker crashed on them after retries): their scenarios are rows with "
            "status failed; `--resume` runs them again"
        )
        raise typer.Exit(1)


def _progress(study, quiet: bool):
    """A rich progress bar on stderr (done / not ok / ETA), or nothing with --json."""
    import contextlib

    if quiet:
        return None, contextlib.nullcontext()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("not ok: {task.fields[not_ok]}"),
        TextColumn("batches {task.fields[batches]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
    task = bar.add_task(study.name, total=study.n_scenarios, not_ok=0, batches=f"0/{study.n_batches}")
    started = []

    def progress(state: dict) -> None:
        if not started:  # shown once the directory is accepted (a refused run prints only its error)
            bar.start()
            started.append(True)
        bar.update(
            task,
            completed=state["done"],
            not_ok=state["not_ok"],
            batches=f"{state['batches_done']}/{state['batches']}",
        )

    @contextlib.contextmanager
    def shown():
        try:
            yield
        finally:
            if started:
                bar.stop()

    return progress, shown()


def _render_run(res: dict) -> None:
    from twin.cli.common import kv_table

    by = ", ".join(f"{k}: {v:,}" for k, v in sorted(res["by_status"].items())) or "-"
    rows = [
        ("study", res["name"]),
        ("scenarios", f"{res['scenarios']:,} ({by})"),
        (
            "batches",
            f"{res['batches']:,} of {res['batch_size']} scenarios: {res['batches_run']} run, "
            f"{res['batches_skipped']} already done",
        ),
        ("wall time", f"{res['wall_s']:,.1f} s"),
        ("results", f"{res['bytes'] / 1e6:,.2f} MB in {res['dir']}/results"),
        ("complete", "yes" if res["complete"] else "no"),
    ]
    out.print(kv_table(f"study {res['name']}", rows))
    out.print(
        f'query it: twin study query {res["dir"]} "SELECT ... FROM results"', markup=False, highlight=False
    )


@study_app.command("status")
@guarded
def status_cmd(study_dir: Path = DirArg, json_out: bool = JsonOpt) -> None:
    """Scenarios done (by status), not ok (with reasons), remaining; whether the study is complete."""
    from twin.cli.common import kv_table
    from twin.study.store import status

    s = status(study_dir)
    if json_out:
        print_json(s)
        return
    by = ", ".join(f"{k}: {v:,}" for k, v in sorted(s["by_status"].items())) or "-"
    rows = [
        ("study", f"{s['name']} ({s['analysis']}, spec {s['spec_hash']})"),
        ("scenarios", f"{s['scenarios']:,}"),
        ("done", f"{s['done']:,} ({by})"),
        ("not ok", f"{s['not_ok']:,}"),
        ("remaining", f"{s['remaining']:,}"),
        ("batches", f"{s['batches_done']:,} of {s['batches']:,} done, {len(s['failed_batches'])} failed"),
        ("started / ended", f"{s['started']} / {s['ended'] or '-'}"),
        ("complete", "yes" if s["complete"] else "no: `twin study run ... --resume` finishes it"),
    ]
    out.print(kv_table(f"study {study_dir}", rows))
    if s["not_ok_reasons"]:
        from rich.table import Table

        t = Table(title="not ok, by reason", title_justify="left")
        for c in ("status", "scenarios", "reason"):
            t.add_column(c, justify="right" if c == "scenarios" else "left")
        for r in s["not_ok_reasons"]:
            t.add_row(r["status"], f"{r['count']:,}", r["reason"])
        out.print(t)


@study_app.command("query")
@guarded
def query_cmd(
    study_dir: Path = DirArg,
    sql: str = typer.Argument(
        ..., help='SQL over the view `results` (and kept tables), e.g. "SELECT ... FROM results"'
    ),
    json_out: bool = JsonOpt,
    csv: bool = typer.Option(False, "--csv", help="print CSV on stdout"),
    limit: int = typer.Option(
        200, "--max-rows", help="rows shown in the table view (all with --json / --csv)"
    ),
) -> None:
    """DuckDB over the study's Parquet files: a view `results` (one row per scenario) and one per kept table."""
    from twin.study.store import query

    if json_out and csv:
        from twin.errors import InputError

        raise InputError("give --json or --csv, not both")
    df = query(study_dir, sql)
    if csv:
        df.to_csv(sys.stdout, index=False)
        return
    if json_out:
        print_json({"ok": True, "columns": [str(c) for c in df.columns], "rows": _records(df)})
        return
    from rich.table import Table

    t = Table(show_lines=False)
    for c in df.columns:
        t.add_column(str(c), justify="right" if df[c].dtype.kind in "iuf" else "left", overflow="fold")
    for rec in df.head(limit).itertuples(index=False):
        t.add_row(*[_cell(v) for v in rec])
    out.print(t)
    if len(df) > limit:
        err.print(
            f"({len(df):,} rows, {limit} shown: --csv or --json for all)", markup=False, highlight=False
        )


def _records(df) -> list[dict]:
    """Rows as JSON-able dicts: numbers and strings as they are, NaN / inf as null, anything else as text."""
    import math

    import numpy as np

    def conv(v):
        if isinstance(v, np.generic):
            v = v.item()
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, (np.ndarray, list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {str(k): conv(x) for k, x in v.items()}
        try:
            import pandas as pd

            if pd.isna(v):
                return None
        except (TypeError, ValueError):
            pass
        return str(v)

    cols = [str(c) for c in df.columns]
    return [dict(zip(cols, map(conv, rec), strict=True)) for rec in df.itertuples(index=False, name=None)]


def _cell(v) -> str:
    import math

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        if 1e5 <= abs(v) < 1e15:
            return f"{v:,.0f}"
        return f"{v:.6g}"
    return str(v)


@study_app.command("report")
@guarded
def report_cmd(
    study_dir: Path = DirArg,
    out_file: Path = typer.Option(None, "--out", help="HTML file (default: DIR/report.html)"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing report file"),
    json_out: bool = JsonOpt,
) -> None:
    """A self-contained HTML report (plotly inlined, opens offline): KPIs vs parameters, maps, worst cases."""
    from twin.study.report import write_report

    path = write_report(study_dir, out_file, force=force)
    if json_out:
        print_json({"ok": True, "report": str(path), "bytes": path.stat().st_size})
    else:
        out.print(f"report written to {path}", markup=False, highlight=False)
