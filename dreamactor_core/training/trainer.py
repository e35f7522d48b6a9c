"""Three-stage progressive training of the animation DiT with flow matching.

Runs as one process (CPU or one GPU) or under ``torchrun`` with PyTorch FSDP
(``fully_shard``): NCCL on GPUs, gloo on CPUs. Randomness (which sample, which
noise level, which noise) is a pure function of (seed, step), so a run
resumed from a checkpoint continues exactly like an uninterrupted one, and N
ranks with batch b see exactly what one process sees with batch N*b.
"""
from __future__ import annotations

import logging
import math
import os
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch.utils.checkpoint import checkpoint

from ..model.config import ModelConfig
from ..model.contract import model_contract
from ..model.dit import AnimateDiT
from ..model.lora import check_loras
from ..utils import CancelFn, check_cancel
from . import state_io
from .config import TrainConfig
from .flow_matching import flow_loss, noisy_input, sample_sigmas
from .stages import apply_stage

log = logging.getLogger("dreamactor.train")


@dataclass
class TrainResult:
    steps_done: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    checkpoint: Path | None = None
    exported: Path | None = None
    model: torch.nn.Module | None = None


def distributed() -> tuple[int, int, torch.device]:
    """Join the torchrun process group if there is one; returns (rank, world, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    # under torchrun even one rank joins a group and shards, so its arithmetic is the same as N ranks'
    if "WORLD_SIZE" in os.environ and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def build_model(cfg: TrainConfig, device: torch.device) -> AnimateDiT:
    """The model to train, from ``cfg.model`` and optionally initialised from a checkpoint."""
    model = AnimateDiT(ModelConfig(**cfg.model))
    if cfg.init_from:
        from .init_weights import init_from_checkpoint

        report = init_from_checkpoint(model, cfg.init_from)
        log.info("initialised from %s: %s", cfg.init_from, report)
    return model.to(device)


def shard(model: AnimateDiT, device: torch.device, mixed_precision: bool, grad_checkpointing: bool) -> AnimateDiT:
    """Gradient checkpointing per block, then FSDP per block and at the root when distributed."""
    if grad_checkpointing:
        for block in model.blocks:
            block.forward = types.MethodType(_checkpointed(type(block).forward), block)
    if dist.is_initialized():
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy()
        if mixed_precision and device.type == "cuda":
            mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        for block in model.blocks:
            fully_shard(block, mp_policy=mp)
        fully_shard(model, mp_policy=mp)
    return model


def _checkpointed(forward: Callable) -> Callable:
    def run(self, *args, **kwargs):
        return checkpoint(forward, self, *args, use_reentrant=False, **kwargs)

    return run


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random stream of one optimiser step, the same on every rank.

    Ranks draw the global batch's noise and take their slice, so N ranks with
    batch b compute exactly what one process computes with batch N*b.
    """
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def lr_at(stage, step_in_stage: int) -> float:
    """Learning rate of a stage's step: linear warm-up, then constant or half-cosine decay."""
    if stage.warmup and step_in_stage < stage.warmup:
        return stage.lr * (step_in_stage + 1) / stage.warmup
    if stage.decay == "cosine":
        done = (step_in_stage - stage.warmup) / max(1, stage.steps - stage.warmup)
        return stage.lr * 0.5 * (1.0 + math.cos(math.pi * done))
    return stage.lr


def training_loss(model: AnimateDiT, batch: dict, gen: torch.Generator, shift: float, use_face: bool,
                  rank: int = 0, world: int = 1) -> torch.Tensor:
    """Flow-matching loss of this rank's share of the global batch (layout as in ``dataset.model_inputs``)."""
    from .dataset import model_inputs

    x0 = batch["x0"]
    b = x0.shape[0]
    sigma = sample_sigmas(b * world, gen, shift)[rank * b:(rank + 1) * b]
    noise = torch.randn((b * world, *x0.shape[1:]), generator=gen)[rank * b:(rank + 1) * b]
    xt, target = noisy_input(x0, noise.to(x0.device), sigma.to(x0.device))
    kwargs = model_inputs(batch, model_contract(model), off=() if use_face else ("face",))
    pred = model(xt, sigma.to(x0.device) * 1000.0, **kwargs)
    return flow_loss(pred, target, ref_frames=model.config.num_refs)


