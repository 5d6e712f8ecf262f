"""Run a study on Dask distributed: a ``LocalCluster`` (processes, one thread each) or an existing cluster.

Scenarios are cut into batches (contiguous ranges of the study's scenario index, never across a partition);
one Dask task per batch runs its scenarios with :func:`twin.run` and writes its Parquet files itself
(:func:`run_batch`), atomically, so the driver holds neither results nor more than a window of futures: its
memory does not grow with the number of scenarios. Batches already written (``--resume``) are skipped.

Each row is one scenario: ``scenario_index``, ``scenario_id`` (:attr:`twin.Scenario.id`), ``status``
(``ok``, ``infeasible``, ``not_converged``; ``error`` for bad input of that scenario, with the message;
``failed`` when the twin crashed on it or its task kept failing), ``reason``, the parameter columns and the KPIs.
A KPI named like a parameter column is left out when it repeats the parameter's value (``ambient_c`` ...) and
written as ``<name>_kpi`` otherwise; KPIs that are not scalars (dicts, lists) are JSON strings.

Workers keep what they load: the run API caches compiled models by content (``Scenario.model()``), and a
worker reads each layout file once; a scenario without layout overrides is built on that loaded layout, which
the run API hashes and solves exactly as the file (checked once per layout and worker, else the file is used).

With ``--scheduler``, the workers must see the study's layout files and the output directory at the same
paths (a shared file system), and have this package installed.

Fault injection for tests: ``TWIN_STUDY_CRASH_BATCH=3,7`` in a worker's environment makes those batches kill
their worker process (as a segfault or the OOM killer would).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

from twin.errors import InputError, LayoutError
from twin.study.spec import Recipe, Study
from twin.study.store import META_KEY, StudyStore, atomic_write_table, now

__all__ = ["run_batch", "run_study"]

TASK_RETRIES = 2
PREFIX = "twin-study"


# --- worker side ------------------------------------------------------------------------------------------------

_LAYOUTS: dict[str, tuple[tuple[int, int], Any]] = {}


def _loaded_layout(path: str):
    """The layout file, read and validated once per worker process (None: use the file for every scenario)."""
    from twin.model import parse_layout
    from twin.scenario import Scenario
    from twin.yamlio import load_yaml

    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (st.st_mtime_ns, st.st_size)
    hit = _LAYOUTS.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    layout = None
    try:
        data, lines = load_yaml(path)
        parsed = parse_layout(data, lines, path)
        # catalogs are named relative to the file: only a layout without them is the same content when loaded
        if not parsed.catalogs and Scenario(layout=parsed).id == Scenario(layout=path).id:
            layout = parsed
    except (LayoutError, InputError):
        layout = None
    _LAYOUTS[path] = (key, layout)
    return layout


def _scenario(recipe: Recipe, values: dict):
    from twin.scenario import Scenario

    kw = recipe.kwargs(values)
    lay = kw.get("layout")
    if isinstance(lay, str) and not kw.get("overrides"):
        loaded = _loaded_layout(lay)
        if loaded is not None:
            kw["layout"] = loaded
    return Scenario(**kw)


def _scalar(v: Any) -> Any:
    """A KPI value for a Parquet cell: numbers, bools, strings and None as they are; the rest as JSON."""
    import numpy as np

    if isinstance(v, np.generic):
        v = v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    from twin.io import dumps

    return dumps(v, indent=None)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def _run_one(recipe: Recipe, i: int, values: dict, keep: dict[str, list]) -> dict:
    from pydantic import ValidationError

    from twin.errors import format_loc
    from twin.runner import run

    row: dict[str, Any] = {"scenario_index": i, "scenario_id": None, "status": "ok", "reason": ""}
    cols = recipe.columns(values)
    row.update(cols)
    try:
        s = _scenario(recipe, values)
        row["scenario_id"] = s.id
        r = run(s)
    except ValidationError as exc:
        row["status"] = "error"
        row["reason"] = "; ".join(
            f"{format_loc(tuple(e['loc']))}: {e['msg'].removeprefix('Value error, ')}".lstrip(": ")
            for e in exc.errors()
        )
        return row
    except (InputError, LayoutError) as exc:
        row["status"], row["reason"] = "error", str(exc)
        return row
    except Exception as exc:  # a bug of the twin on this scenario: recorded, the batch goes on
        row["status"], row["reason"] = "failed", f"internal error: {type(exc).__name__}: {exc}"
        return row
    row["status"], row["reason"] = r.status, r.reason or ""
    wanted = recipe.kpis
    for k, v in r.kpis.items():
        if wanted is not None and k not in wanted:
            continue
        v = _scalar(v)
        if k in cols:
            if _same(v, cols[k]):
                continue
            k = f"{k}_kpi"
        if k in row:
            k = f"{k}_kpi"
        row[k] = v
    for name, how in recipe.tables.items():
        df = r.tables.get(name)
        if df is not None and len(df):
            keep[name].append((i, row["scenario_id"], df, how))
    return row


def _arrow_column(values: list, dtype: str | None):
    import pyarrow as pa

    if dtype is None:  # a KPI: infer one type for the batch
        vals = [v for v in values if v is not None]
        if not vals:
            return pa.array(values, pa.float64())
        if all(isinstance(v, bool) for v in vals):
            dtype = "bool"
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            dtype = "int"
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            dtype = "float"
        else:
            dtype = "str"
            values = [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]
    typ = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64()}.get(dtype, pa.string())
    if dtype == "float":
        values = [None if v is None else float(v) for v in values]
    return pa.array(values, typ)


def rows_table(rows: list[dict], recipe: Recipe, meta: dict, drop: str | None = None):
    """The rows of a batch as an Arrow table with the batch's footer metadata."""
    import pyarrow as pa

    fixed = {"scenario_index": "int", "scenario_id": "str", "status": "str", "reason": "str"}
    types = {**fixed, **{p.column: p.dtype for p in recipe.params.values()}}
    for p in recipe.params.values():
        if p.dtype == "json":
            types[p.column] = "str"
    names: dict[str, None] = dict.fromkeys(types)
    for r in rows:
        names.update(dict.fromkeys(r))
    if drop is not None:
        names.pop(drop, None)
    arrays = [_arrow_column([r.get(c) for r in rows], types.get(c)) for c in names]
    t = pa.Table.from_arrays(arrays, names=list(names))
    return t.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})


