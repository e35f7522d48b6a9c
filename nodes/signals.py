"""Motion signal nodes: extract, convert, retarget, render, crop faces, save and load.

Each node describes its inputs and calls ``dreamactor_core.signals``; the core
modules are imported when a node runs, so the pack loads even if an optional
part of the core cannot be imported on this machine.
"""
from __future__ import annotations

import os
import re

from comfy_api.latest import io, ui

from dreamactor_core.signals.motion import Motion as MotionData
from dreamactor_core.utils import DreamActorError

from . import host
from .types import Motion, PoseKeypoint, image_to_uint8, motion_summary, to_image

CATEGORY = "DreamActor/signals"
ASPECTS = ["letterbox", "crop", "stretch"]
PERSONS = ["largest", "0", "1", "2", "3", "4", "5"]
ASPECT_TOOLTIP = ("How the driving video's framing is fitted into width x height: letterbox keeps everything and pads, "
                  "crop fills the frame and cuts the overflow, stretch distorts. Use the same choice everywhere so "
                  "guidance and reference line up pixel for pixel.")


MOTION_OUT = ("The tracked person's motion: 2D and 3D body landmarks, hands, face, head pose and gaze per frame "
              "(DREAMACTOR_MOTION). Connect it to Retarget Motion, Render Guidance, Face Crops or Save Motion.")


def _motion_ui(motion: MotionData) -> ui.PreviewText:
    return ui.PreviewText(motion_summary(motion))


class ExtractMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorExtractMotion",
            display_name="DreamActor Extract Motion",
            category=CATEGORY,
            description="Tracks one person through a video with MediaPipe (body 3D, hands, face with iris) and "
                        "returns their motion: landmarks, head pose and gaze per frame, with short gaps filled in.",
            inputs=[
                io.Image.Input("images", tooltip="Driving video frames (an IMAGE batch, e.g. from Get Video Components)."),
                io.Float.Input("fps", default=25.0, min=0.1, max=240.0, step=0.01,
                               tooltip="Frame rate of the driving video; carried along to the output video."),
                io.Combo.Input("person", options=PERSONS, default="largest",
                               tooltip="Which person to follow when several are visible: the largest one, or the "
                                       "n-th from the left (0 = leftmost) where they first appear. The choice is "
                                       "shown under the node."),
                io.Float.Input("smoothing", default=0.5, min=0.0, max=1.0, step=0.05,
                               tooltip="Temporal smoothing strength (0 = raw landmarks). Higher removes more jitter; "
                                       "a centred fit, so fast moves neither lag nor lose their turning points."),
            ],
            outputs=[Motion.Output(display_name="motion", tooltip=MOTION_OUT)],
        )

    @classmethod
    def execute(cls, images, fps, person, smoothing) -> io.NodeOutput:
        from dreamactor_core.signals.extract import extract_motion

        frames = image_to_uint8(images, "images")
        with host.node_errors("DreamActor Extract Motion", "images"):
            motion = extract_motion(frames, float(fps), person=person if person == "largest" else int(person),
                                    smoothing=float(smoothing), progress=host.progress_callback(),
                                    cancel=host.cancel_callback(), name="images")
        return io.NodeOutput(motion, ui=_motion_ui(motion))


class MotionFromPoseKeypoint(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorMotionFromPoseKeypoint",
            display_name="DreamActor Motion from POSE_KEYPOINT",
            category=CATEGORY,
            description="Converts OpenPose-format keypoints (POSE_KEYPOINT from the DWPose / OpenPose nodes of "
                        "comfyui_controlnet_aux) into a DreamActor motion. It is 2D only: depth is estimated.",
            inputs=[
                PoseKeypoint.Input("pose_keypoint", tooltip="POSE_KEYPOINT list, one entry per frame."),
                io.Float.Input("fps", default=25.0, min=0.1, max=240.0, step=0.01,
                               tooltip="Frame rate of the video the keypoints came from."),
            ],
            outputs=[Motion.Output(display_name="motion", tooltip="The keypoints as a motion (2D; depth estimated), "
                                                                  "ready for Retarget Motion or Render Guidance.")],
        )

    @classmethod
    def execute(cls, pose_keypoint, fps) -> io.NodeOutput:
        from dreamactor_core.signals.openpose import motion_from_pose_keypoint

        with host.node_errors("DreamActor Motion from POSE_KEYPOINT", "pose_keypoint"):
            motion = motion_from_pose_keypoint(pose_keypoint, float(fps))
        return io.NodeOutput(motion, ui=_motion_ui(motion))


