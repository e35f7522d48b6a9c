// ComfyUI-DreamActor frontend: colours DreamActor nodes by family and shows the
// motion summary a node sends back (frames, fps, size, tracked person, gaps) in a
// read-only text box under the node.
import { app } from "../../scripts/app.js";
import { ComfyWidgets } from "../../scripts/widgets.js";

const FAMILY_COLOURS = {
  "DreamActor/signals": { color: "#2a4d3e", bgcolor: "#3b6b56" },
  "DreamActor/model": { color: "#2c3e63", bgcolor: "#3d5488" },
  "DreamActor/sampling": { color: "#5a3d22", bgcolor: "#7d5630" },
};

function showInfo(node, text) {
  let widget = node.widgets?.find((w) => w.name === "dreamactor_info");
  if (!widget) {
    widget = ComfyWidgets["STRING"](node, "dreamactor_info", ["STRING", { multiline: true }], app).widget;
    widget.inputEl.readOnly = true;
    widget.inputEl.style.opacity = 0.8;
    widget.serialize = false; // display only: never saved into the workflow's widget values
  }
  widget.value = text;
  node.setSize?.(node.computeSize());
  app.graph?.setDirtyCanvas(true, false);
}

app.registerExtension({
  name: "DreamActor.Nodes",
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
      return r;
    };

    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const text = message?.text;
      if (text) showInfo(this, Array.isArray(text) ? text.join("\n") : String(text));
    };
  },
});
