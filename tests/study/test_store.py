"""twin.study.store: atomic batch files, the manifest's refusals, batch validity, DuckDB queries and partitions."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pytest

from tests.study.conftest import POD, POD_GRID, write
from twin.errors import InputError
from twin.study import load_study, query, results, run_study, status
from twin.study.store import StudyStore, atomic_write_table, batch_meta


def test_atomic_write_leaves_the_file_or_nothing(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    t = pa.table({"a": [1, 2, 3]})
    p = tmp_path / "results" / "batch-00000.parquet"
    size = atomic_write_table(t, p)
    assert p.stat().st_size == size and pq.read_table(p).equals(t)
    assert [f.name for f in p.parent.iterdir()] == ["batch-00000.parquet"]

    def broken(table, where, **kw):  # the writer dies half way through its temporary file
        with open(where, "wb") as fh:
            fh.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError):
        atomic_write_table(pa.table({"a": [9]}), p)
    assert pq.read_table(p).equals(t)  # the old file is untouched
    assert [f.name for f in p.parent.iterdir()] == ["batch-00000.parquet"]  # no temporary left
    with pytest.raises(OSError):
        atomic_write_table(t, tmp_path / "results" / "batch-00001.parquet")
    assert not (tmp_path / "results" / "batch-00001.parquet").exists()


def test_prepare_refuses_what_would_overwrite(tmp_path):
    study = load_study(write(tmp_path, POD_GRID))
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty and is not a study directory"):
        StudyStore(user).prepare(study, resume=False, force=False)
    with pytest.raises(InputError, match="not empty and is not a study directory"):
        StudyStore(user).prepare(study, resume=True, force=False)
    StudyStore(user).prepare(study, resume=False, force=True)
    assert (
        user / "notes.txt"
    ).read_text() == "mine"  # --force writes next to the user's files, never over them
    # the same study: --resume or --force; a different one: --force only
    with pytest.raises(InputError, match="already holds this study"):
        StudyStore(user).prepare(study, resume=False, force=False)
    StudyStore(user).prepare(study, resume=True, force=False)
    other = load_study(write(tmp_path, POD_GRID.replace("[20, 40]", "[20, 41]"), "other.yaml"))
    with pytest.raises(InputError, match="holds a different study .* the spec"):
        StudyStore(user).prepare(other, resume=True, force=False)
    StudyStore(user).prepare(other, resume=False, force=True)
    assert json.loads((user / "study.json").read_text())["spec_hash"] == other.spec_hash
    with pytest.raises(InputError, match="not a directory"):
        StudyStore(user / "notes.txt").prepare(study, resume=False, force=False)


def test_a_changed_layout_file_is_a_different_study(tmp_path):
    lay = tmp_path / "pod.yaml"
    shutil.copy(POD, lay)
    f = write(tmp_path, POD_GRID.replace(str(POD), str(lay)))
    StudyStore(tmp_path / "out").prepare(load_study(f), resume=False, force=False)
    lay.write_text(lay.read_text() + "\n# edited\n")
    with pytest.raises(InputError, match=r"input file\(s\) .*pod.yaml"):
        StudyStore(tmp_path / "out").prepare(load_study(f), resume=True, force=False)


def test_only_complete_batches_of_this_study_count(tmp_path, pod_grid):
    study, out = pod_grid
    d = tmp_path / "copy"
    shutil.copytree(out, d)
    store = StudyStore(d)
    files = store.batch_files()
    assert store.valid_batches(study) == set(range(study.n_batches))
    files[0].write_bytes(
        files[0].read_bytes()[:-100]
    )  # truncated (cannot happen with our writer; checked anyway)
    other = files[1].read_bytes()
    files[2].write_bytes(other)  # a file whose footer names another batch
    assert batch_meta(files[0]) is None
    assert store.valid_batches(study) == set(range(study.n_batches)) - {0, 2}


def test_query_gives_the_expected_aggregates(pod_grid):
    study, out = pod_grid
    df = results(out)
    q = query(
        out,
        "SELECT ambient_c, count(*) AS n, max(facility_power_mw) AS p, avg(min_margin_k) AS m FROM results "
        "WHERE status = 'ok' GROUP BY ambient_c ORDER BY ambient_c",
    )
    ok = df[df["status"] == "ok"]
    want = ok.groupby("ambient_c").agg(
        n=("status", "size"), p=("facility_power_mw", "max"), m=("min_margin_k", "mean")
    )
    assert list(q["ambient_c"]) == [20.0, 40.0] and list(q["n"]) == [12, 12]
    assert list(q["p"]) == list(want["p"])
    assert q["m"].to_numpy() == pytest.approx(want["m"].to_numpy(), rel=1e-12)
    # a join of results and a kept table
    j = query(
        out,
        "SELECT r.case, count(*) AS n FROM halls h JOIN results r USING (scenario_index) GROUP BY 1 ORDER BY 1",
    )
    assert dict(zip(j["case"], j["n"], strict=True)) == {"all": 12, "cdu-out": 12}
    with pytest.raises(InputError, match="query: .*"):
        query(out, "SELECT nope FROM results")


def test_status_counts(pod_grid):
    study, out = pod_grid
    s = status(out)
    assert s["scenarios"] == s["done"] == 36 and s["remaining"] == 0 and s["complete"]
    assert s["by_status"] == {"error": 12, "ok": 24} and s["not_ok"] == 12
    assert s["not_ok_reasons"][0]["count"] == 12 and "cdu-9" in s["not_ok_reasons"][0]["reason"]
    with pytest.raises(InputError, match="not a study directory"):
        status(out.parent)


def test_hive_partitions_are_pruned(tmp_path, dask_client):
    text = (
        f"base:\n  layout: {POD}\nanalysis: thermal\nparameters:\n  grid:\n    supply_c: [35, 45]\n"
        "    ambient_c: [20, 30, 40]\npartition_by: supply_c\n"
    )
    study = load_study(write(tmp_path, text))
    out = tmp_path / "out"
    assert run_study(study, out, client=dask_client)["complete"]
    dirs = sorted(p.name for p in (out / "results").iterdir())
    assert dirs == ["supply_c=35.0", "supply_c=45.0"]
    q = query(out, "SELECT supply_c, count(*) AS n FROM results GROUP BY 1 ORDER BY 1")
    assert list(q["supply_c"]) == [35.0, 45.0] and list(q["n"]) == [3, 3]
    assert str(q["supply_c"].dtype) == "float64"
    # wreck the data pages of the 45 C partition (footers intact, so the view still binds): a filter on 35 C
    # still works because those files are never scanned; a query that needs them fails
    for f in (out / "results" / "supply_c=45.0").iterdir():
        raw = bytearray(f.read_bytes())
        footer = int.from_bytes(raw[-8:-4], "little")
        raw[4 : len(raw) - footer - 8] = b"\xff" * (len(raw) - footer - 12)
        f.write_bytes(bytes(raw))
    q = query(
        out,
        "SELECT count(*) AS n, sum(ambient_c) AS s, max(min_margin_k) AS m FROM results WHERE supply_c = 35",
    )
    assert list(q.iloc[0][["n", "s"]]) == [3, 90.0] and q["m"].iloc[0] > 0
    with pytest.raises(InputError):
        query(out, "SELECT sum(ambient_c), max(min_margin_k) FROM results")
