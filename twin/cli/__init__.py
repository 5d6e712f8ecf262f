"""The ``twin`` command line. Each ``cmd_*.py`` module in this package registers its commands on ``app``.

Exit codes: 0 ok, 2 bad input (layout problems, bad arguments, infeasible requests), 1 internal error.
"""

from __future__ import annotations

import importlib
import pkgutil

from twin.cli.common import app

# registration order is the order `twin --help` lists the commands: the workflow's order first, then any others
_ORDER = ["cmd_layout", "cmd_solve", "cmd_electrical", "cmd_network", "cmd_maxq", "cmd_run"]
_found = {m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_")}
for _mod in [m for m in _ORDER if m in _found] + sorted(_found - set(_ORDER)):
    importlib.import_module(f"{__name__}.{_mod}")


def main() -> None:
    app()


__all__ = ["app", "main"]
