"""Shared fixtures: the reference layouts compiled once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = ROOT / "layouts"


@pytest.fixture(scope="session")
def layouts_dir() -> Path:
    return LAYOUTS


@pytest.fixture(scope="session")
def pod_model():
    from twin.model import load_model

    return load_model(LAYOUTS / "pod_small.yaml")


@pytest.fixture(scope="session")
def campus_model():
    from twin.model import load_model

    return load_model(LAYOUTS / "campus_1gw.yaml")


@pytest.fixture(scope="session")
def hall_ac_model():
    from twin.model import load_model

    return load_model(LAYOUTS / "hall_100mw_ac.yaml")


@pytest.fixture(scope="session")
def kyber_model():
    from twin.model import load_model

    return load_model(LAYOUTS / "hall_kyber.yaml")
