"""The pack works in a folder named as the README says (``ComfyUI-DreamActor``).

A dash makes the folder's name an invalid Python identifier; pytest then imports
the root ``__init__.py`` as a lone file with no parent package, which used to
fail every test at collection.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_root_init_imports_as_a_lone_file():
    # What pytest's fallback does: a module named "__init__" with no package.
    spec = importlib.util.spec_from_file_location("__init__", REPO / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.WEB_DIRECTORY == "./web/js"
    assert not hasattr(module, "comfy_entrypoint")  # registers nothing without its package


def test_tests_collect_and_pass_in_a_folder_named_comfyui_dreamactor(tmp_path):
    pack = tmp_path / "ComfyUI-DreamActor"
    pack.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in {".git", "shared"}:
            (pack / entry.name).symlink_to(entry)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "tests/test_motion.py", "-k", "roundtrip_json"],
        cwd=pack, env=env, capture_output=True, text=True, timeout=300)
    tail = (run.stdout + run.stderr)[-2000:]
    assert run.returncode == 0, tail
    assert "1 passed" in run.stdout, tail
