"""Regenerate the UI-format workflows in this folder (what an artist loads, and what ComfyUI lists as templates).

``COMFYUI_PATH=/path/to/ComfyUI python workflows/build.py`` starts a headless ComfyUI
with this pack (``tests/host_harness.py``), reads every node's definition from
``/object_info``, lays each graph below out in columns (boxes sized from each node's
sockets and widgets, so none overlap) and writes ``NAME.json``. The API-format prompt
is made from it when needed (``host_harness.ui_to_api``, as the frontend does); the
real-host test runs every workflow that way. Every ``*.json`` here is served as a
template, so nothing else may be written into this folder.
"""
from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from host_harness import WIDGET_TYPES, ComfyHost  # noqa: E402

DIT = "wan2.2_animate_14B_bf16.safetensors"
DIT_M1 = "dreamactor_m1.safetensors"
VAE = "wan_2.1_vae.safetensors"
UMT5 = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
CLIP_VISION = "clip_vision_h.safetensors"
RELIGHT_LORA = "WanAnimate_relight_lora_fp16.safetensors"  # Wan2.2-Animate's relighting LoRA as safetensors
# Node box sizes in canvas units, from LiteGraph's metrics (title 30, slot row 20, widget row 20 + 4 spacing);
# the frontend enlarges a node that is too small for its contents, which would make neighbours overlap.
NODE_WIDTH = 340
TITLE_H = 30
SLOT_H = 20
WIDGET_H = 24
TEXT_BOX_H = 120  # a multiline text widget
PADDING = 16
GAP = 50
NOTE_SIZE = (760, 360)
# Nodes that show a preview, or (DreamActor nodes) a text box with what they did, below their widgets once
# something is loaded or produced: room is kept for it so a run does not push a node over its neighbour.
INFO_H = 120
PREVIEW_H = {"LoadVideo": 340, "LoadImage": 340, "PreviewImage": 280, "SaveVideo": 320,
             "DreamActorPseudoReferences": 280, "DreamActorExtractMotion": INFO_H, "DreamActorRetargetMotion": INFO_H,
             "DreamActorMotionFromPoseKeypoint": INFO_H, "DreamActorSaveMotion": INFO_H,
             "DreamActorLoadMotion": INFO_H, "DreamActorSampler": INFO_H}

