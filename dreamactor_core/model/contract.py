"""What a denoiser model can take, declared as data and checked once.

Sampling and training never guess a model's abilities from its attributes: a model
declares a :class:`ModelContract` (``model.contract``), and :func:`model_contract` checks
it once where a pipeline, sampler or trainer starts. An object that declares none is
refused with a message that says what to add, instead of silently getting
Wan2.2-Animate's defaults.

The contract also lists the conditioning entries the model consumes (see
:mod:`.entries`): the sampler passes exactly those to the model's forward, as ComfyUI's
``extra_conds`` does, without knowing what they are.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dreamactor_core.utils import DreamActorError

FACE_PATHS = ("tokens", "pixels", "none")
POSE_INJECTIONS = ("add", "concat", "none")


@dataclass(frozen=True)
class ModelContract:
    """A model's declared inputs.

    ``num_refs``: reference slots at the start of the latent's time axis.
    ``face_path``: "tokens" (the model turns face crops into motion tokens once per window
    in :meth:`ConditionedModel.prepare_conditioning`), "pixels" (it reads crops at every call)
    or "none". ``face_size``: side of the square face crops it takes.
    ``pose_injection``: how pose latents enter ("add": own patch embedding added to the video
    tokens; "concat": extra input channels; "none": no pose). ``text_len``: most text tokens.
    ``has_clip``: it has a CLIP image branch (needs ``clip_fea``). ``ref_fill``: video latent
    frames without a carried frame hold the reference latent in ``y``. ``consumes``: the
    conditioning entries its forward takes, by name.
    """

    num_refs: int = 1
    face_path: str = "none"
    face_size: int = 512
    pose_injection: str = "none"
    text_len: int = 512
    has_clip: bool = False
    ref_fill: bool = False
    consumes: frozenset = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "consumes", frozenset(self.consumes))
        if self.num_refs < 1:
            raise DreamActorError(f"model contract: num_refs {self.num_refs} must be at least 1")
        if self.face_path not in FACE_PATHS:
            raise DreamActorError(f"model contract: face_path {self.face_path!r} must be one of {FACE_PATHS}")
        if self.pose_injection not in POSE_INJECTIONS:
            raise DreamActorError(f"model contract: pose_injection {self.pose_injection!r} must be one of "
                                  f"{POSE_INJECTIONS}")
        if self.text_len < 1 or self.face_size < 1:
            raise DreamActorError("model contract: text_len and face_size must be positive")

    @property
    def has_face(self) -> bool:
        return self.face_path != "none"

    def replace(self, **changes) -> "ModelContract":
        return dataclasses.replace(self, **changes)

    def consuming(self, *names: str) -> "ModelContract":
        """This contract with more consumed entries (a variant that reads a new signal)."""
        return self.replace(consumes=self.consumes | frozenset(names))


class ConditionedModel:
    """Mixin of every denoiser the sampler runs: a declared contract and a per-window preparation.

    ``prepare_conditioning(cond, cache)`` turns a window's conditioning into what every call
    of that window reads (e.g. face crops into motion tokens, text into cross-attention K/V);
    ``cache`` is a dict that lives across the windows of one run. The default keeps it as is.
    """

    @property
    def contract(self) -> ModelContract:  # pragma: no cover - every model overrides it
        raise NotImplementedError

    def prepare_conditioning(self, cond, cache: dict):
        return cond


def model_contract(model) -> ModelContract:
    """The model's declared contract; a clear error for an object that declares none."""
    if not isinstance(model, ConditionedModel) or not isinstance(model.contract, ModelContract):
        raise DreamActorError(
            f"model: a {type(model).__name__} declares no model contract; sampling runs models built on "
            "dreamactor_core.model.contract.ConditionedModel (AnimateDiT from load_dit, or the Model Loader's "
            "output) that say what they take in a ModelContract")
    return model.contract
