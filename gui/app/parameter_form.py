"""A protocol's parameters as a form: one field per typed parameter, with its unit, range and
help, checked as it is typed (``Parameter.check``: the same conversion as ``--set``).

With several animals on one HPLC (:meth:`ParameterForm.set_animals`) a parameter can be set
per animal: its **per animal** button opens one field per animal, in the animal's colour
(as ``--set A2:NAME=VALUE`` does); the others are the same for every animal."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QWidget,
)

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
        #: several animals: (id, colour) each; a parameter's per-animal fields and button
        self.animals: list[tuple[str, str]] = []
        self.split: dict[str, QToolButton] = {}
        self.animal_editors: dict[str, dict[str, QWidget]] = {}
        self.animal_boxes: dict[str, QWidget] = {}

    def set_parameters(self, parameters, values: dict[str, Any] | None = None,
                       per_animal: dict[str, dict[str, Any]] | None = None) -> None:
        """The form of ``parameters`` filled with ``values`` (defaults for the rest);
        ``per_animal``: parameter name → {animal: value} set apart for each animal."""
        while self.form.rowCount():
            self.form.removeRow(0)
        self.parameters = list(parameters)
        self.editors.clear()
        self.messages.clear()
        self.split.clear()
        self.animal_editors.clear()
        self.animal_boxes.clear()
        values = values or {}
        per_animal = per_animal or {}
        for p in self.parameters:
            value = values.get(p.name, p.default)
            editor = self._editor(p, value)
            editor.setToolTip(self._tip(p))
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
            self.editors[p.name] = editor
            self.messages[p.name] = message
            if self.animals:
                h.addWidget(self._split_button(p))
                self.form.addRow("", self._animal_box(p, value, per_animal.get(p.name)))
            self.form.addRow("", message)
        self.validate()

    @staticmethod
    def _tip(p) -> str:
        tip = p.help + (f"\nrange: {hint(p)}" if p.range is not None else "") + \
            f"\ndefault: {_text(p.default)}{' ' + p.unit if p.unit else ''}"
        return tip.strip()

    # -- several animals -------------------------------------------------------------------

    def set_animals(self, animals: list[tuple[str, str]]) -> None:
        """Several animals, ``(id, colour)`` each (``[]``: one animal): the form again, what
        was typed kept (the per-animal values of the animals that stay too)."""
        if [a for a, _ in animals] == [a for a, _ in self.animals]:
            return
        values = self.raw_values()
        kept = {a for a, _ in animals}
        per_animal = {name: {a: v for a, v in self.animal_raw(name).items() if a in kept}
                      for name in self.split_names()}
        self.animals = list(animals)
        self.set_parameters(self.parameters, values,
                            {n: v for n, v in per_animal.items() if v} if animals else None)

    def _split_button(self, p) -> QToolButton:
        button = QToolButton()
        button.setText("per animal")
        button.setCheckable(True)
        button.setToolTip(f"set {p.name} for each animal apart (as --set A2:{p.name}=…)")
        button.toggled.connect(lambda on, name=p.name: self._toggle_split(name, on))
        self.split[p.name] = button
        return button

    def _animal_box(self, p, common: Any, values: dict[str, Any] | None) -> QWidget:
        box = QWidget()
        grid = QGridLayout(box)
        grid.setContentsMargins(12, 0, 0, 2)
        grid.setVerticalSpacing(1)
        editors = {}
        for r, (animal, color) in enumerate(self.animals):
            tag = QLabel(animal)
            tag.setStyleSheet(f"color: {color}; font-weight: bold;")
            editor = self._editor(p, (values or {}).get(animal, common))
            editor.setToolTip(f"{animal}: {self._tip(p)}")
            grid.addWidget(tag, r, 0)
            grid.addWidget(editor, r, 1)
            editors[animal] = editor
        grid.setColumnStretch(1, 1)
        self.animal_editors[p.name] = editors
        self.animal_boxes[p.name] = box
        box.setVisible(bool(values))
        if values:
            self.split[p.name].blockSignals(True)
            self.split[p.name].setChecked(True)
            self.split[p.name].blockSignals(False)
            self.editors[p.name].setEnabled(False)
        return box

    def _toggle_split(self, name: str, on: bool) -> None:
        if on:  # each animal starts from the value every animal had
            common = self.raw(name)
            for editor in self.animal_editors[name].values():
                self._set(editor, common)
        self.animal_boxes[name].setVisible(on)
        self.editors[name].setEnabled(not on)
        self._edited()

    def split_names(self) -> list[str]:
        """The parameters set per animal."""
        return [n for n, b in self.split.items() if b.isChecked()]

    def animal_raw(self, name: str) -> dict[str, Any]:
        """Each animal's field of a parameter as it stands (empty when not set apart)."""
        if name not in self.split_names():
            return {}
        return {a: self._raw(e) for a, e in self.animal_editors[name].items()}

    def set_animal_value(self, animal: str, name: str, value: Any) -> None:
        """Set ``name`` for ``animal`` alone (the parameter is then set per animal)."""
        button = self.split.get(name)
        if button is None or animal not in self.animal_editors.get(name, {}):
            raise KeyError(f"{animal}:{name}")
        button.setChecked(True)
        self._set(self.animal_editors[name][animal], value)

    def animal_values(self) -> dict[str, dict[str, Any]]:
        """Each animal's values: every animal's, with its own where set apart."""
        common = self.values()
        out = {}
        for animal, _ in self.animals:
            mine = dict(common)
            for p in self.parameters:
                if p.name in self.split_names():
                    mine[p.name] = self._value(p, self.animal_editors[p.name][animal])
            out[animal] = mine
        return out

    # -- editors ---------------------------------------------------------------------------

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

    @staticmethod
    def _raw(editor: QWidget) -> Any:
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, NoWheelComboBox):
            return editor.currentText()
        return editor.text()

    @staticmethod
    def _set(editor: QWidget, value: Any) -> None:
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, NoWheelComboBox):
            editor.setCurrentText(spelling(str(value)))
        else:
            editor.setText(_text(value))

    @staticmethod
    def _value(p, editor: QWidget) -> Any:
        """A field's value as the engine reads it (empty: the default)."""
        raw = ParameterForm._raw(editor)
        return number_text(p, raw) if not (isinstance(raw, str) and not raw.strip()) \
            else p.default

    def raw(self, name: str) -> Any:
        return self._raw(self.editors[name])

    def set_value(self, name: str, value: Any) -> None:
        self._set(self.editors[name], value)

    def values(self) -> dict[str, Any]:
        """The values as typed (the engine converts them, as it does ``--set``); a decimal
        comma is read as a point."""
        return {p.name: self._value(p, self.editors[p.name]) for p in self.parameters}

    def raw_values(self) -> dict[str, Any]:
        """Every field as it stands (what the operator typed)."""
        return {p.name: self.raw(p.name) for p in self.parameters}

    @staticmethod
    def _problem(p, editor: QWidget) -> str | None:
        raw = ParameterForm._raw(editor)
        question = ambiguous_comma(raw) if isinstance(raw, str) else None
        if p.kind in (int, float) and question is not None:
            return question
        try:
            p.check(ParameterForm._value(p, editor))
        except ValueError as exc:
            return str(exc)
        return None

    def errors(self) -> dict[str, str]:
        """What is wrong, by parameter (an animal's field: ``A2: …``)."""
        out = {}
        split = self.split_names()
        for p in self.parameters:
            if p.name in split:
                problems = [f"{a}: {m}" for a, e in self.animal_editors[p.name].items()
                            if (m := self._problem(p, e)) is not None]
                if problems:
                    out[p.name] = "; ".join(problems)
                continue
            problem = self._problem(p, self.editors[p.name])
            if problem is not None:
                out[p.name] = problem
        return out

    def validate(self) -> dict[str, str]:
        errors = self.errors()
        split = self.split_names()
        for name, message in self.messages.items():
            text = errors.get(name, "")
            message.setText(text)
            message.setVisible(bool(text))
            editors = list(self.animal_editors[name].values()) if name in split else \
                [self.editors[name]]
            p = next(x for x in self.parameters if x.name == name)
            if name in split:
                self.editors[name].setStyleSheet("")
            for editor in editors:
                bad = self._problem(p, editor) is not None
                editor.setStyleSheet(f"border: 1px solid {ALARM};" if bad else "")
        return errors
