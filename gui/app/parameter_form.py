"""A protocol's parameters as a form: one field per typed parameter, with its unit, range and
help, checked as it is typed (``Parameter.check``: the same conversion as ``--set``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QWidget

from raphe.drivers.units import ambiguous_comma, decimal_point
from raphe.gui.app import theme
from raphe.gui.app.widgets import ALARM, NoWheelComboBox
from raphe.names import spelling


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _shown(p, value: Any) -> str:
    """A value as the field shows it: a name (a region, a drug) in the spelling users see
    everywhere else (``prefrontal_cortex`` → ``prefrontal-cortex``) when the protocol declares
    it that way; anything else as given."""
    text = _text(value)
    default = p.default if isinstance(p.default, str) else ""
    if default and default == spelling(default) and "-" in default and \
            text.replace("_", "-").lower() == spelling(text):
        return spelling(text)
    return text


def label(p) -> str:
    """The parameter's name as a label, without a unit suffix the unit column shows:
    ``flow_ul_min`` (uL/min) → ``flow``."""
    name = p.name
    slug = p.unit.lower().replace("/", "_").replace(" ", "_")
    if slug and name.lower().endswith("_" + slug) and len(name) > len(slug) + 1:
        name = name[: -len(slug) - 1]
    return name.replace("_", " ")


def number_text(p, raw: Any) -> Any:
    """A typed number as the engine reads it: a decimal comma (``2,5``, ``2,5 h``) becomes a
    point; text of other parameters is left alone."""
    if isinstance(raw, str) and p.kind in (int, float):
        return decimal_point(raw)
    return raw


def hint(p) -> str:
    """``0.1–5 uL/min`` or the unit alone."""
    unit = f" {p.unit}" if p.unit else ""
    if p.range is not None and p.kind in (int, float):
        return f"{p.range[0]:g}–{p.range[1]:g}{unit}"
    return p.unit


class ParameterForm(QWidget):
    """See the module docstring. ``changed`` fires on every edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.parameters: list = []
        self.editors: dict[str, QWidget] = {}
        self.messages: dict[str, QLabel] = {}

    def set_parameters(self, parameters, values: dict[str, Any] | None = None) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.parameters = list(parameters)
        self.editors.clear()
        self.messages.clear()
        values = values or {}
        for p in self.parameters:
            value = values.get(p.name, p.default)
            editor = self._editor(p, value)
            tip = p.help + (f"\nrange: {hint(p)}" if p.range is not None else "") + \
                f"\ndefault: {_text(p.default)}{' ' + p.unit if p.unit else ''}"
            editor.setToolTip(tip.strip())
            row = QWidget()
            h = QHBoxLayout(row)
            h.setContentsMargins(0, 0, 0, 0)
            h.addWidget(editor, 1)
            unit = QLabel(hint(p))
            theme.mute(unit)
            h.addWidget(unit)
            message = QLabel("")
            message.setStyleSheet(f"color: {ALARM};")
            message.setWordWrap(True)
            message.setVisible(False)
            name = QLabel(label(p))
            name.setToolTip(f"{p.name}: {p.help}" if p.help else p.name)
            self.form.addRow(name, row)
            self.form.addRow("", message)
            self.editors[p.name] = editor
            self.messages[p.name] = message
        self.validate()

    def _editor(self, p, value) -> QWidget:
        if p.kind is bool:
            box = QCheckBox()
            box.setChecked(bool(p.convert(value)))
            box.toggled.connect(self._edited)
            return box
        if p.choices is not None:
            combo = NoWheelComboBox()
            combo.addItems([spelling(c) for c in p.choices])
            combo.setCurrentText(spelling(str(value)))
            combo.currentTextChanged.connect(self._edited)
            return combo
        edit = QLineEdit(_shown(p, value))
        edit.setPlaceholderText(_text(p.default))
        edit.textChanged.connect(self._edited)
        return edit

    def _edited(self, *_) -> None:
        self.validate()
        self.changed.emit()

    def raw(self, name: str) -> Any:
        editor = self.editors[name]
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, NoWheelComboBox):
            return editor.currentText()
        return editor.text()

    def set_value(self, name: str, value: Any) -> None:
        editor = self.editors[name]
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, NoWheelComboBox):
            editor.setCurrentText(spelling(str(value)))
        else:
            editor.setText(_text(value))

    def values(self) -> dict[str, Any]:
        """The values as typed (the engine converts them, as it does ``--set``); a decimal
        comma is read as a point."""
        out = {}
        for p in self.parameters:
            raw = self.raw(p.name)
            out[p.name] = number_text(p, raw) if not (isinstance(raw, str) and not raw.strip()) \
                else p.default
        return out

    def raw_values(self) -> dict[str, Any]:
        """Every field as it stands (what the operator typed)."""
        return {p.name: self.raw(p.name) for p in self.parameters}

    def errors(self) -> dict[str, str]:
        out = {}
        values = self.values()
        for p in self.parameters:
            raw = self.raw(p.name)
            question = ambiguous_comma(raw) if isinstance(raw, str) else None
            if p.kind in (int, float) and question is not None:
                out[p.name] = question
                continue
            try:
                p.check(values[p.name])
            except ValueError as exc:
                out[p.name] = str(exc)
        return out

    def validate(self) -> dict[str, str]:
        errors = self.errors()
        for name, message in self.messages.items():
            text = errors.get(name, "")
            message.setText(text)
            message.setVisible(bool(text))
            editor = self.editors[name]
            editor.setStyleSheet(f"border: 1px solid {ALARM};" if text else "")
        return errors
