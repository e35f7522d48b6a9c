"""Regenerate the workflows in this folder: UI format (what an artist loads) and API twins.

``COMFYUI_PATH=/path/to/ComfyUI python workflows/build.py`` starts a headless ComfyUI
with this pack (``tests/host_harness.py``), reads every node's definition from
``/object_info``, lays each graph below out in columns and writes
``NAME.json`` (UI format: nodes, sockets, links, widget values) and
``NAME.api.json`` (the same graph as the frontend would queue it). The real-host
test checks that the two still agree and runs every API twin.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from host_harness import WIDGET_TYPES, ComfyHost, ui_to_api  # noqa: E402

DIT = "wan2.2_animate_14B_bf16.safetensors"
DIT_M1 = "dreamactor_m1.safetensors"
VAE = "wan_2.1_vae.safetensors"
UMT5 = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
CLIP_VISION = "clip_vision_h.safetensors"
NEGATIVE = ("blurry, static, low quality, jpeg artifacts, deformed, extra fingers, fused fingers, bad hands, "
            "bad face, flicker")


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
        node = {"id": len(self.nodes) + 1, "type": kind, "pos": [0, 0], "size": [320, 140], "flags": {},
                "order": len(self.nodes), "mode": 0, "inputs": [], "outputs": [],
                "properties": {"Node name for S&R": kind}, "widgets_values": []}
        for section in ("required", "optional"):
            for name in info.get("input_order", {}).get(section, []):
                spec, opts = (info["input"][section][name] + [{}])[:2]
                is_widget = (isinstance(spec, list) or spec in WIDGET_TYPES) and not opts.get("forceInput")
                socket_type = "COMBO" if isinstance(spec, list) else spec
                if is_widget:
                    node["widgets_values"].append(values.pop(name, opts.get("default", _first(spec, opts))))
                    if opts.get("control_after_generate"):
                        node["widgets_values"].append("fixed")
                    if opts.get("image_upload") or opts.get("video_upload") or opts.get("upload"):
                        node["widgets_values"].append("image")
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
        self.nodes.append(node)
        return node["id"]

    def note(self, text: str) -> None:
        self.nodes.append({"id": len(self.nodes) + 1, "type": "MarkdownNote", "pos": [0, -380], "size": [700, 340],
                           "flags": {}, "order": len(self.nodes), "mode": 0, "inputs": [], "outputs": [],
                           "properties": {}, "widgets_values": [text]})

    def _link(self, src: int, slot: int, dst: int, dst_slot: int, kind: str) -> int:
        link_id = len(self.links) + 1
        source = self.nodes[src - 1]["outputs"][slot]
        source["links"].append(link_id)
        self.links.append([link_id, src, slot, dst, dst_slot, source["type"] if kind == "COMBO" else kind])
        return link_id

    def workflow(self, name: str) -> dict:
        """UI-format workflow, nodes placed in columns by their distance from the graph's sources."""
        depth: dict[int, int] = {}
        for node in self.nodes:  # nodes are added after their inputs, so one pass suffices
            sources = [self.links[i["link"] - 1][1] for i in node["inputs"] if i["link"]]
            depth[node["id"]] = 1 + max((depth[s] for s in sources), default=-1)
        rows: dict[int, int] = {}
        for node in self.nodes:
            if node["type"] == "MarkdownNote":
                continue
            col = depth[node["id"]]
            node["pos"] = [col * 380, rows.get(col, 0)]
            rows[col] = rows.get(col, 0) + 60 + 26 * (len(node["inputs"]) + len(node["widgets_values"]))
        return {"id": f"dreamactor-{name}", "revision": 0, "last_node_id": len(self.nodes),
                "last_link_id": len(self.links), "nodes": self.nodes, "links": self.links, "groups": [],
                "config": {}, "extra": {"ds": {"scale": 0.7, "offset": [40, 420]}}, "version": 0.4}


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
    neg = g.add("CLIPTextEncode", {"text": NEGATIVE}, clip=(clip, 0))
    vision = g.add("CLIPVisionLoader", {"clip_name": CLIP_VISION})
    seen = g.add("CLIPVisionEncode", {"crop": "none"}, clip_vision=(vision, 0), image=(ref, 0))
    return model, vae, dict(positive=(pos, 0), negative=(neg, 0), clip_vision_output=(seen, 0))


def _save(g: Graph, vae: int, latent: int, parts: int, prefix: str) -> None:
    frames = g.add("DreamActorDecodeToFrames", vae=(vae, 0), latent=(latent, 0))
    video = g.add("CreateVideo", images=(frames, 0), fps=(frames, 1), audio=(parts, 1))
    g.add("SaveVideo", {"filename_prefix": prefix}, video=(video, 0))


MODELS_NOTE = (f"Models: **{DIT}** in `models/diffusion_models` (or `models/dreamactor`), **{VAE}** in `models/vae`, "
               f"**{UMT5}** in `models/text_encoders`, **{CLIP_VISION}** in `models/clip_vision`.")


# --- the workflows ------------------------------------------------------------------------------
def guidance_preview(g: Graph) -> None:
    parts, ref = _inputs(g, "dreamactor_driving.mp4", "dreamactor_reference.png")
    drive = g.add("DreamActorExtractMotion", {"person": "largest", "smoothing": 0.5}, images=(parts, 0),
                  fps=(parts, 2))
    target = g.add("DreamActorRetargetMotion", {"bone_scales": ""}, motion=(drive, 0), reference=(ref, 0))
    guide = g.add("DreamActorRenderGuidance", {"width": 512, "height": 512, "style": "dreamactor"}, motion=(target, 0))
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
           "(`thigh=1.2` stretches a bone).\n4. **Render Guidance** draws the 3D skeleton and head sphere "
           "(style `openpose`: Wan2.2-Animate's skeleton).\n5. Guidance, face crops and the motion JSON are saved "
           "under `output/dreamactor/`. No model is needed.")