class MotionToPoseKeypoint(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorMotionToPoseKeypoint",
            display_name="DreamActor Motion to POSE_KEYPOINT",
            category=CATEGORY,
            description="Converts a DreamActor motion to OpenPose-format keypoints (18-point body, 70-point face, "
                        "21-point hands), for nodes that take POSE_KEYPOINT.",
            inputs=[Motion.Input("motion", tooltip="Motion from Extract Motion, Retarget Motion or Load Motion.")],
            outputs=[PoseKeypoint.Output(display_name="pose_keypoint",
                                         tooltip="OpenPose JSON, one entry per frame, in pixels of the motion's "
                                                 "frame size (as DWPose writes it).")],
        )

    @classmethod
    def execute(cls, motion) -> io.NodeOutput:
        from dreamactor_core.signals.openpose import motion_to_pose_keypoint

        with host.node_errors("DreamActor Motion to POSE_KEYPOINT", "motion"):
            return io.NodeOutput(motion_to_pose_keypoint(motion))


def parse_bone_scales(text: str) -> dict[str, float]:
    """``"thigh=1.2, shin: 1.1"`` -> ``{"thigh": 1.2, "shin": 1.1}``; errors name the ``bone_scales`` input."""
    scales: dict[str, float] = {}
    for item in re.split(r"[,;\n]+", text or ""):
        item = item.strip()
        if not item:
            continue
        match = re.fullmatch(r"([A-Za-z_][\w]*)\s*[=:]\s*([-+0-9.eE]+)", item)
        if match is None:
            raise DreamActorError(f"bone_scales: cannot read '{item}'; write name=scale pairs such as 'thigh=1.2, shin=1.1'")
        value = float(match.group(2))
        if not 0.1 <= value <= 10.0:
            raise DreamActorError(f"bone_scales: scale {value} for '{match.group(1)}' is outside 0.1..10")
        scales[match.group(1)] = value
    return scales


class RetargetMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorRetargetMotion",
            display_name="DreamActor Retarget Motion",
            category=CATEGORY,
            description="Rebuilds the driving motion with the reference person's bone lengths (measured on the "
                        "reference image), keeping feet on the ground and scaling the root path to the body size.",
            inputs=[
                Motion.Input("motion", tooltip="Driving motion."),
                io.Image.Input("reference", tooltip="The reference image of the person to animate (first image is used)."),
                io.String.Input("bone_scales", default="", multiline=False, optional=True,
                                tooltip="Optional extra scaling of single bones, e.g. 'thigh=1.2, shin=1.2' for "
                                        "longer legs on a stylized character. Names: torso, neck, shoulder_width, "
                                        "hip_width, head, upper_arm, forearm, thigh, shin, foot, heel, hand; prefix "
                                        "left_ or right_ for one side. Empty keeps the reference's lengths."),
            ],
            outputs=[Motion.Output(display_name="motion", tooltip="The driving motion with the reference's bone "
                                                                  "lengths, placed where the reference stands.")],
        )

    @classmethod
    def execute(cls, motion, reference, bone_scales="") -> io.NodeOutput:
        from dreamactor_core.signals.extract import extract_motion
        from dreamactor_core.signals.retarget import retarget_motion

        node = "DreamActor Retarget Motion"
        with host.node_errors(node, "bone_scales"):
            scales = parse_bone_scales(bone_scales)
        ref_frames = image_to_uint8(reference[:1], "reference")
        with host.node_errors(node, "reference"):
            ref_motion = extract_motion(ref_frames, motion.fps, cancel=host.cancel_callback(), name="reference")
        with host.node_errors(node, "motion"):
            out = retarget_motion(motion, ref_motion, bone_scales=scales or None)
        return io.NodeOutput(out, ui=_motion_ui(out))


