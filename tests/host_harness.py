"""Run a real ComfyUI headless on CPU with this pack installed, for the real-host test.

``ComfyHost(comfy_path)`` copies the ComfyUI checkout to a temporary folder (so
nothing is ever written into the original), links this pack into a temporary
``custom_nodes``, gives the server its own models/input/output folders through
``--base-directory``, and starts it on a free loopback port. Where torchvision is
absent, or present but unable to import (PyPI's wheel beside a CPU torch), it puts a
stand-in package (outside the repo) first on the server's PYTHONPATH: ComfyUI only
imports torchvision for models this pack never loads.

It also converts UI-format workflows to API format with ``/object_info``, the way
the frontend does when it queues a prompt.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
PACK_NAME = "ComfyUI-DreamActor"
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
# Frontend-only nodes: they live in the UI graph and are never sent to the server.
VIRTUAL_NODES = {"Note", "MarkdownNote", "Reroute"}

_TORCHVISION_STUB = '''"""Stand-in torchvision for a CPU test host: importable, unusable."""
def __getattr__(name):
    raise AttributeError(f"torchvision stand-in has no {name!r}")
'''


def _torchvision_imports() -> bool:
    """Whether torchvision imports in a fresh interpreter: absent, or present but built for another torch
    (PyPI's wheel beside a CPU torch fails with "operator torchvision::nms does not exist"), both need the stand-in."""
    if importlib.util.find_spec("torchvision") is None:
        return False
    probe = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, timeout=120)
    return probe.returncode == 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HostError(RuntimeError):
    """The server failed to start or a prompt failed; the message carries the server's words."""


class ComfyHost:
    """A ComfyUI server process with this pack; use as a context manager."""

    def __init__(self, comfy_path: str | os.PathLike, startup_timeout: float = 240.0,
                 extra_nodes: tuple[Path, ...] = (), frontend: bool = False):
        self.source = Path(comfy_path)
        self.frontend = frontend  # serve the installed frontend package (browser test); else an empty page
        self.extra_nodes = tuple(Path(p) for p in extra_nodes)  # more custom node folders (test stand-ins)
        self.startup_timeout = startup_timeout
        self.tmp = Path(tempfile.mkdtemp(prefix="dreamactor_host_"))
        self.base = self.tmp / "base"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.tmp / "server.log"
        self.proc: subprocess.Popen | None = None

    # --- folders ------------------------------------------------------------------
    @property
    def models(self) -> Path:
        return self.base / "models"

    @property
    def input(self) -> Path:
        return self.base / "input"

    @property
    def output(self) -> Path:
        return self.base / "output"

    def _prepare(self) -> list[str]:
        app = self.tmp / "ComfyUI"
        top = {"models", "input", "output", "temp", "user", "custom_nodes"}  # the server gets its own

        def skip(folder: str, names: list[str]) -> set[str]:
            own = top if Path(folder) == self.source else set()
            return {n for n in names if n in own or n in (".git", "__pycache__")}

        shutil.copytree(self.source, app, symlinks=True, ignore=skip)
        (app / "custom_nodes").mkdir()
        for sub in ("custom_nodes", "input", "output", "temp", "user"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("diffusion_models", "vae", "dreamactor", "text_encoders", "clip_vision", "loras"):
            (self.models / sub).mkdir(parents=True, exist_ok=True)
        (self.base / "custom_nodes" / PACK_NAME).symlink_to(REPO, target_is_directory=True)
        for folder in self.extra_nodes:
            (self.base / "custom_nodes" / folder.name).symlink_to(folder.resolve(), target_is_directory=True)
        (self.tmp / "frontend").mkdir()
        paths = []
        if not _torchvision_imports():
            stub = self.tmp / "stubs" / "torchvision"
            (stub / "transforms").mkdir(parents=True)
            (stub / "__init__.py").write_text(_TORCHVISION_STUB)
            (stub / "transforms" / "__init__.py").write_text(_TORCHVISION_STUB)
            paths.append(str(self.tmp / "stubs"))
        return paths

    # --- process --------------------------------------------------------------------
    def start(self) -> "ComfyHost":
        extra_paths = self._prepare()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(extra_paths + [p for p in [env.get("PYTHONPATH")] if p])
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.setdefault("OMP_NUM_THREADS", "2")
        cmd = [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               "--disable-auto-launch", "--base-directory", str(self.base), "--database-url", "sqlite:///:memory:"]
        if not self.frontend:
            cmd += ["--front-end-root", str(self.tmp / "frontend")]
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=self.tmp / "ComfyUI", env=env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HostError(f"ComfyUI exited with {self.proc.returncode} while starting:\n{self.log_tail()}")
            try:
                if requests.get(self.url + "/system_stats", timeout=2).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise HostError(f"ComfyUI did not answer within {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "ComfyHost":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    # --- API --------------------------------------------------------------------------
    def object_info(self) -> dict:
        r = requests.get(self.url + "/object_info", timeout=60)
        r.raise_for_status()
        return r.json()

    def run(self, prompt: dict, timeout: float = 300.0) -> dict:
        """Queue an API-format prompt and wait for it; returns its /history entry."""
        r = requests.post(self.url + "/prompt", json={"prompt": prompt, "client_id": "dreamactor-test"}, timeout=60)
        if not r.ok:
            raise HostError(f"prompt rejected ({r.status_code}): {r.text[:4000]}")
        prompt_id = r.json()["prompt_id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = requests.get(f"{self.url}/history/{prompt_id}", timeout=30).json().get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                status = entry["status"]
                if status.get("status_str") != "success":
                    errors = [m for m in status.get("messages", []) if m[0] == "execution_error"]
                    raise HostError(f"prompt failed: {json.dumps(errors)[:4000]}\n{self.log_tail(3000)}")
                return entry
            if self.proc.poll() is not None:
                raise HostError(f"ComfyUI died while running the prompt:\n{self.log_tail()}")
            time.sleep(0.5)
        raise HostError(f"prompt did not finish within {timeout:.0f} s:\n{self.log_tail(3000)}")


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """Convert a UI-format workflow to API format, as the frontend does when it queues it.

    Widget values are matched to inputs in the node definition's order; a widget
    with ``control_after_generate`` stores one extra value after its own, and
    upload buttons add trailing values, which are skipped.
    """
    links = {link[0]: link for link in workflow["links"]}
    api = {}
    for node in workflow["nodes"]:
        if node.get("mode", 0) != 0 or node["type"] in VIRTUAL_NODES:
            continue
        info = object_info.get(node["type"])
        if info is None:
            raise KeyError(f"node type {node['type']} (node {node['id']}) is not registered in the host")
        linked = {i["name"]: links[i["link"]] for i in node.get("inputs", []) if i.get("link") is not None}
        values = list(node.get("widgets_values") or [])
        inputs = {}
        for section in ("required", "optional"):
            for name in info.get("input_order", {}).get(section, []):
                kind, opts = (info["input"][section][name] + [{}])[:2]
                is_widget = isinstance(kind, list) or kind in WIDGET_TYPES
                if is_widget and not opts.get("forceInput"):
                    value = values.pop(0) if values else opts.get("default")
                    if opts.get("control_after_generate") and values:
                        values.pop(0)
                    inputs[name] = value
                if name in linked:
                    link = linked[name]
                    inputs[name] = [str(link[1]), link[2]]
        api[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return api
