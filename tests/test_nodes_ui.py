"""What an artist sees of the nodes in ComfyUI: output tooltips, defaults, Save -> Load Motion."""
from __future__ import annotations

import numpy as np
import pytest

import nodes
from dreamactor_core.signals.motion import Motion
from dreamactor_core.utils import DreamActorError
from nodes import signals


@pytest.mark.parametrize("cls", nodes.NODE_CLASSES, ids=lambda c: c.__name__)
def test_every_output_has_a_tooltip(cls):
    schema = cls.GET_SCHEMA()
    missing = [o.display_name or o.id for o in schema.outputs or [] if not (o.tooltip or "").strip()]
    assert not missing, f"{schema.node_id}: outputs without a tooltip: {missing}"


def test_render_guidance_defaults_to_the_style_wan_animate_was_trained_on():
    style = next(i for i in signals.RenderGuidance.GET_SCHEMA().inputs if i.id == "style")
    assert style.default == "openpose" and style.options[0] == "openpose"


def test_load_motion_lists_and_loads_what_save_motion_wrote(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMACTOR_HOME", str(tmp_path))
    motion = Motion.empty(3, fps=24.0, width=32, height=32)
    motion.body_px[:] = 7.0
    signals.SaveMotion.execute(motion=motion, filename_prefix="dreamactor/motion")
    (tmp_path / "input").mkdir(exist_ok=True)
    (tmp_path / "input" / "mine.json").write_text(motion.to_json())
    options = signals.LoadMotion.GET_SCHEMA().inputs[0].options
    assert options == ["mine.json", "dreamactor/motion_00001.json [output]"]
    loaded = signals.LoadMotion.execute(file="dreamactor/motion_00001.json [output]")[0]
    assert loaded.num_frames == 3 and loaded.fps == 24.0
    np.testing.assert_array_equal(loaded.body_px, motion.body_px)
    assert signals.LoadMotion.fingerprint_inputs(file="dreamactor/motion_00001.json [output]")
    # the marker picks the folder: the same name is not looked up in input, and '..' cannot leave output
    with pytest.raises(DreamActorError, match="'dreamactor/motion_00001.json' is not a file in the input folder"):
        signals.LoadMotion.execute(file="dreamactor/motion_00001.json")
    with pytest.raises(DreamActorError, match="is not a file in the output folder"):
        signals.LoadMotion.execute(file="../input/mine.json [output]")
