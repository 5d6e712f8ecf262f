"""Failures of switches and links: remove them from the fabric; routing then re-converges around them.

A failed switch takes all its links down (a rack that loses a leaf keeps sending over its other rails); a failed link is named ``LOWER~UPPER`` with the node names
(``leaf-b-3~spine-b-40``, or a rack name ``hall/pod/row/NN~leaf-b-0``). ECMP re-routes over the surviving
shortest valley-free paths (RFC 7938 fast convergence); traffic with no surviving path is stranded.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from twin.errors import InputError
from twin.network.topology import Fabric, node_names

if TYPE_CHECKING:
    from twin.model import FacilityModel


def apply_failures(
    fab: Fabric, model: FacilityModel | None, failed: tuple[str, ...] | list[str]
) -> tuple[Fabric, dict]:
    """A copy of the fabric with the named switches / links failed, and a summary of what was removed.

    Frontend switches are accepted (they carry no backend traffic) and listed under ``frontend``.

    Parameters
    ----------
    fab : Fabric
        The fabric (not modified).
    model : FacilityModel or None
        The facility the fabric was built from (for frontend switch names); None for a bare fabric.
    failed : sequence of str
        Switch names, or links ``LOWER~UPPER`` named by their end nodes.

    Returns
    -------
    (Fabric, dict)
        The fabric with ``node_alive`` / ``link_alive`` cleared for the failed elements, and the names
        failed by kind: ``switches``, ``links``, ``frontend``.
    """
    failed = [str(f).strip() for f in failed if str(f).strip()]
    out = replace(fab, node_alive=fab.node_alive.copy(), link_alive=fab.link_alive.copy())
    info = {"switches": [], "links": [], "frontend": []}
    if not failed:
        return out, info
    names = node_names(fab)
    index = {n: i for i, n in enumerate(names)}
    fe_names = set()
    if model is not None:
        sw = model.switches
        fe_names = set(sw.loc[sw["plane"] == "frontend", "name"])
    link_index = None
    for name in failed:
        if name in index and fab.node_tier[index[name]] > 0:
            out.node_alive[index[name]] = False
            info["switches"].append(name)
        elif name in fe_names:
            info["frontend"].append(name)
        elif "~" in name:
            a, _, b = name.partition("~")
            if a not in index or b not in index:
                bad = a if a not in index else b
                raise InputError(f"--fail {name}: no node named {bad!r}{_hint(bad, names)}")
            if link_index is None:  # sorted (lower, upper) keys of all links, for lookups
                keys = fab.lo.astype(np.int64) * fab.n_nodes + fab.hi
                order = np.argsort(keys)
                link_index = (keys[order], order)
            ia, ib = index[a], index[b]
            lo, hi = (ia, ib) if fab.node_tier[ia] < fab.node_tier[ib] else (ib, ia)
            key = lo * fab.n_nodes + hi
            pos = int(np.searchsorted(link_index[0], key))
            if pos >= len(link_index[0]) or link_index[0][pos] != key:
                raise InputError(f"--fail {name}: {a} and {b} are not linked")
            out.link_alive[link_index[1][pos]] = False
            info["links"].append(name)
        elif name in index:
            raise InputError(f"--fail {name}: a rack cannot be failed here; fail its links (RACK~LEAF)")
        else:
            raise InputError(f"--fail {name}: no switch or link of that name{_hint(name, names)}")
    return out, info


def _hint(name: str, names: np.ndarray) -> str:
    sw = [n for n in names if n is not None and not str(n).count("/")]
    close = difflib.get_close_matches(name, sw, n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""
