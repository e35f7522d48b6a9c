"""Training batches: the cached dataset on disk, and the tensors the model takes.

A cached clip (written by ``dataset_builder``) is one safetensors file with the
VAE latents of its reference frames and video window, the pose-render latents,
the face crops and, for the conditioning ``y``, the latent of a grey video.
Samples are drawn as a pure function of (seed, step): every rank draws the
global batch and keeps its own slice, so training is reproducible, resumable
and independent of how many ranks share it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from ..model.contract import ModelContract
from ..model.entries import entry
from ..sampling.conditioning import fill_reference
from ..utils import DreamActorError

MASK_CHANNELS = 4


def build_y(ref_latents: torch.Tensor, temporal: torch.Tensor, ref_fill: bool = False) -> torch.Tensor:
    """Conditioning ``y`` [B, 20, R+T, h, w]: mask ones + reference latents, then mask zeros + ``temporal``.

    ``temporal`` is the latent of the video the model is told to continue (a grey
    video in the first window), matching how the sampler builds its windows; with
    ``ref_fill`` it is the first reference's latent in every frame, as the sampler
    gives checkpoints configured that way.
    """
    b, _, r, h, w = ref_latents.shape
    t = temporal.shape[2]
    if ref_fill:
        temporal = fill_reference(temporal, ref_latents[:, :, :1])
    ref = torch.cat([ref_latents.new_ones(b, MASK_CHANNELS, r, h, w), ref_latents], 1)
    vid = torch.cat([temporal.new_zeros(b, MASK_CHANNELS, t, h, w), temporal], 1)
    return torch.cat([ref, vid], 2)


def model_inputs(batch: dict, contract: ModelContract, off: tuple[str, ...] = ()) -> dict:
    """The model's keyword arguments (besides x and t) for a batch: every conditioning entry of the
    batch that the model's ``contract`` consumes, except those of the signals in ``off`` (a stage
    that trains without the face). Pixel videos stored as uint8 become [-1, 1] floats."""
    kwargs = {}
    for name in sorted(contract.consumes):
        value = batch.get(name)
        if value is None or entry(name).signal in off:
            continue
        kwargs[name] = value.float() / 127.5 - 1.0 if value.dtype == torch.uint8 else value
    return kwargs


def assemble(samples: list[dict], text_len: int, text_dim: int = 4096, ref_fill: bool = False) -> dict:
    """Stack cached samples (same bucket) into a batch (``ref_fill``: see :func:`build_y`)."""
    ref = torch.stack([s["ref_latents"] for s in samples])
    lat = torch.stack([s["latents"] for s in samples])
    grey = torch.stack([s["grey_latents"] for s in samples])
    batch = {
        "x0": torch.cat([ref, lat], 2),
        "y": build_y(ref, grey, ref_fill),
        "pose_latents": torch.stack([s["pose_latents"] for s in samples]),
        "context": torch.stack([s["context"] if "context" in s else torch.zeros(text_len, text_dim)
                                for s in samples]),
    }
    if all("face_pixels" in s for s in samples):
        batch["face_pixels"] = torch.stack([s["face_pixels"] for s in samples])
    return batch


class CachedClips:
    """Batches from a folder written by :func:`dataset_builder.build_dataset`."""

    def __init__(self, root: str | Path, seed: int = 0, text_len: int = 512, max_refs: int | None = None,
                 ref_fill: bool = False, single_ref: float = 0.0, photo_ref: float = 0.0):
        self.root = Path(root)
        index = self.root / "index.json"
        if not index.is_file():
            raise DreamActorError(f"training data {self.root}: no index.json; build it with "
                                  "`python -m dreamactor_core.training build-dataset`")
        self.index = json.loads(index.read_text())
        self.buckets = {k: v for k, v in self.index["buckets"].items() if v}
        if not self.buckets:
            raise DreamActorError(f"training data {self.root}: every bucket is empty")
        self.names = sorted(self.buckets)
        self.weights = torch.tensor([len(self.buckets[k]) for k in self.names], dtype=torch.float64)
        self.seed, self.text_len, self.max_refs, self.ref_fill = seed, text_len, max_refs, ref_fill
        self.single_ref, self.photo_ref = single_ref, photo_ref
        self._cache: dict[str, dict] = {}
        self._refs_outside: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return int(self.weights.sum())

    def load(self, name: str) -> dict:
        """One cached window's tensors (read once, then kept), by file name."""
        if name not in self._cache:
            from safetensors import safe_open

            with safe_open(str(self.root / name), framework="pt") as f:
                sample = {k: f.get_tensor(k) for k in f.keys()}
                meta = f.metadata() or {}
            if self.max_refs is not None:
                sample["ref_latents"] = sample["ref_latents"][:, : self.max_refs]
            self._cache[name] = sample
            self._refs_outside[name] = self._outside_window(name, meta, sample["ref_latents"].shape[1])
        return self._cache[name]

    def batch(self, step: int, rank: int, world: int, batch_size: int) -> dict:
        """This rank's slice of the global batch of ``world * batch_size`` samples (one bucket)."""
        g = torch.Generator().manual_seed(self.seed * 7919 + step)
        bucket = self.names[int(torch.multinomial(self.weights, 1, generator=g))]
        files = self.buckets[bucket]
        picks = torch.randint(len(files), (world * batch_size,), generator=g).tolist()
        samples = [self.load(files[i]) for i in picks]
        if self.single_ref > 0:  # drawn for the global batch, so every rank agrees
            single = (torch.rand(len(picks), generator=g) < self.single_ref).tolist()
            choice = torch.rand(len(picks), generator=g).tolist()
            samples = [self._one_reference(s, files[i], u) if one else s
                       for s, i, one, u in zip(samples, picks, single, choice)]
        if self.photo_ref > 0:
            photo = (torch.rand(len(picks), generator=g) < self.photo_ref).tolist()
            samples = [_photo_reference(s) if p else s for s, p in zip(samples, photo)]
        mine = samples[rank * batch_size:(rank + 1) * batch_size]
        return assemble(mine, self.text_len, ref_fill=self.ref_fill)

    def _one_reference(self, sample: dict, name: str, u: float) -> dict:
        """``sample`` with every reference slot holding one of its reference frames, picked by
        ``u`` in [0, 1) among those outside the window (all of them if none is)."""
        slots = self._refs_outside[name]
        k = slots[min(int(u * len(slots)), len(slots) - 1)]
        return _in_every_slot(sample, sample["ref_latents"][:, k:k + 1])

    def _outside_window(self, name: str, meta: dict, slots: int) -> list[int]:
        frames = json.loads(meta.get("refs", "[]"))[:slots]
        window = int(self.index.get("settings", {}).get("window", 0))
        if "start" in meta:
            start = int(meta["start"])
        else:  # caches written before the start was recorded: window k starts at k * stride
            m = re.search(r"_w(\d+)\.safetensors$", name)
            start = int(m.group(1)) * int(self.index.get("settings", {}).get("stride", 0)) if m else -1
        outside = [k for k, f in enumerate(frames) if not start <= f < start + window]
        return outside or list(range(slots))