def train(cfg: TrainConfig, data, *, max_steps: int | None = None, resume: bool = True,
          progress: Callable[[int, int, float], None] | None = None, cancel: CancelFn = None) -> TrainResult:
    """Run (or resume) the configured stages.

    ``data`` has ``batch(step, rank, world, batch_size) -> dict`` returning tensors on the CPU.
    ``max_steps`` stops early (as a crash would), for tests and time-boxed runs.
    """
    rank, world, device = distributed()
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = build_model(cfg, device)
    export_loras = cfg.export_lora_list()
    if export_loras:  # a LoRA that does not fit fails now, not after the training
        check_loras(export_loras, {k: tuple(p.shape) for k, p in model.named_parameters()})
    model = shard(model, device, cfg.mixed_precision, cfg.grad_checkpointing)
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.stages[0].lr, weight_decay=cfg.weight_decay)
    out = Path(cfg.out_dir)
    start = 0
    ckpt = state_io.latest_checkpoint(out) if resume else None
    state_io.agree_on_checkpoint(ckpt)
    if ckpt is not None:
        start, _ = state_io.load_training_state(ckpt, model, optim)
        if rank == 0:
            log.info("resumed from %s at step %d", ckpt, start)
    end = cfg.total_steps if max_steps is None else min(cfg.total_steps, start + max_steps)
    result = TrainResult(steps_done=start, model=model)
    current_stage = None
    t0 = time.perf_counter()
    model.train()
    for step in range(start, end):
        check_cancel(cancel)
        index, stage, in_stage = cfg.stage_at(step)
        if index != current_stage:
            n = apply_stage(model, stage.train)
            current_stage = index
            if rank == 0:
                log.info("stage %d '%s': %d trainable elements", index + 1, stage.name, n)
        for group in optim.param_groups:
            group["lr"] = lr_at(stage, in_stage)
        loss = _accumulated_backward(model, data, cfg, step, stage.use_face, rank, world, device)
        if cfg.grad_clip:
            clip_gradients(model, cfg.grad_clip)
        optim.step()
        optim.zero_grad(set_to_none=True)
        value = _mean_over_ranks(loss)
        result.losses.append(value)
        result.steps_done = step + 1
        if rank == 0 and (step + 1) % cfg.log_every == 0:
            # single-batch losses are noisy; the mean since the last log line is what to read
            recent = result.losses[-cfg.log_every:]
            log.info("step %d/%d stage %s loss %.5f mean %.5f", step + 1, cfg.total_steps, stage.name, value,
                     sum(recent) / len(recent))
        if progress is not None:
            progress(step + 1, cfg.total_steps, value)
        last_of_stage = in_stage + 1 == stage.steps
        if (step + 1) % cfg.checkpoint_every == 0 or last_of_stage or step + 1 == end:
            result.checkpoint = out / f"step_{step + 1:07d}.safetensors"
            state_io.save_training_state(result.checkpoint, model, optim, step + 1)
    if result.steps_done == cfg.total_steps:
        result.exported = out / "model.safetensors"
        state_io.export_model(result.exported, model, loras=export_loras)
    result.seconds = time.perf_counter() - t0
    return result


def _accumulated_backward(model, data, cfg: TrainConfig, step: int, use_face: bool, rank: int, world: int,
                          device: torch.device) -> torch.Tensor:
    """Backward over ``cfg.accumulate`` micro-batches; returns this rank's share of the step's loss.

    Micro-batch j of rank r is the global batch's slice ``r * accumulate + j``, and each loss is
    scaled by 1/accumulate before its backward. Scaling by a power of two is exact in floating point,
    so with accumulate 2 one process sums the same two half-gradients, in the same single addition,
    that two ranks' averaging gradient reduction sums: the runs agree bit for bit.
    """
    n = cfg.accumulate
    sharded = dist.is_initialized()  # shard() made it an FSDP module that reduces gradients
    total = torch.zeros((), device=device)
    for j in range(n):
        if sharded:
            model.set_requires_gradient_sync(j == n - 1)  # reduce across ranks once, after the last micro-batch
        virtual = rank * n + j
        batch = {k: (v.to(device) if torch.is_tensor(v) else v)
                 for k, v in data.batch(step, virtual, world * n, cfg.batch_size).items()}
        loss = training_loss(model, batch, step_generator(cfg.seed, step), cfg.shift, use_face, virtual, world * n)
        (loss / n).backward()
        total = total + loss.detach() / n
    return total


def clip_gradients(model: torch.nn.Module, max_norm: float) -> float:
    """Scale the gradients so their global 2-norm is at most ``max_norm``; returns the norm.

    The squares are summed in float64 (each rank its shards, then across ranks), so the norm does not
    depend on how the parameters are split over ranks to within float32's precision: the same
    clipping factor comes out of one process and of N, and their runs stay bit for bit alike.
    """
    from torch.distributed.tensor import DTensor

    grads = [p.grad for p in model.parameters() if p.grad is not None]
    local = [g.to_local() if isinstance(g, DTensor) else g for g in grads]  # FSDP keeps each rank's shard
    squares = torch.stack([t.double().square().sum() for t in local]).sum() if local else torch.zeros((), dtype=torch.float64)
    if dist.is_initialized():
        dist.all_reduce(squares)
    norm = float(squares.sqrt())
    scale = max_norm / (norm + 1e-6)
    if scale < 1.0:
        for g in grads:
            g.mul_(scale)
    return norm


def _mean_over_ranks(x: torch.Tensor) -> float:
    if dist.is_initialized() and dist.get_world_size() > 1:
        x = x.clone()
        dist.all_reduce(x)
        x /= dist.get_world_size()
    value = float(x)
    if not math.isfinite(value):
        raise FloatingPointError("training loss is not finite; lower the learning rate or check the data")
    return value
