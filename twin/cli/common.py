"""Shared CLI plumbing: the Typer app, options defined once, clean failure (exit 2), output of a RunResult.

A command parses its options into a :class:`~twin.scenario.Scenario`, calls :func:`twin.run`, and renders.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console

from twin.errors import InputError, LayoutError, Problem

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Digital twin of a liquid-cooled AI factory: layouts, thermal, electrical, network, Max-Q.",
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

EXIT_BAD_INPUT = 2

# --- options shared by the commands (one definition each) ---------------------------------------------------
LayoutArg = typer.Argument(..., help="facility layout YAML file", show_default=False)
JsonOpt = typer.Option(False, "--json", help="print one JSON object on stdout (for scripts), also on failure")
OutOpt = typer.Option(
    None,
    "--out",
    help="directory for the result: tables (Parquet + CSV), kpis.json, meta.json, scenario.yaml",
)
ForceOpt = typer.Option(False, "--force", help="allow writing into a non-empty --out directory")
CatalogOpt = typer.Option(None, "--catalog", help="extra catalog file(s), later files win")
AmbOpt = typer.Option(None, "--ambient-c", help="outdoor dry bulb, C (default: the site's design value)")
WbOpt = typer.Option(None, "--wet-bulb-c", help="outdoor wet bulb, C (default: the site's design value)")
SupOpt = typer.Option(None, "--supply-c", help="facility-water supply setpoint for every hall, C")
LoadOpt = typer.Option(None, "--it-load", help="IT load as a fraction of every rack's Max-P power, in (0, 1]")
FailOpt = typer.Option(
    None,
    "--fail",
    help="unit to take out of service (repeatable): CDU, '<cdu>/pump', dry cooler, chiller, '<hall>/fw-pump-N', "
    "air unit, electrical node, switch, or link 'LOWER~UPPER'",
)


def print_json(obj) -> None:
    from twin.io import dumps

    sys.stdout.write(dumps(obj) + "\n")


def report_problems(problems: list[Problem]) -> None:
    for p in problems:
        style = "red" if p.severity == "error" else ("yellow" if p.severity == "warning" else "cyan")
        err.print(p.format(), style=style, markup=False, highlight=False)


def warn(message: str) -> None:
    err.print(f"warning: {message}", style="yellow", markup=False, highlight=False)


def _fail(problems: list[Problem], summary: str, json_mode: bool) -> None:
    if json_mode:
        print_json({"ok": False, "problems": [p.to_dict() for p in problems], "message": summary})
    else:
        report_problems(problems)
        err.print(summary, style="bold red", markup=False, highlight=False)
    raise typer.Exit(EXIT_BAD_INPUT)


def _scenario_problems(exc) -> list[Problem]:
    """A pydantic ValidationError from building a Scenario: one Problem per option, named by its field."""
    from twin.errors import format_loc

    return [
        Problem(format_loc(tuple(e["loc"])), e["msg"].removeprefix("Value error, ")) for e in exc.errors()
    ]


def guarded(fn: Callable) -> Callable:
    """Turn user-facing failures into a clear message and exit code 2; never a traceback for bad input.

    With ``--json`` the failure is one JSON object on stdout too: ``{"ok": false, "problems": [...]}``.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        json_mode = bool(kwargs.get("json_out"))
        try:
            return fn(*args, **kwargs)
        except LayoutError as exc:
            n = len(exc.errors)
            _fail(exc.problems, f"{n} error{'s' if n != 1 else ''}: the layout cannot be used", json_mode)
        except InputError as exc:
            if json_mode:
                _fail([Problem("", str(exc))], f"error: {exc}", True)
            err.print(f"error: {exc}", style="bold red", markup=False, highlight=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            # options that a Scenario refuses (pydantic is imported only once a command builds one)
            if "pydantic" in sys.modules:
                from pydantic import ValidationError

                if isinstance(exc, ValidationError):
                    _fail(_scenario_problems(exc), "bad option(s)", json_mode)
            # a bug in the twin, not the user's input
            if os.environ.get("TWIN_DEBUG"):
                raise
            err.print(
                f"internal error: {type(exc).__name__}: {exc} (set TWIN_DEBUG=1 for a traceback and please report it)",
                style="bold red",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(1) from None

    return wrapper


def prepare_out(out_dir: Path | None, force: bool) -> None:
    """Refuse a used or unwritable ``--out`` before any work is done."""
    if out_dir is not None:
        from twin.io import prepare_out_dir

        prepare_out_dir(out_dir, force)


def save_result(res, out_dir: Path | None) -> list[str]:
    """Write a RunResult into ``--out`` (already checked by ``prepare_out``): tables as Parquet and CSV."""
    if out_dir is None:
        return []
    return res.save(out_dir, force=True, csv=True)


def finish(res, json_out: bool, out_dir: Path | None, render: Callable[[object], None]) -> None:
    """Save, print (JSON on stdout, or the command's table), warnings on stderr, exit 2 when infeasible."""
    files = save_result(res, out_dir)
    if json_out:
        print_json({**res.to_dict(), **({"files": files} if files else {})})
    else:
        render(res)
        if files:
            out.print(f"result written to {out_dir}/", markup=False, highlight=False)
    for w in res.warnings:
        warn(w)
    if res.status == "not_converged":
        err.print(f"warning: {res.reason}", style="bold red", markup=False, highlight=False)
    if res.status == "infeasible":
        err.print(f"error: {res.reason}", style="bold red", markup=False, highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT)


def fmt(v, unit: str = "", nd: int = 2) -> str:
    import math

    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:,.{nd}f}{unit}"


def kv_table(title: str, rows: list[tuple[str, str]]):
    from rich.table import Table

    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    for label, value in rows:
        t.add_row(label, value)
    return t


def working(message: str, quiet: bool = False):
    """A spinner on stderr while a long solve runs (only on a terminal, never in --json mode)."""
    import contextlib

    if quiet or not err.is_terminal:
        return contextlib.nullcontext()
    return err.status(message, spinner="dots")


def catalogs(files: list[Path] | None) -> tuple[str, ...]:
    return tuple(str(f) for f in files or ())


def _version(value: bool) -> None:
    if value:
        from twin import __version__

        print(f"twin {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """Digital twin of a liquid-cooled AI factory: layouts, thermal, electrical, network, Max-Q."""
