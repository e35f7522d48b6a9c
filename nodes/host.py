"""Adapters between the core's plain callbacks and the ComfyUI host.

Progress bars, the interrupt button, the model folder registry, the input and
output folders and the torch device all come from ComfyUI when it is there.
Outside ComfyUI (tests, scripts) each falls back to something sensible: no
progress bar, never cancelled, folders under ``$DREAMACTOR_HOME`` (default: the
current directory), CPU.
"""
from __future__ import annotations

import contextlib
import importlib
import os
from typing import Callable, Iterator

import torch

from dreamactor_core.utils import Cancelled, DreamActorError

DREAMACTOR_FOLDER = "dreamactor"
_MODEL_EXTENSIONS = (".safetensors", ".sft")


def _host(module: str):
    """The host module ``module`` or None outside ComfyUI."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def comfy_module(module: str):
    """A ComfyUI module (``comfy.sd``, ...) or None outside ComfyUI, where nodes fall back to core objects."""
    return _host(module)


# --- progress and cancellation ------------------------------------------------
def progress_callback() -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that drives the node's progress bar."""
    utils = _host("comfy.utils")
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if utils is None:
            return
        if bar is None:
            bar = utils.ProgressBar(max(int(total), 1))
        bar.update_absolute(int(done), max(int(total), 1))

    return progress


def cancel_callback() -> Callable[[], bool]:
    """A ``cancel()`` check that turns True when the user presses ComfyUI's cancel button."""
    mm = _host("comfy.model_management")
    if mm is None:
        return lambda: False
    return mm.processing_interrupted


@contextlib.contextmanager
def node_errors(node: str, input_name: str, also: tuple[str, ...] = ()) -> Iterator[None]:
    """Turn core errors into messages that name the node and the input to fix.

    ``also`` lists other inputs the wrapped call takes: an error the core starts with
    one of their names (``"num_heads: ..."``) is put on that input instead.
    A :class:`Cancelled` from the core becomes the host's own interruption, so
    ComfyUI shows "interrupted" rather than an error.
    """
    try:
        yield
    except DreamActorError as err:
        message = str(err)
        name = next((n for n in (input_name, *also) if message.startswith(f"{n}: ")), None)
        if name is not None:  # the core already named the input
            message = message[len(name) + 2:]
        raise DreamActorError(f"{node}, input '{name or input_name}': {message}") from err
    except Cancelled:
        mm = _host("comfy.model_management")
        if mm is not None:
            mm.throw_exception_if_processing_interrupted()
        raise


def check_pixels(node: str, name: str, value: int, low: int = 16, high: int = 4096) -> int:
    """A size input in pixels, refused on its own input before any work (the core would name its
    own argument, which the artist cannot see)."""
    if not low <= int(value) <= high:
        raise DreamActorError(f"{node}, input '{name}': {value} pixels is out of range; use {low} to {high}")
    return int(value)


# --- devices --------------------------------------------------------------------
def torch_device() -> torch.device:
    """The device ComfyUI computes on (its --cpu flag included), else CPU."""
    mm = _host("comfy.model_management")
    return mm.get_torch_device() if mm is not None else torch.device("cpu")


# --- folders --------------------------------------------------------------------
def _home() -> str:
    return os.environ.get("DREAMACTOR_HOME", os.getcwd())


def register_model_folder() -> None:
    """Register ``models/dreamactor`` with ComfyUI's folder registry (once)."""
    fp = _host("folder_paths")
    if fp is None or DREAMACTOR_FOLDER in fp.folder_names_and_paths:
        return
    fp.add_model_folder_path(DREAMACTOR_FOLDER, os.path.join(fp.models_dir, DREAMACTOR_FOLDER), is_default=True)
    paths, _ = fp.folder_names_and_paths[DREAMACTOR_FOLDER]
    fp.folder_names_and_paths[DREAMACTOR_FOLDER] = (paths, set(_MODEL_EXTENSIONS))


def folder_dirs(folder: str) -> list[str]:
    """Where a model folder lives on disk (shown in the loaders' tooltips)."""
    fp = _host("folder_paths")
    if fp is not None:
        return list(fp.get_folder_paths(folder)) if folder in fp.folder_names_and_paths else []
    return [os.path.join(_home(), "models", folder)]


def list_models(folder: str) -> list[str]:
    """safetensors files in a model folder, as names relative to it."""
    fp = _host("folder_paths")
    if fp is not None:
        if folder not in fp.folder_names_and_paths:
            return []
        return [n for n in fp.get_filename_list(folder) if n.lower().endswith(_MODEL_EXTENSIONS)]
    names = []
    for root in folder_dirs(folder):
        for base, _, files in os.walk(root):
            for f in files:
                if f.lower().endswith(_MODEL_EXTENSIONS):
                    names.append(os.path.relpath(os.path.join(base, f), root).replace(os.sep, "/"))
    return sorted(names)


def _inside(folder: str, name: str) -> str | None:
    """``folder/name`` when it is a file inside ``folder``: a name with ``..`` or an absolute path never
    leads out of the models folders (judged on the name, so files linked in from elsewhere still work)."""
    root = os.path.abspath(folder)
    path = os.path.normpath(os.path.join(root, name))
    return path if os.path.commonpath([root, path]) == root and os.path.isfile(path) else None


def model_path(folders: list[str], name: str, input_name: str) -> str:
    """Full path of ``name`` in the first of ``folders`` that has it."""
    fp = _host("folder_paths")
    for folder in folders:
        if fp is not None:
            path = fp.get_full_path(folder, name) if folder in fp.folder_names_and_paths else None
        else:
            path = next((p for p in (_inside(d, name) for d in folder_dirs(folder)) if p), None)
        if path is not None:
            return path
    where = ", ".join(d for f in folders for d in folder_dirs(f)) or "(no folder registered)"
    raise DreamActorError(f"{input_name}: '{name}' was not found; put the file in one of: {where}")


def input_dir() -> str:
    fp = _host("folder_paths")
    return fp.get_input_directory() if fp is not None else os.path.join(_home(), "input")


def output_dir() -> str:
    fp = _host("folder_paths")
    return fp.get_output_directory() if fp is not None else os.path.join(_home(), "output")
