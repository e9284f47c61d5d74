"""Notifications when the rig needs a person, through Apprise (email, Slack, Teams, Matrix,
ntfy, Telegram… one URL each: ``raphe notify --add URL``).

Sent for the alarms that demand a person (perfusion stopped, the detector lost, an
instrument not safe, the disk nearly full), for operator prompts, and at the end of a run
with a one-line summary and the status page's link. Each kind is rate-limited (a flapping
cable sends one message, then a count); a failed notification is retried a few times,
then recorded as an event in the session. Sending happens on a thread of its own: it never
blocks or stops the run.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from raphe import severity

if TYPE_CHECKING:
    from raphe.protocols.engine import Engine

log = logging.getLogger(__name__)

#: The least time (real s) between two notifications of one kind.
MIN_INTERVAL_S = 300.0
#: Attempts per notification, and the waits between them (s).
RETRY_WAITS_S = (2.0, 5.0, 10.0)


@dataclass
class Message:
    kind: str  # perfusion, detector, unsafe, disk, prompt, end
    title: str
    body: str


class Notifier:
    """Sends the notifications of one run to ``urls`` (Apprise URLs)."""

    def __init__(self, urls: list[str], engine: Engine | None = None, page_url: str = "",
                 send: Callable[[str, str], bool] | None = None,
                 min_interval_s: float = MIN_INTERVAL_S,
                 retry_waits_s: tuple[float, ...] = RETRY_WAITS_S) -> None:
        self.urls = list(urls)
        self.engine = engine
        self.page_url = page_url
        self.min_interval_s = min_interval_s
        self.retry_waits_s = retry_waits_s
        self._send = send or self._apprise
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.sent: list[Message] = []
        self.failed: list[Message] = []
        self._thread = threading.Thread(target=self._work, name="raphe-notify", daemon=True)
        self._thread.start()
        if engine is not None:
            engine.subscribe(self.on_engine)

    # -- what the run publishes ------------------------------------------------------------

    def on_engine(self, kind: str, payload: Any) -> None:
        """An engine notification (called on the engine's threads: only queues)."""
        who = self._who()
        if kind == "alarm":
            what = severity.kind(str(payload))
            if what is not None:
                self.post(Message(what, f"Raphe: {who} needs attention", str(payload)))
        elif kind == "prompt":
            self.post(Message("prompt", f"Raphe: {who} is waiting for the operator",
                              payload.text))
        elif kind == "done" and payload is not None:
            self.post(Message("end", f"Raphe: {who} {payload.message.split(';')[0]}",
                              self._summary(payload)))

    def post(self, message: Message) -> None:
        """Queue ``message`` unless one of its kind went out less than the interval ago
        (ends are never held back)."""
        now = time.monotonic()
        last = self._last.get(message.kind)
        if message.kind != "end" and last is not None and now - last < self.min_interval_s:
            self._held[message.kind] = self._held.get(message.kind, 0) + 1
            return
        held = self._held.pop(message.kind, 0)
        if held:
            message.body += f" ({held} more of these since the last message)"
        self._last[message.kind] = now
        if self.page_url:
            message.body += f"\n{self.page_url}"
        self._queue.put(message)

    def close(self, timeout: float = 30.0) -> None:
        """Send what is queued (at most ``timeout`` s), then stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    # -- sending ---------------------------------------------------------------------------

    def _who(self) -> str:
        if self.engine is None:
            return "the rig"
        s = self.engine.settings
        return (f"{s.animal_id} " if s.animal_id else "") + f"({self.engine.protocol.name})"

    def _summary(self, outcome: Any) -> str:
        parts = [outcome.message, f"{outcome.samples} samples"]
        ht = [r for r in outcome.results if r.analyte == "5-HT"]
        pct = [r for r in ht if math.isfinite(r.pct_baseline)]
        conc = [r for r in ht if math.isfinite(r.conc_nM)]
        if pct:
            peak = max(pct, key=lambda r: abs(r.pct_baseline - 100))
            parts.append(f"5-HT {peak.pct_baseline:.0f} % of baseline at {peak.sample_id}")
        elif conc:
            parts.append(f"5-HT {conc[-1].conc_nM:.3g} nM at {conc[-1].sample_id}")
        if outcome.session is not None:
            parts.append(str(outcome.session))
        return "; ".join(parts)

    def _work(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            for attempt, wait in enumerate((0.0, *self.retry_waits_s)):
                if wait:
                    time.sleep(wait)
                try:
                    if self._send(message.title, message.body):
                        self.sent.append(message)
                        break
                except Exception as exc:  # noqa: BLE001 - a notification never stops a run
                    log.info("notification attempt %d failed: %s", attempt + 1, exc)
            else:
                self.failed.append(message)
                text = (f"notification not delivered after {1 + len(self.retry_waits_s)} "
                        f"attempts: {message.title}")
                log.warning(text)
                if self.engine is not None:
                    self.engine.record_event("info", text, "operator")

    def _apprise(self, title: str, body: str) -> bool:
        import apprise

        sender = apprise.Apprise()
        for url in self.urls:
            sender.add(url)
        return bool(sender.notify(title=title, body=body))


def send_test(urls: list[str]) -> bool:
    """Send one test message to every URL; True when it was delivered."""
    import apprise

    sender = apprise.Apprise()
    for url in urls:
        sender.add(url)
    return bool(sender.notify(title="Raphe: test", body="Notifications from Raphe reach you."))
