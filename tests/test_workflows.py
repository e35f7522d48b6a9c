"""The shipped workflows as the frontend sees them: valid ids, no overlapping boxes, only UI files
in workflows/ (every .json there is served as a template), and they use what they wire."""
from __future__ import annotations

import itertools
import json
import uuid
from pathlib import Path

import pytest

import nodes
from dreamactor_core.sampling.presets import preset
from host_harness import ui_to_api

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
FILES = sorted(WORKFLOWS.glob("*.json"))
TITLE_H = 30  # LiteGraph draws a node's title bar above its pos


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _boxes(workflow: dict) -> dict[int, tuple[float, float, float, float]]:
    return {n["id"]: (n["pos"][0], n["pos"][1] - TITLE_H, n["size"][0], n["size"][1] + TITLE_H)
            for n in workflow["nodes"]}


def overlapping(boxes: dict) -> list[tuple]:
    """Pairs of boxes ``(x, y, w, h)`` whose areas intersect (touching edges do not count)."""
    def hit(a, b):
        return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
    return [(i, j) for (i, a), (j, b) in itertools.combinations(boxes.items(), 2) if hit(a, b)]


def _our_object_info() -> dict:
    """``/object_info`` entries of the pack's nodes, built from their schemas (for ``ui_to_api``)."""
    info = {}
    for cls in nodes.NODE_CLASSES:
        schema = cls.GET_SCHEMA()
        entry = json.loads(json.dumps(schema.get_v1_info(cls), default=str))  # lists, as served over HTTP
        entry["input_order"] = {section: list(entry["input"].get(section, {})) for section in ("required", "optional")}
        info[schema.node_id] = entry
    return info


def _our_nodes(workflow: dict) -> dict:
    """The pack's nodes of a workflow in API format: ``{id: {"class_type", "inputs"}}``."""
    ours = dict(workflow, nodes=[n for n in workflow["nodes"] if n["type"].startswith("DreamActor")])
    return ui_to_api(ours, _our_object_info())


def test_only_ui_workflows_are_in_the_folder():
    assert len(FILES) >= 5
    for path in FILES:
        assert not path.name.endswith(".api.json"), f"{path.name}: API prompts are made at test time, not shipped"
        workflow = _load(path)
        assert isinstance(workflow.get("nodes"), list) and "links" in workflow, f"{path.name} is not a UI workflow"


def test_corner_cases_of_the_overlap_check():
    assert overlapping({1: (0, 0, 10, 10), 2: (10, 0, 10, 10)}) == []  # touching
    assert overlapping({1: (0, 0, 10, 10), 2: (9, 9, 10, 10)}) == [(1, 2)]
    assert overlapping({1: (0, 0, 100, 100), 2: (10, 10, 5, 5)}) == [(1, 2)]  # inside


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_workflow_id_is_a_uuid_and_boxes_do_not_overlap(path):
    workflow = _load(path)
    assert str(uuid.UUID(workflow["id"])) == workflow["id"], "the frontend's schema rejects a non-uuid id"
    ids = [n["id"] for n in workflow["nodes"]]
    assert len(ids) == len(set(ids)) and workflow["last_node_id"] >= max(ids)
    clashes = overlapping(_boxes(workflow))
    assert not clashes, f"{path.name}: overlapping nodes {clashes}"
    for node in workflow["nodes"]:
        assert node["size"][0] >= 300 and node["size"][1] >= 40, (path.name, node["type"], node["size"])


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_workflow_uses_what_it_wires(path):
    workflow = _load(path)
    prompt = _our_nodes(workflow)
    for node_id, node in prompt.items():
        inputs = node["inputs"]
        if node["class_type"] != "DreamActorSampler":
            continue
        solver = inputs.get("solver_settings")  # a connected Solver Settings replaces the preset
        cfg = prompt[solver[0]]["inputs"]["cfg"] if solver else preset(inputs["preset"]).cfg
        wired = isinstance(inputs.get("negative"), list)
        assert wired == (cfg > 1), (
            f"{path.name} node {node_id}: cfg {cfg} with negative {'wired' if wired else 'unwired'}; "
            "a negative prompt is used only at cfg > 1")
    # The guidance style is the one the workflow's model was trained on.
    names = {v for n in workflow["nodes"] for v in n.get("widgets_values") or [] if isinstance(v, str)}
    want = "dreamactor" if any("dreamactor_m1" in v for v in names) else "openpose"
    styles = {node_id: n["inputs"]["style"] for node_id, n in prompt.items() if "style" in n["inputs"]}
    assert styles and set(styles.values()) == {want}, (path.name, styles)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_workflow_matches_the_current_node_definitions(path):
    """Each pack node of a shipped workflow has the sockets and widget values its definition has now;
    after changing a node's inputs, regenerate the workflows (workflows/build.py)."""
    info = _our_object_info()
    widget_types = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
    for node in _load(path)["nodes"]:
        if not node["type"].startswith("DreamActor"):
            continue
        spec = info[node["type"]]
        sockets, widgets = [], 0
        for section in ("required", "optional"):
            for name in spec["input_order"][section]:
                kind, opts = spec["input"][section][name]
                if isinstance(kind, list) or kind in widget_types:
                    widgets += 1 + bool(opts.get("control_after_generate"))
                else:
                    sockets.append(name)
        have = [i["name"] for i in node["inputs"] if "widget" not in i]
        assert have == sockets, f"{path.name} node {node['id']} ({node['type']}): sockets {have}, now {sockets}"
        assert len(node["widgets_values"]) == widgets, (
            f"{path.name} node {node['id']} ({node['type']}): {len(node['widgets_values'])} widget values, "
            f"now {widgets}")
        assert [o["name"] for o in node["outputs"]] == spec["output_name"], (path.name, node["type"])


def test_distilled_workflow_loads_the_lora_with_the_stock_node():
    """The fast path: Model Loader -> stock LoraLoaderModelOnly (a lightx2v step-distill file) -> the Sampler on
    the distilled preset, no negative prompt; its note names the LoRA file and its folder."""
    workflow = _load(WORKFLOWS / "dreamactor_distilled_animation.json")
    by_id = {n["id"]: n for n in workflow["nodes"]}
    source = {link[0]: by_id[link[1]] for link in workflow["links"]}
    sampler = next(n for n in workflow["nodes"] if n["type"] == "DreamActorSampler")
    lora = source[next(i["link"] for i in sampler["inputs"] if i["name"] == "model")]
    assert lora["type"] == "LoraLoaderModelOnly"
    lora_file = lora["widgets_values"][0]
    assert "lightx2v" in lora_file and "step_distill" in lora_file
    loader = source[next(i["link"] for i in lora["inputs"] if i["name"] == "model")]
    assert loader["type"] == "DreamActorModelLoader"
    assert _our_nodes(workflow)[str(sampler["id"])]["inputs"]["preset"] == "distilled"
    note = next(n for n in workflow["nodes"] if n["type"] == "MarkdownNote")["widgets_values"][0]
    assert lora_file in note and "models/loras" in note
