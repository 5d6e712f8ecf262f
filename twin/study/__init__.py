"""Batch studies: sweeps, samples, explicit cases and N-1 enumerations of many scenarios, run on Dask.

A study is a YAML file (:mod:`twin.study.spec`): a base scenario, parameters that vary (``grid``, ``sample``,
``cases``, ``each_failure``), the analysis and the outputs. :func:`run_study` (:mod:`twin.study.engine`) runs
its scenarios in batches on a Dask cluster (a ``LocalCluster`` by default); each batch is one Parquet file
written atomically under the study directory (:mod:`twin.study.store`), so a study can be resumed and queried
with DuckDB while it runs. :func:`write_report` (:mod:`twin.study.report`) makes a self-contained HTML page.

    >>> from twin.study import load_study, run_study, query       # doctest: +SKIP
    >>> run_study(load_study("studies/hall_envelope.yaml"), "out/envelope")
    >>> query("out/envelope", "SELECT ambient_c, max(throttled_racks) FROM results GROUP BY 1 ORDER BY 1")

Names are imported on first access, so ``import twin.study`` loads neither Dask nor DuckDB.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.study.engine import run_study
    from twin.study.report import write_report
    from twin.study.spec import Study, StudySpec, load_study
    from twin.study.store import connect, query, results, status

__all__ = [
    "Study",
    "StudySpec",
    "connect",
    "load_study",
    "query",
    "results",
    "run_study",
    "status",
    "write_report",
]

_LAZY = {
    "Study": "twin.study.spec",
    "StudySpec": "twin.study.spec",
    "load_study": "twin.study.spec",
    "run_study": "twin.study.engine",
    "connect": "twin.study.store",
    "query": "twin.study.store",
    "results": "twin.study.store",
    "status": "twin.study.store",
    "write_report": "twin.study.report",
    "run_scenarios": "twin.study.mapping",  # in memory, no study file: see twin.study.mapping
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
