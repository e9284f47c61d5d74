"""A session writer to be killed: feeds synthetic blocks and events through ``Session``.

Usage: ``python crash_writer.py PATH [BLOCK_SAMPLES]``. Sample ``i`` has value
``i`` (so a reader can check every value), blocks are 10 kHz, an event every
10 blocks. After each ``add_*`` returns it prints ``kind index_end wall_time``
(the moment the record counts as acquired); ``ready`` once the file exists.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from raphe.acquisition.session import Session
from raphe.records import DetectorBlock, Event, Injection

DT = 1e-4


def main() -> None:
    path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    session = Session.create(path, signal_dt=DT, operator="crash-test", flush_interval=0.5)
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    index = 0
    k = 0
    while True:
        values = np.arange(index, index + n, dtype=np.float64)
        session.add_block(DetectorBlock(index, index * DT, DT, values))
        index += n
        out.write(f"block {index} {time.time()!r}\n")
        if k % 10 == 0:
            session.add_event(Event(index * DT, "marker", f"after {index}", "protocol"))
            out.write(f"event {index} {time.time()!r}\n")
        if k % 50 == 0:
            session.add_injection(Injection(index * DT, f"S{k}", 20.0))
            out.write(f"injection {index} {time.time()!r}\n")
        out.flush()
        k += 1
        time.sleep(0.005)


def kill_mid_write(path: Path, log: Path, blocks: int = 150) -> None:
    """Run this writer on ``path`` (its lines to ``log``) and SIGKILL it after ``blocks``."""
    root = Path(__file__).resolve().parents[2]
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, __file__, str(path)], stdout=fh,
                                env=dict(os.environ, PYTHONPATH=str(root)))
    deadline = time.monotonic() + 60
    while log.read_text().count("block") < blocks:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


if __name__ == "__main__":
    main()
