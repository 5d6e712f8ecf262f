"""Helpers for tests that mutate a reference layout and write it to a temporary file."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

LAYOUTS = Path(__file__).resolve().parents[1] / "layouts"


def base(name: str = "pod_small.yaml") -> dict:
    return copy.deepcopy(yaml.safe_load((LAYOUTS / name).read_text()))


def write(tmp_path: Path, data: dict, name: str = "layout.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p
