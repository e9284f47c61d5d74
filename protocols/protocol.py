"""A protocol file: readable Python with ``metadata``, typed ``parameters`` and ``run(rig, params)``.

Loading executes the file's top level in a fresh namespace (it may import
what it likes; ``from raphe.protocols import Parameter`` is the usual
line) and checks the three names. A bundled protocol is found by its name
(``systemic-drug`` or ``systemic_drug``), anything else by its path.
"""

from __future__ import annotations

import ast
import hashlib
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from raphe.errors import InputError
from raphe.names import lookup, spelling
from raphe.protocols.parameters import Parameter

LIBRARY = "raphe.protocols.library"
#: The Rig API levels this Raphe runs (``requires = {"raphe": "1"}`` in a protocol file);
#: docs/protocols.md says what each guarantees. A protocol that declares none is level 1.
API_LEVELS = ("1",)


@dataclass
class Protocol:
    """A loaded protocol."""

    path: str  # file path, or the bundled name's path inside the package
    source: str
    metadata: dict[str, Any]
    parameters: list[Parameter]
    run: Callable[..., Any]
    #: parameter name → line of its declaration (for error messages)
    parameter_lines: dict[str, int] = field(default_factory=dict)
    run_line: int | None = None
    #: the Rig API level the protocol was written for (None: it declares none; run as "1")
    api_level: str | None = None

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or Path(self.path).stem)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    @property
    def doc(self) -> str:
        return str(self.metadata.get("description", "")).strip()


def bundled_protocols() -> list[str]:
    """Names of the bundled protocols, as users type them."""
    return sorted(spelling(p.name[:-3]) for p in resources.files(LIBRARY).iterdir()
                  if p.name.endswith(".py") and not p.name.startswith("_"))


def find(name_or_path: str | Path) -> Path:
    """The file of a bundled protocol name, or ``name_or_path`` itself."""
    text = str(name_or_path)
    if "/" not in text and "\\" not in text and not text.endswith(".py"):
        try:
            name = lookup(text, bundled_protocols(), "protocol")
        except ValueError:
            pass
        else:
            return Path(str(resources.files(LIBRARY) / f"{name.replace('-', '_')}.py"))
    path = Path(text)
    if not path.is_file():
        raise InputError(f"protocol {text}: no such file and no bundled protocol of that name "
                         f"(bundled: {', '.join(bundled_protocols())})")
    return path


def load_protocol(name_or_path: str | Path) -> Protocol:
    """Load and check a protocol file; one :class:`InputError` naming file and line if bad."""
    path = find(name_or_path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"protocol {path}: cannot read ({exc})") from None
    return parse_protocol(source, str(path))


def parse_protocol(source: str, path: str) -> Protocol:
    try:
        code = compile(source, path, "exec")
    except SyntaxError as exc:
        raise InputError(f"{path}, line {exc.lineno}: syntax error: {exc.msg}") from None
    from raphe.protocols.guard import DRY_RUN_CPU_S, Endless, ScriptGuard

    namespace: dict[str, Any] = {"__name__": "raphe_protocol", "__file__": path}
    try:
        with ScriptGuard(path, cpu_s=DRY_RUN_CPU_S):
            exec(code, namespace)  # noqa: S102 - a protocol is the user's own Python, on purpose
    except Endless as exc:
        raise InputError(f"{path}, line {exc.line}: {exc}") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any error at the top level
        line = error_line(exc, path)
        where = f"{path}, line {line}" if line else path
        raise InputError(f"{where}: {type(exc).__name__}: {exc}") from None
    level = _api_level(namespace.get("requires"), path, source)
    run = namespace.get("run")
    if not callable(run):
        raise InputError(f"{path}: no run(rig, params) function")
    metadata = namespace.get("metadata", {})
    if not isinstance(metadata, dict):
        raise InputError(f"{path}: metadata must be a dict, e.g. metadata = {{'name': '...'}}")
    if "description" not in metadata and namespace.get("__doc__"):
        metadata = {**metadata, "description": namespace["__doc__"]}
    parameters = namespace.get("parameters", [])
    if not isinstance(parameters, (list, tuple)) or not all(
            isinstance(p, Parameter) for p in parameters):
        raise InputError(f"{path}: parameters must be a list of Parameter(...)")
    names = [p.name for p in parameters]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"{path}: parameter {duplicates[0]!r} is declared twice")
    return Protocol(path=path, source=source, metadata=metadata, parameters=list(parameters),
                    run=run, parameter_lines=_declaration_lines(source, names),
                    run_line=getattr(getattr(run, "__code__", None), "co_firstlineno", None),
                    api_level=level)


def _api_level(requires: Any, path: str, source: str) -> str | None:
    """The Rig API level of ``requires = {"raphe": "1"}``; one line naming the file and
    line when it is malformed or a level this Raphe does not run."""
    if requires is None:
        return None
    line = next((i for i, text in enumerate(source.splitlines(), 1)
                 if text.lstrip().startswith("requires")), None)
    where = f"{path}, line {line}" if line else path
    if not isinstance(requires, dict) or "raphe" not in requires:
        raise InputError(f'{where}: requires must be a dict naming the Rig API level, e.g. '
                         f'requires = {{"raphe": "1"}}')
    level = str(requires["raphe"]).strip()
    if level not in API_LEVELS:
        raise InputError(f"{where}: the protocol needs Rig API level {level!r}; this Raphe "
                         f"runs level {', '.join(API_LEVELS)} (a newer Raphe may run it)")
    return level


def _declaration_lines(source: str, names: list[str]) -> dict[str, int]:
    """Line of each ``Parameter("name", ...)`` in the source."""
    lines: dict[str, int] = {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return lines
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in names
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Parameter"):
            lines.setdefault(node.args[0].value, node.lineno)
    return lines


def error_line(exc: BaseException, path: str) -> int | None:
    """The innermost line of ``path`` in the traceback of ``exc``."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            line = frame.lineno
    if line is None and isinstance(exc, SyntaxError) and exc.filename == path:
        line = exc.lineno
    return line


def caller_line(path: str) -> int | None:
    """The line of ``path`` that is executing now (innermost), for step errors."""
    import sys

    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == path:
            return frame.f_lineno
        frame = frame.f_back
    return None


def describe_parameters(protocol: Protocol) -> str:
    """Every parameter on its own line (for ``raphe check --list``)."""
    return "\n".join(p.describe() for p in protocol.parameters)


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
