"""The conditioning seam: every guidance signal is a named entry of one structure.

A window's conditioning (:class:`Conditioning`) maps entry names (``context``, ``y``,
``pose_latents``, ``face_tokens``, ...) to tensors. Each name is registered once with an
:class:`Entry` that says, as data, how the entry is cut per window (which axis is time, at
latent or pixel rate) and what the CFG negative branch sees. The model's contract lists the
names it consumes (:mod:`.contract`); the sampler hands it exactly those, the windows cut
whole-clip entries by their spec, the trainer passes a batch's entries through. None of
them knows what an entry means, so a new signal is a registered entry, something that
makes it, and the model's use of it (see DEVELOPERS.md, "Adding a signal").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from dreamactor_core.utils import DreamActorError

RATES = ("latent", "pixel")


@dataclass(frozen=True)
class Entry:
    """How one named conditioning entry behaves.

    ``time_axis``: the tensor axis that is time (None: the same for every window).
    ``rate``: "latent" (one step per latent video frame; no reference slots) or "pixel"
    (one per video frame). ``negative``: what the CFG negative branch gets: "same" (the
    positive branch's value, after its strength), "given" (the maker supplies it) or a
    number (the positive's shape filled with it). ``signal``: the guidance signal the entry
    carries ("pose", "face", ...): a strength window of that name scales it, and a training
    stage can switch it off.
    """

    name: str
    time_axis: int | None = None
    rate: str = "latent"
    negative: str | float = "same"
    signal: str | None = None

    def __post_init__(self) -> None:
        if self.rate not in RATES:
            raise DreamActorError(f"conditioning entry {self.name}: rate {self.rate!r} must be one of {RATES}")
        if isinstance(self.negative, str) and self.negative not in ("same", "given"):
            raise DreamActorError(f"conditioning entry {self.name}: negative must be 'same', 'given' or a number")


ENTRIES: dict[str, Entry] = {}


def register_entry(entry: Entry) -> Entry:
    """Register a conditioning entry (re-registering the same spec is harmless)."""
    old = ENTRIES.get(entry.name)
    if old is not None and old != entry:
        raise DreamActorError(f"conditioning entry {entry.name}: already registered as {old}")
    ENTRIES[entry.name] = entry
    return entry


def entry(name: str) -> Entry:
    """The registered spec of ``name``; a clear error for an unknown name."""
    if name not in ENTRIES:
        raise DreamActorError(f"conditioning entry {name!r} is not registered; register it with "
                              f"dreamactor_core.model.entries.register_entry (known: {', '.join(sorted(ENTRIES))})")
    return ENTRIES[name]


# The built-in entries: Wan2.2-Animate's inputs and the DreamActor-M1 variant's reference latents.
for _e in (
    Entry("context", negative="given", signal="text"),            # umT5 tokens [B, L, 4096]; negative text
    Entry("clip_fea", signal="clip"),                              # CLIP vision tokens [B, 257, 1280]
    Entry("context_cache", negative="given", signal="text"),       # model-made text/CLIP K/V, per branch
    Entry("y", time_axis=2, signal="reference"),                   # mask + reference/known latents
    Entry("ref_latents", signal="reference"),                      # clean reference latents [B, 16, R, h, w]
    Entry("pose_latents", time_axis=2, signal="pose"),             # pose video latents [B, 16, lat_t, h, w]
    Entry("face_pixels", time_axis=2, rate="pixel", negative=-1.0, signal="face"),  # [B, 3, F, S, S]
    Entry("face_tokens", time_axis=1, negative="given", signal="face"),  # [B, lat_t, K, D]
):
    register_entry(_e)


class Lazy:
    """A value made on first use (e.g. the negative branch's context cache, never made at CFG 1)."""

    def __init__(self, make: Callable[[], object]):
        self.make, self._value, self.made = make, None, False

    def get(self):
        if not self.made:
            self._value, self.made = self.make(), True
        return self._value


def _resolve(v):
    return v.get() if isinstance(v, Lazy) else v


@dataclass
class Conditioning:
    """One window's (or clip's) entries: ``values`` by name, explicit ``negatives`` for entries
    whose spec says "given", and ``absents``: what strength 0 blends toward where that is not
    the negative (pose: the latents of a black video)."""

    values: dict = field(default_factory=dict)
    negatives: dict = field(default_factory=dict)
    absents: dict = field(default_factory=dict)

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def __getitem__(self, name: str):
        return _resolve(self.values[name])

    def names(self) -> list[str]:
        return list(self.values)

    def set(self, name: str, value, negative=None, absent=None) -> "Conditioning":
        """Add or replace an entry (registered name) with its negative and absent values."""
        entry(name)  # registered names only
        self.values[name] = value
        for table, v in ((self.negatives, negative), (self.absents, absent)):
            table.pop(name, None)
            if v is not None:
                table[name] = v
        return self

    def drop(self, name: str) -> "Conditioning":
        for table in (self.values, self.negatives, self.absents):
            table.pop(name, None)
        return self

    def negative(self, name: str, positive):
        """The negative branch's value of ``name`` given the positive branch's ``positive``."""
        spec = entry(name)
        if spec.negative == "same":
            return positive
        if spec.negative == "given":
            if name not in self.negatives:
                raise DreamActorError(f"conditioning entry {name}: its negative branch value was not given "
                                      "(whoever makes the entry, or the model's prepare_conditioning, must set it)")
            return _resolve(self.negatives[name])
        if name in self.negatives:  # a cached fill
            return self.negatives[name]
        self.negatives[name] = torch.full_like(self[name], float(spec.negative))
        return self.negatives[name]

    def absent(self, name: str):
        """What strength 0 of ``name`` gives: its absent value, else its negative (None if neither)."""
        if name in self.absents:
            return _resolve(self.absents[name])
        if entry(name).negative == "same":
            return None
        return self.negative(name, self[name])

    def copy(self) -> "Conditioning":
        return Conditioning(dict(self.values), dict(self.negatives), dict(self.absents))

    def to(self, device) -> "Conditioning":
        def move(table):
            return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in table.items()}
        return Conditioning(move(self.values), move(self.negatives), move(self.absents))


def blend(absent: torch.Tensor, real: torch.Tensor, s: float) -> torch.Tensor:
    """``absent + s (real - absent)``, exact at s = 0 and 1."""
    if s == 1.0:
        return real
    if s == 0.0:
        return absent
    return absent + s * (real - absent)

