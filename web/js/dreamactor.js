// ComfyUI-DreamActor frontend: colours DreamActor nodes by family, shows the motion
// summary a node sends back (frames, fps, size, tracked person, gaps) in a read-only
// text box under the node, and lets Load Motion upload a motion file and see what
// Save Motion has just written.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { ComfyWidgets } from "../../scripts/widgets.js";

const FAMILY_COLOURS = {
  "DreamActor/signals": { color: "#2a4d3e", bgcolor: "#3b6b56" },
  "DreamActor/model": { color: "#2c3e63", bgcolor: "#3d5488" },
  "DreamActor/sampling": { color: "#5a3d22", bgcolor: "#7d5630" },
};
const LOAD_MOTION = "DreamActorLoadMotion";
// The model socket type the pack used before it took ComfyUI's own MODEL.
const REMOVED_MODEL_TYPE = "DREAMACTOR_MODEL";
const SAVE_MOTION = "DreamActorSaveMotion";

// Grow a node to fit its contents, never shrink it: the artist's (or the workflow's)
// width keeps titles and labels readable.
function growToFit(node) {
  const need = node.computeSize?.();
  if (!need || !node.size) return;
  const width = Math.max(node.size[0], need[0]);
  const height = Math.max(node.size[1], need[1]);
  if (width !== node.size[0] || height !== node.size[1]) node.setSize([width, height]);
}

function showInfo(node, text) {
  let widget = node.widgets?.find((w) => w.name === "dreamactor_info");
  if (!widget) {
    widget = ComfyWidgets["STRING"](node, "dreamactor_info", ["STRING", { multiline: true }], app).widget;
    widget.inputEl.readOnly = true;
    widget.inputEl.style.opacity = 0.8;
    widget.serialize = false; // display only: never saved into the workflow's widget values
  }
  widget.value = text;
  growToFit(node);
  app.graph?.setDirtyCanvas(true, false);
}

// The motion files the server lists now (input folder, then output folder marked "[output]").
async function motionFiles() {
  const response = await api.fetchApi(`/object_info/${LOAD_MOTION}`);
  if (!response.ok) return null;
  const spec = (await response.json())[LOAD_MOTION]?.input?.required?.file;
  if (!spec) return null;
  return Array.isArray(spec[0]) ? spec[0] : spec[1]?.options ?? null;
}

// Give every Load Motion node (and `extra`, one being created) the current list: node definitions are
// read once when the page opens, so without this a file saved or uploaded since would not be offered.
async function refreshMotionLists(extra = null) {
  const files = await motionFiles();
  if (!files) return;
  const nodes = (app.graph?._nodes ?? []).filter((node) => node.type === LOAD_MOTION);
  if (extra && !nodes.includes(extra)) nodes.push(extra);
  for (const node of nodes) {
    const widget = node.widgets?.find((w) => w.name === "file");
    if (widget) widget.options.values = files;
  }
}

function addUploadButton(node) {
  const fileWidget = node.widgets?.find((w) => w.name === "file");
  if (!fileWidget) return;
  const picker = document.createElement("input");
  picker.type = "file";
  picker.accept = ".json,application/json";
  picker.style.display = "none";
  document.body.append(picker);
  picker.onchange = async () => {
    const file = picker.files?.[0];
    picker.value = "";
    if (!file) return;
    const body = new FormData();
    body.append("image", file); // ComfyUI's upload route takes any file under this field name
    body.append("type", "input");
    const response = await api.fetchApi("/upload/image", { method: "POST", body });
    if (!response.ok) {
      alert(`DreamActor Load Motion: upload of ${file.name} failed (${response.status} ${response.statusText})`);
      return;
    }
    const saved = await response.json();
    const name = saved.subfolder ? `${saved.subfolder}/${saved.name}` : saved.name;
    await refreshMotionLists();
    if (!fileWidget.options.values.includes(name)) fileWidget.options.values.push(name);
    fileWidget.value = name;
    fileWidget.callback?.(name);
    app.graph?.setDirtyCanvas(true, false);
  };
  const button = node.addWidget("button", "upload motion", null, () => picker.click());
  button.serialize = false; // a button holds no value
  const onRemoved = node.onRemoved;
  node.onRemoved = function () {
    picker.remove();
    return onRemoved?.apply(this, arguments);
  };
}

// A workflow saved before the pack used ComfyUI's MODEL socket still names the removed type on its
// links and sockets; the frontend would then refuse to connect a stock MODEL there. Rename it in place
// (the nodes are the same, only the socket's name changed) and return how many places changed.
function migrateRemovedModelType(graph) {
  let changed = 0;
  const rename = (slot) => {
    if (slot?.type === REMOVED_MODEL_TYPE) {
      slot.type = "MODEL";
      changed += 1;
    }
  };
  for (const link of graph?.links ?? []) {
    if (Array.isArray(link) && link[5] === REMOVED_MODEL_TYPE) {
      link[5] = "MODEL";
      changed += 1;
    } else rename(link);
  }
  for (const node of graph?.nodes ?? []) {
    (node.inputs ?? []).forEach(rename);
    (node.outputs ?? []).forEach(rename);
  }
  for (const sub of graph?.definitions?.subgraphs ?? []) changed += migrateRemovedModelType(sub);
  return changed;
}

app.registerExtension({
  name: "DreamActor.Nodes",
  beforeConfigureGraph(graphData) {
    const changed = migrateRemovedModelType(graphData);
    if (!changed) return;
    const detail = `This workflow was saved with the DreamActor model socket ${REMOVED_MODEL_TYPE}, which is now ` +
      "ComfyUI's own MODEL. Its model links were updated (" + changed + " places); save the workflow to keep " +
      "the change. Load Diffusion Model and LoRA loaders can now feed the DreamActor Sampler.";
    console.info(`[DreamActor] ${detail}`);
    window.__dreamactorMigration = { changed, detail };
    app.extensionManager?.toast?.add({ severity: "info", summary: "DreamActor: model socket updated", detail,
      life: 15000 });
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!nodeData.name?.startsWith("DreamActor")) return;
    const family = FAMILY_COLOURS[nodeData.category];

    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = onNodeCreated?.apply(this, arguments);
      if (family) {
        this.color = family.color;
        this.bgcolor = family.bgcolor;
      }
      if (nodeData.name === LOAD_MOTION) {
        addUploadButton(this);
        refreshMotionLists(this);
      }
      return r;
    };

    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const text = message?.text;
      if (text) showInfo(this, Array.isArray(text) ? text.join("\n") : String(text));
      if (nodeData.name === SAVE_MOTION) refreshMotionLists();
    };
  },
});