def _full_body(g: Graph, prompt: str, sampler: dict, prefix: str) -> None:
    parts, ref = _inputs(g, "dreamactor_driving.mp4", "dreamactor_reference.png")
    guide, faces = _motion(g, parts, ref, width=480, height=832, style="openpose")
    model, vae, cond = _models(g, ref, prompt)
    latent = g.add("DreamActorSampler", sampler, model=(model, 0), vae=(vae, 0), reference=(ref, 0),
                   guidance=(guide, 0), face_crops=(faces, 0), fps=(parts, 2), **cond)
    _save(g, vae, latent, parts, prefix)


def full_body_animation(g: Graph) -> None:
    _full_body(g, "a person dancing, full body, smooth natural motion, best quality",
               {"window": 77, "motion_frames": 5, "steps": 20}, "dreamactor/full_body")
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
    latent = g.add("DreamActorSampler", {"window": 77, "motion_frames": 5, "steps": 20, "face_strength": 1.0},
                   model=(model, 0), vae=(vae, 0), reference=(ref, 0), pose_latents=(pose, 0),
                   face_tokens=(tokens, 0), fps=(parts, 2), **cond)
    _save(g, vae, latent, parts, "dreamactor/portrait")
    g.note("## DreamActor: portrait animation\n\n" + MODELS_NOTE + "\n\n"
           "A head-and-shoulders reference driven by a talking-head video. Expression comes from the face motion "
           "tokens (**Face Motion Encode** of the driving face crops) and head pose from the guidance, here passed "
           "as **pose latents** (DreamActor VAE Encode of the guidance): both are sampler inputs you can swap for "
           "tokens or latents made elsewhere. Lower pose_strength to let the face lead; raise face_strength for "
           "stronger expressions.")


def long_video(g: Graph) -> None:
    _full_body(g, "a person dancing, full body, consistent clothing and lighting",
               {"window": 77, "motion_frames": 5, "color_match": 0.5, "steps": 20}, "dreamactor/long")
    g.note("## DreamActor: long video in windows\n\n" + MODELS_NOTE + "\n\n"
           "Any length: the sampler works in windows of `window` frames (77); each window starts with the last "
           "`motion_frames` (5) frames of the previous one as known frames, so motion continues across the seam, "
           "and `color_match` pulls each window's colours towards the previous one. Memory does not grow with the "
           "length; time grows with the number of windows. Set frame_count to try the first seconds first.")


def pseudo_references(g: Graph) -> None:
    parts, ref = _inputs(g, "dreamactor_driving.mp4", "dreamactor_reference.png")
    guide, faces = _motion(g, parts, ref, width=512, height=512, style="dreamactor")
    model, vae, cond = _models(g, ref, "a person turning around, consistent back view and clothing",
                               dit=DIT_M1, slots=3)
    views = g.add("DreamActorPseudoReferences", {"width": 512, "height": 512, "style": "dreamactor",
                                                 "angles": "-90, 90", "frames": 17, "steps": 20},
                  model=(model, 0), vae=(vae, 0), reference=(ref, 0), **cond)
    g.add("PreviewImage", images=(views, 0))
    latent = g.add("DreamActorSampler", {"window": 77, "motion_frames": 5, "steps": 20},
                   model=(model, 0), vae=(vae, 0), reference=(ref, 0), guidance=(guide, 0), face_crops=(faces, 0),
                   extra_references=(views, 0), fps=(parts, 2), **cond)
    _save(g, vae, latent, parts, "dreamactor/pseudo_refs")
    g.note("## DreamActor: with pseudo-references\n\n"
           f"Models: a DreamActor-M1 variant trained with this pack (**{DIT_M1}**, several reference slots) in "
           f"`models/dreamactor`, plus **{VAE}**, **{UMT5}** and **{CLIP_VISION}** as in the other workflows. "
           "Set reference_slots to the number the checkpoint was trained with (3).\n\n"
           "**Pseudo References** animates the reference through a turn-around built from its own skeleton and "
           "head sphere and keeps the views at the chosen yaw angles; check them in the preview. They fill the "
           "extra reference slots so unseen sides (back, profile) stay consistent. Replace them with your own "
           "images (an IMAGE batch into extra_references) if you have them.")


WORKFLOWS = {
    "dreamactor_guidance_preview": guidance_preview,
    "dreamactor_full_body_animation": full_body_animation,
    "dreamactor_portrait_animation": portrait_animation,
    "dreamactor_long_video_windows": long_video,
    "dreamactor_pseudo_references": pseudo_references,
}


def main() -> None:
    with ComfyHost(os.environ["COMFYUI_PATH"]) as host:
        info = host.object_info()
    for name, build in WORKFLOWS.items():
        g = Graph(info)
        build(g)
        ui = g.workflow(name)
        (HERE / f"{name}.json").write_text(json.dumps(ui, indent=1) + "\n")
        (HERE / f"{name}.api.json").write_text(json.dumps(ui_to_api(ui, info), indent=1) + "\n")
        print(f"wrote {name}: {len(ui['nodes'])} nodes, {len(ui['links'])} links")


if __name__ == "__main__":
    main()
