"""The status page's server: read-only, loopback by default, off every run thread.

Starlette on uvicorn, in a thread of its own with its own event loop, so it can never slow
or stop acquisition. Routes (GET only; anything else is 405, any other path 404 — no file
is served but the page itself):

* ``/`` — the page (HTML, its CSS and script inline: nothing fetched from anywhere else);
* ``/api/status`` — state, phase, progress, what comes next (with clock times), alarms,
  the waiting prompt, the latest result;
* ``/api/results`` — the 5-HT time course (nM, % of baseline, flags) and the latest
  chromatogram (``?analyte=`` another one);
* ``/api/stream`` — Server-Sent Events: an ``update`` each time the run publishes
  something, so the page redraws without a reload.

Bound to a loopback address it answers anyone on this machine; bound to any other address
it requires the access token on every request (``Authorization: Bearer TOKEN`` or
``?token=TOKEN``) and refuses to start without one.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import math
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any

from raphe.errors import InputError
from raphe.gui.remote.source import Source

log = logging.getLogger(__name__)

PAGE = "page.html"


def parse_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` → (host, port); the host defaults to 127.0.0.1."""
    host, sep, port = str(text).rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise InputError(f"--serve {text}: expected [HOST:]PORT, e.g. 8765 or "
                         "127.0.0.1:8765") from None
    if not 0 <= number <= 65535:
        raise InputError(f"--serve {text}: port {number} is not from 0 to 65535")
    return host, number


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _page() -> bytes:
    return (resources.files("raphe.gui.remote") / PAGE).read_bytes()


def make_app(source: Source, token: str | None):
    """The Starlette application serving ``source``; ``token`` required when given."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    class TokenRequired(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):
            given = request.query_params.get("token", "")
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"error": "access token required"}, status_code=401)
            return await call_next(request)

    async def page(request):
        return Response(_page(), media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": "default-src 'self'; style-src "
                                 "'unsafe-inline'; script-src 'unsafe-inline'; connect-src "
                                 "'self'; img-src 'self' data:"})

    async def status(request):
        return JSONResponse(_json_safe(source.status()))

    async def results(request):
        analyte = request.query_params.get("analyte", "5-HT")
        return JSONResponse(_json_safe(source.results_json(analyte)))

    async def stream(request):
        async def updates():
            seen = -1
            while True:
                if await request.is_disconnected():
                    return
                if source.version != seen:
                    seen = source.version
                    yield f"event: update\ndata: {json.dumps({'version': seen})}\n\n"
                else:
                    yield ": keep-alive\n\n"
                await asyncio.sleep(0.5)

        return StreamingResponse(updates(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    routes = [Route("/", page, methods=["GET"]),
              Route("/api/status", status, methods=["GET"]),
              Route("/api/results", results, methods=["GET"]),
              Route("/api/stream", stream, methods=["GET"])]
    middleware = [Middleware(TokenRequired)] if token else []
    return Starlette(routes=routes, middleware=middleware)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


class StatusServer:
    """Serve ``source`` on ``address`` (``[HOST:]PORT``) in a thread of its own.

    ``on_failure(text)`` is told if the server stops by itself (the run goes on)."""

    def __init__(self, source: Source, address: str,
                 on_failure: Callable[[str], None] | None = None,
                 token: str | None = None) -> None:
        from raphe.gui.remote import settings

        self.source = source
        self.host, self.port = parse_address(address)
        self.token = token if token is not None else (
            None if is_loopback(self.host) else settings.token())
        if not is_loopback(self.host) and not self.token:
            raise InputError(f"serving on {self.host} (not this machine only) needs an access "
                             "token: make one with `raphe serve --new-token`, then give it to "
                             "the people who may see the page")
        self.on_failure = on_failure
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self, wait_s: float = 10.0) -> None:
        """Start serving; raises InputError if the address cannot be bound."""
        import socket

        import uvicorn

        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET,
                             socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise InputError(f"--serve {self.host}:{self.port}: cannot listen there "
                             f"({exc.strerror or exc})") from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(make_app(self.source, self.token), log_level="warning",
                                access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)

        def serve() -> None:
            try:
                self._server.run(sockets=[sock])
            except BaseException as exc:  # noqa: BLE001 - the run goes on without the page
                log.error("status page stopped: %s", exc)
                if self.on_failure is not None:
                    self.on_failure(f"status page stopped: {exc}")
            finally:
                sock.close()

        self._thread = threading.Thread(target=serve, name="raphe-status-page", daemon=True)
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(wait_s / 0.05)):
            if self._server.started or not self._thread.is_alive():
                break
            deadline.wait(0.05)

    def close(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