class Graph:
    """A workflow under construction; ``add`` returns the node id, ``out(id, slot)`` names an output."""

    def __init__(self, object_info: dict):
        self.info = object_info
        self.nodes: list[dict] = []
        self.links: list[list] = []

    def add(self, kind: str, values: dict | None = None, **links) -> int:
        """Add a node: ``values`` for widgets (others keep their defaults), ``links`` as ``name=(node, slot)``."""
        info = self.info[kind]
        values = dict(values or {})
        widget_h = 0
        node = {"id": len(self.nodes) + 1, "type": kind, "pos": [0, 0], "size": [NODE_WIDTH, 0], "flags": {},
                "order": len(self.nodes), "mode": 0, "inputs": [], "outputs": [],
                "properties": {"Node name for S&R": kind}, "widgets_values": []}
        for section in ("required", "optional"):
            for name in info.get("input_order", {}).get(section, []):
                spec, opts = (info["input"][section][name] + [{}])[:2]
                is_widget = (isinstance(spec, list) or spec in WIDGET_TYPES) and not opts.get("forceInput")
                socket_type = "COMBO" if isinstance(spec, list) else spec
                if is_widget:
                    tall = opts.get("multiline") and name not in links
                    widget_h += TEXT_BOX_H if tall else WIDGET_H
                    node["widgets_values"].append(values.pop(name, opts.get("default", _first(spec, opts))))
                    if opts.get("control_after_generate"):
                        node["widgets_values"].append("fixed")
                        widget_h += WIDGET_H
                    if opts.get("image_upload") or opts.get("video_upload") or opts.get("upload"):
                        node["widgets_values"].append("image")
                        widget_h += WIDGET_H
                if name in links or not is_widget:
                    entry = {"name": name, "type": socket_type, "link": None}
                    if is_widget:
                        entry["widget"] = {"name": name}
                    if name in links:
                        src, slot = links.pop(name)
                        entry["link"] = self._link(src, slot, node["id"], len(node["inputs"]), socket_type)
                    node["inputs"].append(entry)
        if values or links:
            raise KeyError(f"{kind} has no inputs {sorted(values) + sorted(links)}")
        for slot, (kind_out, name) in enumerate(zip(info["output"], info["output_name"])):
            node["outputs"].append({"name": name, "type": kind_out, "links": [], "slot_index": slot})
        sockets = max(len([i for i in node["inputs"] if "widget" not in i]), len(node["outputs"]))
        node["size"][1] = sockets * SLOT_H + widget_h + PADDING + PREVIEW_H.get(kind, 0)
        self.nodes.append(node)
        return node["id"]

    def note(self, text: str) -> None:
        self.nodes.append({"id": len(self.nodes) + 1, "type": "MarkdownNote", "pos": [0, 0], "size": list(NOTE_SIZE),
                           "flags": {}, "order": len(self.nodes), "mode": 0, "inputs": [], "outputs": [],
                           "properties": {}, "widgets_values": [text]})

    def _link(self, src: int, slot: int, dst: int, dst_slot: int, kind: str) -> int:
        link_id = len(self.links) + 1
        source = self.nodes[src - 1]["outputs"][slot]
        source["links"].append(link_id)
        self.links.append([link_id, src, slot, dst, dst_slot, source["type"] if kind == "COMBO" else kind])
        return link_id

    def workflow(self, name: str) -> dict:
        """UI-format workflow, nodes placed in columns by their distance from the graph's sources.

        LiteGraph draws a node's title bar above ``pos``, so a node occupies
        ``[x, y - TITLE_H, w, h + TITLE_H]``; columns and rows are spaced from those boxes.
        """
        depth: dict[int, int] = {}
        for node in self.nodes:  # nodes are added after their inputs, so one pass suffices
            sources = [self.links[i["link"] - 1][1] for i in node["inputs"] if i["link"]]
            depth[node["id"]] = 1 + max((depth[s] for s in sources), default=-1)
        columns: dict[int, list[dict]] = {}
        for node in self.nodes:
            if node["type"] != "MarkdownNote":
                columns.setdefault(depth[node["id"]], []).append(node)
        x = 0
        for col in sorted(columns):
            y = TITLE_H
            for node in columns[col]:
                node["pos"] = [x, y]
                y += node["size"][1] + TITLE_H + GAP
            x += max(n["size"][0] for n in columns[col]) + GAP
        for node in self.nodes:  # the note sits above the graph
            if node["type"] == "MarkdownNote":
                node["pos"] = [0, -node["size"][1] - GAP]
        # A stable uuid per workflow: the frontend's schema requires one.
        workflow_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"comfyui-dreamactor/workflows/{name}"))
        return {"id": workflow_id, "revision": 0, "last_node_id": len(self.nodes),
                "last_link_id": len(self.links), "nodes": self.nodes, "links": self.links, "groups": [],
                "config": {}, "extra": {"ds": {"scale": 0.6, "offset": [40, 460]}}, "version": 0.4}


def _first(spec, opts):
    options = spec if isinstance(spec, list) else opts.get("options", [])
    return options[0] if options else None


# --- shared pieces ------------------------------------------------------------------------------
def _inputs(g: Graph, video: str, image: str):
    load = g.add("LoadVideo", {"file": video})
    parts = g.add("GetVideoComponents", video=(load, 0))
    ref = g.add("LoadImage", {"image": image})
    return parts, ref


