"""The Qt application: one main window with dockable panels over a live run or a replay.

Threads (docs/gui.md): the window never calls a driver. A live run is the
protocol engine's (:mod:`raphe.protocols.engine`); its state and the session's
records reach the window through one bridge (:mod:`raphe.gui.app.bridge`), a
queue drained by a ``QTimer`` on the GUI thread. A replay reads the session
file through :class:`raphe.acquisition.reader.SessionReader`.

Importing this package does not import Qt (``display`` is used by the command
line); the Qt modules are imported by the commands inside ``run()``.
"""