def _summary(df, stats: list[str], columns: list[str] | None, table: str):
    """Per column: count / min / mean / max / percentiles of a scenario's table (long form)."""
    import numpy as np

    from twin.resultschema import load_schema

    schema_cols = load_schema()["tables"].get(table, {}).get("columns", {})
    out = []
    for c in columns or list(df.columns):
        if c not in df.columns:
            continue
        s = df[c]
        kind = s.dtype.kind
        if kind == "b":
            a = s.to_numpy(dtype=float)
        elif kind in "iuf":
            if kind in "iu" and schema_cols.get(c, {}).get("unit", "-") == "-":
                continue  # an index into another table (hall, pod, row, loop ...), not a quantity
            a = s.to_numpy(dtype=float)
        else:
            continue
        a = a[~np.isnan(a)]
        rec = {"column": c}
        for st in stats:
            if st == "count":
                rec[st] = float(a.size)
            elif a.size == 0:
                rec[st] = None
            elif st == "min":
                rec[st] = float(a.min())
            elif st == "max":
                rec[st] = float(a.max())
            elif st == "mean":
                with np.errstate(invalid="ignore", over="ignore"):
                    rec[st] = float(a.mean())
            else:
                q = float(st[1:])
                with np.errstate(invalid="ignore"):
                    v = float(np.percentile(a, q))
                if math.isnan(v):  # inf - inf while interpolating: take the nearest order statistic
                    v = float(np.percentile(a, q, method="nearest"))
                rec[st] = v
        out.append(rec)
    return out


