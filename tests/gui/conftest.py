"""Fixtures of the window tests: isolated settings, a recorded session, dialog answering."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

sys.path.insert(0, str(Path(__file__).parent))

from gui_helpers import SPEED, WAIT_MS, DialogAnswerer, short_drug_parameters


@pytest.fixture
def settings(tmp_path) -> QSettings:
    """Window settings in a file of the test's own (never the user's)."""
    return QSettings(str(tmp_path / "raphe-gui.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings, tmp_path):
    from raphe.gui.app.window import MainWindow

    w = MainWindow(settings=settings, folder=tmp_path)
    w.show()  # not qtbot.addWidget: its teardown closes windows before this one stops a run
    yield w
    run = w.run
    if run is not None and run.active:  # never leave a simulated rig running
        run.abort("test ended")
        qtbot.waitUntil(lambda: run.done, timeout=WAIT_MS)
    w._force_close = True
    w.close()
    release(w)


def release(widget) -> None:
    """Delete a closed window here, on the GUI thread: left to the garbage collector, its
    widgets would die wherever a collection happens to run (another thread, the middle of a
    walk over every widget)."""
    from PySide6.QtCore import QCoreApplication, QEvent

    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


@pytest.fixture(scope="session")
def recorded_session(tmp_path_factory) -> Path:
    """A complete simulated fluoxetine session (recorded without the window)."""
    from raphe.acquisition.analysis.method import load_method
    from raphe.protocols.engine import Engine, Settings
    from raphe.protocols.protocol import load_protocol
    from raphe.protocols.rig_spec import SimOptions

    out = tmp_path_factory.mktemp("recorded") / "fluoxetine.h5"
    engine = Engine(load_protocol("systemic-drug"), short_drug_parameters(), Settings(
        out=out, sim=SimOptions(speed=SPEED), method=load_method("simulated-5ht"),
        animal_id="rat-7", operator="test", auto_answer=True, on_alarm="continue"))
    outcome = engine.run()
    assert outcome.exit_code == 0, outcome.message
    return out


@pytest.fixture
def dialogs():
    answerer = DialogAnswerer()
    yield answerer
    answerer.stop()


@pytest.fixture(autouse=True)
def light_theme():
    """Every test starts and ends in the light theme (a theme is the application's)."""
    yield
    from raphe.gui.app import theme

    if theme.current() is not theme.LIGHT:
        theme.apply("light")
