"""A bounded, thread-safe server-side cache of solved scenarios keyed by ``Scenario.id``.

It holds no user state: a key is the content hash of a what-if, so two users asking the same question share one
solve and nobody sees a result they did not ask for. Concurrent requests for one id solve it once (per-id lock);
different ids solve in parallel.

Two levels: a small in-memory LRU (the results being looked at) over an optional on-disk ``diskcache.Cache``
(bounded in bytes, least recently used evicted). The disk level is what a background callback's worker process
(``dash.DiskcacheManager``) hands its result to the server through: the worker solves and stores, the server
reads it back by id.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path


class ResultCache:
    """Least-recently-used map ``Scenario.id -> RunResult`` holding at most ``maxsize`` results in memory, and
    (with ``disk_dir``) up to ``disk_bytes`` of pickled results on disk."""

    def __init__(self, maxsize: int = 16, disk_dir: str | Path | None = None, disk_bytes: int = 2**31):
        self.maxsize = int(maxsize)
        self._data: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self.hits = 0
        self.misses = 0
        self._disk_args = None
        self._disk_obj = None
        self._pid = os.getpid()
        if disk_dir is not None:
            self._disk_args = (str(disk_dir), int(disk_bytes))
            self._disk_obj = self._open_disk()

    def _open_disk(self):
        import diskcache

        path, size = self._disk_args
        return diskcache.Cache(path, size_limit=size, eviction_policy="least-recently-used")

    @property
    def _disk(self):
        """The disk level, reopened in a forked worker (a background callback's job): an SQLite connection and a
        lock held by another thread at the fork must not be used across it."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._key_locks = {}
            if self._disk_args is not None:
                self._disk_obj = self._open_disk()
        return self._disk_obj

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: str) -> bool:
        return key in self._data or (self._disk is not None and key in self._disk)

    def get(self, key: str):
        disk = self._disk  # (reopens in a forked worker before the locks are used)
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        if disk is not None:
            hit = disk.get(key)
            if hit is not None:
                self._remember(key, hit)
                return hit
        return None

    def _remember(self, key: str, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def put(self, key: str, value) -> None:
        disk = self._disk
        self._remember(key, value)
        if disk is not None:
            disk.set(key, value)

    def get_or_run(self, scenario, runner: Callable | None = None):
        """The scenario's result, solved with ``runner`` (default ``twin.run``) on a miss."""
        key = scenario.id
        hit = self.get(key)  # (resets the locks in a forked worker)
        if hit is not None:
            self.hits += 1
            return hit
        with self._lock:
            klock = self._key_locks.setdefault(key, threading.Lock())
        with klock:
            hit = self.get(key)
            if hit is not None:
                self.hits += 1
                return hit
            if runner is None:
                from twin import run as runner
            res = runner(scenario)
            self.misses += 1
            self.put(key, res)
        with self._lock:
            self._key_locks.pop(key, None)
        return res
