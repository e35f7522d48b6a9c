"""The pack in the real ComfyUI frontend, in headless Chromium driven by selenium.

Skipped unless COMFYUI_PATH points to a ComfyUI checkout (as ``test_real_host``), and
unless selenium, ``chromium`` and ``chromedriver`` are installed (Debian: ``chromium``,
``chromium-driver``). The server is the real one with the installed frontend package
(``host_harness.ComfyHost(frontend=True)``). Every UI workflow is loaded as an artist
would drop it on the canvas, then the guidance preview is queued and run. Screenshots
go to pytest's temporary folder (printed on failure), never into the repository.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from host_harness import ComfyHost

pytestmark = pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"),
                                reason="set COMFYUI_PATH to a ComfyUI checkout to run the browser test")

WORKFLOWS = sorted((Path(__file__).resolve().parent.parent / "workflows").glob("*.json"))
PREVIEW = "dreamactor_guidance_preview"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1600,1000")
# Each node's box as LiteGraph lays it out (the title bar is drawn above pos), and whether the frontend
# knows its type (an unknown one is a missing node).
NODES_JS = """
const title = window.LiteGraph.NODE_TITLE_HEIGHT;
return window.app.graph._nodes.map(n => ({id: n.id, type: n.type, collapsed: !!n.flags?.collapsed,
  box: [n.pos[0], n.pos[1] - title, n.size[0], n.size[1] + title],
  known: n.type in window.LiteGraph.registered_node_types, errors: !!n.has_errors}));
"""
# Visible alerts: error or warning toasts, and any open dialog (missing nodes, validation, errors).
ALERTS_JS = """
const shown = e => e.offsetParent !== null;
return [...document.querySelectorAll('.p-toast-message-error, .p-toast-message-warn, .p-dialog')]
  .filter(shown).map(e => e.innerText.trim().slice(0, 500));
