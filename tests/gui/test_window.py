"""The main window: its layout is remembered and can be reset; a session dropped on it opens
in replay; a bad file is one clear message; an unhandled error is logged and shown."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent

from raphe.gui.app.window import SHORTCUTS, MainWindow


def test_the_layout_is_remembered_and_can_be_reset(qtbot, settings, tmp_path):
    first = MainWindow(settings=settings, folder=tmp_path)
    first.show()
    first.docks["events"].hide()
    first.docks["chromatogram"].setFloating(True)
    first.close()
    second = MainWindow(settings=settings, folder=tmp_path)
    second.show()
    try:
        assert not second.docks["events"].isVisible()
        assert second.docks["chromatogram"].isFloating()
        second.reset_layout()
        assert second.docks["events"].isVisible()
        assert not second.docks["chromatogram"].isFloating()
    finally:
        second.close()


def drop(window, path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def test_a_session_dropped_on_the_window_opens_in_replay(qtbot, window, recorded_session):
    drop(window, recorded_session)
    assert window.replay is not None and window.replay.path == recorded_session
    assert "replay" in window.mode_label.text()
    assert window.model.results and window.docks["replay"].isVisible()
    assert not window.model.live and not window.rig_panel.flow_button.isEnabled()


def test_a_protocol_dropped_on_the_window_is_loaded(qtbot, window):
    from gui_helpers import DATA

    drop(window, DATA / "prompted.py")
    assert window.protocol_panel.protocol.name == "Prompted drug"


def test_a_file_that_is_not_a_session_is_one_message(qtbot, window, tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    assert window.open_session(junk) is None
    assert window.replay is None
    assert window.errors[-1].startswith("Cannot open the session") and "junk.h5" in \
        window.errors[-1]


@pytest.mark.qt_no_exception_capture
def test_an_unhandled_error_is_logged_and_shown(qtbot, window, caplog):
    def boom() -> None:
        raise RuntimeError("a panel broke")

    with caplog.at_level(logging.ERROR, logger="raphe.gui"):
        QTimer.singleShot(0, boom)
        qtbot.waitUntil(lambda: bool(window.errors), timeout=10_000)
    assert window.errors == ["RuntimeError: a panel broke"]
    assert "unhandled error in the window" in caplog.text and "a panel broke" in caplog.text
    assert window.isVisible()


def test_every_shortcut_is_bound(window):
    bound = {a.shortcut().toString() for a in window.findChildren(type(window.menuBar()
                                                                       .actions()[0]))}
    for keys, _ in SHORTCUTS:
        if keys != "Space":
            assert keys in bound, keys
