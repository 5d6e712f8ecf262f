"""The ``twin`` command line. Each ``cmd_*.py`` module in this package registers its commands on ``app``.

Exit codes: 0 ok, 2 bad input (layout problems, bad arguments, infeasible requests), 1 internal error.
"""

from __future__ import annotations

import importlib
import pkgutil

from twin.cli.common import app

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_")):
    importlib.import_module(f"{__name__}.{_mod}")


def main() -> None:
    app()


__all__ = ["app", "main"]