def _write_tables(store: StudyStore, b: int, keep: dict[str, list], meta: dict) -> int:
    import pandas as pd
    import pyarrow as pa

    size = 0
    for name, items in keep.items():
        if not items:
            continue
        how = items[0][3]
        if how["mode"] == "whole":
            frames = []
            for i, sid, df, _ in items:
                d = df if not how["columns"] else df[[c for c in how["columns"] if c in df.columns]]
                d = d.reset_index(drop=True).copy()
                d.insert(0, "scenario_id", sid)
                d.insert(0, "scenario_index", i)
                frames.append(d)
            table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
            view = name
        else:
            recs = []
            for i, sid, df, _ in items:
                for rec in _summary(df, how["stats"], how["columns"], name):
                    recs.append({"scenario_index": i, "scenario_id": sid, **rec})
            cols = ["scenario_index", "scenario_id", "column", *how["stats"]]
            table = pa.Table.from_pandas(pd.DataFrame(recs, columns=cols), preserve_index=False)
            view = f"{name}_summary"
        table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
        size += atomic_write_table(table, store.table_path(view, b))
    return size


def run_batch(job: dict) -> dict:
    """One Dask task: run scenarios ``start .. stop`` of a study and write their batch files.

    job: ``dir``, ``batch``, ``start``, ``stop``, ``items`` [(index, parameter values)], ``partition``
    (column, value) or None, ``recipe``. Returns a small summary (counts, a few reasons, seconds, bytes).
    """
    from twin import __version__

    b = job["batch"]
    crash = os.environ.get("TWIN_STUDY_CRASH_BATCH", "")
    if crash and str(b) in crash.split(","):
        os._exit(70)  # fault injection (tests): the worker dies mid-task
    t0 = time.perf_counter()
    recipe: Recipe = job["recipe"]
    store = StudyStore(job["dir"])
    keep: dict[str, list] = {name: [] for name in recipe.tables}
    rows = [_run_one(recipe, i, values, keep) for i, values in job["items"]]
    elapsed = time.perf_counter() - t0
    meta = {
        "spec_hash": recipe.spec_hash,
        "batch": b,
        "start": job["start"],
        "stop": job["stop"],
        "failed_task": False,
        "version": __version__,
        "elapsed_s": round(elapsed, 4),
        "written": now(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    size = _write_tables(store, b, keep, meta)
    part = job["partition"]
    table = rows_table(rows, recipe, meta, drop=None if part is None else part[0])
    size += atomic_write_table(table, store.batch_path(b, part))
    counts = Counter(r["status"] for r in rows)
    return {
        "batch": b,
        "rows": len(rows),
        "counts": dict(counts),
        "reasons": [(r["status"], r["reason"]) for r in rows if r["status"] != "ok"][:3],
        "elapsed_s": elapsed,
        "bytes": size,
        "pid": os.getpid(),
    }


def _written_batch(store: StudyStore, study: Study, job: dict) -> dict | None:
    """The summary of a batch whose results file is complete and belongs to this study, else None."""
    import pyarrow.parquet as pq

    from twin.study.store import batch_meta

    path = store.batch_path(job["batch"], job["partition"])
    meta = batch_meta(path) if path.exists() else None
    if (
        meta is None
        or meta.get("failed_task")
        or meta.get("spec_hash") != study.spec_hash
        or (meta.get("start"), meta.get("stop"), meta.get("_num_rows"))
        != (job["start"], job["stop"], job["stop"] - job["start"])
    ):
        return None
    try:
        statuses = pq.read_table(path, columns=["status"]).column("status").to_pylist()
    except (OSError, ValueError):
        return None
    return {
        "batch": job["batch"],
        "rows": len(statuses),
        "counts": dict(Counter(statuses)),
        "reasons": [],
        "elapsed_s": float(meta.get("elapsed_s", 0.0)),
        "bytes": path.stat().st_size,
    }


def _failed_batch(store: StudyStore, study: Study, job: dict, exc: BaseException) -> dict:
    """A task that kept failing (its worker died, or writing failed): its scenarios become rows with status
    ``failed`` and the reason; the batch is marked so that ``--resume`` runs it again."""
    from twin import __version__

    recipe = study.recipe
    reason = f"task failed after retries: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    rows = []
    for i, values in job["items"]:
        row = {"scenario_index": i, "scenario_id": None, "status": "failed", "reason": reason}
        row.update(recipe.columns(values))
        with contextlib.suppress(Exception):
            row["scenario_id"] = recipe.scenario(values).id
        rows.append(row)
    meta = {
        "spec_hash": recipe.spec_hash,
        "batch": job["batch"],
        "start": job["start"],
        "stop": job["stop"],
        "failed_task": True,
        "version": __version__,
        "written": now(),
    }
    part = job["partition"]
    table = rows_table(rows, recipe, meta, drop=None if part is None else part[0])
    size = atomic_write_table(table, store.batch_path(job["batch"], part))
    return {
        "batch": job["batch"],
        "rows": len(rows),
        "counts": {"failed": len(rows)},
        "reasons": [("failed", reason)],
        "elapsed_s": 0.0,
        "bytes": size,
        "failed_task": True,
    }


# --- driver side ------------------------------------------------------------------------------------------------


class IgnoreSigint(WorkerPlugin):
    """Dask worker plugin: the worker process ignores SIGINT (local clusters only; the driver handles Ctrl-C)."""

    def setup(self, worker) -> None:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None):
    """A Dask client: on an existing scheduler, or on a new ``LocalCluster`` of ``workers`` processes."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if workers is not None:
            raise InputError("give --workers (a local cluster) or --scheduler (an existing one), not both")
        _probe(scheduler)
        try:
            client = Client(scheduler, timeout="15s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n < 1:
        raise InputError(f"--workers must be >= 1, got {n}")
    with warnings.catch_warnings():
        # the scheduler's HTTP endpoint moves to a free port when 8787 is taken: not the user's concern
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    try:
        client = Client(cluster, set_as_default=False)
        try:
            # Ctrl-C reaches the whole process group: the driver stops the run and closes the cluster; the local
            # workers must not die first with tracebacks of their own
            client.register_plugin(IgnoreSigint(), name="twin-study-ignore-sigint")
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _probe(address: str) -> None:
    """Fail at once, with the reason, when nothing listens at a tcp:// scheduler address (the Dask client would
    retry until its timeout)."""
    from urllib.parse import urlsplit

    u = urlsplit(address if "://" in address else f"tcp://{address}")
    if u.scheme != "tcp":
        return
    try:
        host, port = u.hostname, u.port or 8786
    except ValueError:
        raise InputError(f"--scheduler {address}: not an address like tcp://host:8786") from None
    if not host:
        raise InputError(f"--scheduler {address}: not an address like tcp://host:8786")
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}") from None


def _job(study: Study, store: StudyStore, b: int, start: int, stop: int, pv: Any) -> dict:
    part = None if study.partition is None else (study.partition.column, pv)
    return {
        "dir": str(store.root.resolve()),
        "batch": b,
        "start": start,
        "stop": stop,
        "items": [(i, study.params_at(i)) for i in range(start, stop)],
        "partition": part,
        "recipe": study.recipe,
    }


def run_study(
    study: Study,
    out_dir: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    force: bool = False,
    progress: Callable[[dict], None] | None = None,
    client=None,
) -> dict:
    """Run (or finish, with ``resume``) a study into ``out_dir``.

    Parameters
    ----------
    study : Study
        From :func:`twin.study.load_study`.
    out_dir : path
        The study directory (created; a used one is refused unless it holds this study and ``resume``, or
        ``force``).
    workers : int, optional
        Processes of the local cluster (default: the number of CPUs).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``) instead of a local cluster.
    resume : bool
        Keep the batches already written and run the others.
    force : bool
        Replace whatever study (or files named like ours) the directory holds.
    progress : callable, optional
        Called after every batch with ``{"done", "total", "not_ok", "batches_done", "batches"}``.
    client : distributed.Client, optional
        Run on this client (``workers`` and ``scheduler`` ignored).

    Returns
    -------
    dict
        Counts by status, batches run / skipped / failed, wall time, bytes written, complete.
    """
    store = StudyStore(out_dir)
    t0 = time.perf_counter()
    with store.lock():
        manifest = store.prepare(study, resume=resume, force=force)
        done = store.valid_batches(study)
        todo = [b for b in study.batches() if b[0] not in done]
        skipped_rows = sum(stop - start for b, start, stop, _ in study.batches() if b in done)
        run_rec = {
            "started": now(),
            "ended": None,
            "scheduler": scheduler or "LocalCluster",
            "workers": workers,
            "batches_run": 0,
            "resumed_batches": len(done),
            "interrupted": True,
        }
        manifest.setdefault("runs", []).append(run_rec)
        store.write_manifest(manifest)
        state = {"done": skipped_rows, "total": study.n_scenarios, "not_ok": 0, "batches": study.n_batches}
        state["batches_done"] = len(done)
        if progress:
            progress(dict(state))
        summaries: list[dict] = []
        try:
            if todo:
                if client is not None:
                    _drive(client, study, store, todo, state, summaries, progress)
                else:
                    with dask_client(workers, scheduler) as c:
                        run_rec["workers"] = len(c.scheduler_info().get("workers", {}))
                        _drive(c, study, store, todo, state, summaries, progress)
            run_rec["interrupted"] = False
        finally:
            run_rec["ended"] = now()
            run_rec["batches_run"] = len(summaries)
            st = _counts(store)
            manifest["counts"] = st["by_status"]
            valid = store.valid_batches(study)
            manifest["complete"] = len(valid) == study.n_batches
            if manifest["complete"]:
                manifest["ended"] = now()
            store.write_manifest(manifest)
    wall = time.perf_counter() - t0
    failed_tasks = [s["batch"] for s in summaries if s.get("failed_task")]
    return {
        "dir": str(store.root),
        "name": study.name,
        "scenarios": study.n_scenarios,
        "batches": study.n_batches,
        "batch_size": study.batch_size,
        "batches_run": len(summaries),
        "batches_skipped": len(done),
        "failed_batches": sorted(failed_tasks),
        "by_status": manifest["counts"],
        "complete": manifest["complete"],
        "wall_s": wall,
        "task_s": sum(s["elapsed_s"] for s in summaries),
        "bytes": store.result_bytes(),
        "spec_hash": study.spec_hash,
    }


def _counts(store: StudyStore) -> dict:
    from twin.study.store import status

    try:
        return status(store.root)
    except InputError:
        return {"by_status": {}}


def _drive(
    client, study: Study, store: StudyStore, todo: list, state: dict, summaries: list, progress
) -> None:
    """Submit batches in a window of a few per worker thread; record each as it finishes."""
    from distributed import as_completed

    nthreads = sum(client.nthreads().values()) or 1
    window = max(4, 2 * nthreads)
    pending = iter(todo)
    jobs: dict[str, dict] = {}
    ac = as_completed(loop=client.loop)
    token = os.urandom(4).hex()

    def submit_next() -> bool:
        nxt = next(pending, None)
        if nxt is None:
            return False
        job = _job(study, store, *nxt)
        key = f"{PREFIX}-{study.spec_hash[:8]}-{job['batch']:05d}-{token}"
        fut = client.submit(run_batch, job, key=key, retries=TASK_RETRIES, pure=False)
        jobs[fut.key] = job
        ac.add(fut)
        return True

    for _ in range(window):
        if not submit_next():
            break
    for fut in ac:
        job = jobs.pop(fut.key)
        try:
            res = fut.result()
        except Exception as exc:
            # KilledWorker, an error writing the files ...: the batch is recorded as failed, unless its worker
            # finished it (the file is there and whole) and died before the result came back
            res = _written_batch(store, study, job) or _failed_batch(store, study, job, exc)
        finally:
            fut.release()
        summaries.append(res)
        state["done"] += res["rows"]
        state["not_ok"] += res["rows"] - res["counts"].get("ok", 0)
        state["batches_done"] += 1
        if progress:
            progress(dict(state))
        submit_next()