"""
CLEAR_JS = """
document.querySelectorAll('.p-toast-message .p-toast-close-button').forEach(b => b.click());
window.__dreamactor = {events: []};
for (const name of ['execution_success', 'execution_error', 'execution_interrupted']) {
  window.app.api.addEventListener(name, e => window.__dreamactor.events.push([name, e.detail]));
}
"""


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(f"/usr/bin/{name}")
    if path is None:
        pytest.skip(f"{name} not installed (Debian: apt-get install chromium chromium-driver)")
    return path


@pytest.fixture(scope="module")
def host(synth_dir):
    from test_real_host import _write_inputs

    with ComfyHost(os.environ["COMFYUI_PATH"], frontend=True) as server:
        _write_inputs(server.input, synth_dir)
        yield server


@pytest.fixture(scope="module")
def browser(host):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    import requests

    # A first visit opens the template browser over the canvas; mark the tutorial as seen.
    requests.post(host.url + "/settings/Comfy.TutorialCompleted", json=True, timeout=30).raise_for_status()
    options = webdriver.ChromeOptions()
    options.binary_location = _tool("chromium")
    profile = tempfile.mkdtemp(prefix="dreamactor_chromium_")
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(_tool("chromedriver")), options=options)
    try:
        driver.get(host.url)
        _wait(driver, "return !!(window.app && window.app.graph && window.app.api && window.LiteGraph)", 180,
              "the frontend did not start")
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, script: str, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def _overlaps(nodes: list[dict]) -> list[tuple]:
    def hit(a, b):
        return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
    return [(a["type"], b["type"]) for a, b in itertools.combinations(nodes, 2) if hit(a["box"], b["box"])]


def _load(driver, path: Path, shots: Path) -> list[dict]:
    driver.execute_script(CLEAR_JS)
    driver.execute_async_script("const done = arguments[arguments.length - 1];"
                                "window.app.loadGraphData(arguments[0]).then(() => done(true), e => done(String(e)));",
                                json.loads(path.read_text()))
    time.sleep(3)  # previews of the loaded video and image settle
    driver.save_screenshot(str(shots / f"{path.stem}.png"))
    alerts = driver.execute_script(ALERTS_JS)
    assert not alerts, f"{path.name}: alerts on load {alerts} (screenshot in {shots})"
    nodes = driver.execute_script(NODES_JS)
    missing = [n["type"] for n in nodes if not n["known"]]
    assert not missing, f"{path.name}: missing nodes {missing}"
    clashes = _overlaps(nodes)
    assert not clashes, f"{path.name}: overlapping node boxes {clashes} (screenshot in {shots})"
    return nodes


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_loads_clean(browser, path, tmp_path):
    _load(browser, path, tmp_path)


def test_guidance_preview_runs_and_keeps_node_widths(browser, host, tmp_path):
    path = next(p for p in WORKFLOWS if p.stem == PREVIEW)
    before = {n["id"]: n["box"] for n in _load(browser, path, tmp_path)}
    _run_queued(browser, host, "the guidance preview")
    time.sleep(1)  # let the last node's output reach its widgets
    browser.save_screenshot(str(tmp_path / f"{PREVIEW}_after_run.png"))
    alerts = browser.execute_script(ALERTS_JS)
    assert not alerts, f"alerts after the run: {alerts} (screenshot in {tmp_path})"
    after = browser.execute_script(NODES_JS)
    widths = {n["type"]: (before[n["id"]][2], n["box"][2]) for n in after if n["box"][2] != before[n["id"]][2]}
    assert not widths, f"node widths changed by the run (before, after): {widths}"
    clashes = _overlaps(after)
    assert not clashes, f"overlapping node boxes after the run: {clashes} (screenshot in {tmp_path})"
    saved = sorted(p.name for p in (host.output / "dreamactor").glob("*"))
    assert any(n.startswith("guidance") for n in saved) and any(n.startswith("motion") for n in saved), saved


# A Load Motion node feeding a Save Motion node, on a fresh canvas; returns the Load Motion node's id.
MOTION_GRAPH_JS = """
window.app.graph.clear();
const load = window.LiteGraph.createNode('DreamActorLoadMotion');
const save = window.LiteGraph.createNode('DreamActorSaveMotion');
load.pos = [50, 100]; save.pos = [500, 100];
window.app.graph.add(load); window.app.graph.add(save);
load.connect(0, save, 0);
save.widgets.find(w => w.name === 'filename_prefix').value = 'dreamactor/reloaded';
return load.id;
"""
FILE_WIDGET_JS = """
const node = window.app.graph.getNodeById(arguments[0]);
const w = node.widgets.find(w => w.name === 'file');
return {value: w.value, options: [...w.options.values], button: node.widgets.some(w => w.name === 'upload motion')};
"""


def _run_queued(browser, host, what: str) -> None:
    """Queue the canvas as the Run button does and wait for the server to report success."""
    browser.execute_script("window.__dreamactor.events = [];")
    browser.execute_async_script("const done = arguments[arguments.length - 1];"
                                 "window.app.queuePrompt(0, 1).then(() => done(true), e => done(String(e)));")
    events = _wait(browser, "return window.__dreamactor.events.length && window.__dreamactor.events", 600,
                   f"{what} did not finish:\n{host.log_tail(3000)}")
    assert events[0][0] == "execution_success", f"{what} failed: {json.dumps(events)[:3000]}\n{host.log_tail(3000)}"


def test_load_motion_lists_saved_motions_and_uploads(browser, host, tmp_path):
    """After the guidance preview saved its motion, Load Motion lists it (output folder) and loads it; a motion
    file uploaded with the node's button lands in the input folder and is selected."""
    saved = sorted((host.output / "dreamactor").glob("motion_*.json"))
    if not saved:
        pytest.skip("needs the guidance preview's saved motion (run with the preview test)")
    load_id = browser.execute_script(MOTION_GRAPH_JS)
    name = f"dreamactor/{saved[0].name} [output]"
    # the node asks the server for the current list when it is created
    _wait(browser, f"return (() => {{ {FILE_WIDGET_JS.replace('arguments[0]', str(load_id))} }})().options"
                   f".includes({json.dumps(name)})", 30,
          f"Load Motion does not offer {name}: {browser.execute_script(FILE_WIDGET_JS, load_id)}")
    assert browser.execute_script(FILE_WIDGET_JS, load_id)["button"], "no upload button"
    browser.execute_script("const n = window.app.graph.getNodeById(arguments[0]);"
                           "n.widgets.find(w => w.name === 'file').value = arguments[1];", load_id, name)
    _run_queued(browser, host, "Load Motion -> Save Motion")
    assert list((host.output / "dreamactor").glob("reloaded_*.json")), "the loaded motion was not saved again"

    upload = tmp_path / "uploaded_motion.json"
    upload.write_text(saved[0].read_text())
    picker = browser.execute_script("const inputs = [...document.querySelectorAll('input[type=file]')]"
                                    "  .filter(e => e.accept.includes('.json'));"
                                    "inputs.forEach(e => e.style.display = 'block'); return inputs.at(-1);")
    picker.send_keys(str(upload))
    _wait(browser, f"return (() => {{ {FILE_WIDGET_JS.replace('arguments[0]', str(load_id))} }})().value === "
                   "'uploaded_motion.json'", 60, "the uploaded motion was not selected")
    assert (host.input / "uploaded_motion.json").read_text() == upload.read_text()
    browser.save_screenshot(str(tmp_path / "load_motion.png"))


MODEL_TYPES_JS = """
const links = window.app.graph.links;
const all = links instanceof Map ? [...links.values()] : Object.values(links ?? {});
return {links: all.filter(l => l).map(l => l.type),
        sockets: window.app.graph._nodes.flatMap(n => [...(n.inputs ?? []), ...(n.outputs ?? [])].map(s => s.type)),
        migration: window.__dreamactorMigration ?? null,
        toasts: [...document.querySelectorAll('.p-toast-message-info')].map(e => e.innerText)};
"""


def test_old_model_socket_is_renamed_with_a_message(browser, tmp_path):
    """A workflow saved with the former DREAMACTOR_MODEL socket loads with its model links and sockets renamed
    to MODEL (so stock MODEL outputs connect) and an info message that says what happened."""
    path = next(p for p in WORKFLOWS if p.stem == "dreamactor_full_body_animation")
    old = tmp_path / "old_model_socket.json"
    old.write_text(path.read_text().replace('"MODEL"', '"DREAMACTOR_MODEL"'))
    assert "DREAMACTOR_MODEL" in old.read_text()
    _load(browser, old, tmp_path)
    seen = browser.execute_script(MODEL_TYPES_JS)
    assert "DREAMACTOR_MODEL" not in seen["links"] + seen["sockets"], seen
    assert "MODEL" in seen["links"], seen
    assert seen["migration"] and seen["migration"]["changed"] > 0, seen
    assert any("DREAMACTOR_MODEL" in t and "MODEL" in t for t in seen["toasts"]), seen
