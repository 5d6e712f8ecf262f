"""Shared CLI plumbing: the Typer app, clean failure (exit 2, one line per problem), JSON output."""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
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


def _default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def _clean(o):
    """JSON has no NaN/inf: a non-finite number becomes null rather than invalid JSON."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(_clean(obj), default=_default, indent=2) + "\n")


def report_problems(problems: list[Problem]) -> None:
    for p in problems:
        style = "red" if p.severity == "error" else ("yellow" if p.severity == "warning" else "cyan")
        err.print(p.format(), style=style, markup=False, highlight=False)


def guarded(fn: Callable) -> Callable:
    """Turn user-facing failures into a clear message and exit code 2; never a traceback for bad input."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LayoutError as exc:
            report_problems(exc.problems)
            n = len(exc.errors)
            err.print(f"{n} error{'s' if n != 1 else ''}: the layout cannot be used", style="bold red")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except InputError as exc:
            err.print(f"error: {exc}", style="bold red", markup=False, highlight=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug in the twin, not the user's input
            if os.environ.get("TWIN_DEBUG"):
                raise
            err.print(
                f"internal error: {type(exc).__name__}: {exc} (set TWIN_DEBUG=1 for a traceback and "
                "please report it)",
                style="bold red",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(1) from None

    return wrapper


def prepare_out_dir(out_dir: Path, force: bool) -> Path:
    """Check ``--out`` before any work is done: a new or empty directory, or ``--force`` to write into a used one.

    Nothing a user wrote is overwritten without asking: a non-empty directory is refused (exit 2) unless forced.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} exists and is not a directory")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise InputError(f"--out {out_dir} exists and is not empty (use --force to overwrite, or a new DIR)")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def write_table(df, out_dir: Path, name: str, index: bool = False) -> list[str]:
    """Write one result table as Parquet and CSV; infinities become missing values (what readers expect)."""
    df = df.replace([np.inf, -np.inf], np.nan)
    paths = [out_dir / f"{name}.parquet", out_dir / f"{name}.csv"]
    df.to_parquet(paths[0], index=index)
    df.to_csv(paths[1], index=index)
    return [str(p) for p in paths]


def write_kpis(out_dir: Path, kpis: dict) -> str:
    path = out_dir / "kpis.json"
    path.write_text(json.dumps(_clean(kpis), default=_default, indent=2) + "\n")
    return str(path)


def working(message: str, quiet: bool = False):
    """A spinner on stderr while a long solve runs (only on a terminal, never in --json mode)."""
    import contextlib

    if quiet or not err.is_terminal:
        return contextlib.nullcontext()
    return err.status(message, spinner="dots")
