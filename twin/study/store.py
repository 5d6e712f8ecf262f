"""The study directory: one Parquet file per batch (written atomically), a manifest, and DuckDB views over them.

::

    DIR/study.json                               manifest: spec, spec hash, version, counts, start / end, runs
    DIR/results/[<column>=<value>/]batch-00012.parquet   one row per scenario (hive partitions if partition_by)
    DIR/tables/<table>[_summary]/batch-00012.parquet     outputs.tables: whole tables or per-scenario summaries

A batch file is written under a temporary name (``batch-00012.parquet.tmp-<pid>-<random>``) and renamed with
``os.replace``, so a reader (a query, ``--resume``) sees either the whole file or none: the views read
``batch-*.parquet`` only. Its footer carries ``twin_study`` metadata (spec hash, batch, rows) that ``--resume``
checks before skipping it. Table files are written before the results file of their batch; a batch is done when
its results file is.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.errors import InputError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from twin.study.spec import Study

__all__ = ["StudyStore", "connect", "query", "results", "status"]

MANIFEST = "study.json"
FORMAT = "twin-study/1"
META_KEY = b"twin_study"
HIVE_TYPES = {"bool": "BOOLEAN", "int": "BIGINT", "float": "DOUBLE", "str": "VARCHAR"}


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def part_text(v: Any) -> str:
    """A partition value as it appears in the directory name (``ambient_c=35.0``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def atomic_write_table(table: pa.Table, path: Path) -> int:
    """Write a Parquet file under a temporary name in the same directory, then rename it; returns its size."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        pq.write_table(table, tmp, compression="zstd")
        size = tmp.stat().st_size
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return size


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def batch_meta(path: Path) -> dict | None:
    """The ``twin_study`` footer metadata of a batch file, or None if it is missing or not a valid Parquet file."""
    import pyarrow.parquet as pq

    try:
        md = pq.read_metadata(path)
        raw = (md.metadata or {}).get(META_KEY)
        if raw is None:
            return None
        meta = json.loads(raw)
        meta["_num_rows"] = md.num_rows
        return meta
    except (OSError, ValueError, Exception):  # pyarrow raises ArrowInvalid (a ValueError) or OSError
        return None


class StudyStore:
    """Paths and bookkeeping of one study directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # --- layout of the directory -----------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    @property
    def tables_dir(self) -> Path:
        return self.root / "tables"

    @staticmethod
    def batch_name(b: int) -> str:
        return f"batch-{b:05d}.parquet"

    def batch_path(self, b: int, partition: tuple[str, Any] | None = None) -> Path:
        d = self.results_dir
        if partition is not None:
            d = d / f"{partition[0]}={part_text(partition[1])}"
        return d / self.batch_name(b)

    def table_path(self, view: str, b: int) -> Path:
        return self.tables_dir / view / self.batch_name(b)

    # --- manifest ----------------------------------------------------------------------------------------------
    def manifest(self) -> dict | None:
        try:
            m = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.manifest_path}: not a readable study manifest ({exc})") from None
        if not isinstance(m, dict) or m.get("format") != FORMAT:
            raise InputError(f"{self.manifest_path}: not a study manifest (format {FORMAT})")
        return m

    def require_manifest(self) -> dict:
        if not self.root.is_dir():
            raise InputError(f"{self.root}: no such study directory")
        m = self.manifest()
        if m is None:
            raise InputError(
                f"{self.root}: not a study directory (no {MANIFEST}; run `twin study run` first)"
            )
        return m

    def write_manifest(self, m: dict) -> None:
        from twin.io import dumps

        atomic_write_text(self.manifest_path, dumps(m) + "\n")

    @contextlib.contextmanager
    def lock(self):
        """One run at a time per directory (an flock, released by the OS even if the process is killed)."""
        import fcntl

        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"--out {self.root} exists and is not a directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(f"--out {self.root}: cannot write there ({exc.strerror or exc})") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise InputError(f"{self.root}: another `twin study run` is writing this directory") from None
            yield
        finally:
            os.close(fd)

    def prepare(self, study: Study, *, resume: bool, force: bool) -> dict:
        """Check the directory against the study (refuse what would overwrite a user's files) and return the
        manifest to run with. A different study is refused unless ``force``; the same study needs ``resume``
        (keep its finished batches) or ``force`` (start over)."""
        root = self.root
        if root.exists() and not root.is_dir():
            raise InputError(f"--out {root} exists and is not a directory")
        old = self.manifest() if root.is_dir() else None
        others = [p for p in root.iterdir() if p.name != ".lock"] if root.is_dir() else []
        if old is None and others:
            if not force:
                raise InputError(
                    f"--out {root} exists, is not empty and is not a study directory "
                    "(use a new DIR, or --force to write into it)"
                )
            self._remove_batches(ours=False)
        elif old is not None and old.get("spec_hash") != study.spec_hash:
            if not force:
                raise InputError(
                    f"{root} holds a different study ({old.get('name')!r}, spec hash {old.get('spec_hash')}; this "
                    f"one is {study.spec_hash}: {_what_changed(old, study)}); use a new DIR, or --force to replace it"
                )
            self._remove_batches(ours=True)
            old = None
        elif old is not None and not resume:
            if not force:
                done = len(self.valid_batches(study))
                raise InputError(
                    f"{root} already holds this study ({done} of {study.n_batches} batches done): "
                    "--resume to finish it, or --force to start over"
                )
            self._remove_batches(ours=True)
            old = None
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".twin-write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise InputError(f"--out {root}: cannot write there ({exc.strerror or exc})") from None
        if old is not None:  # resuming: the batches the study was started with, and only files of those
            study.fixed_batch_size = int(old["batch_size"])
            self.remove_stale(study)
        self.remove_temporary()
        from twin import __version__

        m = old or {
            "format": FORMAT,
            "name": study.name,
            "description": study.spec.description,
            "file": str(study.file),
            "spec": study.spec.model_dump(mode="json"),
            "spec_text": study.text,
            "spec_hash": study.spec_hash,
            "inputs": study.inputs,
            "analysis": study.spec.analysis,
            "scenarios": study.n_scenarios,
            "batch_size": study.batch_size,
            "batches": study.n_batches,
            "parameters": {
                n: {"column": p.column, "kind": p.kind, "dtype": p.dtype} for n, p in study.params.items()
            },
            "partition_by": None if study.partition is None else study.partition.column,
            "tables": {_view(n, t["mode"]): t for n, t in study.recipe.tables.items()},
            "started": now(),
            "ended": None,
            "complete": False,
            "counts": {},
            "runs": [],
        }
        m["version"] = __version__
        self.write_manifest(m)
        return m

    def _remove_batches(self, ours: bool) -> None:
        """Remove earlier batch files: the whole results/ and tables/ trees of a study of ours; in a directory
        that is not a study (``--force``), only files named like ours."""
        for d in (self.results_dir, self.tables_dir):
            if not d.exists():
                continue
            if ours:
                shutil.rmtree(d)
            else:
                for f in d.rglob("batch-*.parquet*"):
                    f.unlink()
        if ours:
            with contextlib.suppress(FileNotFoundError):
                self.manifest_path.unlink()

    def remove_temporary(self) -> int:
        """Delete temporary files left by a killed run (never read by a query; a new run rewrites the batch)."""
        n = 0
        for d in (self.results_dir, self.tables_dir):
            if d.exists():
                for f in d.rglob("batch-*.parquet.tmp-*"):
                    with contextlib.suppress(OSError):
                        f.unlink()
                        n += 1
        return n

    def remove_stale(self, study: Study) -> int:
        """Delete batch files that are not a batch of this study (a query must not read them twice)."""
        part = study.partition
        expected = {
            self.batch_path(b, None if part is None else (part.column, pv)) for b, _, _, pv in study.batches()
        }
        names = {p.name for p in expected}
        n = 0
        for f in self.batch_files():
            if f not in expected:
                f.unlink()
                n += 1
        if self.tables_dir.exists():
            for f in self.tables_dir.rglob("batch-*.parquet"):
                if f.name not in names:
                    f.unlink()
                    n += 1
        return n

    # --- batches -----------------------------------------------------------------------------------------------
    def valid_batches(self, study: Study, *, include_failed: bool = False) -> set[int]:
        """Batches whose results file is complete and belongs to this study (footer: spec hash, batch, rows).
        Batches recorded as failed tasks are not done (``--resume`` runs them again) unless ``include_failed``."""
        part = study.partition
        out = set()
        for b, start, stop, pv in study.batches():
            path = self.batch_path(b, None if part is None else (part.column, pv))
            meta = batch_meta(path) if path.exists() else None
            if (
                meta is not None
                and meta.get("spec_hash") == study.spec_hash
                and meta.get("batch") == b
                and meta.get("start") == start
                and meta.get("stop") == stop
                and meta.get("_num_rows") == stop - start
                and (include_failed or not meta.get("failed_task"))
            ):
                out.add(b)
        return out

    def batch_files(self) -> list[Path]:
        return sorted(self.results_dir.rglob("batch-*.parquet")) if self.results_dir.exists() else []

    def result_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.batch_files())


