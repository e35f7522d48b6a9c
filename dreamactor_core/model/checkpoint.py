"""Reading model checkpoints: safetensors only, memory-mapped, never pickle.

:class:`Checkpoint` opens a ``.safetensors`` file, reads names, shapes and
dtypes from its header, strips the prefixes that repackaged files carry
(ComfyUI's ``model.diffusion_model.``, ``first_stage_model.``, a bare
``model.``), recognises fp8 "scaled" files (ComfyUI's ``scaled_fp8`` marker and
``<layer>.scale_weight``; kijai's ``<layer>.weight_scale``) and guesses what
kind of model the file holds. Tensors are read one at a time and upcast on the
fly (``weight.float() * scale``), so a file never needs two copies in memory.
Everything that can go wrong raises :class:`CheckpointError` naming the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional

import torch

from ..utils import DreamActorError

DIFFUSION_PREFIX = "model.diffusion_model."
# Whole-file prefixes of VAE and other repackaged files, tried in this order.
WHOLE_FILE_PREFIXES = ("first_stage_model.", "vae.", "model.")
PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"}
FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)
# Keys that only carry quantisation bookkeeping, never a model tensor.
SCALE_SUFFIXES = (".scale_weight", ".weight_scale", ".scale_input", ".input_scale")
MARKER_KEYS = ("scaled_fp8",)

KIND_NAMES = {
    "wan_animate_dit": "Wan2.2-Animate DiT",
    "wan_dit": "Wan DiT without the animate parts (text/image-to-video)",
    "wan_vae": "Wan2.1 video VAE",
    "wan22_vae": "Wan2.2 48-channel VAE",
    "sd15_unet": "Stable Diffusion 1.x/2.x UNet",
    "sdxl_unet": "Stable Diffusion XL UNet",
    "flux": "Flux transformer",
    "sd_vae": "Stable Diffusion / Flux image VAE (AutoencoderKL)",
    "t5": "T5 / umT5 text encoder",
    "clip": "CLIP text or vision encoder",
    "unknown": "unknown model",
}


class CheckpointError(DreamActorError):
    """A checkpoint file that cannot be used; the message names the file and what is wrong."""


def _has_prefix(keys: Iterable[str], prefix: str) -> bool:
    return any(k.startswith(prefix) for k in keys)


def detect_kind(keys: Iterable[str], shapes: Optional[Mapping[str, tuple]] = None) -> str:
    """Guess the model family from (prefix-stripped) key names; see :data:`KIND_NAMES`."""
    ks = set(keys)
    if "pose_patch_embedding.weight" in ks or _has_prefix(ks, "face_adapter.") or _has_prefix(ks, "motion_encoder."):
        return "wan_animate_dit"
    if "head.modulation" in ks or ("patch_embedding.weight" in ks and _has_prefix(ks, "blocks.0.self_attn.")):
        return "wan_dit"
    if "encoder.conv1.weight" in ks and "decoder.conv1.weight" in ks:
        z = (shapes or {}).get("conv2.weight")
        return "wan22_vae" if z is not None and z[0] != 16 else "wan_vae"
    if _has_prefix(ks, "double_blocks.") and _has_prefix(ks, "single_blocks."):
        return "flux"
    if _has_prefix(ks, "input_blocks.") or _has_prefix(ks, DIFFUSION_PREFIX + "input_blocks."):
        return "sdxl_unet" if any("label_emb." in k for k in ks) else "sd15_unet"
    if _has_prefix(ks, "encoder.down.") and _has_prefix(ks, "decoder.up."):
        return "sd_vae"
    if _has_prefix(ks, "encoder.block.") or "shared.weight" in ks:
        return "t5"
    if _has_prefix(ks, "text_model.") or _has_prefix(ks, "vision_model.") or _has_prefix(ks, "visual."):
        return "clip"
    return "unknown"


def strip_prefix(keys: list[str]) -> str:
    """The prefix to remove from this file's keys ('' for none).

    ``model.diffusion_model.`` is stripped when more than 5 keys carry it (the
    rule ComfyUI uses); a whole-file prefix such as ``first_stage_model.`` or a
    bare ``model.`` only when every model key carries it.
    """
    if sum(k.startswith(DIFFUSION_PREFIX) for k in keys) > 5:
        return DIFFUSION_PREFIX
    body = [k for k in keys if k not in MARKER_KEYS]
    for p in WHOLE_FILE_PREFIXES:
        if body and all(k.startswith(p) for k in body):
            return p
    return ""


@dataclass
class KeyMap:
    """How a file's key names map to model key names.

    ``model``: model key -> key in the file; ``scales``: model weight key ->
    key of its fp8 scale in the file; ``markers``: bookkeeping keys such as
    ``scaled_fp8``; ``ignored``: per-layer input scales (not needed here).
    """

    prefix: str
    model: dict
    scales: dict
    markers: list
    ignored: list

    @classmethod
    def of(cls, names: list[str]) -> "KeyMap":
        prefix = strip_prefix(names)
        model, scales, markers, ignored = {}, {}, [], []
        for k in names:
            if k in MARKER_KEYS:
                markers.append(k)
                continue
            name = k[len(prefix):] if k.startswith(prefix) else k
            suffix = next((s for s in SCALE_SUFFIXES if name.endswith(s)), None)
            if suffix in (".scale_weight", ".weight_scale"):  # kijai's name is ComfyUI's, renamed
                scales[name[: -len(suffix)] + ".weight"] = k
            elif suffix is not None:
                ignored.append(k)
            else:
                model[name] = k
        return cls(prefix, model, scales, markers, ignored)


def _sample(names: Iterable[str], n: int = 5) -> str:
    names = sorted(names, key=lambda k: (k.count("."), k))  # top-level keys first: most telling
    more = f" ... and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def _torch_dtype(code: str) -> torch.dtype:
    table = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
             "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2, "I64": torch.int64,
             "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}
    return table.get(code, torch.float32)


class Checkpoint:
    """An open safetensors checkpoint, read lazily through a memory map.

    ``shapes`` / ``dtypes`` are keyed by model key names (prefix stripped,
    quantisation scales and markers removed). Use as a context manager or
    call :meth:`close`.
    """

    def __init__(self, path, file=None) -> None:
        self.path = Path(path)
        # ``file``: any object with safe_open's keys/get_slice/get_tensor (tests pass meta-device stand-ins).
        self._file = open_safetensors(self.path) if file is None else file
        self.keymap = KeyMap.of(list(self._file.keys()))
        self._raw, self._scales, self.markers = self.keymap.model, self.keymap.scales, self.keymap.markers
        self.prefix = self.keymap.prefix
        self.shapes: dict[str, tuple] = {}
        self.dtypes: dict[str, torch.dtype] = {}
        for name, k in self._raw.items():
            sl = self._file.get_slice(k)
            self.shapes[name] = tuple(sl.get_shape())
            self.dtypes[name] = _torch_dtype(sl.get_dtype())
        self.kind = detect_kind(self.shapes, self.shapes)
        self.metadata: dict = dict(self._file.metadata() or {})  # the safetensors header's string map

    # ------------------------------------------------------------------ info
    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, self.kind)

    @property
    def is_fp8(self) -> bool:
        return bool(self.markers or self._scales) or any(d in FP8_DTYPES for d in self.dtypes.values())

    def describe(self) -> str:
        return f"'{self.path.name}' (looks like: {self.kind_name}, {len(self.shapes)} tensors)"

    # ------------------------------------------------------------------ read
    def raw_tensor(self, name: str, device="cpu") -> torch.Tensor:
        """One tensor by model key exactly as stored (fp8 stays fp8, no scale applied)."""
        return self._read(self._raw.get(name), name).to(device)

    def scale_of(self, name: str) -> Optional[torch.Tensor]:
        """The fp8 scale (float32) stored for weight ``name``, or None."""
        key = self._scales.get(name)
        return None if key is None else self._read(key, name).float()

    def tensor(self, name: str, dtype: Optional[torch.dtype] = None, device="cpu") -> torch.Tensor:
        """One tensor by model key, as ``dtype``; fp8 (scaled or not) is upcast through float32."""
        t = self._read(self._raw.get(name), name)
        scale = self.scale_of(name)
        if scale is not None or t.dtype in FP8_DTYPES:
            t = t.float()
            if scale is not None:  # scalar (ComfyUI) or one scale per output row
                t = t * (scale.reshape(-1, *([1] * (t.ndim - 1))) if scale.numel() > 1 else scale.reshape(()))
            t = t.to(dtype or torch.float32)
        elif dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        return t.to(device)

    def _read(self, file_key: Optional[str], name: str) -> torch.Tensor:
        if file_key is None:
            raise CheckpointError(f"checkpoint {self.describe()} has no tensor {name!r}")
        try:
            return self._file.get_tensor(file_key)
        except Exception as e:  # unreadable data region, unknown dtype, ...
            raise CheckpointError(f"checkpoint {self.describe()}: tensor {name!r} cannot be read ({e}); "
                                  "the file is probably corrupt or truncated, download it again") from None

    def check_against(self, expected: Mapping[str, tuple], what: str) -> None:
        """Raise :class:`CheckpointError` unless the file's keys and shapes equal ``expected``."""
        missing = set(expected) - set(self.shapes)
        unexpected = set(self.shapes) - set(expected)
        wrong = {k for k in set(expected) & set(self.shapes) if tuple(expected[k]) != tuple(self.shapes[k])}
        if not (missing or unexpected or wrong):
            return
        lines = [f"checkpoint {self.describe()} does not match a {what}."]
        if missing:
            lines.append(f"missing {len(missing)} keys: {_sample(missing)}")
        if unexpected:
            lines.append(f"unexpected {len(unexpected)} keys: {_sample(unexpected)}")
        if wrong:
            lines.append("shape mismatches: " + _sample(
                f"{k} file {list(self.shapes[k])} vs model {list(expected[k])}" for k in wrong))
        if self.kind not in ("unknown",) and KIND_NAMES[self.kind] != what:
            lines.append(f"This file is a {self.kind_name}; pick it in the matching loader or choose another file.")
        else:
            lines.append("The file may be partial or from another model version; download it again.")
        raise CheckpointError(" ".join(lines))

    def close(self) -> None:
        self._file = None

    def __enter__(self) -> "Checkpoint":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_safetensors(path: Path):
    """``safe_open`` with clear errors for missing, pickle and corrupt/truncated files."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file '{path}' does not exist; check the path or the models folder")
    pickle_msg = (f"checkpoint '{path.name}' is a pickle/PyTorch file; DreamActor only loads .safetensors "
                  "because unpickling can run arbitrary code. Convert it to safetensors (e.g. "
                  "safetensors.torch.save_file on a trusted machine) or download the .safetensors release.")
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(pickle_msg)
    try:
        return safe_open(str(path), framework="pt", device="cpu")
    except Exception as e:
        if _looks_like_pickle(path):
            raise CheckpointError(pickle_msg) from None
        size = path.stat().st_size
        raise CheckpointError(f"checkpoint '{path.name}' ({size} bytes) is not a readable safetensors file "
                              f"({e}); it is probably truncated or corrupt: download it again") from None


def _looks_like_pickle(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4)
    # torch.save writes a zip archive; plain pickles start with the PROTO opcode.
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"