def _motion(g: Graph, parts: int, ref: int, *, width: int, height: int, style: str):
    drive = g.add("DreamActorExtractMotion", {"person": "largest", "smoothing": 0.5}, images=(parts, 0),
                  fps=(parts, 2))
    target = g.add("DreamActorRetargetMotion", {"bone_scales": ""}, motion=(drive, 0), reference=(ref, 0))
    guide = g.add("DreamActorRenderGuidance", {"width": width, "height": height, "style": style, "aspect": "letterbox"},
                  motion=(target, 0))
    faces = g.add("DreamActorFaceCrops", {"size": 512}, images=(parts, 0), motion=(drive, 0))
    return guide, faces


def _models(g: Graph, ref: int, prompt: str, *, dit: str = DIT, slots: int = 1):
    model = g.add("DreamActorModelLoader", {"model_name": dit, "reference_slots": slots})
    vae = g.add("DreamActorVAELoader", {"vae_name": VAE})
    clip = g.add("CLIPLoader", {"clip_name": UMT5, "type": "wan"})
    pos = g.add("CLIPTextEncode", {"text": prompt}, clip=(clip, 0))
    vision = g.add("CLIPVisionLoader", {"clip_name": CLIP_VISION})
    seen = g.add("CLIPVisionEncode", {"crop": "none"}, clip_vision=(vision, 0), image=(ref, 0))
    return model, vae, dict(positive=(pos, 0), clip_vision_output=(seen, 0))


def _save(g: Graph, vae: int, latent: int, parts: int, prefix: str) -> None:
    frames = g.add("DreamActorDecodeToFrames", vae=(vae, 0), latent=(latent, 0), fps=(parts, 2))
    video = g.add("CreateVideo", images=(frames, 0), fps=(frames, 1), audio=(parts, 1))
    g.add("SaveVideo", {"filename_prefix": prefix}, video=(video, 0))


MODELS_NOTE = (f"Models: **{DIT}** in `models/diffusion_models` (or `models/dreamactor`), **{VAE}** in `models/vae`, "
               f"**{UMT5}** in `models/text_encoders`, **{CLIP_VISION}** in `models/clip_vision`.\n\n"
               "The sampler's `standard` preset samples as Wan2.2-Animate does, at cfg 1, where a negative prompt is "
               "unused, so none is wired: to use one, connect a CLIP Text Encode to the sampler's `negative` and a "
               "**DreamActor Solver Settings** with cfg above 1 to `solver_settings` (about twice the time).")


# --- the workflows ------------------------------------------------------------------------------
def guidance_preview(g: Graph) -> None:
    parts, ref = _inputs(g, "dreamactor_driving.mp4", "dreamactor_reference.png")
    drive = g.add("DreamActorExtractMotion", {"person": "largest", "smoothing": 0.5}, images=(parts, 0),
                  fps=(parts, 2))
    target = g.add("DreamActorRetargetMotion", {"bone_scales": ""}, motion=(drive, 0), reference=(ref, 0))
    guide = g.add("DreamActorRenderGuidance", {"width": 512, "height": 512, "style": "openpose"}, motion=(target, 0))
    video = g.add("CreateVideo", images=(guide, 0), fps=(parts, 2))
    g.add("SaveVideo", {"filename_prefix": "dreamactor/guidance"}, video=(video, 0))
    faces = g.add("DreamActorFaceCrops", {"size": 512}, images=(parts, 0), motion=(drive, 0))
    crops = g.add("CreateVideo", images=(faces, 0), fps=(parts, 2))
    g.add("SaveVideo", {"filename_prefix": "dreamactor/face_crops"}, video=(crops, 0))
    g.add("DreamActorSaveMotion", {"filename_prefix": "dreamactor/motion"}, motion=(target, 0))
    g.note("## DreamActor: driving video -> guidance preview\n\n"
           "1. **Load Video**: the driving video. **Load Image**: the person you will animate.\n"
           "2. **Extract Motion** tracks body, hands, face and head pose; the box under it shows frames, fps and "
           "who was tracked.\n3. **Retarget Motion** rebuilds the motion with the reference's bone lengths "
           "(`thigh=1.2` stretches a bone).\n4. **Render Guidance** draws it as guidance frames: style `openpose`, the "
           "skeleton Wan2.2-Animate was trained on; `dreamactor` draws the 3D skeleton and head sphere that "
           "DreamActor-M1 variants take.\n5. Guidance, face crops and the motion JSON are saved "
           "under `output/dreamactor/`. No model is needed.")


