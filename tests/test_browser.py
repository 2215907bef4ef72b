"""The reward explorer in a real JupyterLab, driven by a headless browser (issue 5).

Needs Debian's chromium and Playwright for Python (no browser download):
    apt-get install -y chromium && pip install playwright
Run only this test with `pytest -m browser tests/test_browser.py` (about 20 s)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python not installed (pip install playwright)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (apt-get install -y chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    "JupyterLab on loopback serving a copy of 07_rewards.ipynb (outputs go to the copy, never to nbs/)."
    notebook = json.loads((REPO / "nbs" / "07_rewards.ipynb").read_text())
    notebook["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    (tmp_path / "07_rewards.ipynb").write_text(json.dumps(notebook))
    port, token = _free_port(), "vggrpo-browser-test"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}", "--LabApp.news_url=None"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"jupyter lab exited: {(tmp_path / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not answer within 60 s")
        yield f"http://127.0.0.1:{port}/lab/tree/07_rewards.ipynb?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_reward_explorer_in_jupyterlab(jupyterlab):
    args = ["--disable-gpu"] + (["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(jupyterlab)
            page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
            # run the cell importing the packaged explorer, then the widget cell (they need no other cell)
            for text in ("from vggrpo.rewards import reward_explorer", "explorer = reward_explorer()"):
                cell = page.locator(".jp-CodeCell", has_text=text).first
                cell.scroll_into_view_if_needed()
                cell.locator(".jp-InputArea-editor").click()
                page.keyboard.press("Shift+Enter")
            has_rewards = ("(() => { const e = document.querySelector('.vggrpo-reward-text');"
                           " return e !== null && e.innerText.includes('camera smoothness'); })()")
            page.wait_for_function(has_rewards, timeout=180_000)
            text = page.locator(".vggrpo-reward-text").first
            before = text.inner_text()
            assert "reprojection consistency" in before
            assert page.locator(".js-plotly-plot").count() >= 1  # the trajectory view rendered
            # move the shake slider with the keyboard, as a user can
            handle = page.locator(".widget-slider", has_text="shake amplitude").first.locator(".noUi-handle").first
            handle.focus()
            for _ in range(10):
                page.keyboard.press("ArrowRight")
            page.wait_for_function(
                f"document.querySelector('.vggrpo-reward-text').innerText !== {json.dumps(before)}", timeout=120_000)
            after = text.inner_text()
            smoothness = lambda s: float(s.split("camera smoothness")[1].split("|")[0])
            assert smoothness(after) < smoothness(before), (before, after)  # more shake, less smooth
        finally:
            browser.close()
