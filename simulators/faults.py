"""Fault injection by name, for the command line and for tests: ``ROLE ACTION [ARG]``.

The same words work on ``raphe simulate rig --faults`` (one per line on
standard input) and from Python (``apply_fault(rig, "pump stall")``). Every
simulated instrument can be unplugged and plugged back, answer garbage, answer
late or not at all, and raise its own alarm.
"""

from __future__ import annotations

HELP = """faults (ROLE ACTION [ARG]):
  pump|valve|collector|selector: unplug | plug | garbage [N] | slow SECONDS | lose [N]
  pump: stall | empty | power_cycle | refill [uL]   (another animal's: pump_2 …)
  collector: busy SECONDS | rack_end | refuse_reads
  detector: unplug | plug | drop | garbage [N] | slow SECONDS | lose [N] |
            overload SECONDS | stall | resume"""


def apply_fault(rig, line: str) -> str:
    """Apply one fault to a running ``SimulatedRig``; return what was done (raise ValueError)."""
    words = line.split()
    if len(words) < 2:
        raise ValueError(f"expected ROLE ACTION [ARG], got {line.strip()!r}")
    role, action, *rest = words
    sim = rig.instruments().get(role)
    if sim is None:
        raise ValueError(f"no simulated {role!r} here (have: {', '.join(rig.roles)})")
    try:
        arg = float(rest[0]) if rest else None
    except ValueError:
        raise ValueError(f"{role} {action}: {rest[0]!r} is not a number") from None
    count = int(arg) if arg else 1
    # The link faults, the same names for every instrument: the serial simulators' port
    # (a pty) and the DMM simulator's TCP server answer them alike.
    link = sim if role == "detector" else sim.port
    actions = {
        "unplug": link.unplug,
        "plug": link.plug,
        "garbage": lambda: link.inject_garbage(count=count),
        "slow": lambda: link.slow_replies(arg or 0.0),
        "lose": lambda: link.lose_replies(count),
    }
    if role == "detector":
        actions.update(
            drop=sim.drop_connection,
            overload=lambda: sim.force_overload(
                rig.clock.now(), rig.clock.now() + (arg if arg is not None else 10.0)
            ),
            stall=sim.stall,
            resume=sim.resume,
        )
    if role.split("_")[0] == "pump":  # pump, or another animal's pump_2 …
        actions.update(
            stall=sim.device.stall,
            empty=sim.device.empty,
            power_cycle=sim.device.power_cycle,
            refill=lambda: sim.device.refill(arg),
        )
    if role == "collector":
        actions.update(
            busy=lambda: sim.device.hold_busy(arg or 10.0),
            rack_end=sim.device.rack_end,
            refuse_reads=sim.device.refuse_reads,
        )
    if action not in actions:
        raise ValueError(f"{role} has no fault {action!r} (have: {', '.join(actions)})")
    actions[action]()
    return f"{role} {action}" + (f" {rest[0]}" if rest else "")
