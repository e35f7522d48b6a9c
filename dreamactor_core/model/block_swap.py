"""Block swap: keep N transformer blocks in CPU memory and stream each to the GPU just in time.

A 14B model does not fit a 24 GB-class GPU. With swap, the first ``num_blocks`` blocks
live in (pinned) host memory; a forward pre-hook copies a block's weights to the compute
device right before it runs (the next swapped block is prefetched on a side CUDA stream
so copies overlap compute) and a forward hook points them back at the host copy after,
which frees the device memory. Swapping changes where weights live, never the math.
Inference only: autograd would find host tensors in place of the device weights.
"""
from __future__ import annotations

from contextlib import nullcontext
from itertools import chain

import torch
import torch.nn as nn


class BlockSwap:
    """Handle returned by :func:`apply_block_swap`; ``remove()`` puts every block on the device."""

    def __init__(self, blocks: nn.ModuleList, num_blocks: int, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self.stream = torch.cuda.Stream(device) if self.cuda else None
        self.blocks = list(blocks)[:num_blocks]
        self.host: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
        self.ready: dict[int, tuple] = {}
        self.handles = []
        for i, block in enumerate(self.blocks):
            entries = []
            for t in chain(block.parameters(), block.buffers()):
                h = t.data.to("cpu")
                if self.cuda and not h.is_pinned():
                    h = h.pin_memory()
                t.data = h
                entries.append((t, h))
            self.host.append(entries)
            self.handles.append(block.register_forward_pre_hook(self._pre_hook(i)))
            self.handles.append(block.register_forward_hook(self._post_hook(i)))

    def _fetch(self, i: int) -> None:
        """Start copying block ``i`` to the device (asynchronously on CUDA)."""
        if i in self.ready or i >= len(self.blocks):
            return
        ctx = torch.cuda.stream(self.stream) if self.cuda else nullcontext()
        with ctx:
            dev = [h.to(self.device, non_blocking=True) for _, h in self.host[i]]
            event = None
            if self.cuda:
                event = torch.cuda.Event()
                event.record(self.stream)
        self.ready[i] = (event, dev)

    def _pre_hook(self, i: int):
        def hook(module, args):
            self._fetch(i)
            event, dev = self.ready.pop(i)
            if event is not None:
                torch.cuda.current_stream(self.device).wait_event(event)
                for d in dev:  # memory made on the side stream is used on the main stream
                    d.record_stream(torch.cuda.current_stream(self.device))
            for (t, _), d in zip(self.host[i], dev):
                t.data = d
            self._fetch(i + 1)
        return hook

    def _post_hook(self, i: int):
        def hook(module, args, output):
            for t, h in self.host[i]:
                t.data = h
        return hook

    def rehost(self, tensor: torch.Tensor) -> None:
        """Take ``tensor``'s new data as its host copy (after it was replaced, e.g. by a LoRA merge
        that dequantized an fp8 weight); tensors of blocks that are not swapped are left alone."""
        for entries in self.host:
            for j, (t, _) in enumerate(entries):
                if t is tensor:
                    h = t.data.to("cpu")
                    if self.cuda and not h.is_pinned():
                        h = h.pin_memory()
                    t.data = h
                    entries[j] = (t, h)
                    return

    def remove(self) -> None:
        """Stop swapping and move every swapped block to the device."""
        for h in self.handles:
            h.remove()
        self.handles, self.ready = [], {}
        for block in self.blocks:
            block.to(self.device)
        self.blocks = []


def move_unswapped(model: nn.Module, swapped: list[nn.Module], device) -> None:
    """Move ``model`` to ``device`` except the ``swapped`` blocks of ``model.blocks``, which stay in host memory
    (a host that loads and offloads the model as a whole uses this to keep block swap)."""
    keep = {id(b) for b in swapped}
    for name, child in model.named_children():
        if name == "blocks":
            for b in child:
                if id(b) not in keep:
                    b.to(device)
        else:
            child.to(device)
    for t in chain(model.parameters(recurse=False), model.buffers(recurse=False)):
        t.data = t.data.to(device)


def enable_block_swap(model: nn.Module, num_blocks: int, device="cuda") -> BlockSwap | None:
    """Put ``model`` on ``device`` except its first ``num_blocks`` blocks (``model.blocks``),
    which are streamed in per forward. Returns the handle (also kept as ``model.block_swap``),
    or None when ``num_blocks`` is 0. Load the model on the CPU first so the full model never
    has to fit the device.

    On a CPU device this is a no-op that still installs (harmless) hooks.
    """
    old = getattr(model, "block_swap", None)
    if old is not None:
        old.remove()
    device = torch.device(device)
    n = max(0, min(int(num_blocks), len(model.blocks)))
    move_unswapped(model, list(model.blocks)[:n], device)
    model.block_swap = BlockSwap(model.blocks, n, device) if n else None
    return model.block_swap


apply_block_swap = enable_block_swap

