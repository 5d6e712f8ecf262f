"""The server-side result cache: bounded memory level, disk level shared with forked background workers."""

from __future__ import annotations

import multiprocessing as mp
import threading
from dataclasses import dataclass

from webapp.cache import ResultCache


@dataclass(frozen=True)
class Key:
    id: str


def test_memory_level_is_bounded_and_solves_once(tmp_path):
    cache = ResultCache(2)
    calls = []

    def runner(s):
        calls.append(s.id)
        return {"id": s.id}

    threads = [threading.Thread(target=cache.get_or_run, args=(Key("a"), runner)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["a"]  # concurrent requests for one id: one solve
    for k in "bcd":
        cache.get_or_run(Key(k), runner)
    assert len(cache) == 2 and "a" not in cache and cache.get("d") == {"id": "d"}


def _worker(cache: ResultCache, key: str) -> None:
    cache.get_or_run(Key(key), lambda s: {"solved_in": "worker", "id": s.id})


def test_a_forked_worker_hands_its_result_through_the_disk(tmp_path):
    cache = ResultCache(4, disk_dir=tmp_path / "results")
    cache.get_or_run(Key("seen"), lambda s: {"id": s.id})
    with cache._lock:  # a lock held by another thread when the worker forks must not block the worker
        proc = mp.get_context("fork").Process(target=_worker, args=(cache, "job"))
        proc.start()
        proc.join(30)
    assert proc.exitcode == 0
    assert "job" in cache and cache.get("job") == {"solved_in": "worker", "id": "job"}
    assert ResultCache(4, disk_dir=tmp_path / "results").get("seen") == {
        "id": "seen"
    }  # another process's view


def test_workers_sharing_a_cache_folder_share_uploads(tmp_path):
    """Two apps on one cache folder (two gunicorn workers): a layout uploaded through one is served by the other."""
    from webapp.app import create_app

    a = create_app("layouts/pod_small.yaml", cache_dir=tmp_path)
    b = create_app("layouts/pod_small.yaml", cache_dir=tmp_path)
    assert (
        (tmp_path / "uploads").is_dir() and (tmp_path / "results").is_dir() and (tmp_path / "jobs").is_dir()
    )
    assert a._twin_cache._disk_args == (str(tmp_path / "results"), 2**30)  # 1 GiB of solved scenarios on disk
    assert a._twin_uploads == b._twin_uploads == tmp_path / "uploads"  # allowed_now() globs this folder
