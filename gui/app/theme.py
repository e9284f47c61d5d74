"""Light and dark themes: the window's palette and the plots' colours.

The dark theme is for a darkened animal room: dark panels and plots, light text, the
signal in a light blue; alarms, drugs and markers keep their colours (one meaning each).
The choice is made in View ▸ Theme and remembered. Exported figures and the printed
summary are always drawn in the light theme (for paper and slides).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory


@dataclass(frozen=True)
class Theme:
    name: str
    background: str  # plots
    foreground: str  # axes, their text
    grid: tuple[int, int, int]
    signal: str  # the ECD trace, the time course's line and points
    muted: str  # secondary text
    text: str  # labels drawn in plots


LIGHT = Theme("light", "#ffffff", "#000000", (225, 225, 225), "#1f3b73", "#555555", "#333333")
DARK = Theme("dark", "#15181c", "#d8d8d8", (55, 60, 66), "#8ab4f8", "#a8a8a8", "#e0e0e0")
THEMES = {t.name: t for t in (LIGHT, DARK)}


class _Notifier(QObject):
    changed = Signal(object)  # Theme


_current = LIGHT
_notifier: _Notifier | None = None
_original: tuple[str, QPalette] | None = None


def current() -> Theme:
    return _current


def notifier() -> _Notifier:
    """Emits ``changed(theme)`` when the theme changes (panels restyle their plots)."""
    global _notifier
    if _notifier is None:
        _notifier = _Notifier()
    return _notifier


def dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor("#202327"), QColor("#16191c"), QColor("#e6e6e6")
    roles = QPalette.ColorRole
    for role, color in ((roles.Window, window), (roles.WindowText, text), (roles.Base, base),
                        (roles.AlternateBase, QColor("#24282c")), (roles.ToolTipBase, window),
                        (roles.ToolTipText, text), (roles.Text, text),
                        (roles.Button, QColor("#2b2f34")), (roles.ButtonText, text),
                        (roles.BrightText, QColor("#ff6b6b")), (roles.Link, QColor("#8ab4f8")),
                        (roles.Highlight, QColor("#2f6db5")),
                        (roles.HighlightedText, QColor("#ffffff")),
                        (roles.PlaceholderText, QColor("#8a8a8a")),
                        (roles.Light, QColor("#3a3f45")), (roles.Midlight, QColor("#30353a")),
                        (roles.Mid, QColor("#454a50")), (roles.Dark, QColor("#101214")),
                        (roles.Shadow, QColor("#000000"))):
        p.setColor(role, color)
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        p.setColor(disabled, role, QColor("#777777"))
    return p


def apply(name: str) -> Theme:
    """Switch the application to theme ``name`` (``light`` or ``dark``)."""
    global _current, _original
    theme = THEMES.get(name, LIGHT)
    app = QApplication.instance()
    if app is not None:
        if _original is None:
            _original = (app.style().name(), QPalette(app.palette()))
        if theme is DARK:
            app.setStyle(QStyleFactory.create("Fusion"))
            app.setPalette(dark_palette())
        else:
            style, palette = _original
            if app.style().name().lower() != style.lower():
                app.setStyle(QStyleFactory.create(style))
            app.setPalette(palette)
    changed = theme is not _current
    _current = theme
    if changed and app is not None:
        _repolish(app, theme)
    if changed:
        notifier().changed.emit(theme)
    return theme


def _repolish(app, theme: Theme) -> None:
    """Widgets with a style sheet took their colours when polished: polish them again.

    ``allWidgets`` is a list of pointers taken at once; a garbage collection while the
    list is walked could delete a dropped window's widgets under it. Garbage goes first,
    here on the GUI thread, and none is collected during the walk."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for widget in app.allWidgets():
            if widget.property("muted"):
                widget.setStyleSheet(f"color: {theme.muted};")
            elif widget.styleSheet():
                widget.setStyleSheet(widget.styleSheet())
    finally:
        if enabled:
            gc.enable()


def mute(widget):
    """Secondary text (a description, a unit): the theme's muted colour, in either theme."""
    widget.setProperty("muted", True)
    widget.setStyleSheet(f"color: {_current.muted};")
    return widget
