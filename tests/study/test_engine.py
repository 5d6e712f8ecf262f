"""twin.study.engine: rows equal run(scenario) called directly, statuses, tables, resume, crashed tasks."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest

from tests.study.conftest import CDU1, POD, write
from twin import Scenario, run
from twin.errors import InputError
from twin.study import load_study, results, run_study
from twin.study.engine import _loaded_layout, _scenario
from twin.study.store import StudyStore, batch_meta

FIXED = ("scenario_index", "scenario_id", "status", "reason")


def _equal(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if isinstance(b, (dict, list, tuple)):
        return json.loads(a) == json.loads(json.dumps(b))
    if isinstance(b, np.generic):
        b = b.item()
    return a == b


def _check_row(row: pd.Series, scenario: Scenario, param_cols: set[str]) -> None:
    """A study row holds what run(scenario) gives: id, status, reason and every KPI, exactly."""
    try:
        r = run(scenario)
    except InputError as exc:
        assert row["status"] == "error" and row["reason"] == str(exc)
        assert row["scenario_id"] == scenario.id
        return
    assert row["scenario_id"] == scenario.id
    assert row["status"] == r.status and row["reason"] == r.reason
    for k, v in r.kpis.items():
        if k in param_cols:  # a KPI that repeats a parameter is kept once, else it is <name>_kpi
            col = f"{k}_kpi" if f"{k}_kpi" in row.index and not pd.isna(row[f"{k}_kpi"]) else k
        else:
            col = k
        assert _equal(row[col], v), (k, row[col], v)


def test_rows_equal_run_called_directly(pod_grid):
    study, out = pod_grid
    df = results(out)
    assert list(df["scenario_index"]) == list(range(study.n_scenarios))  # every scenario once
    assert list(df.columns[:4]) == list(FIXED)
    param_cols = {p.column for p in study.params.values()}
    for i in range(study.n_scenarios):
        row = df.iloc[i]
        p = study.params_at(i)
        # the scenario built by hand from the row's parameters, not by the study code
        by_hand = Scenario(
            layout=str(POD),
            ambient_c=float(row["ambient_c"]),
            it_load=float(row["it_load"]),
            overrides={"halls[0].facility_water.supply_c": int(row["halls_0_facility_water_supply_c"])},
            failures=tuple(json.loads(row["failures"])) if row["failures"] is not None else (),
        )
        assert by_hand.id == study.scenario(i).id
        assert row["case"] == p["case"]
        _check_row(row, by_hand, param_cols)


def test_statuses_and_reasons(pod_grid):
    study, out = pod_grid
    df = results(out)
    bad = df[df["case"] == "bad-unit"]
    assert len(bad) == 12 and set(bad["status"]) == {"error"}
    assert all("cdu-9" in r and "no unit of that name" in r for r in bad["reason"])
    ok = df[df["case"] != "bad-unit"]
    assert set(ok["status"]) == {"ok"} and set(ok["reason"]) == {""}
    # a failed CDU shows in the KPIs of its rows
    out_rows = df[df["case"] == "cdu-out"]
    assert all(json.loads(f) == [CDU1] for f in out_rows["failed"])


def test_infeasible_is_a_row_not_an_abort(tmp_path, dask_client):
    text = f"base:\n  layout: {POD}\nanalysis: maxq\nparameters:\n  grid:\n    budget_mw: [0.05, 3.5]\n"
    study = load_study(write(tmp_path, text))
    res = run_study(study, tmp_path / "out", client=dask_client)
    assert res["complete"] and res["by_status"] == {"infeasible": 1, "ok": 1}
    df = results(tmp_path / "out")
    low = df[df["budget_mw"] == 0.05].iloc[0]
    r = run(Scenario(layout=str(POD), budget_mw=0.05))
    assert low["status"] == "infeasible" == r.status and low["reason"] == r.reason and r.reason
    high = df[df["budget_mw"] == 3.5].iloc[0]
    rr = run(Scenario(layout=str(POD), budget_mw=3.5))
    assert high["tokens_per_s"] == rr.kpis["tokens_per_s"]
    assert "budget_mw_kpi" not in df.columns  # the KPI repeats the parameter: kept once


def test_tables_whole_and_summarised(pod_grid):
    study, out = pod_grid
    from twin.study import query

    i = 3
    r = run(study.scenario(i))
    halls = query(out, f"SELECT * FROM halls WHERE scenario_index = {i}")
    want = r.tables["halls"].reset_index(drop=True)
    assert len(halls) == len(want)
    for c in want.columns:
        a, b = halls[c].to_numpy(), want[c].to_numpy()
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b)
        else:
            assert list(a) == list(b), c
    s = query(out, f"SELECT * FROM racks_summary WHERE scenario_index = {i}").set_index("column")
    racks = r.tables["racks"]
    for c in ("junction_c", "rack_power_w", "margin_k"):
        col = racks[c].to_numpy(dtype=float)
        assert s.loc[c, "min"] == col.min() and s.loc[c, "max"] == col.max()
        assert s.loc[c, "p50"] == pytest.approx(np.percentile(col, 50), rel=1e-12)
    assert "hall" not in s.index and "pod" not in s.index  # indices into other tables are not summarised
    # error rows have no table rows
    bad = query(out, "SELECT min(scenario_index) FROM results WHERE status = 'error'").iloc[0, 0]
    assert query(out, f"SELECT count(*) FROM racks_summary WHERE scenario_index = {bad}").iloc[0, 0] == 0


def test_batch_files_carry_their_identity(pod_grid):
    study, out = pod_grid
    store = StudyStore(out)
    files = store.batch_files()
    assert len(files) == study.n_batches == 18
    for f in files:
        m = batch_meta(f)
        assert m["spec_hash"] == study.spec_hash and m["_num_rows"] == m["stop"] - m["start"]
    assert not list(out.rglob("*.tmp-*"))
    manifest = json.loads((out / "study.json").read_text())
    assert manifest["complete"] and manifest["spec_hash"] == study.spec_hash
    assert manifest["counts"] == {"error": 12, "ok": 24}
    assert manifest["version"] and manifest["started"] and manifest["ended"]


def test_resume_runs_only_missing_batches_and_gives_the_same_rows(tmp_path, pod_grid, dask_client):
    import shutil

    study, out = pod_grid
    d = tmp_path / "copy"
    shutil.copytree(out, d)
    store = StudyStore(d)
    files = store.batch_files()
    files[3].unlink()
    files[10].unlink()
    (files[5].parent / (files[5].name + ".tmp-999-deadbeef")).write_bytes(
        b"partial"
    )  # a killed writer's leftover
    with pytest.raises(InputError, match="--resume to finish it"):
        run_study(study, d, client=dask_client)
    res = run_study(study, d, resume=True, client=dask_client)
    assert res["batches_run"] == 2 and res["batches_skipped"] == study.n_batches - 2 and res["complete"]
    assert not list(d.rglob("*.tmp-*"))
    a, b = results(out), results(d)
    pd.testing.assert_frame_equal(a, b)


def test_workers_reuse_a_loaded_layout_only_when_it_is_the_same_scenario(tmp_path):
    study = load_study(
        write(
            tmp_path,
            f"base:\n  layout: {POD}\nanalysis: thermal\nparameters:\n  grid: {{ambient_c: [20, 30]}}\n",
        )
    )
    loaded = _loaded_layout(str(POD))
    assert loaded is not None and _loaded_layout(str(POD)) is loaded  # read once
    s = _scenario(study.recipe, study.params_at(1))
    assert s.layout is loaded and s.id == study.scenario(1).id
    # with overrides the file is used (the run API applies them to the file's data)
    grid = load_study(
        write(
            tmp_path,
            f"base:\n  layout: {POD}\nparameters:\n  grid:\n    halls[0].facility_water.supply_c: [40, 44]\n",
        )
    )
    assert isinstance(_scenario(grid.recipe, grid.params_at(0)).layout, str)


def test_a_crashing_task_is_retried_then_recorded_failed_and_resume_runs_it(tmp_path, monkeypatch):
    """A batch whose worker dies (os._exit, like a segfault) is retried by Dask, then its scenarios are rows with
    status failed; the study goes on, and --resume runs that batch again."""
    import dask
    from distributed import Client, LocalCluster

    text = f"base:\n  layout: {POD}\nanalysis: thermal\nparameters:\n  grid: {{ambient_c: [10, 20, 30, 40]}}\nbatch_size: 1\n"
    study = load_study(write(tmp_path, text))
    monkeypatch.setenv("TWIN_STUDY_CRASH_BATCH", "2")
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
        client = Client(cluster, set_as_default=False)
        try:
            res = run_study(study, tmp_path / "out", client=client)
        finally:
            client.close()
            cluster.close()
    # batch 2 kills its worker; a batch queued on the same worker when it dies is lost with it (Dask counts the
    # death against every task the worker held), so it may be recorded failed too: never more than those in flight
    failed = res["failed_batches"]
    assert 2 in failed and set(failed) <= {1, 2, 3} and not res["complete"]
    df = results(tmp_path / "out")
    assert list(df["scenario_index"]) == [0, 1, 2, 3]
    row = df[df["scenario_index"] == 2].iloc[0]
    assert row["status"] == "failed" and "KilledWorker" in row["reason"]
    assert row["scenario_id"] == study.scenario(2).id
    assert set(df[~df["scenario_index"].isin(failed)]["status"]) == {"ok"}
    assert set(df[df["scenario_index"].isin(failed)]["status"]) == {"failed"}
    monkeypatch.delenv("TWIN_STUDY_CRASH_BATCH")
    res = run_study(study, tmp_path / "out", resume=True, workers=1)
    assert res["batches_run"] == len(failed) and res["complete"]
    assert set(results(tmp_path / "out")["status"]) == {"ok"}
