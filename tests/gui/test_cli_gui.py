"""``raphe gui`` and ``raphe demo``'s window and headless paths, as the user runs them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtGui import QImage

from raphe.acquisition.reader import SessionReader
from raphe.gui.app.display import has_display


def raphe(*args: str, tmp_path, timeout: float = 300, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    environ.update({"QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
                    **env})
    return subprocess.run([sys.executable, "-m", "raphe", *args], capture_output=True,
                          text=True, timeout=timeout, check=False, env=environ, cwd=tmp_path)


def one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def picture(path) -> QImage:
    image = QImage(str(path))
    assert not image.isNull()
    return image


def colours(image: QImage, x0: int, x1: int) -> int:
    """How many distinct colours a vertical band of the image holds (a blank one: 1)."""
    seen = set()
    for x in range(x0, x1, 7):
        for y in range(0, image.height(), 7):
            seen.add(image.pixel(x, y))
    return len(seen)


@pytest.mark.parametrize(("env", "system", "expected"), [
    ({}, "linux", False),
    ({"DISPLAY": ":0"}, "linux", True),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({}, "darwin", True),
    ({"QT_QPA_PLATFORM": "minimal"}, "win32", False),
])
def test_display_detection(env, system, expected):
    assert has_display(env, system) is expected


def test_the_window_needs_a_display_or_a_screenshot(tmp_path):
    one_line_error(raphe("gui", tmp_path=tmp_path), "needs a display", "--screenshot")
    one_line_error(raphe("gui", "--screenshot", "x.png", tmp_path=tmp_path), "--quit-after")
    one_line_error(raphe("gui", "--screenshot", "x.jpg", "--quit-after", "1",
                         tmp_path=tmp_path), ".png")
    one_line_error(raphe("gui", "missing.h5", "--quit-after", "1", tmp_path=tmp_path),
                   "missing.h5")
    one_line_error(raphe("demo", "--headless", "--screenshot", "x.png", "--quit-after", "1",
                         tmp_path=tmp_path), "--headless")


def test_gui_replays_a_session_and_saves_its_screenshot(tmp_path, recorded_session):
    shot = tmp_path / "replay.png"
    result = raphe("gui", str(recorded_session), "--screenshot", str(shot), "--quit-after", "3",
                   tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"screenshot: {shot}" in result.stdout
    assert result.stderr == ""  # Qt's own messages go to the log (the platform's at debug)
    image = picture(shot)
    assert image.width() >= 1200 and image.height() >= 700
    assert colours(image, image.width() // 3, image.width()) > 20  # plots drawn, not blank
    assert (tmp_path / "cfg" / "Raphe" / "raphe-gui.ini").exists()  # the layout remembered


@pytest.mark.slow
def test_demo_headless_saves_a_summary_figure(tmp_path):
    out = tmp_path / "demo.h5"
    result = raphe("demo", "--headless", "--out", str(out), "--minutes", "60", "--speed", "600",
                   "--sim-dose", "fluoxetine:10:ip@35", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    figure = tmp_path / "demo-summary.png"
    assert f"summary figure: {figure}" in result.stdout.replace("\n", "")
    image = picture(figure)
    half = image.width() // 2
    assert colours(image, 0, half) > 8 and colours(image, half, image.width()) > 8
    with SessionReader(out) as reader:
        assert reader.status == "complete"


@pytest.mark.slow
def test_demo_opens_the_window_and_quits_after(tmp_path):
    out = tmp_path / "demo.h5"
    shot = tmp_path / "demo.png"
    result = raphe("demo", "--out", str(out), "--minutes", "60", "--speed", "600",
                   "--sim-dose", "fluoxetine:10:ip@35", "--screenshot", str(shot),
                   "--quit-after", "12", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "summary figure" not in result.stdout  # the window, not the console run
    assert f"session written: {out}" in result.stdout
    assert picture(shot).width() >= 1200
    with SessionReader(out) as reader:
        assert reader.status == "complete"  # finished, or aborted to the safe state
        assert reader.n_samples > 0
