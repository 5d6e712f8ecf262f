"""``RunResult``: what :func:`twin.run` returns: named result tables, one flat KPI dict, warnings, metadata.

Table and KPI names, units and descriptions are listed in ``twin/results_schema.yaml`` (see
:mod:`twin.resultschema`). ``save(dir)`` writes one Parquet file per table, ``kpis.json``, ``meta.json`` and
``scenario.yaml``; ``RunResult.load(dir)`` reads them back equal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from twin.io import dumps, prepare_out_dir, write_table
from twin.scenario import Scenario

__all__ = ["RunResult"]


@dataclass
class RunResult:
    """The result of one scenario.

    Attributes
    ----------
    scenario : Scenario
        What was run.
    status : {"ok", "infeasible", "not_converged"}
        ``infeasible``: the request cannot be met (e.g. a grid budget below the floor); ``reason`` says why.
        ``not_converged``: a solver stopped before its tolerance; the tables hold its last state.
    reason : str
        Why the status is not ``ok`` (empty when it is).
    tables : dict of str to DataFrame
        Result tables by name (``racks``, ``loops``, ``cdus``, ``heat_rejection``, ``halls``, ``elec_nodes``,
        ``constraints``, ``contingencies``, ``switches``, ``links``, ``flows``, ``series`` ...).
    kpis : dict
        One flat dict of key figures (units in the names; see the result schema).
    warnings : list of str
        Things the user should know that do not stop the run (layout warnings, clamps reported by solvers).
    meta : dict
        ``scenario_id``, ``version`` (package), ``analysis``, ``solve_time_s``.
    """

    scenario: Scenario
    status: str = "ok"
    reason: str = ""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    kpis: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]

    def to_dict(self) -> dict:
        """KPIs, status and metadata as one JSON-able dict (what ``--json`` prints)."""
        return {
            "scenario_id": self.scenario.id,
            "analysis": self.scenario.analysis,
            "status": self.status,
            "reason": self.reason,
            **self.kpis,
            "warnings": list(self.warnings),
        }

    def save(self, out_dir: str | Path, *, force: bool = False, csv: bool = False) -> list[str]:
        """Write the result to a directory: ``<table>.parquet`` (+ ``.csv`` if asked), ``kpis.json``,
        ``meta.json`` and ``scenario.yaml``. A non-empty directory is refused unless ``force``.

        Returns
        -------
        list of str
            The files written.
        """
        d = prepare_out_dir(Path(out_dir), force)
        files: list[str] = []
        for name, df in self.tables.items():
            files += write_table(df, d, name, csv=csv)
        (d / "kpis.json").write_text(dumps(self.kpis) + "\n")
        meta = {**self.meta, "status": self.status, "reason": self.reason, "warnings": self.warnings}
        meta["tables"] = list(self.tables)
        (d / "meta.json").write_text(dumps(meta) + "\n")
        (d / "scenario.yaml").write_text(
            yaml.safe_dump(json.loads(dumps(self.scenario.to_dict())), sort_keys=False)
        )
        files += [str(d / "kpis.json"), str(d / "meta.json"), str(d / "scenario.yaml")]
        return files

    @classmethod
    def load(cls, out_dir: str | Path) -> RunResult:
        """Read a result written by :meth:`save` (tables from Parquet; the scenario from ``scenario.yaml``)."""
        d = Path(out_dir)
        meta = json.loads((d / "meta.json").read_text())
        kpis = json.loads((d / "kpis.json").read_text())
        tables = {name: pd.read_parquet(d / f"{name}.parquet") for name in meta.pop("tables")}
        data = yaml.safe_load((d / "scenario.yaml").read_text())
        data.pop("id", None)
        scenario = Scenario(**data)
        status, reason, warnings = meta.pop("status"), meta.pop("reason"), meta.pop("warnings")
        return cls(scenario, status, reason, tables, kpis, warnings, meta)
