"""Shared pytest fixtures: where ../shared lives, and the ComfyUI stand-in on sys.path."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STUB = Path(__file__).resolve().parent / "comfy_stub"


def find_shared() -> Path | None:
    """The shared data folder: $DREAMACTOR_SHARED, else ``shared`` beside or inside the repo."""
    env = os.environ.get("DREAMACTOR_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared", REPO / "shared"]
    for c in candidates:
        if (c / "conformance").is_dir() or (c / "data").is_dir():
            return c
    return None


def benchmark(name: str):
    """The script ``benchmarks/NAME.py`` loaded as a module (benchmarks/ is no package), for testing its parts."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = find_shared()
    if path is None:
        pytest.skip("shared data folder not found (set DREAMACTOR_SHARED)")
    return path


@pytest.fixture(scope="session")
def synth_dir(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "synth"
    if not path.is_dir():
        pytest.skip("shared/data/synth not found")
    return path


@pytest.fixture(scope="session")
def conformance_dir(shared_dir: Path) -> Path:
    path = shared_dir / "conformance"
    if not path.is_dir():
        pytest.skip("shared/conformance not found")
    return path
