"""The control channel: a running session answered, paused, resumed and aborted from another
shell of the same user (``raphe control SESSION …``), so a run without a terminal never
waits for an operator nobody can reach.

While a run goes on, the engine listens on a Unix-domain socket beside the session file
(``<session>.control``). Only the user who started the run can use it: the socket is made
readable and writable by its owner alone, and every connection's peer credentials are
checked (``SO_PEERCRED``: the same user id). A request is one line of JSON, a reply is one
line of JSON: ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. Requests only post
what a window button posts (the engine's requests); nothing reaches an instrument directly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raphe.errors import InputError, RapheError

if TYPE_CHECKING:
    from raphe.protocols.engine import Engine

log = logging.getLogger(__name__)

#: What ``raphe control`` can ask, and what it takes.
COMMANDS = {
    "status": "the run's state, step, open prompt and recent alarms",
    "pause": "hold the schedule (perfusion and acquisition go on)",
    "resume": "resume the schedule (after a stall, the pump restarts first)",
    "abort": "stop: every instrument to its safe state, the file closed complete",
    "answer": "answer the open prompt: TEXT (default yes)",
    "mark": "add a marker: TEXT",
    "flow": "change the perfusion flow: RATE µL/min",
}
#: The longest request line accepted.
MAX_REQUEST = 4096


def socket_path(session: str | Path) -> Path:
    """Where a session's control socket is: beside the session file."""
    session = Path(session)
    return session.with_name(session.name + ".control")


class ControlServer:
    """Serve control requests for ``engine`` on ``path`` until :meth:`close`."""

    def __init__(self, engine: Engine, path: str | Path) -> None:
        self.engine = engine
        self.path = Path(path)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    def start(self) -> None:
        if len(str(self.path).encode()) > 100:  # AF_UNIX paths are short (108 bytes)
            raise InputError(f"control socket path too long: {self.path}")
        with contextlib.suppress(FileNotFoundError):
            if self.path.is_socket():
                self.path.unlink()  # left by a run that was killed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is created rw for its owner only
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(4)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="raphe-control", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    self._handle(conn)
                except Exception as exc:  # noqa: BLE001 - one bad client never stops the run
                    log.warning("control request failed: %s", exc)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(2.0)
        if not _same_user(conn):
            _reply(conn, {"ok": False, "error": "not the user running this session"})
            return
        data = b""
        while b"\n" not in data and len(data) < MAX_REQUEST:
            chunk = conn.recv(MAX_REQUEST)
            if not chunk:
                break
            data += chunk
        try:
            request = json.loads(data.split(b"\n", 1)[0] or b"{}")
            reply = self.handle(str(request.get("command", "")), request.get("arg"))
        except (ValueError, AttributeError) as exc:
            reply = {"ok": False, "error": f"bad request: {exc}"}
        _reply(conn, reply)

    def handle(self, command: str, arg: Any = None) -> dict[str, Any]:
        """Carry out one request (also callable directly, e.g. by tests)."""
        engine = self.engine
        try:
            if command == "status":
                return {"ok": True, **status_json(engine)}
            if command == "pause":
                engine.request_pause("operator (raphe control)")
            elif command == "resume":
                engine.request_resume()
            elif command == "abort":
                engine.request_abort("aborted by the operator (raphe control)")
            elif command == "answer":
                prompt = engine.status().prompt
                if prompt is None:
                    return {"ok": False, "error": "no prompt is waiting"}
                text = str(arg) if arg not in (None, "") else "yes"
                if not engine.answer(prompt.id, text, who="operator (raphe control)"):
                    return {"ok": False, "error": "the prompt was answered meanwhile"}
                return {"ok": True, "answered": prompt.text, "with": text}
            elif command == "mark":
                if not arg:
                    return {"ok": False, "error": "mark needs a text"}
                engine.mark(str(arg), who="operator (raphe control)")
            elif command == "flow":
                engine.request_flow(float(arg), who="operator (raphe control)")
            else:
                return {"ok": False, "error": f"unknown command {command!r} (known: "
                                              f"{', '.join(COMMANDS)})"}
        except (RapheError, TypeError, ValueError) as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True}


def status_json(engine: Engine) -> dict[str, Any]:
    status = engine.status()
    prompt = status.prompt
    return {"state": status.state, "t_s": status.t, "phase": status.phase,
            "step": status.step, "samples_done": status.samples_done,
            "samples_total": status.samples_total, "paused_because": status.paused_because,
            "prompt": None if prompt is None else {"id": prompt.id, "text": prompt.text,
                                                   "t_s": prompt.t},
            "alarms": status.alarms}


def _same_user(conn: socket.socket) -> bool:
    """Whether the peer runs as this process's user (Linux ``SO_PEERCRED``)."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return True  # other systems: the socket's 0600 mode is the guard
    creds = conn.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def _reply(conn: socket.socket, reply: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(reply, default=str).encode() + b"\n")


def request(session: str | Path, command: str, arg: Any = None,
            timeout: float = 10.0) -> dict[str, Any]:
    """Send one request to the run writing ``session``; its reply. InputError when no run is
    listening there."""
    path = socket_path(session)
    if not path.exists():
        raise InputError(f"{session}: no run is writing this session (no {path.name}); "
                         "is it finished, or started on another machine?")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        sock.sendall(json.dumps({"command": command, "arg": arg}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionRefusedError, FileNotFoundError):
        raise InputError(f"{session}: the run that wrote it is gone (a stale "
                         f"{path.name})") from None
    except PermissionError:
        raise InputError(f"{path}: only the user running the session can control it") from None
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    finally:
        sock.close()
    try:
        return json.loads(data or b"{}")
    except ValueError:
        raise InputError(f"{path}: an unreadable reply") from None
