"""Helpers shared by the serial driver tests: a byte log around a simulated device, and
the unplug-mid-command scenario. The pty between driver and simulator stays real."""

from __future__ import annotations

import threading
from collections.abc import Callable


class WireLog:
    """Wraps a simulated device to log every (bytes in, bytes out) exchange."""

    def __init__(self, device) -> None:
        self.device = device
        self.log: list[tuple[bytes, bytes]] = []
        self.received = threading.Event()

    def receive(self, data: bytes) -> bytes:
        out = self.device.receive(data)
        self.log.append((data, out))
        self.received.set()
        return out

    def poll(self) -> bytes:
        return self.device.poll()

    @property
    def arrived_after(self) -> float | None:
        """Passed through to a device that times the gaps between bytes (GSIOC)."""
        return getattr(self.device, "arrived_after", None)

    @arrived_after.setter
    def arrived_after(self, moment: float | None) -> None:
        if hasattr(self.device, "arrived_after"):
            self.device.arrived_after = moment

    def take(self) -> list[tuple[bytes, bytes]]:
        """The exchanges since the last call."""
        log, self.log = self.log, []
        return log

    def take_bytes(self) -> tuple[bytes, bytes]:
        """Everything sent and everything replied since the last call."""
        log = self.take()
        return b"".join(i for i, _ in log), b"".join(o for _, o in log)


def unplug_during(port, wire: WireLog, command: Callable[[], object]) -> list[BaseException]:
    """Run ``command`` on a thread, unplug ``port`` once the device has its bytes (the reply
    is lost first, so the driver is waiting), and return what the command raised."""
    port.lose_replies(1)
    wire.received.clear()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            command()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert wire.received.wait(30)
    port.unplug()
    worker.join(15)  # far less than the 60 s reply timeout the tests give the driver
    assert not worker.is_alive(), "the driver is still waiting 15 s after the unplug"
    return outcome
