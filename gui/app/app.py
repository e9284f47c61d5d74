"""Starting the application: the ``QApplication``, the window, ``--screenshot``/``--quit-after``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QTimer, QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)

#: Qt's own messages as log levels; what a platform plugin cannot do (the offscreen
#: plugin of a headless run, e.g. "does not support propagateSizeHints()") is only debug.
_QT_LEVELS = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}


def _qt_message(kind: QtMsgType, context, text: str) -> None:
    level = _QT_LEVELS.get(kind, logging.WARNING)
    if text.startswith("This plugin does not support"):
        level = logging.DEBUG
    log.log(level, "Qt: %s", text)


def application() -> QApplication:
    """The running application, or a new one (Qt's messages then go to the log)."""
    app = QApplication.instance()
    if app is None:
        qInstallMessageHandler(_qt_message)
        app = QApplication([sys.argv[0] if sys.argv else "raphe"])
        app.setApplicationName("Raphe")
        app.setOrganizationName("Raphe")
        app.setApplicationDisplayName("Raphe")
    return app


def save_screenshot(window, path: str | Path) -> Path:
    """The window as it is drawn now, as a PNG."""
    path = Path(path)
    QApplication.processEvents()
    if not window.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    return path


def run_window(window, *, screenshot: str | Path | None = None,
               quit_after: float | None = None) -> int:
    """Show ``window`` and run the event loop until it closes. With ``quit_after`` seconds,
    save ``screenshot`` (if given) then close the window — a run still going is aborted to
    its safe state first."""
    app = application()
    window.closed.connect(app.quit)
    window.show()
    if quit_after is not None:
        def finish() -> None:
            if screenshot is not None:
                print(f"screenshot: {save_screenshot(window, screenshot)}", flush=True)
            window.quit_now()

        QTimer.singleShot(int(quit_after * 1000), finish)
    return int(app.exec())