def _full_body(g: Graph, prompt: str, sampler: dict, prefix: str, **settings) -> None:
    parts, ref = _inputs(g, "dreamactor_driving.mp4", "dreamactor_reference.png")
    guide, faces = _motion(g, parts, ref, width=480, height=832, style="openpose")
    model, vae, cond = _models(g, ref, prompt)
    latent = g.add("DreamActorSampler", sampler, model=(model, 0), vae=(vae, 0), reference=(ref, 0),
                   guidance=(guide, 0), face_crops=(faces, 0), **cond, **settings)
    _save(g, vae, latent, parts, prefix)


def full_body_animation(g: Graph) -> None:
    _full_body(g, "a person dancing, full body, smooth natural motion, best quality", {"preset": "standard"},
               "dreamactor/full_body")
    g.note("## DreamActor: full-body animation\n\n" + MODELS_NOTE + "\n\n"
           "Driving video -> Extract Motion -> Retarget Motion (the reference's bone lengths) -> Render Guidance "
           "(`openpose`, the skeleton Wan2.2-Animate was trained on; `dreamactor` for a DreamActor-M1 variant) at the "
           "output size. Face Crops feed the face motion encoder. The prompt and the CLIP vision features of the "
           "reference steer appearance. The result keeps the driving video's fps and audio. "
           "On a 24 GB GPU raise block_swap to about 20.")


def portrait_animation(g: Graph) -> None:
    parts, ref = _inputs(g, "dreamactor_portrait_driving.mp4", "dreamactor_portrait.png")
    guide, faces = _motion(g, parts, ref, width=512, height=512, style="openpose")
    model, vae, cond = _models(g, ref, "a portrait of a person talking, expressive face, sharp eyes, best quality")
    pose = g.add("DreamActorVAEEncode", vae=(vae, 0), images=(guide, 0))
    tokens = g.add("DreamActorFaceMotionEncode", model=(model, 0), face_crops=(faces, 0))
    strengths = g.add("DreamActorStrengthSettings", {"pose_strength": 1.0, "face_strength": 1.0})
    latent = g.add("DreamActorSampler", {"preset": "standard"}, model=(model, 0), vae=(vae, 0), reference=(ref, 0),
                   pose_latents=(pose, 0), face_tokens=(tokens, 0), strength_settings=(strengths, 0), **cond)
    _save(g, vae, latent, parts, "dreamactor/portrait")
    g.note("## DreamActor: portrait animation\n\n" + MODELS_NOTE + "\n\n"
           "A head-and-shoulders reference driven by a talking-head video. Expression comes from the face motion "
           "tokens (**Face Motion Encode** of the driving face crops) and head pose from the guidance, here passed "
           "as **pose latents** (DreamActor VAE Encode of the guidance): both are sampler inputs you can swap for "
           "tokens or latents made elsewhere. Lower pose_strength to let the face lead; raise face_strength for "
           "stronger expressions (both in **Strength Settings**, each with the part of the schedule it acts on).")


