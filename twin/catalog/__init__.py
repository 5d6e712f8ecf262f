"""Equipment catalog: built-in data files (``twin/catalog/data/*.yaml``) plus the user's own files.

Every number is data with a ``source``. A user catalog file uses the same sections (``racks:``, ``cdus:`` ...);
an entry whose name already exists replaces the built-in one and the replacement is reported as a warning.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from twin.catalog.schema import SECTIONS, Entry, GpuType, RackType
from twin.errors import LayoutError, Problem, format_loc
from twin.yamlio import line_of, load_yaml

DATA_DIR = Path(__file__).parent / "data"


class Catalog:
    """Entries by section and name, and where each came from."""

    def __init__(
        self,
        entries: dict[str, dict[str, Entry]],
        origin: dict[tuple[str, str], str],
        warnings: list[Problem] | None = None,
    ):
        self.entries = entries
        self.origin = origin
        self.warnings = warnings or []

    def get(self, section: str, name: str) -> Entry:
        return self.entries[section][name]

    def has(self, section: str, name: str) -> bool:
        return name in self.entries.get(section, {})

    def names(self, section: str) -> list[str]:
        return sorted(self.entries.get(section, {}))

    def rack(self, name: str) -> RackType:
        return self.entries["racks"][name]  # type: ignore[return-value]

    def gpu(self, name: str) -> GpuType:
        return self.entries["gpus"][name]  # type: ignore[return-value]

    def table(self, section: str) -> pd.DataFrame:
        """One row per entry, scalar fields as columns (nested curves left out), indexed by name."""
        rows = []
        for e in self.entries.get(section, {}).values():
            d = {k: v for k, v in e.model_dump().items() if not isinstance(v, (dict, list))}
            rows.append(d)
        return pd.DataFrame(rows).set_index("name") if rows else pd.DataFrame()


def _read_file(
    path: Path, entries: dict, origin: dict, problems: list, warnings: list, builtin: bool
) -> None:
    file = str(path)
    try:
        data, lines = load_yaml(path)
    except LayoutError as exc:
        problems.extend(exc.problems)
        return
    if not isinstance(data, dict):
        problems.append(
            Problem("", "a catalog file must be a mapping of sections (racks:, cdus:, ...)", file, 1)
        )
        return
    for section, items in data.items():
        if section not in SECTIONS:
            problems.append(
                Problem(
                    str(section),
                    f"unknown catalog section (known: {', '.join(SECTIONS)})",
                    file,
                    line_of(lines, (section,)),
                )
            )
            continue
        if not isinstance(items, list):
            problems.append(
                Problem(str(section), "must be a list of entries", file, line_of(lines, (section,)))
            )
            continue
        model = SECTIONS[section]
        seen_here: set[str] = set()
        for i, item in enumerate(items):
            try:
                entry = model.model_validate(item)
            except ValidationError as exc:
                for err in exc.errors():
                    loc = (section, i, *err["loc"])
                    problems.append(Problem(format_loc(loc), _msg(err), file, line_of(lines, loc)))
                continue
            if entry.name in seen_here:
                problems.append(
                    Problem(
                        format_loc((section, i, "name")),
                        f"duplicate name '{entry.name}'",
                        file,
                        line_of(lines, (section, i, "name")),
                    )
                )
                continue
            seen_here.add(entry.name)
            if not builtin and entry.name in entries[section]:
                warnings.append(
                    Problem(
                        format_loc((section, i, "name")),
                        f"replaces the built-in {section} entry '{entry.name}'",
                        file,
                        line_of(lines, (section, i, "name")),
                        "warning",
                    )
                )
            entries[section][entry.name] = entry
            origin[(section, entry.name)] = file


def _msg(err: dict) -> str:
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling)"
    if err["type"] == "missing":
        return "required field is missing"
    return msg.removeprefix("Value error, ")


def _cross_check(entries: dict, origin: dict) -> list[Problem]:
    """References between entries, and rack power = GPUs x GPU power + the rest (within 1 %)."""
    problems = []
    for name, rack in entries["racks"].items():
        file = origin[("racks", name)]
        refs = [
            ("gpu", "gpus", rack.gpu),
            ("nic", "nics", rack.nic),
            ("power_shelf", "power_shelves", rack.power_shelf),
            ("dcdc", "dcdc", rack.dcdc),
        ]
        for field, section, ref in refs:
            if ref is not None and ref not in entries[section]:
                problems.append(
                    Problem(
                        f"racks.{name}.{field}",
                        f"unknown {section} entry '{ref}' (known: {', '.join(sorted(entries[section]))})",
                        file,
                    )
                )
        gpu = entries["gpus"].get(rack.gpu)
        if gpu is None:
            continue
        for label, rack_kw, gpu_w in (
            ("maxp", rack.power_maxp_kw, gpu.power_max_w),
            ("maxq", rack.power_maxq_kw, gpu.power_maxq_w),
        ):
            implied = rack.gpus * gpu_w / 1000.0 + rack.other_power_kw
            if abs(implied - rack_kw) > 0.01 * rack_kw:
                problems.append(
                    Problem(
                        f"racks.{name}.power_{label}_kw",
                        f"{rack_kw} kW but gpus x gpu power + other_power_kw = {implied:.1f} kW "
                        "(must agree within 1 %)",
                        file,
                    )
                )
    return problems


def load_catalog(extra_files: tuple[str | Path, ...] | list[str | Path] = ()) -> Catalog:
    """The built-in catalog plus ``extra_files`` (user catalogs, later files win). Raises LayoutError."""
    base = _builtin()
    if not extra_files:
        return base
    entries = {s: dict(v) for s, v in base.entries.items()}
    origin = dict(base.origin)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for f in extra_files:
        _read_file(Path(f), entries, origin, problems, warnings, builtin=False)
    problems += _cross_check(entries, origin)
    if problems:
        raise LayoutError(problems + warnings)
    return Catalog(entries, origin, warnings)


@lru_cache(maxsize=1)
def _builtin() -> Catalog:
    entries: dict[str, dict[str, Entry]] = {s: {} for s in SECTIONS}
    origin: dict[tuple[str, str], str] = {}
    problems: list[Problem] = []
    for f in sorted(DATA_DIR.glob("*.yaml")):
        _read_file(f, entries, origin, problems, [], builtin=True)
    problems += _cross_check(entries, origin)
    if problems:  # a broken built-in catalog is a bug in the package: say so loudly
        raise LayoutError(problems)
    return Catalog(entries, origin)


__all__ = ["Catalog", "load_catalog", "DATA_DIR"]