def _photo_reference(sample: dict) -> dict:
    """``sample`` with every reference slot holding its clip's reference photo (unchanged without one)."""
    return _in_every_slot(sample, sample["photo_latents"]) if "photo_latents" in sample else sample


def _in_every_slot(sample: dict, latent: torch.Tensor) -> dict:
    """``sample`` with the one-frame ``latent`` [C, 1, h, w] in every reference slot."""
    return {**sample, "ref_latents": latent.expand_as(sample["ref_latents"]).contiguous()}


class RandomClips:
    """Deterministic random tensors shaped like cached clips (for tests and benchmarks)."""

    def __init__(self, frames: int = 2, height: int = 4, width: int = 4, refs: int = 1, text_len: int = 8,
                 face_frames: int = 0, face_size: int = 64, seed: int = 0, clip: bool = False):
        self.shape = (frames, height, width)
        self.refs, self.text_len, self.seed = refs, text_len, seed
        self.face = (face_frames, face_size)
        self.clip = clip

    def batch(self, step: int, rank: int, world: int, batch_size: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 7919 + step)
        t, h, w = self.shape
        samples = []
        for i in range(world * batch_size):
            s = {
                "ref_latents": torch.randn(16, self.refs, h, w, generator=g),
                "latents": torch.randn(16, t, h, w, generator=g),
                "grey_latents": torch.randn(16, t, h, w, generator=g) * 0.1,
                "pose_latents": torch.randn(16, t, h, w, generator=g),
                "context": torch.randn(self.text_len, 4096, generator=g) * 0.1,
            }
            if self.face[0]:
                n, size = self.face
                s["face_pixels"] = torch.randint(0, 256, (3, n, size, size), generator=g, dtype=torch.uint8)
            if self.clip:
                s["clip_fea"] = torch.randn(257, 1280, generator=g) * 0.1
            samples.append(s)
        mine = samples[rank * batch_size:(rank + 1) * batch_size]
        batch = assemble(mine, self.text_len)
        if self.clip:
            batch["clip_fea"] = torch.stack([s["clip_fea"] for s in mine])
        return batch