def long_video(g: Graph) -> None:
    windows = g.add("DreamActorWindowSettings", {"color_match": 0.5})
    _full_body(g, "a person dancing, full body, consistent clothing and lighting", {"preset": "standard"},
               "dreamactor/long", window_settings=(windows, 0))
    g.note("## DreamActor: long video in windows\n\n" + MODELS_NOTE + "\n\n"
           "Any length: the sampler works in windows of `window` frames (**Window Settings**); each window starts "
           "with the last `motion_frames` frames of the previous one as known frames, so motion continues across "
           "the seam, and `color_match` pulls the carried frames towards the previous window's colours. Memory "
           "does not grow with the length; time grows with the number of windows. Set the sampler's frame_count "
           "to try the first seconds first.")


def pseudo_references(g: Graph) -> None:
    parts, ref = _inputs(g, "dreamactor_driving.mp4", "dreamactor_reference.png")
    guide, faces = _motion(g, parts, ref, width=512, height=512, style="dreamactor")
    model, vae, cond = _models(g, ref, "a person turning around, consistent back view and clothing",
                               dit=DIT_M1, slots=3)
    views = g.add("DreamActorPseudoReferences", {"width": 512, "height": 512, "style": "dreamactor",
                                                 "angles": "-90, 90", "frames": 17, "steps": 20},
                  model=(model, 0), vae=(vae, 0), reference=(ref, 0), **cond)
    g.add("PreviewImage", images=(views, 0))
    latent = g.add("DreamActorSampler", {"preset": "standard"},
                   model=(model, 0), vae=(vae, 0), reference=(ref, 0), guidance=(guide, 0), face_crops=(faces, 0),
                   extra_references=(views, 0), **cond)
    _save(g, vae, latent, parts, "dreamactor/pseudo_refs")
    g.note("## DreamActor: with pseudo-references\n\n"
           f"Models: a DreamActor-M1 variant trained with this pack (**{DIT_M1}**, several reference slots) in "
           f"`models/dreamactor`, plus **{VAE}**, **{UMT5}** and **{CLIP_VISION}** as in the other workflows. "
           "Set reference_slots to the number the checkpoint was trained with (3).\n\n"
           "**Pseudo References** animates the reference through a turn-around built from its own skeleton and "
           "head sphere and keeps the views at the chosen yaw angles; check them in the preview. They fill the "
           "extra reference slots so unseen sides (back, profile) stay consistent. Replace them with your own "
           "images (an IMAGE batch into extra_references) if you have them.")


def character_replacement(g: Graph) -> None:
    parts, ref = _inputs(g, "dreamactor_driving.mp4", "dreamactor_reference.png")
    drive = g.add("DreamActorExtractMotion", {"person": "largest", "smoothing": 0.5}, images=(parts, 0),
                  fps=(parts, 2))
    # Retarget Motion keeps the driver's placement and scale: the new person stands where the driver stood.
    target = g.add("DreamActorRetargetMotion", {"bone_scales": ""}, motion=(drive, 0), reference=(ref, 0))
    guide = g.add("DreamActorRenderGuidance", {"width": 832, "height": 480, "style": "openpose", "aspect": "letterbox"},
                  motion=(target, 0))
    faces = g.add("DreamActorFaceCrops", {"size": 512}, images=(parts, 0), motion=(drive, 0))
    mask = g.add("DreamActorCharacterMask", {"shape": "segmentation", "grow": 8, "feather": 0, "hold": 12},
                 images=(parts, 0), motion=(drive, 0), new_body=(target, 0))
    g.add("PreviewImage", images=(mask, 1))
    model, vae, cond = _models(g, ref, "a person moving naturally in the scene, consistent lighting, best quality")
    relit = g.add("LoraLoaderModelOnly", {"lora_name": RELIGHT_LORA, "strength_model": 1.0}, model=(model, 0))
    latent = g.add("DreamActorSampler", {"preset": "standard"},
                   model=(relit, 0), vae=(vae, 0), reference=(ref, 0), guidance=(guide, 0), face_crops=(faces, 0),
                   background_video=(mask, 2), character_mask=(mask, 0), **cond)
    _save(g, vae, latent, parts, "dreamactor/replace")
    g.note("## DreamActor: character replacement\n\n" + MODELS_NOTE + "\n\n"
           "The reference person takes the driver's place in the driving video's own scene. **Character Mask** "
           "masks the tracked driver (MediaPipe's bundled segmentation refined by the pose; no downloads) and, "
           "through `new_body`, the retargeted body too, so no trace of the driver is left; its `background` "
           "output (the frames blacked out under the mask) and `mask` go to the sampler's `background_video` and "
           "`character_mask`, and *Preview Image* shows the mask over the frames. Any MASK batch works instead "
           "(e.g. SAM masks from other packs), with the frames blacked out under it as the background. Retarget "
           "Motion keeps the driver's placement and scale with the reference's proportions. Set Render Guidance "
           "width/height to the driving video's aspect (832x480 for a landscape clip); another aspect is "
           "letterboxed, the scene and mask alike.\n\n"
           f"Relighting: Wan2.2-Animate's relighting LoRA (**{RELIGHT_LORA}**, a safetensors copy of its "
           "`relighting_lora.ckpt`) in `models/loras` makes the new person take the scene's light; stock "
           "*LoraLoaderModelOnly* loads it like any LoRA. Without the file, bypass that node (Ctrl+B).")