class RenderGuidance(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorRenderGuidance",
            display_name="DreamActor Render Guidance",
            category=CATEGORY,
            description="Draws the motion as guidance frames: the DreamActor 3D skeleton with head sphere, or the "
                        "OpenPose-like skeleton Wan2.2-Animate's pose branch was trained on.",
            inputs=[
                Motion.Input("motion", tooltip="Motion to draw (usually retargeted to the reference)."),
                io.Int.Input("width", default=512, min=16, max=4096, step=16, tooltip="Output width in pixels."),
                io.Int.Input("height", default=512, min=16, max=4096, step=16, tooltip="Output height in pixels."),
                io.Combo.Input("style", options=["openpose", "dreamactor"], default="openpose",
                               tooltip="openpose: the skeleton on black that Wan2.2-Animate was trained on (use it with "
                                       "Wan2.2-Animate). dreamactor: depth-aware 3D skeleton (left/right coloured, near "
                                       "over far) and head sphere, for DreamActor-M1 variants trained with this pack."),
                io.Combo.Input("aspect", options=ASPECTS, default="letterbox", tooltip=ASPECT_TOOLTIP),
            ],
            outputs=[io.Image.Output(display_name="guidance", tooltip="Guidance frames (IMAGE batch, width x height), "
                                                                      "one per motion frame, for the sampler.")],
        )

    @classmethod
    def execute(cls, motion, width, height, style, aspect) -> io.NodeOutput:
        from dreamactor_core.signals.render_dreamactor import render_guidance

        node = "DreamActor Render Guidance"
        width, height = host.check_pixels(node, "width", width), host.check_pixels(node, "height", height)
        with host.node_errors(node, "motion"):
            frames = render_guidance(motion, width, height, style=style, aspect=aspect,
                                     progress=host.progress_callback(), cancel=host.cancel_callback())
        return io.NodeOutput(to_image(frames))


class FaceCrops(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorFaceCrops",
            display_name="DreamActor Face Crops",
            category=CATEGORY,
            description="Crops the face in every frame around the tracked head, with a margin and a box stabilized "
                        "over time, for the face motion encoder.",
            inputs=[
                io.Image.Input("images", tooltip="The driving video frames the motion was extracted from."),
                Motion.Input("motion", tooltip="Motion of the same frames (its head track places the crops)."),
                io.Combo.Input("size", options=[512, 224], default=512,
                               tooltip="Crop size in pixels: 512 for Wan2.2-Animate's face encoder, 224 as an option."),
            ],
            outputs=[io.Image.Output(display_name="face_crops", tooltip="Square face crops (IMAGE batch, size x size), "
                                                                        "one per frame, for the face motion encoder.")],
        )

    @classmethod
    def execute(cls, images, motion, size) -> io.NodeOutput:
        from dreamactor_core.signals.face_crops import crop_faces

        size = host.check_pixels("DreamActor Face Crops", "size", size)
        frames = image_to_uint8(images, "images")
        with host.node_errors("DreamActor Face Crops", "motion"):
            crops = crop_faces(frames, motion, size=int(size), progress=host.progress_callback(),
                               cancel=host.cancel_callback())
        return io.NodeOutput(to_image(crops))


def _safe_prefix(prefix: str) -> str:
    """A relative path under the output folder (no absolute paths, no '..')."""
    parts = [p for p in re.split(r"[\\/]+", prefix.strip()) if p not in ("", ".", "..")]
    if not parts:
        raise DreamActorError("filename_prefix: give a name such as 'dreamactor/motion'")
    return os.path.join(*parts)


class SaveMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorSaveMotion",
            display_name="DreamActor Save Motion",
            category=CATEGORY,
            description="Saves a motion as JSON in ComfyUI's output folder, to share it or reuse it with Load Motion.",
            inputs=[
                Motion.Input("motion", tooltip="Motion to save."),
                io.String.Input("filename_prefix", default="dreamactor/motion",
                                tooltip="Path under the output folder; a counter and .json are appended."),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, motion, filename_prefix) -> io.NodeOutput:
        with host.node_errors("DreamActor Save Motion", "filename_prefix"):
            stem = os.path.join(host.output_dir(), _safe_prefix(filename_prefix))
        os.makedirs(os.path.dirname(stem), exist_ok=True)
        counter = 1
        while os.path.exists(f"{stem}_{counter:05}.json"):
            counter += 1
        path = f"{stem}_{counter:05}.json"
        with open(path, "w", encoding="utf-8") as f:
            f.write(motion.to_json())
        rel = os.path.relpath(path, host.output_dir()).replace(os.sep, "/")
        return io.NodeOutput(ui=ui.PreviewText(f"saved {rel}\n{motion_summary(motion)}"))


# Load Motion lists motion files of both folders; output files carry ComfyUI's " [output]" annotation (as
# Load Image does for outputs), so Save Motion's files can be loaded without copying them.
OUTPUT_MARK = " [output]"


def _json_files(root: str) -> list[str]:
    names = []
    for base, _, files in os.walk(root):
        names += [os.path.relpath(os.path.join(base, f), root).replace(os.sep, "/")
                  for f in files if f.lower().endswith(".json")]
    return sorted(names)


def _motion_files() -> list[str]:
    """Every .json under the input folder, then every .json under the output folder marked ``[output]``."""
    return _json_files(host.input_dir()) + [name + OUTPUT_MARK for name in _json_files(host.output_dir())]


class LoadMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorLoadMotion",
            display_name="DreamActor Load Motion",
            category=CATEGORY,
            description="Loads a motion JSON (written by Save Motion or python -m dreamactor_core extract) from "
                        "ComfyUI's input or output folder; the 'upload motion' button copies a file into input.",
            inputs=[io.Combo.Input("file", options=_motion_files(),
                                   tooltip="A .json file in ComfyUI's input folder, or in its output folder (marked "
                                           "[output]: what Save Motion wrote), subfolders included. Press R to "
                                           "refresh the list, or upload a file with the button below.")],
            outputs=[Motion.Output(display_name="motion", tooltip=MOTION_OUT)],
        )

    @classmethod
    def _path(cls, file: str) -> str:
        folder = "output" if file.endswith(OUTPUT_MARK) else "input"
        name = file[:-len(OUTPUT_MARK)] if folder == "output" else file
        root = os.path.realpath(host.output_dir() if folder == "output" else host.input_dir())
        path = os.path.realpath(os.path.join(root, name))
        if not path.startswith(root + os.sep) or not os.path.isfile(path):
            raise DreamActorError(f"DreamActor Load Motion, input 'file': '{name}' is not a file in the {folder} "
                                  f"folder ({root}); pick one from the list or upload it")
        return path

    @classmethod
    def fingerprint_inputs(cls, file):
        path = cls._path(file)
        return os.path.getmtime(path), os.path.getsize(path)

    @classmethod
    def execute(cls, file) -> io.NodeOutput:
        path = cls._path(file)
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
        try:
            motion = MotionData.from_json(text)
        except (ValueError, KeyError, TypeError) as err:  # json.JSONDecodeError is a ValueError
            raise DreamActorError(f"DreamActor Load Motion, input 'file': {file} is not a motion file ({err})") from err
        return io.NodeOutput(motion, ui=_motion_ui(motion))


NODES = [ExtractMotion, MotionFromPoseKeypoint, MotionToPoseKeypoint, RetargetMotion, RenderGuidance,
         FaceCrops, SaveMotion, LoadMotion]
