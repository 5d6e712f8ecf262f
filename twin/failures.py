"""Failed units: one parse of the names a user gives, checked against the compiled model, routed to each solver.

A name is one of (examples from ``layouts/pod_small.yaml``):

| kind | example | what fails |
|---|---|---|
| ``cdu`` | ``hall-1/pod-1/tcs-a/cdu-2`` | a CDU (its heat exchanger and its pump) |
| ``tcs_pump`` | ``hall-1/pod-1/tcs-a/cdu-2/pump`` | only the CDU's pump |
| ``dry_cooler`` / ``chiller`` | ``hall-1/dc-3``, ``hall-1/ch-1`` | one heat-rejection unit |
| ``air_unit`` | ``hall-1/ah-1`` | one air-side unit |
| ``fw_pump`` | ``hall-1/fw-pump-1`` | one facility-water pump of the hall |
| ``electrical`` | ``hall-1/pod-1/blk-a`` | one unit of an electrical node (a busway: one feed) |
| ``switch`` | ``spine-b-12`` | a scale-out switch (all its links) |
| ``link`` | ``leaf-b-0~spine-b-12`` | one fabric link, ``LOWER~UPPER`` |

An unknown name is an :class:`~twin.errors.InputError` that lists the closest known names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twin.errors import InputError

if TYPE_CHECKING:
    from twin.model import FacilityModel

__all__ = ["FAILURE_KINDS", "FailureSet", "unit_names"]

THERMAL_KINDS = ("cdu", "tcs_pump", "dry_cooler", "chiller", "air_unit", "fw_pump")
FAILURE_KINDS = (*THERMAL_KINDS, "electrical", "switch", "link")


def unit_names(model: FacilityModel, kind: str) -> list[str]:
    """Every unit of one kind that can be failed (e.g. for an N-1 enumeration or a multi-select).

    Parameters
    ----------
    model : FacilityModel
    kind : str
        One of ``FAILURE_KINDS`` except ``link`` (links are named by their two ends), or ``block`` /
        ``busway`` (electrical nodes of that kind).

    Returns
    -------
    list of str
    """
    if kind == "cdu":
        return list(model.cdus["name"])
    if kind == "tcs_pump":
        return [f"{n}/pump" for n in model.cdus["name"]]
    if kind in ("dry_cooler", "chiller"):
        hr = model.heat_rejection
        return list(hr.loc[hr["kind"] == kind, "name"])
    if kind == "air_unit":
        return list(model.air_units["name"])
    if kind == "fw_pump":
        units = model.fws["pump_units"].to_numpy()
        return [
            f"{h}/fw-pump-{k}"
            for h, n in zip(model.halls["name"], units, strict=True)
            for k in range(1, n + 1)
        ]
    if kind == "electrical":
        el = model.elec
        return list(el.loc[el["kind"] != "grid", "name"])
    if kind in ("block", "busway", "ups", "substation", "mech_feed"):
        el = model.elec
        return list(el.loc[el["kind"] == kind, "name"])
    if kind == "switch":
        return list(model.switches["name"])
    raise InputError(
        f"unknown unit kind {kind!r} (choose from {', '.join(k for k in FAILURE_KINDS if k != 'link')})"
    )


@dataclass(frozen=True)
class FailureSet:
    """Failed unit names sorted by kind; ``thermal``, ``electrical`` and ``network`` are what each solver takes."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]

    @classmethod
    def parse(cls, model: FacilityModel, names: Iterable[str]) -> FailureSet:
        """Check every name against the model and classify it; raises InputError naming the closest units.

        Parameters
        ----------
        model : FacilityModel
        names : iterable of str
            Unit names as in the table of this module; blanks are ignored. An electrical node named k times
            loses k units; other units named twice fail once.

        Returns
        -------
        FailureSet
        """
        if isinstance(names, str):
            names = (names,)
        found: list[str] = []
        kinds: list[str] = []
        known = _known(model)
        unknown = []
        for raw in names:
            name = str(raw).strip()
            if not name:
                continue
            kind = known.get(name) or _link_kind(name)
            if kind is None:
                unknown.append(name)
            else:
                found.append(name)
                kinds.append(kind)
        if unknown:
            raise InputError("; ".join(_unknown_message(n, known) for n in unknown))
        return cls(tuple(found), tuple(kinds))

    def _of(self, kinds: tuple[str, ...], repeats: bool = False) -> tuple[str, ...]:
        out = [n for n, k in zip(self.names, self.kinds, strict=True) if k in kinds]
        return tuple(out) if repeats else tuple(dict.fromkeys(out))

    @property
    def thermal(self) -> tuple[str, ...]:
        return self._of(THERMAL_KINDS)

    @property
    def electrical(self) -> tuple[str, ...]:
        """Electrical node names; a name given k times takes k units of that node out (a busway: k feeds)."""
        return self._of(("electrical",), repeats=True)

    @property
    def network(self) -> tuple[str, ...]:
        return self._of(("switch", "link"))

    def by_kind(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for n, k in zip(self.names, self.kinds, strict=True):
            out.setdefault(k, []).append(n)
        return out

    def __bool__(self) -> bool:
        return bool(self.names)


def _known(model: FacilityModel) -> dict[str, str]:
    """name -> kind for every unit that can fail (built from the model's tables; a few thousand names)."""
    known: dict[str, str] = {}
    for kind in (*THERMAL_KINDS, "electrical", "switch"):
        known.update(dict.fromkeys(unit_names(model, kind), kind))
    return known


def _link_kind(name: str) -> str | None:
    """``A~B`` where both ends are fabric nodes (switches or racks); whether they are linked the network
    solve checks (it knows the wiring)."""
    if "~" not in name:
        return None
    a, _, b = name.partition("~")
    return "link" if a.strip() and b.strip() and "~" not in b else None


def _unknown_message(name: str, known: dict[str, str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    hint = f" (closest: {', '.join(close)})" if close else ""
    kinds = ", ".join(FAILURE_KINDS)
    return f"--fail {name}: no unit of that name{hint}; units that can fail are {kinds} (`twin units LAYOUT` lists them)"
