"""Benchmark: cold-start time of the package and the command line, each in a fresh Python process.

Run: python bench/bench_coldstart.py [-n N] [--base DIR] [--json]

Times (median of N fresh subprocesses, wall clock, interpreter start included):

* ``import twin``
* ``import twin.cli``
* ``twin --help``
* ``twin info layouts/pod_small.yaml``

The commands run ``twin.cli.main`` in-process (``python -c "...; main()"``) rather than the ``twin`` console
script, so that ``PYTHONPATH`` decides which checkout is measured: this one by default, and with ``--base DIR``
also the checkout in DIR (e.g. a ``git worktree`` of an older commit), side by side; the two checkouts' runs
alternate, so a change in machine load affects both alike. One extra run of each command lists which heavy
dependencies ended up in ``sys.modules`` (not timed).

Bare ``python -c pass`` is timed too: the interpreter's own start-up, the floor of every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HEAVY = [
    "CoolProp",
    "scipy",
    "scipy.sparse",
    "scipy.sparse.linalg",
    "scipy.optimize",
    "scipy.integrate",
    "pandas",
    "pyarrow",
    "pydantic",
    "rich.table",
]


def _cli(*args: str) -> str:
    return f"import sys; sys.argv = ['twin', {', '.join(repr(a) for a in args)}]; from twin.cli import main; main()"


CASES: dict[str, str] = {
    "python -c pass": "pass",
    "import twin": "import twin",
    "import twin.cli": "import twin.cli",
    "twin --help": _cli("--help"),
    # each checkout's own layout (run from the checkout's root): layouts and catalog change together
    "twin info pod_small": _cli("info", "layouts/pod_small.yaml"),
}

_PROBE = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: sys.__stderr__.write('\\n@@MODS@@' + json.dumps("
    "[m for m in {heavy!r} if m in sys.modules]) + '\\n'))\n"
    "{code}\n"
)


def _env(pythonpath: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(pythonpath)
    env.setdefault("COLUMNS", "100")
    return env


def _run(code: str, pythonpath: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=_env(pythonpath),
        cwd=str(pythonpath),
        capture_output=True,
        text=True,
        check=False,
    )


def time_once(code: str, pythonpath: Path) -> float:
    """Wall time (s) of one fresh ``python -c code`` process with ``PYTHONPATH=pythonpath``."""
    t0 = time.perf_counter()
    p = _run(code, pythonpath)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}) under {pythonpath}: {code}\n{p.stderr[-2000:]}")
    return dt


def heavy_modules(code: str, pythonpath: Path) -> list[str]:
    """Heavy dependencies in ``sys.modules`` when ``code`` finishes (one untimed run)."""
    p = _run(_PROBE.format(heavy=HEAVY, code=code), pythonpath)
    for line in p.stderr.splitlines()[::-1]:
        if line.startswith("@@MODS@@"):
            return json.loads(line[len("@@MODS@@") :])
    return ["?"]


def measure(paths: dict[str, Path], n: int) -> dict[str, dict[str, dict]]:
    """{checkout: {case: {median_s, heavy}}}; the checkouts' runs alternate, so load drift hits them alike."""
    times: dict[str, dict[str, list[float]]] = {k: {c: [] for c in CASES} for k in paths}
    for name, code in CASES.items():
        for _ in range(n):
            for k, path in paths.items():
                times[k][name].append(time_once(code, path))
    return {
        k: {
            name: {"median_s": statistics.median(times[k][name]), "heavy": heavy_modules(code, path)}
            for name, code in CASES.items()
        }
        for k, path in paths.items()
    }


def _short(mods: list[str]) -> str:
    # "scipy.sparse" implies "scipy": list the most specific names only
    keep = [m for m in mods if not any(o != m and o.startswith(m + ".") for o in mods)]
    return ", ".join(keep) or "-"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--repeat", type=int, default=5, help="fresh processes per case (median)")
    ap.add_argument("--base", type=Path, help="another checkout to compare with (put on PYTHONPATH)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args(argv)

    paths = {"this": ROOT} if a.base is None else {"base": a.base.resolve(), "this": ROOT}
    runs = measure(paths, a.repeat)
    if a.json:
        print(
            json.dumps(
                {k: {"pythonpath": str(ROOT if k == "this" else a.base), **v} for k, v in runs.items()}
            )
        )
        return

    load = f"; load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(f"cold start, median of {a.repeat} fresh processes (s); python {sys.version.split()[0]}{load}")
    if a.base is None:
        print(f"{'case':<22}{'this':>8}  heavy modules loaded")
        for name, r in runs["this"].items():
            print(f"{name:<22}{r['median_s']:>8.3f}  {_short(r['heavy'])}")
        return
    print(f"base: {a.base.resolve()}\nthis: {ROOT}")
    print(f"{'case':<22}{'base':>8}{'this':>8}{'ratio':>8}  heavy modules (base -> this)")
    for name in CASES:
        b, t = runs["base"][name], runs["this"][name]
        print(
            f"{name:<22}{b['median_s']:>8.3f}{t['median_s']:>8.3f}{b['median_s'] / t['median_s']:>7.1f}x"
            f"  {_short(b['heavy'])} -> {_short(t['heavy'])}"
        )


if __name__ == "__main__":
    main()