def _view(table: str, mode: str) -> str:
    return table if mode == "whole" else f"{table}_summary"


def _what_changed(old: dict, study: Study) -> str:
    changed = []
    if old.get("spec") != study.spec.model_dump(mode="json"):
        changed.append("the spec")
    old_in = old.get("inputs") or {}
    files = [f for f in set(old_in) | set(study.inputs) if old_in.get(f) != study.inputs.get(f)]
    if files:
        changed.append("input file(s) " + ", ".join(sorted(files)))
    return " and ".join(changed) or "the catalog or the sampler changed"


# --- reading: DuckDB ------------------------------------------------------------------------------------------


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def connect(root: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view ``results`` over the study's batch files (hive partitions
    pruned by filters on the partition column) and one view per kept table (``racks``, ``racks_summary`` ...)."""
    import duckdb

    store = StudyStore(root)
    m = store.require_manifest()
    con = duckdb.connect(":memory:")
    files = store.batch_files()
    if not files:
        raise InputError(f"{store.root}: no results yet (no finished batch)")
    opts = "union_by_name = true"
    pcol = m.get("partition_by")
    if pcol:
        dtype = next((p["dtype"] for p in m["parameters"].values() if p["column"] == pcol), "str")
        opts += f", hive_partitioning = true, hive_types = {{{_sql_str(pcol)}: {HIVE_TYPES.get(dtype, 'VARCHAR')}}}"
    else:
        opts += ", hive_partitioning = false"
    glob = str(store.results_dir.resolve() / "**" / "batch-*.parquet")
    con.execute(f"CREATE VIEW results AS SELECT * FROM read_parquet({_sql_str(glob)}, {opts})")
    for view in m.get("tables") or {}:
        d = store.tables_dir / view
        if d.exists() and any(d.glob("batch-*.parquet")):
            g = str(d.resolve() / "batch-*.parquet")
            con.execute(
                f'CREATE VIEW "{view}" AS SELECT * FROM read_parquet({_sql_str(g)}, union_by_name = true)'
            )
    return con


def query(root: str | Path, sql: str) -> pd.DataFrame:
    """Run SQL over a study (views ``results`` and its tables) and return a pandas DataFrame.

    Raises InputError for SQL that DuckDB refuses (the message says why).
    """
    import duckdb

    con = connect(root)
    try:
        return con.execute(sql).df()
    except duckdb.Error as exc:
        raise InputError(f"query: {str(exc).strip().splitlines()[0]}") from None
    finally:
        con.close()


def results(root: str | Path) -> pd.DataFrame:
    """Every row of the study, ordered by scenario index."""
    return query(root, "SELECT * FROM results ORDER BY scenario_index")


def status(root: str | Path) -> dict:
    """Scenarios done (by status), not ok (with reasons), remaining; batches done / failed; complete or not."""
    import duckdb

    store = StudyStore(root)
    m = store.require_manifest()
    n = int(m["scenarios"])
    by_status: dict[str, int] = {}
    reasons: list[dict] = []
    files = store.batch_files()
    failed_batches = []
    valid = 0
    for f in files:
        meta = batch_meta(f)
        if meta is None or meta.get("spec_hash") != m["spec_hash"]:
            continue
        valid += 1
        if meta.get("failed_task"):
            failed_batches.append(int(meta["batch"]))
    if files:
        con = duckdb.connect(":memory:")
        g = _sql_str(str(store.results_dir.resolve() / "**" / "batch-*.parquet"))
        src = f"read_parquet({g}, union_by_name = true, hive_partitioning = false)"
        try:
            by_status = dict(
                con.execute(f"SELECT status, count(*) FROM {src} GROUP BY 1 ORDER BY 1").fetchall()
            )
            reasons = [
                {"status": s, "reason": r, "count": c}
                for s, r, c in con.execute(
                    f"SELECT status, reason, count(*) AS c FROM {src} WHERE status <> 'ok' "
                    "GROUP BY 1, 2 ORDER BY c DESC, 1, 2 LIMIT 50"
                ).fetchall()
            ]
        finally:
            con.close()
    done = sum(by_status.values())
    not_ok = done - by_status.get("ok", 0)
    return {
        "ok": True,
        "dir": str(store.root),
        "name": m.get("name"),
        "analysis": m.get("analysis"),
        "spec_hash": m.get("spec_hash"),
        "version": m.get("version"),
        "scenarios": n,
        "done": done,
        "by_status": by_status,
        "not_ok": not_ok,
        "not_ok_reasons": reasons,
        "remaining": n - done,
        "batches": int(m["batches"]),
        "batches_done": valid - len(failed_batches),
        "failed_batches": sorted(failed_batches),
        "complete": done == n and not failed_batches,
        "started": m.get("started"),
        "ended": m.get("ended"),
        "result_bytes": store.result_bytes(),
    }