DISTILL_LORA = "lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors"


def distilled_animation(g: Graph) -> None:
    parts, ref = _inputs(g, "dreamactor_driving.mp4", "dreamactor_reference.png")
    guide, faces = _motion(g, parts, ref, width=480, height=832, style="openpose")
    model, vae, cond = _models(g, ref, "a person dancing, full body, smooth natural motion, best quality")
    fast = g.add("LoraLoaderModelOnly", {"lora_name": DISTILL_LORA, "strength_model": 1.0}, model=(model, 0))
    latent = g.add("DreamActorSampler", {"preset": "distilled"}, model=(fast, 0), vae=(vae, 0), reference=(ref, 0),
                   guidance=(guide, 0), face_crops=(faces, 0), **cond)
    _save(g, vae, latent, parts, "dreamactor/distilled")
    g.note("## DreamActor: fast distilled animation (4 steps)\n\n" + MODELS_NOTE.split("\n\n")[0] + "\n\n"
           f"LoRA: **{DISTILL_LORA}** (the Wan2.1-I2V-14B step-distill LoRA of the lightx2v family; any rank "
           "works) in `models/loras`. Stock **LoraLoaderModelOnly** applies it to the model at strength 1.\n\n"
           "The sampler's `distilled` preset runs the schedule the LoRA was made for: 4 Euler steps at shift 5 and "
           "cfg 1, one model call per step: a fifth of the `standard` preset's 20 steps. No negative "
           "prompt is used at cfg 1. For 6 or 8 steps, connect a **DreamActor Solver Settings** (euler, shift 5, "
           "cfg 1) to `solver_settings`. Without the LoRA, use the `standard` preset: 4 steps of the plain model "
           "give a blurred video.")


WORKFLOWS = {
    "dreamactor_guidance_preview": guidance_preview,
    "dreamactor_full_body_animation": full_body_animation,
    "dreamactor_portrait_animation": portrait_animation,
    "dreamactor_long_video_windows": long_video,
    "dreamactor_pseudo_references": pseudo_references,
    "dreamactor_character_replacement": character_replacement,
    "dreamactor_distilled_animation": distilled_animation,
}


def main() -> None:
    with ComfyHost(os.environ["COMFYUI_PATH"]) as host:
        info = host.object_info()
    for name, build in WORKFLOWS.items():
        g = Graph(info)
        build(g)
        ui = g.workflow(name)
        (HERE / f"{name}.json").write_text(json.dumps(ui, indent=1) + "\n")
        print(f"wrote {name}: {len(ui['nodes'])} nodes, {len(ui['links'])} links")


if __name__ == "__main__":
    main()
