"""Training configuration: one JSON file describes all three stages."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..model.lora import parse_lora_arg
from ..utils import DreamActorError


@dataclass
class StageConfig:
    """One stage of progressive training.

    ``train`` lists parameter-name patterns (fnmatch style) that learn in this
    stage; everything else is frozen. ``steps`` is the number of optimiser
    steps, ``lr`` the peak learning rate (linear warm-up over ``warmup``), held
    (``decay`` "constant") or lowered along a half cosine to zero by the stage's end
    ("cosine").
    """

    name: str
    train: list[str]
    steps: int
    lr: float = 1e-4
    warmup: int = 0
    use_face: bool = True
    decay: str = "constant"

    def __post_init__(self) -> None:
        if self.decay not in ("constant", "cosine"):
            raise DreamActorError(f"stage {self.name!r}: decay must be 'constant' or 'cosine', got {self.decay!r}")


# The paper's schedule: body skeleton + head sphere first, then only the face
# motion encoder and Face Attn, then everything together.
FACE_PARAMS = ["motion_encoder.*", "face_encoder.*", "face_adapter.*"]
PAPER_STAGES = [
    StageConfig("body_head", ["*"], steps=1000, use_face=False),
    StageConfig("face", FACE_PARAMS, steps=500),
    StageConfig("joint", ["*"], steps=500),
]


@dataclass
class TrainConfig:
    """Everything one training run needs (model, data, schedule, output)."""

    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields
    init_from: str | None = None  # a safetensors checkpoint (Wan2.1 i2v, Wan2.2-Animate, or ours)
    data: str | None = None  # a cached dataset folder (see dataset_builder)
    # share of samples whose reference slots all hold one of the clip's reference frames (one from
    # outside the window where there is one), as at inference with a single reference image
    single_ref: float = 0.0
    # share of samples whose reference slots all hold the clip's reference photo, where the dataset
    # has one (see dataset_builder); drawn after single_ref, so it overrides it
    photo_ref: float = 0.0
    stages: list[StageConfig] = field(default_factory=lambda: [StageConfig(**asdict(s)) for s in PAPER_STAGES])
    batch_size: int = 1
    # micro-batches per optimiser step (gradient accumulation): a step sees batch_size * accumulate
    # samples per rank, and one process with accumulate N computes what N ranks compute
    accumulate: int = 1
    seed: int = 0
    out_dir: str = "runs/dreamactor"
    checkpoint_every: int = 100
    log_every: int = 10
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    shift: float = 5.0  # flow-matching timestep shift used when sampling training sigmas
    mixed_precision: bool = True  # bf16 compute on GPU; ignored on CPU
    grad_checkpointing: bool = False
    # LoRAs merged into the exported model.safetensors (not into training): "FILE[:STRENGTH]" or [FILE, STRENGTH]
    export_loras: list = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        data = dict(data)
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise DreamActorError(f"training config: unknown keys {sorted(unknown)}")
        if "stages" in data:
            data["stages"] = [StageConfig(**s) if isinstance(s, dict) else s for s in data["stages"]]
        cfg = cls(**data)
        cfg.check()
        return cfg

    @classmethod
    def from_json(cls, path: str | Path) -> "TrainConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise DreamActorError(f"training config {path}: cannot read it ({e})") from e

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def check(self) -> None:
        if not self.stages:
            raise DreamActorError("training config: 'stages' is empty; give at least one stage")
        for s in self.stages:
            if s.steps < 0 or not s.train:
                raise DreamActorError(f"training config: stage '{s.name}' needs steps >= 0 and a 'train' list")
        if self.checkpoint_every <= 0 or self.batch_size <= 0 or self.accumulate <= 0:
            raise DreamActorError("training config: checkpoint_every, batch_size and accumulate must be positive")
        for name in ("single_ref", "photo_ref"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise DreamActorError(f"training config: {name} {getattr(self, name)} must be between 0 and 1")

        self.export_lora_list()

    def export_lora_list(self) -> list[tuple[str, float]]:
        """``export_loras`` as (file, strength) pairs; a missing file is an error before training."""
        out = []
        for item in self.export_loras:
            if isinstance(item, str):
                path, strength = parse_lora_arg(item)
            elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], (int, float)):
                path, strength = str(item[0]), float(item[1])
            else:
                raise DreamActorError(f"training config: export_loras entry {item!r} must be \"FILE[:STRENGTH]\" "
                                      "or [FILE, STRENGTH]")
            if not Path(path).is_file():
                raise DreamActorError(f"training config: export_loras file {path} does not exist")
            out.append((path, strength))
        return out

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)

    def stage_at(self, step: int) -> tuple[int, StageConfig, int]:
        """(stage index, stage, step within the stage) for a global step."""
        start = 0
        for i, s in enumerate(self.stages):
            if step < start + s.steps:
                return i, s, step - start
            start += s.steps
        raise IndexError(step)
