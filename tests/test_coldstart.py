"""Cold start: ``import twin``, ``import twin.cli``, ``twin --help`` and ``twin info`` in a fresh process must not
load the heavy dependencies they do not use (CoolProp alone costs ~1.5 s to import).

Each case runs in a subprocess with this checkout first on ``PYTHONPATH`` and reports which of the watched
modules ended up in ``sys.modules``. Timings are in ``bench/bench_coldstart.py``; this guards the imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WATCHED = ["CoolProp", "scipy", "scipy.sparse", "scipy.optimize", "scipy.integrate", "pandas", "pyarrow"]


def _loaded(code: str) -> list[str]:
    """Watched modules in ``sys.modules`` after ``code`` ran in a fresh interpreter (it may call sys.exit)."""
    probe = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: print('@@' + json.dumps([m for m in {WATCHED!r} if m in sys.modules])))\n"
        f"{code}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr[-2000:]
    line = [s for s in p.stdout.splitlines() if s.startswith("@@")][-1]
    return json.loads(line[2:])


def _cli(*args: str) -> str:
    return f"import sys; sys.argv = ['twin', *{list(args)!r}]; from twin.cli import main; main()"


def test_import_twin_loads_no_heavy_dependency():
    # twin/__init__.py and twin/network/__init__.py import their public names on first access
    assert _loaded("import twin") == []


def test_import_twin_cli_loads_no_coolprop_scipy_or_pandas():
    assert _loaded("import twin.cli") == []


def test_help_loads_no_coolprop_scipy_or_pandas():
    assert _loaded(_cli("--help")) == []


def test_info_loads_no_coolprop_or_scipy():
    # compiling a layout needs pandas (and pandas loads pyarrow); the fabric count in `twin info` needs numpy only
    loaded = _loaded(_cli("info", str(ROOT / "layouts" / "pod_small.yaml")))
    assert not [m for m in loaded if m.startswith(("CoolProp", "scipy"))], loaded


@pytest.mark.parametrize("module", ["twin.network", "twin.network.power", "twin.perf", "twin.maxq.core"])
def test_light_modules(module):
    # fabric power, the performance model and the cap optimizer import scipy only inside the functions using it
    assert not [m for m in _loaded(f"import {module}") if m.startswith(("CoolProp", "scipy"))]


def test_loading_a_model_does_not_import_coolprop():
    code = f"from twin import load_model; load_model({str(ROOT / 'layouts' / 'pod_small.yaml')!r})"
    assert "CoolProp" not in _loaded(code)
