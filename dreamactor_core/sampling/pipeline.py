"""End-to-end animation without ComfyUI (the paper's Figure 3).

``animate``: driving video -> motion extraction -> retarget to the reference ->
guidance render and face crops (per window, lazily) -> pseudo-references ->
windows of flow-matching sampling -> VAE decode -> frames (or a streaming sink).
``animate_guidance`` starts from ready guidance frames and face crops and needs
no signal extraction at all; the nodes and ``animate`` both end up there.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from ..model.contract import model_contract
from ..signals.tracking import person_note
from ..utils import Cancelled, CancelFn, DreamActorError, ProgressFn, StagesFn, report, stage
from . import schedule, solvers
from .frames import (
    ASPECTS, check_aspect, check_frames, default_size, extract_guidance, fit_frames, fix_size, small_reference_note,
    snap_size, unfix_size)
from .conditioning import (
    Encoder, build_window, check_precomputed, check_signals, cut_entry, module_device, prepare_text)
from .replace import Replacement, check_replacement, keep_scene
from .guidance import GuidanceSettings, GuidedDenoiser
from .noise import NOISE_MODES, WindowNoise
from .reference_detail import ReferenceDetail, check_detail
from .windows import CARRY, LAST_WINDOW, QUANTIZE, Window, check_choice, plan_windows, run_windows, take

log = logging.getLogger("dreamactor.sampling")


@dataclass
class AnimateSettings:
    """Sampling and windowing choices (defaults follow Wan2.2-Animate; README "Same as official").

    ``grid``/``timesteps``: see :func:`.schedule.sampling_schedule`; ``noise``: :mod:`.noise`;
    ``last_window``, ``carry``, ``to_8bit``: :mod:`.windows`. Each non-official value is a
    deliberate departure.
    """

    width: int | None = None
    height: int | None = None
    steps: int = 20
    solver: str = "unipc"
    shift: float = 5.0
    seed: int = 0
    guidance: GuidanceSettings = field(default_factory=GuidanceSettings)
    window: int = 77
    refert: int = 1
    color_match: float = 0.0
    reference_detail: float = 0.0  # 0..1, see reference_detail.py (for a still camera, as in animating a photo)
    style: str = "dreamactor"
    aspect: str = "letterbox"
    size_fix: str = "crop"
    pseudo_ref_angles: Sequence[float] = ()
    pseudo_ref_frames: int = 17
    max_area: int = 1280 * 720  # Wan2.2-Animate's area (the aspect comes from the reference here)
    strict: bool = False
    person: str | int = "largest"  # whom to follow in the driving video: largest, leftmost or an index
    reference_person: str | int = "largest"  # whom to animate when the reference shows several people
    grid: str = "official"
    timesteps: str = "integer"
    noise: str = "video"
    last_window: str = "reflect"
    carry: str = "float"
    to_8bit: str = "truncate"

    def __post_init__(self) -> None:
        check_detail(self.reference_detail)
        for name, value, choices in (("grid", self.grid, schedule.GRIDS),
                                     ("timesteps", self.timesteps, schedule.TIMESTEP_KINDS),
                                     ("noise", self.noise, NOISE_MODES), ("last_window", self.last_window, LAST_WINDOW),
                                     ("carry", self.carry, CARRY), ("to_8bit", self.to_8bit, QUANTIZE)):
            check_choice(name, value, choices)


@dataclass
class AnimateResult:
    """Output frames (None when a sink took them), fps, size, stage timings and notes."""

    frames: np.ndarray | None
    fps: float
    width: int
    height: int
    num_frames: int
    timings: dict = field(default_factory=dict)
    pseudo_refs: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    replacement: Replacement | None = None  # replacement mode: the background and mask used (output size)


class _Timer(dict):
    def add(self, stage: str, t0: float) -> None:
        self[stage] = self.get(stage, 0.0) + time.perf_counter() - t0


def sample_window(dit, cond, settings: AnimateSettings, noise: torch.Tensor, *, progress: ProgressFn = None,
                  cancel: CancelFn = None, cache: dict | None = None, timer: dict | None = None) -> torch.Tensor:
    """Denoise one window from ``noise`` (see :mod:`.noise`); returns the normalized latent incl. reference slots.

    ``timer`` (a dict) gets the seconds spent on face tokens (``"face"``) and denoising (``"sampling"``).
    """
    noise = noise.to(cond.y.device)
    sigmas, steps_t = schedule.sampling_schedule(settings.solver, settings.steps, settings.shift,
                                                 grid=settings.grid, timesteps=settings.timesteps)
    t0 = time.perf_counter()
    denoiser = GuidedDenoiser(dit, cond, settings.guidance, settings.steps, cache, timesteps=steps_t)
    t1 = time.perf_counter()
    out = solvers.sample(denoiser, noise, sigmas, settings.solver, progress=progress, cancel=cancel)
    if timer is not None:
        timer["face"] = timer.get("face", 0.0) + t1 - t0
        timer["sampling"] = timer.get("sampling", 0.0) + time.perf_counter() - t1
    return out


@torch.no_grad()
def decode_video(vae, latent: torch.Tensor, num_refs: int, progress: ProgressFn = None) -> torch.Tensor:
    """Decode the video part of a latent -> float [F,H,W,3] in [-1,1] on the CPU."""
    latent = latent[:, :, num_refs:].to(module_device(vae))
    # progress only when asked: stand-in VAEs (ComfyUI's, test fakes) take no callbacks
    video = vae.decode(latent) if progress is None else vae.decode(latent, progress=progress)
    return video[0].float().clamp(-1, 1).permute(1, 2, 3, 0).cpu()


class _Collect:
    def __init__(self):
        self.parts: list[np.ndarray] = []

    def __call__(self, frames: np.ndarray) -> None:
        self.parts.append(frames)

    def result(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros((0, 1, 1, 3), np.uint8)


def animate_guidance(reference, guidance, faces, dit, vae, *, fps: float = 25.0, text=None, text_null=None,
                     clip_fea=None, settings: AnimateSettings | None = None, extra_references=(),
                     aspect: str | None = None, sink: Callable[[np.ndarray], None] | None = None,
                     progress: ProgressFn = None, cancel: CancelFn = None, pose_latents=None,
                     face_tokens=None, latent_sink: Callable[[torch.Tensor], None] | None = None,
                     replacement: Replacement | None = None, signals=None, stages: StagesFn = None,
                     float_sink: Callable[[torch.Tensor], None] | None = None, frames_out: bool = True,
                     _timer=None) -> AnimateResult:
    """Animate ``reference`` [H,W,3] along ready ``guidance`` frames [N,H,W,3] and face crops [N,S,S,3].

    ``guidance``/``faces`` may be arrays or lazy sequences (``len`` and slicing returning
    uint8 arrays). The output size is the guidance size rounded to 16 (see ``settings.size_fix``).
    ``aspect`` None refuses a reference whose aspect differs from the guidance's.

    Precomputed signals may replace either source: ``pose_latents`` (normalized VAE latents
    [1,16,T,h,w] of a guidance video, with ``guidance`` None; the output then has
    4 (T - 1) + 1 frames at 8h x 8w) and ``face_tokens`` [1,T',K,D] from
    ``AnimateDiT.encode_face`` (with ``faces`` None; one token frame per latent frame of the
    pose, ``(N - 1) // 4 + 1`` for N frames). Windows take their latent frames by
    time (see :func:`.windows.take_latents`). ``latent_sink`` receives each window's sampled
    video latent (normalized, reference slots removed) before it is decoded; ``float_sink`` receives
    the output frames float [n,H,W,3] in [-1,1] before the 8-bit conversion (at the snapped size).
    ``replacement`` (background video and character mask at the guidance's size, one frame per
    guidance frame) switches to replacement mode (see :mod:`.replace`).
    ``signals`` maps further conditioning entries (registered in :mod:`dreamactor_core.model.entries`
    and consumed by the model's contract) to whole-clip tensors; each window gets its cut.
    ``stages(name)`` gives a progress callback per stage (encode, each window's sampling and decode).
    ``frames_out`` False is for callers that keep only the latents (``latent_sink``): windows are
    decoded only for the frames they carry into the next one, the last window not at all, and
    ``frames`` is None (``color_match`` then acts through the carried frames alone).
    """
    settings = settings or AnimateSettings()
    contract = model_contract(dit)
    if not frames_out and settings.reference_detail:
        raise DreamActorError("reference_detail: it changes decoded frames, and frames_out=False makes none; "
                              "set it to 0 or keep the frames")
    timer = _timer if _timer is not None else _Timer()
    reference = check_frames(reference, "reference")[0]
    lat_total, gw, gh = check_precomputed(pose_latents, face_tokens, guidance, faces)
    total = lat_total if lat_total is not None else (0 if guidance is None else len(guidance))
    if total == 0:
        raise DreamActorError("guidance: it has zero frames; give at least one guidance frame (or pose latents)")
    if faces is not None and len(faces) != total:
        raise DreamActorError(f"face crops: {len(faces)} frames but the pose guidance has {total}; "
                              "give one face crop per guidance frame (same clip, same frame count)")
    if face_tokens is not None and face_tokens.shape[1] != (total - 1) // 4 + 1:
        raise DreamActorError(f"face tokens: {face_tokens.shape[1]} token frames but the pose guidance has {total} "
                              f"frames, which need {(total - 1) // 4 + 1}; encode the face crops of the same clip")
    if lat_total is None:
        first = np.asarray(guidance[0:1])
        gh, gw = int(first.shape[1]), int(first.shape[2])
    check_aspect((reference.shape[1], reference.shape[0]), (gw, gh), aspect)
    if face_tokens is not None and contract.face_path == "pixels":
        raise DreamActorError("face tokens: this model takes face crops, not precomputed tokens")
    extra = check_signals(signals, contract, total)
    if replacement is not None:
        keep = replacement.keep_scene
        replacement = check_replacement(replacement.background, replacement.mask, total, gw, gh)
        replacement.keep_scene = keep
    notes: list[str] = []
    small = small_reference_note(reference)
    w, h, note = snap_size(gw, gh, settings.size_fix)
    if note:
        notes.append(note)
    frame_mode = aspect or settings.aspect
    slots = contract.num_refs
    refs = [reference] + [check_frames(r, "extra reference")[0] for r in extra_references]
    if len(refs) > slots:
        notes.append(f"{len(refs) - slots} extra reference image(s) ignored: "
                     f"the checkpoint has {slots} reference slot(s)")
        log.warning(notes[-1])
        refs = refs[:slots]
    if len(refs) < slots:  # a multi-reference checkpoint always sees all its slots filled, as in training
        notes.append(f"{slots - len(refs)} reference slot(s) filled with the first reference; give extra reference "
                     "images (e.g. pseudo-references) for other views")
        log.info(notes[-1])
        refs = refs + [refs[0]] * (slots - len(refs))
    text_in = prepare_text(contract, text, text_null, clip_fea, strict=settings.strict)
    encoder = Encoder(vae)
    cache: dict = {}
    t0 = time.perf_counter()
    # frame each reference like the guidance, then crop/pad it exactly as the guidance frames are
    ref_images = [fix_size(fit_frames(r[None], gw, gh, frame_mode), w, h, settings.size_fix)[0] for r in refs]
    ref_latents = encoder.references(ref_images)
    timer.add("encode", t0)
    detail = ReferenceDetail(encoder, ref_images[0], settings.reference_detail)
    windows = plan_windows(total, settings.window, settings.refert, last=settings.last_window)
    noise = WindowNoise(settings.seed, settings.noise)
    pad = settings.last_window
    steps_total = len(windows) * settings.steps
    face_size, has_face = contract.face_size, contract.has_face

    def generate(win: Window, carried):
        t0 = time.perf_counter()
        g = f = pl = ft = None
        if pose_latents is not None:
            pl = cut_entry("pose_latents", pose_latents, win)
        else:
            g = fix_size(np.asarray(take(guidance, win.start, win.length, pad)), w, h, settings.size_fix)
        if has_face and faces is not None:
            f = np.asarray(take(faces, win.start, win.length, pad))
        elif has_face and face_tokens is not None:
            ft = cut_entry("face_tokens", face_tokens, win)
        rep = None
        if replacement is not None:
            bg = fix_size(take(replacement.background, win.start, win.length, pad), w, h, settings.size_fix)
            mk = fix_size(take(replacement.mask, win.start, win.length, pad)[..., None], w, h, settings.size_fix)[..., 0]
            rep = Replacement(bg, mk)
        timer.add("guidance", t0)
        t0 = time.perf_counter()
        of = f"window {win.index + 1}/{len(windows)}"
        encoding = stage(stages, f"encode {of}")
        report(encoding, 0, 1)
        cond = build_window(encoder, ref_latents, g, f, text_in, carried, face_size=face_size,
                            pose_null=not settings.guidance.pose_always_full, pose_latents=pl, face_tokens=ft,
                            ref_fill=contract.ref_fill, replacement=rep)
        for name, t in extra.items():
            cond.entries.set(name, cut_entry(name, t, win, pad).to(cond.y.device))
        timer.add("encode", t0)
        report(encoding, 1, 1)
        done = win.index * settings.steps
        sampling = stage(stages, f"sampling {of}")

        def step(i: int, n: int) -> None:
            report(progress, done + i, steps_total)
            report(sampling, i, n)

        report(sampling, 0, settings.steps)
        latent = sample_window(dit, cond, settings, noise.draw(win.index, cond.latent_shape), cancel=cancel,
                               cache=cache, timer=timer, progress=step)
        if rep is not None and replacement.keep_scene:
            latent = keep_scene(latent, cond.y, rep.mask, 0 if carried is None else len(carried), cond.num_refs)
        del cond
        if latent_sink is not None:
            latent_sink(latent[:, :, ref_latents.shape[2]:])
        if not frames_out and win.index == len(windows) - 1:
            return None  # nothing after it needs its frames
        t0 = time.perf_counter()
        decoding = stage(stages, f"decode {of}")
        report(decoding, 0, 1)
        video = detail(decode_video(vae, latent, ref_latents.shape[2], progress=decoding))
        timer.add("decode", t0)
        return video

    collect = _Collect() if sink is None and frames_out else None
    target = sink or collect or (lambda fr: None)

    def out_sink(fr: np.ndarray) -> None:
        target(unfix_size(fr, gw, gh, settings.size_fix))

    try:
        n = run_windows(windows, total, generate, out_sink, color_match=settings.color_match, cancel=cancel,
                        carry=settings.carry, quantize=settings.to_8bit, float_sink=float_sink)
    except Cancelled:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise
    frames = None if collect is None else collect.result()
    if small:
        notes.append(small)  # last among the notes: it explains the result rather than the run
    return AnimateResult(frames, float(fps), w, h, n, dict(timer), notes=notes)


def animate(reference, driving, fps: float, dit, vae, *, text=None, text_null=None, clip_fea=None,
            settings: AnimateSettings | None = None, extra_references=(), bone_scales=None,
            sink: Callable[[np.ndarray], None] | None = None, progress: ProgressFn = None,
            cancel: CancelFn = None, replace_mask=None, stages: StagesFn = None) -> AnimateResult:
    """Animate ``reference`` (uint8 [H,W,3]) with the motion of ``driving`` (uint8 [T,H,W,3]) at ``fps``.

    Output: ``settings.width`` x ``settings.height`` (default: the reference's aspect at
    about ``settings.max_area`` pixels), one frame per driving frame, at the driving fps.
    Pseudo-references at ``settings.pseudo_ref_angles`` are made first when the checkpoint
    has spare reference slots; ``extra_references`` are an artist's own extra images.
    ``replace_mask`` (a :class:`..signals.character_mask.MaskSettings`) switches to replacement
    mode: the reference replaces the driver in the driving video's own scene (see :mod:`.replace`).
    ``stages(name)`` gives a progress callback per stage (extraction, then see :func:`animate_guidance`).
    """
    from dataclasses import replace

    from .pseudo_refs import make_pseudo_references

    settings = settings or AnimateSettings()
    if settings.aspect not in ASPECTS:
        raise DreamActorError(f"aspect: '{settings.aspect}' must be one of {', '.join(ASPECTS)}")
    if not fps > 0:
        raise DreamActorError(f"fps: must be positive, got {fps}")
    timer = _Timer()
    reference = check_frames(reference, "reference")[0]
    driving = check_frames(driving, "driving video")
    ref_h, ref_w = reference.shape[:2]
    if settings.width and settings.height:
        w, h = int(settings.width), int(settings.height)
    else:
        w, h = default_size(ref_w, ref_h, settings.max_area)
    contract = model_contract(dit)
    face_size = contract.face_size
    t0 = time.perf_counter()
    drive_motion, ref_motion, guidance, faces = extract_guidance(reference, driving, fps, w, h, style=settings.style,
                                                      aspect=settings.aspect, face_size=face_size,
                                                      bone_scales=bone_scales, align=replace_mask is None,
                                                      progress=stage(stages, "extraction"),
                                                      person=settings.person,
                                                      reference_person=settings.reference_person)
    replacement = None
    if replace_mask is not None:
        from .replace import replacement_for

        replacement = replacement_for(driving, drive_motion, guidance.motion, w, h, settings.aspect, replace_mask)
    timer.add("extraction", t0)
    extras = [check_frames(r, "extra reference")[0] for r in extra_references]
    pseudo: list = []
    notes = [n for n in (person_note(ref_motion.meta.get("person", {}), "reference"),
                         person_note(drive_motion.meta.get("person", {}), "driving video")) if n]
    for note in notes:
        log.warning(note)
    common = dict(text=text, text_null=text_null, clip_fea=clip_fea, aspect=settings.aspect, fps=fps)
    if settings.pseudo_ref_angles:
        spare = contract.num_refs - 1 - len(extras)
        if spare <= 0:
            notes.append("pseudo-references skipped: the checkpoint has no spare reference slot")
            log.warning(notes[-1])
        else:
            angles = list(settings.pseudo_ref_angles)[:spare]
            sub = replace(settings, window=settings.pseudo_ref_frames, pseudo_ref_angles=())
            fit_ref = fit_frames(reference[None], w, h, settings.aspect)[0]

            def clip_fn(g, f):
                return animate_guidance(fit_ref, g, f, dit, vae, settings=sub, cancel=cancel, _timer=timer,
                                        **common).frames

            pseudo = make_pseudo_references(reference, ref_motion, clip_fn, w, h, angles=angles,
                                            frames=settings.pseudo_ref_frames, style=settings.style,
                                            aspect=settings.aspect)
            extras += [img for _, img in pseudo]
    result = animate_guidance(reference, guidance, faces, dit, vae, settings=settings, extra_references=extras,
                              sink=sink, progress=progress, cancel=cancel, _timer=timer, replacement=replacement,
                              stages=stages, **common)
    result.pseudo_refs = pseudo
    result.replacement = replacement
    result.notes = notes + result.notes
    result.timings = dict(timer)
    return result
