"""Map a function (or :func:`twin.run`) over a list of items on the study engine's Dask cluster, in memory.

:func:`twin.study.run_study` runs a study *file* and writes Parquet batches; some callers have a list of solves
that is not a study (the grid year's exact operating points, a script's handful of scenarios) and want the
answers back in memory, in order, with progress. :func:`map_tasks` runs ``fn`` over the items on the same
cluster the study engine uses (:func:`twin.study.engine.dask_client`: a ``LocalCluster`` of processes, one
thread each, or an existing scheduler), or on a given ``client`` so that several maps share one cluster
(:func:`cluster`). :func:`run_scenarios` is the same for :class:`~twin.scenario.Scenario` objects: each is
run with :func:`twin.run` on a worker, which sends back its status, reason and KPIs (or what ``extract``
takes from the result, so that per-rack tables need not cross the network).

With ``workers=1`` and no scheduler or client the items run in this process, in a loop (a one-process
cluster would only add its start-up).

    >>> from twin import Scenario                                           # doctest: +SKIP
    >>> from twin.study.mapping import run_scenarios
    >>> base = Scenario(layout="layouts/pod_small.yaml")
    >>> rows = run_scenarios([base.replace(ambient_c=t) for t in (10, 25, 40)], workers=2)
    >>> [r["kpis"]["pue"] for r in rows]
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["cluster", "map_tasks", "run_scenarios"]


@contextlib.contextmanager
def cluster(workers: int | None = None, scheduler: str | None = None, fork: bool = False) -> Iterator[Any]:
    """A Dask client of the study engine (a new ``LocalCluster`` of ``workers`` processes, or ``scheduler``).

    Parameters
    ----------
    workers : int, optional
        Processes of the local cluster (default: the number of CPUs).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``).
    fork : bool
        Start the local workers by forking this process instead of spawning fresh interpreters, so they
        inherit what it has imported and compiled (seconds saved per worker: CoolProp, scipy, the compiled
        model). Only for a local cluster, where the platform can fork, and not once this process has rendered
        with OpenGL (:func:`twin.render.rendered`): the workers are spawned then.
    """
    import multiprocessing
    import sys

    from twin.study.engine import dask_client

    render = sys.modules.get("twin.render")
    gl_threads = (
        render is not None and render.rendered()
    )  # a forked child would inherit the GL driver's locks
    if fork and scheduler is None and not gl_threads and "fork" in multiprocessing.get_all_start_methods():
        import dask

        with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):
            with dask_client(workers, None) as client:
                yield client
        return
    with dask_client(workers, scheduler) as client:
        yield client


def _call(fn: Callable, shared: Any, item: Any) -> Any:
    return fn(item) if shared is None else fn(shared, item)


def map_tasks(
    fn: Callable,
    items: Sequence[Any],
    *,
    shared: Any = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    progress: Callable[[int], None] | None = None,
) -> list:
    """``[fn(item) for item in items]`` (``fn(shared, item)`` when ``shared`` is given) on a Dask cluster.

    Parameters
    ----------
    fn : callable
        A module-level function (pickled to the workers).
    items : sequence
        One task each; picklable.
    shared : object, optional
        Sent to every worker once (``client.scatter(..., broadcast=True)``) and passed as ``fn``'s first
        argument: data all tasks need (a site description, a model) without pickling it per task.
    workers, scheduler : optional
        The cluster to start when no ``client`` is given (see :func:`cluster`); ``workers=1`` without a
        scheduler runs the items here, in a loop.
    client : distributed.Client, optional
        Run on this client (e.g. from :func:`cluster`, shared by several maps).
    progress : callable, optional
        Called with 1 as each task finishes.

    Returns
    -------
    list
        The results in the order of ``items``. A task that raises re-raises here (Dask retries a task whose
        worker died, twice, as the study engine does).
    """
    items = list(items)
    if not items:
        return []
    if client is None and scheduler is None and (workers or os.cpu_count() or 1) <= 1:
        out = []
        for it in items:
            out.append(_call(fn, shared, it))
            if progress:
                progress(1)
        return out
    if client is None:
        with cluster(workers, scheduler) as c:
            return _map_on(c, fn, items, shared, progress)
    return _map_on(client, fn, items, shared, progress)


def _map_on(client, fn: Callable, items: list, shared: Any, progress) -> list:
    from distributed import as_completed

    from twin.study.engine import TASK_RETRIES

    sh = client.scatter(shared, broadcast=True, hash=False) if shared is not None else None
    futs = client.map(_call, [fn] * len(items), [sh] * len(items), items, pure=False, retries=TASK_RETRIES)
    where = {f.key: i for i, f in enumerate(futs)}
    out: list = [None] * len(items)
    try:
        for fut in as_completed(futs, loop=client.loop):
            out[where[fut.key]] = fut.result()
            fut.release()
            if progress:
                progress(1)
    finally:
        for f in futs:
            f.release()
    return out


def _run_one(extract: Callable | None, scenario) -> dict:
    from twin.runner import run

    r = run(scenario)
    row = {"scenario_id": scenario.id, "status": r.status, "reason": r.reason or ""}
    if extract is None:
        row["kpis"] = dict(r.kpis)
    else:
        row.update(extract(scenario, r))
    return row


def run_scenarios(
    scenarios: Sequence[Any],
    *,
    extract: Callable | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Run each :class:`~twin.scenario.Scenario` with :func:`twin.run` on the study engine's cluster.

    Parameters
    ----------
    scenarios : sequence of Scenario
    extract : callable, optional
        ``extract(scenario, result) -> dict``, run on the worker (module-level, picklable): what to send back
        instead of the KPIs (e.g. a per-rack column reduced to a few numbers).
    workers, scheduler, client, progress
        As :func:`map_tasks`.

    Returns
    -------
    list of dict
        Per scenario, in order: ``scenario_id``, ``status``, ``reason`` and ``kpis`` (or ``extract``'s keys).
        Bad input of a scenario (:class:`~twin.errors.InputError`) raises here, as ``run`` does.
    """
    import functools

    return map_tasks(
        functools.partial(_run_one, extract),
        scenarios,
        workers=workers,
        scheduler=scheduler,
        client=client,
        progress=progress,
    )
