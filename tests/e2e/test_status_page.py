"""The status page of a running experiment, and the notifications: read-only, loopback by
default, live in a real headless browser, and never in the way of acquisition."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import ClassVar

import pytest

from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.reader import SessionReader
from raphe.gui.remote.notify import Notifier
from raphe.gui.remote.server import StatusServer
from raphe.gui.remote.source import LiveSource, Source
from raphe.protocols.engine import Engine, Settings
from raphe.protocols.protocol import load_protocol
from raphe.protocols.rig_spec import SimOptions
from raphe.simulators.faults import apply_fault

from tests_e2e_helpers import one_line_error, raphe

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHORT = {"equilibration_min": 5, "baseline_samples": 2, "post_samples": 3, "interval_min": 20}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_reports_a_run_that_advances_and_refuses_everything_but_reading(tmp_path):
    port = free_port()
    out = tmp_path / "s.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "raphe", "run", "systemic-drug", "--sim", "--speed", "100",
         "--yes", "--serve", f"127.0.0.1:{port}", "--out", str(out), "--no-notify",
         *[a for k, v in SHORT.items() for a in ("--set", f"{k}={v}")]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        seen = []
        while time.monotonic() < deadline and len(seen) < 2:
            try:
                code, body = get(base + "/api/status")
            except OSError:
                time.sleep(0.3)
                continue
            status = json.loads(body)
            if status["state"] == "running" and (not seen or status["t_s"] > seen[-1]["t_s"]):
                seen.append(status)
            time.sleep(1.0)
        assert len(seen) == 2, "the status never advanced"
        first, later = seen
        assert later["t_s"] > first["t_s"] and later["phase"]
        assert later["protocol"] == "Systemic drug" and later["progress"]["samples_total"] == 5
        assert later["next"] and "at" in later["next"][0]
        code, page = get(base + "/")
        assert code == 200 and b"<html" in page
        for elsewhere in (b'src="http', b"src='http", b'href="http', b"@import", b"url(http"):
            assert elsewhere not in page  # the page fetches nothing from anywhere else
        assert get(base + "/api/status", method="POST")[0] == 405
        for bad in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/static/../pyproject.toml",
                    "/page.html", "/api/../../README.md"):
            assert get(base + bad)[0] == 404, bad
        code, body = get(base + "/api/results")
        assert code == 200 and json.loads(body)["analyte"] == "5-HT"
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def test_a_page_beyond_this_machine_needs_a_token(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    result = raphe("run", "systemic-drug", "--sim", "--yes", "--serve", "0.0.0.0:0",
                   "--out", str(tmp_path / "s.h5"),
                   env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")})
    one_line_error(result, "needs an access token", "raphe serve --new-token")
    assert not (tmp_path / "s.h5").exists()

    class Fixed(Source):  # a source with a fixed status
        def status(self):
            return {"state": "running"}

    server = StatusServer(Fixed(), "0.0.0.0:0", token="sesame")
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/api/status"
        assert get(url)[0] == 401
        assert get(url + "?token=wrong")[0] == 401
        assert get(url + "?token=sesame")[0] == 200
        assert get(url, headers={"Authorization": "Bearer sesame"})[0] == 200
    finally:
        server.close()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")
def test_the_page_shows_a_new_sample_and_an_alarm_without_a_reload(tmp_path):
    from playwright.sync_api import sync_playwright

    engine = Engine(load_protocol("systemic-drug"), {**SHORT, "post_samples": 4}, Settings(
        out=tmp_path / "s.h5", sim=SimOptions(speed=300.0),
        method=load_method("simulated-5ht"), auto_answer=True, on_alarm="continue"))
    server = StatusServer(LiveSource(engine), "127.0.0.1:0")
    server.start()
    engine.start()
    shots = ROOT / "docs" / "img"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            # a phone; the test's own probes are script the page's policy would refuse
            page = browser.new_page(viewport={"width": 390, "height": 1400}, bypass_csp=True)
            page.goto(server.url)
            page.wait_for_function(
                "document.querySelectorAll('#course circle').length >= 1", timeout=90_000)
            before = page.eval_on_selector_all("#course circle", "c => c.length")
            page.wait_for_function(
                f"document.querySelectorAll('#course circle').length > {before}",
                timeout=90_000)  # a new sample, no reload
            apply_fault(engine.opened.sim, "pump stall")
            page.wait_for_function(
                "document.querySelector('#alarms').textContent.includes('perfusion stopped')",
                timeout=60_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
            browser.close()
        if os.environ.get("RAPHE_DOC_SHOTS"):  # refresh the docs' screenshot by hand
            shutil.copy(tmp_path / "phone.png", shots / "status-page-phone.png")
    finally:
        engine.request_abort("test over")
        engine.wait(60)
        server.close()


class Receiver(http.server.BaseHTTPRequestHandler):
    """A local notification receiver (Apprise's json:// posts here)."""

    received: ClassVar[list[dict]] = []

    def do_POST(self):  # the stdlib's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append(json.loads(body or b"{}"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_stall_and_a_prompt_notify_once_each_and_the_end_carries_the_summary(tmp_path):
    Receiver.received = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"json://127.0.0.1:{httpd.server_address[1]}/"
    prompting = tmp_path / "p.py"
    prompting.write_text("def run(rig, params):\n    rig.pump.infuse(1.0)\n"
                         "    rig.collect(16, label='S1')\n    rig.prompt('Check the line')\n"
                         "    rig.collect(16, label='S2')\n")
    from raphe.protocols.protocol import parse_protocol

    engine = Engine(parse_protocol(prompting.read_text(), str(prompting)), {}, Settings(
        out=tmp_path / "s.h5", sim=SimOptions(speed=300.0),
        method=load_method("simulated-5ht"), on_alarm="continue"))
    notifier = Notifier([url], engine, "http://127.0.0.1:8765/", retry_waits_s=(0.2,))

    def on(kind, payload):
        if kind == "injection" and payload == "S1":
            apply_fault(engine.opened.sim, "pump stall")
        if kind == "prompt":
            threading.Timer(1.0, engine.answer, args=(payload.id, "done")).start()

    engine.subscribe(on)
    try:
        outcome = engine.run()
        notifier.close()
    finally:
        httpd.shutdown()
    assert outcome.exit_code == 3, outcome.message
    titles = [m["title"] for m in Receiver.received]
    bodies = [m["message"] for m in Receiver.received]
    assert sum("needs attention" in t for t in titles) == 1  # the stall, once
    assert any("perfusion stopped" in b for b in bodies)
    assert sum("waiting for the operator" in t for t in titles) == 1
    end = [m for m in Receiver.received if "completed" in m["title"]]
    assert len(end) == 1 and "samples" in end[0]["message"] and "5-HT" in end[0]["message"]
    assert "http://127.0.0.1:8765/" in end[0]["message"]


def test_a_receiver_that_is_down_never_delays_acquisition(tmp_path):
    dead = f"json://127.0.0.1:{free_port()}/"  # nothing listens there
    engine = Engine(load_protocol("systemic-drug"), SHORT, Settings(
        out=tmp_path / "s.h5", sim=SimOptions(speed=300.0),
        method=load_method("simulated-5ht"), auto_answer=True, on_alarm="continue"))
    notifier = Notifier([dead], engine, retry_waits_s=(0.5, 0.5))

    def stall(kind, payload):
        if kind == "injection" and payload == "B1":
            apply_fault(engine.opened.sim, "pump stall")

    engine.subscribe(stall)
    outcome = engine.run()
    notifier.close()
    assert outcome.exit_code == 3  # the stall affected samples; nothing else went wrong
    assert notifier.failed and not notifier.sent
    with SessionReader(tmp_path / "s.h5") as r:
        assert [e for e in r.events() if e.kind == "gap"] == []  # the stream never stopped
        assert any("notification not delivered" in e.text for e in r.events())
