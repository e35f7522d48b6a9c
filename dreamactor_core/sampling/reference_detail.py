"""Reference detail: give back what the VAE loses of the reference wherever the output left it unchanged.

Decoding is lossy. The reference's own latent decodes to a softened copy of it (the demo VAE
keeps backgrounds at about 31 dB), and a generated frame that shows the reference unchanged (a
still background, a body part that does not move) carries the same loss. That loss is known
exactly at sampling time: encode the reference as a still video, decode it (``still``), and
the difference to the reference pixels is what the VAE took away. Per pixel::

    out = R + d * (G - S) - c * (R - S)

with ``G`` the decoded frame, ``S`` the decoded still reference, ``R`` the reference and ``e``
the local size of the change ``|G - S|`` (largest channel, Gaussian-blurred):

* ``d`` ramps from 0 to 1 around ``noise_floor``: changes smaller than the model's own noise are
  dropped, so those pixels are the reference's exactly;
* ``c`` ramps from 0 to 1 around ``change_level``: where the content clearly changed (a limb moved
  in or out), the reference's detail does not belong, and the plain decode ``G`` is kept;
* in between, the reference's detail is added to the model's change.

``strength`` blends from the plain decode (0) to this (1). It suits animating a photo, where the
output camera is the reference's. Where the whole frame changes (a camera move, relighting),
every pixel passes ``change_level`` and the plain decode comes through.
"""
from __future__ import annotations

import math

import torch

from ..utils import DreamActorError
from .blur import gaussian_blur

NOISE_FLOOR = 8.0  # of 255; picked on the demo's first held-out pairs, see docs/DEMO_MODEL.md
CHANGE_LEVEL = 32.0
BLUR = 2.0


def check_detail(strength: float, noise_floor: float = NOISE_FLOOR, change_level: float = CHANGE_LEVEL) -> None:
    """Raise a clear error for settings that cannot work."""
    if not 0.0 <= strength <= 1.0:
        raise DreamActorError(f"reference_detail: {strength} must be between 0 (off) and 1")
    if noise_floor < 0 or change_level <= noise_floor:
        raise DreamActorError(f"reference_detail: the change level ({change_level}) must be above the noise floor "
                              f"({noise_floor}), both in 0..255 units")


def _ramp(e: torch.Tensor, level: float) -> torch.Tensor:
    """Smooth step from 0 at ``level / 2`` to 1 at ``1.5 * level``."""
    t = ((e - 0.5 * level) / level).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """[N, H, W] blurred over about three sigmas, edges replicated."""
    if sigma <= 0:
        return x
    return gaussian_blur(x[:, None], sigma, max(1, math.ceil(3 * sigma)))[:, 0]


def restore_reference_detail(frames: torch.Tensor, reference: torch.Tensor, still: torch.Tensor,
                             strength: float = 1.0, noise_floor: float = NOISE_FLOOR,
                             change_level: float = CHANGE_LEVEL, blur: float = BLUR) -> torch.Tensor:
    """Decoded ``frames`` [F, H, W, 3] with the reference's lost detail put back where they kept it.

    ``reference`` [H, W, 3] is the reference as the model saw it (same framing and size) and
    ``still`` [F, H, W, 3] the decode of that reference repeated as an F-frame video; all in
    [-1, 1]. ``noise_floor`` and ``change_level`` are in 0..255 units.
    """
    check_detail(strength, noise_floor, change_level)
    if frames.shape != still.shape or frames.shape[1:] != reference.shape:
        raise DreamActorError(f"reference_detail: frames {tuple(frames.shape)}, still reference {tuple(still.shape)} "
                              f"and reference {tuple(reference.shape)} must have the same size")
    if strength == 0:
        return frames
    change = frames - still
    e = _blur(change.abs().amax(-1), blur)[..., None] * 127.5
    restored = reference + _ramp(e, noise_floor) * change - _ramp(e, change_level) * (reference - still)
    # lerp is exact at strength 1, so kept reference pixels survive the truncating 8-bit conversion
    return torch.lerp(frames, restored, float(strength)).clamp(-1.0, 1.0)


class ReferenceDetail:
    """Applies reference detail to decoded clips ``[F,H,W,3]`` in [-1, 1], window by window.

    The still reference is encoded and decoded once per clip length and kept, so every
    window of one length (the usual case) pays for it once. ``encoder`` is a
    :class:`.conditioning.Encoder`; ``reference`` uint8 ``[H,W,3]`` framed as the output.
    """

    def __init__(self, encoder, reference, strength: float):
        check_detail(strength)
        self.encoder, self.strength = encoder, float(strength)
        self.reference = torch.as_tensor(reference).float() / 127.5 - 1.0
        self._still: dict[int, torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if self.strength == 0:
            return frames
        n = frames.shape[0]
        if n not in self._still:
            video = self.reference.permute(2, 0, 1)[None, :, None].expand(1, 3, n, *self.reference.shape[:2])
            decoded = self.encoder.vae.decode(self.encoder.encode(video))
            self._still[n] = decoded[0].float().clamp(-1, 1).permute(1, 2, 3, 0).cpu()
        return restore_reference_detail(frames, self.reference, self._still[n], self.strength)
