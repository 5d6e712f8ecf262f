"""Writing results: tables as Parquet (+ CSV), KPIs as JSON, and the one rule for output directories.

JSON has no NaN or infinity: a non-finite number is written as ``null``. Nothing a user wrote is overwritten
without asking: a non-empty output directory is refused unless ``force``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin.errors import InputError

__all__ = ["clean_json", "dumps", "prepare_out_dir", "write_json", "write_table"]


def _default(o: Any):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, pd.DataFrame):
        return o.to_dict("records")
    raise TypeError(f"not JSON serialisable: {type(o)}")


def clean_json(o: Any) -> Any:
    """A copy with every non-finite float replaced by None (JSON has no NaN / inf)."""
    if isinstance(o, (float, np.floating)):
        return float(o) if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: clean_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [clean_json(v) for v in o]
    if isinstance(o, np.ndarray):
        return clean_json(o.tolist())
    return o


def dumps(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text of results (numpy scalars and arrays converted, NaN / inf as null)."""
    return json.dumps(clean_json(obj), default=_default, indent=indent, allow_nan=False)


def write_json(path: Path, obj: Any) -> str:
    path.write_text(dumps(obj) + "\n")
    return str(path)


def prepare_out_dir(out_dir: Path, force: bool) -> Path:
    """Check an output directory before any work is done: new, empty, or ``force`` to write into a used one.

    A path under a file, or one that cannot be created (``/proc``, no permission) is an InputError, not a crash.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} exists and is not a directory")
    try:
        if out_dir.exists() and any(out_dir.iterdir()) and not force:
            raise InputError(
                f"--out {out_dir} exists and is not empty (use --force to overwrite, or a new DIR)"
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".twin-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"--out {out_dir}: cannot write there ({exc.strerror or exc})") from None
    return out_dir


def write_table(df: pd.DataFrame, out_dir: Path, name: str, csv: bool = True) -> list[str]:
    """Write one result table as ``name.parquet`` (exact) and, if ``csv``, ``name.csv``.

    Parquet keeps every value bit for bit (infinities included); the CSV gives missing values for infinities,
    which is what spreadsheet readers expect.
    """
    paths = [Path(out_dir) / f"{name}.parquet"]
    df.to_parquet(paths[0], index=False)
    if csv:
        paths.append(Path(out_dir) / f"{name}.csv")
        df.replace([np.inf, -np.inf], np.nan).to_csv(paths[1], index=False)
    return [str(p) for p in paths]
