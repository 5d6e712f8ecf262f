"""twin study run / status / query / report: the command line, kill -9 and --resume, and a real Dask cluster."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.study.conftest import POD, POD_GRID, ROOT, write
from twin import run
from twin.cli import app
from twin.study import load_study, results
from twin.study.store import StudyStore, batch_meta

runner = CliRunner()
TINY = f"""\
name: tiny
base:
  layout: {POD}
analysis: thermal
parameters:
  grid:
    ambient_c: [20, 40]
    supply_c: [35, 45]
batch_size: 2
"""


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gone(pgid: int, timeout: float) -> bool:
    """True once no process of the group is left (workers of a killed driver exit when it dies)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def _kill_group(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait(timeout=30)


# --- run, and what it refuses --------------------------------------------------------------------------------


def test_run_shows_progress_on_stderr_and_json_on_stdout(tmp_path):
    f = write(tmp_path, TINY)
    out = tmp_path / "out"
    res = runner.invoke(app, ["study", "run", str(f), "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "4/4" in res.stderr and "complete" in res.stdout
    # the same study again: refused without --resume; with --resume nothing is left to run (no cluster started)
    res = runner.invoke(app, ["study", "run", str(f), "--out", str(out), "--json"])
    assert res.exit_code == 2
    assert json.loads(res.stdout)["ok"] is False and "--resume" in res.stdout
    res = runner.invoke(app, ["study", "run", str(f), "--out", str(out), "--resume", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)  # one JSON object, nothing else on stdout
    assert d["ok"] and d["complete"] and d["batches_run"] == 0 and d["batches_skipped"] == 2
    assert d["by_status"] == {"ok": 4}
    assert "4/4" not in res.stderr  # no progress bar with --json
    # a different study into the same directory: refused, then --force replaces it
    g = write(tmp_path, TINY.replace("[35, 45]", "[35, 40, 45]"), "other.yaml")
    res = runner.invoke(app, ["study", "run", str(g), "--out", str(out)])
    assert res.exit_code == 2 and "holds a different study" in res.stderr and "--force" in res.stderr
    assert "Traceback" not in res.output


def test_bad_spec_is_exit_2_with_file_line_and_path(tmp_path):
    f = write(tmp_path, TINY.replace("supply_c: [35, 45]", "halls[0].facility_water.supplyc: [35, 45]"))
    res = runner.invoke(app, ["study", "run", str(f), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    line = next(i for i, s in enumerate(f.read_text().splitlines(), 1) if "supplyc" in s)
    assert f"{f}:{line}: parameters.grid.halls[0].facility_water.supplyc: unknown parameter" in res.stderr
    assert "the study cannot be run" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()  # nothing written for a bad spec
    res = runner.invoke(app, ["study", "run", str(f), "--out", str(tmp_path / "out"), "--json"])
    d = json.loads(res.stdout)
    assert res.exit_code == 2 and d["ok"] is False and d["problems"][0]["line"] == line
    assert d["problems"][0]["file"] == str(f)


@pytest.mark.parametrize("bad", sorted((ROOT / "tests" / "bad_inputs").glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_input_corpus_as_a_study_file(tmp_path, bad):
    res = runner.invoke(app, ["study", "run", str(bad), "--out", str(tmp_path / "out"), "--json"])
    assert res.exit_code == 2, res.output
    d = json.loads(res.stdout)
    assert d["ok"] is False and d["problems"]
    res = runner.invoke(app, ["study", "run", str(bad), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "Traceback" not in res.output and bad.name in res.stderr


def test_options_refused_before_any_work(tmp_path):
    f = write(tmp_path, TINY)
    res = runner.invoke(
        app,
        ["study", "run", str(f), "--out", str(tmp_path / "o"), "--workers", "1", "--scheduler", "tcp://x:1"],
    )
    assert res.exit_code == 2 and "not both" in res.stderr
    port = _free_port()  # nobody listens there
    res = runner.invoke(
        app,
        [
            "study",
            "run",
            str(f),
            "--out",
            str(tmp_path / "o"),
            "--scheduler",
            f"tcp://127.0.0.1:{port}",
            "--json",
        ],
    )
    assert res.exit_code == 2, res.output
    assert "cannot reach the Dask scheduler" in json.loads(res.stdout)["problems"][0]["message"]


# --- status, query, report -----------------------------------------------------------------------------------


def test_status_query_report(tmp_path, pod_grid):
    study, out = pod_grid
    res = runner.invoke(app, ["study", "status", str(out), "--json"])
    s = json.loads(res.stdout)
    assert res.exit_code == 0 and s["complete"] and s["done"] == 36 and s["by_status"]["error"] == 12
    res = runner.invoke(app, ["study", "status", str(out)])
    assert res.exit_code == 0 and "no unit of that name" in res.stdout
    sql = "SELECT ambient_c, count(*) AS n FROM results WHERE status = 'ok' GROUP BY 1 ORDER BY 1"
    res = runner.invoke(app, ["study", "query", str(out), sql, "--json"])
    d = json.loads(res.stdout)
    assert (
        d["ok"]
        and d["columns"] == ["ambient_c", "n"]
        and d["rows"]
        == [
            {"ambient_c": 20.0, "n": 12},
            {"ambient_c": 40.0, "n": 12},
        ]
    )
    res = runner.invoke(app, ["study", "query", str(out), sql, "--csv"])
    assert res.stdout.splitlines() == ["ambient_c,n", "20.0,12", "40.0,12"]
    res = runner.invoke(app, ["study", "query", str(out), sql])
    assert res.exit_code == 0 and "ambient_c" in res.stdout
    res = runner.invoke(app, ["study", "query", str(out), "SELEC 1", "--json"])
    assert res.exit_code == 2 and json.loads(res.stdout)["ok"] is False
    res = runner.invoke(app, ["study", "query", str(tmp_path), "SELECT 1"])
    assert res.exit_code == 2 and "not a study directory" in res.stderr
    html = tmp_path / "r.html"
    res = runner.invoke(app, ["study", "report", str(out), "--out", str(html), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["report"] == str(html) and html.stat().st_size > 1_000_000
    res = runner.invoke(app, ["study", "report", str(out), "--out", str(html)])
    assert res.exit_code == 2 and "--force" in res.stderr


# --- kill -9 and --resume --------------------------------------------------------------------------------------


def test_kill_9_mid_run_then_resume_equals_an_uninterrupted_run(tmp_path, pod_grid):
    """The driver is killed (SIGKILL) while batches are being written; no partial file is ever visible, and
    --resume gives exactly the rows of an uninterrupted run: same rows, same values, no duplicates."""
    study, reference = pod_grid
    f = write(tmp_path, POD_GRID)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "twin.cli",
        "study",
        "run",
        str(f),
        "--out",
        str(out),
        "--workers",
        "1",
        "--json",
    ]
    p = subprocess.Popen(
        cmd, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        store = StudyStore(out)
        deadline = time.monotonic() + 240
        done_at_kill = 0
        while time.monotonic() < deadline and p.poll() is None:
            done_at_kill = len(store.batch_files())
            if done_at_kill >= 3:
                os.kill(p.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        assert p.wait(timeout=60) == -signal.SIGKILL, p.stderr.read().decode()[-2000:]
        assert 3 <= done_at_kill < study.n_batches
        assert _gone(p.pid, 60), "the local cluster's workers outlived their driver"
    finally:
        _kill_group(p)
    files = store.batch_files()
    assert files and len(files) < study.n_batches
    assert all(batch_meta(x) is not None for x in files)  # every visible batch file is complete
    m = json.loads((out / "study.json").read_text())
    assert not m["complete"] and m["runs"][-1]["interrupted"]
    # resume: only the missing batches run; the study is then identical to the uninterrupted one
    r = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(r.stdout)
    assert (
        d["complete"]
        and d["batches_skipped"] == len(files)
        and d["batches_run"] == study.n_batches - len(files)
    )
    assert not list(out.rglob("*.tmp-*"))
    a, b = results(reference), results(out)
    assert b["scenario_index"].is_unique and len(b) == study.n_scenarios
    pd.testing.assert_frame_equal(a, b)


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    """Ctrl-C reaches the driver and its local workers (one process group): exit 130, one message, no traceback."""
    f = write(tmp_path, POD_GRID)
    out = tmp_path / "out"
    p = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "study", "run", str(f), "--out", str(out), "--workers", "1"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and p.poll() is None and len(StudyStore(out).batch_files()) < 2:
            time.sleep(0.02)
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=120)
    finally:
        _kill_group(p)
    assert p.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert "interrupted" in err and "--resume" in err
    assert not json.loads((out / "study.json").read_text())["complete"]


# --- a real Dask cluster ------------------------------------------------------------------------------------------


@pytest.fixture
def dask_processes(tmp_path):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1, stopped (and reaped) at the end."""
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    log = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - closed in the finalizer
    try:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
                 "--no-dashboard"],
                cwd=ROOT, env=_env(), stdout=log, stderr=log, start_new_session=True,
            )
        )  # fmt: skip
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker", addr, "--host", "127.0.0.1",
                     "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--death-timeout", "60",
                     "--local-directory", str(tmp_path / f"worker-{i}")],
                    cwd=ROOT, env=_env(), stdout=log, stderr=log, start_new_session=True,
                )
            )  # fmt: skip
        from distributed import Client

        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(addr, timeout="5s", set_as_default=False) as c:
                    c.wait_for_workers(2, timeout=120)
                    pids = set(c.run(os.getpid).values())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield addr, pids
    finally:
        try:  # the quick way: the scheduler stops its workers, then itself
            from distributed import Client

            with Client(addr, timeout="5s", set_as_default=False) as c:
                c.shutdown()
        except Exception:
            pass
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            _kill_group(p)  # the workers' nanny children too
        log.close()


def test_scheduler_cluster_rows_equal_local_cluster_and_run(tmp_path, pod_grid, dask_processes):
    addr, worker_pids = dask_processes
    study, reference = pod_grid
    f = write(tmp_path, POD_GRID)
    out = tmp_path / "out"
    res = runner.invoke(app, ["study", "run", str(f), "--out", str(out), "--scheduler", addr, "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["complete"] and d["batches_run"] == study.n_batches
    # the batches ran in the two external workers
    pids = {batch_meta(x)["pid"] for x in StudyStore(out).batch_files()}
    assert pids <= worker_pids and len(pids) == 2
    a, b = results(reference), results(out)
    pd.testing.assert_frame_equal(a, b)
    again = load_study(f)
    for i in (0, 13, 34):
        r = run(again.scenario(i))
        row = b.iloc[i]
        assert row["scenario_id"] == again.scenario(i).id and row["status"] == r.status
        if r.ok:
            for k in ("facility_power_mw", "tokens_per_s", "min_margin_k", "pue"):
                assert row[k] == r.kpis[k]


def test_study_paths_in_help():
    res = runner.invoke(app, ["study", "run", "--help"])
    assert res.exit_code == 0 and "--scheduler" in res.stdout and "--resume" in res.stdout
    assert Path(ROOT / "studies").is_dir()
