"""Fault injection by name, for the command line and for tests: ``ROLE ACTION [ARG]``.

Examples: ``pump stall``, ``pump unplug``, ``pump plug``, ``valve garbage``,
``collector busy 30``, ``detector overload 60``, ``detector drop``, ``pump slow 0.5``,
``valve lose 2``.
"""

from __future__ import annotations

HELP = """faults (ROLE ACTION [ARG]):
  pump|valve|collector: unplug | plug | garbage | slow SECONDS | lose [N]
  pump: stall | power_cycle | refill [uL]
  collector: busy SECONDS
  detector: drop | garbage | slow SECONDS | lose [N] | overload SECONDS"""


def apply_fault(rig, line: str) -> str:
    """Apply one fault to a running ``SimulatedRig``; return what was done (raise ValueError)."""
    words = line.split()
    if len(words) < 2:
        raise ValueError(f"expected ROLE ACTION [ARG], got {line.strip()!r}")
    role, action, *rest = words
    sim = rig.instruments().get(role)
    if sim is None:
        raise ValueError(f"no simulated {role!r} here (have: {', '.join(rig.roles)})")
    arg = float(rest[0]) if rest else None
    if role == "detector":
        actions = {
            "drop": lambda: sim.drop_connection(),
            "garbage": lambda: sim.garbage_replies(b"\x00\xff#garbage"),
            "slow": lambda: sim.slow_replies(arg or 0.0),
            "lose": lambda: sim.lose_replies(int(arg or 1)),
            "overload": lambda: sim.force_overload(
                rig.clock.now(), rig.clock.now() + (arg if arg is not None else 10.0)
            ),
        }
    else:
        port = sim.port
        actions = {
            "unplug": port.unplug,
            "plug": port.plug,
            "garbage": lambda: port.inject_garbage(),
            "slow": lambda: port.slow_replies(arg or 0.0),
            "lose": lambda: port.lose_replies(int(arg or 1)),
        }
        if role == "pump":
            actions.update(
                stall=sim.device.stall,
                power_cycle=sim.device.power_cycle,
                refill=lambda: sim.device.refill(arg),
            )
        if role == "collector":
            actions["busy"] = lambda: sim.device.hold_busy(arg or 10.0)
    if action not in actions:
        raise ValueError(f"{role} has no fault {action!r} (have: {', '.join(actions)})")
    actions[action]()
    return f"{role} {action}" + (f" {rest[0]}" if rest else "")
