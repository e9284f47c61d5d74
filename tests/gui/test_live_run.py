"""End to end in the window: simulated runs at high speed, driven from its buttons.

Quantified samples appear in the time course as the run goes; a prompt is answered from its
dialog; a marker and a flow change go into the session; pause, resume and abort work from the
buttons; closing the window mid-run asks first; a replay of the session shows what the live
run showed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from raphe.acquisition.reader import SessionReader
from raphe.protocols.engine import EXIT_ABORTED, State

from gui_helpers import DATA, WAIT_MS, prepare, short_drug_parameters, start

pytestmark = pytest.mark.slow  # simulated rig runs (on a scaled clock)


def course(window):
    return [(p.sample_id, p.x_min, p.y, p.flags) for p in window.timecourse_panel.points]


def test_a_run_with_a_prompt_a_marker_and_a_flow_change_then_its_replay(qtbot, window, dialogs):
    panel = prepare(window, DATA / "prompted.py")
    run = start(qtbot, window, panel)
    out = run.setup.out
    assert not panel.start_button.isEnabled()
    assert window.events_panel.marker_button.isEnabled()

    # the baseline samples are quantified live, before the prompt
    qtbot.waitUntil(lambda: len(window.prompt_dialogs) == 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: [p.sample_id for p in window.timecourse_panel.points] == ["B1", "B2"],
                    timeout=WAIT_MS)  # B2's chromatogram runs on while the prompt waits
    assert all(math.isfinite(p.y) for p in window.timecourse_panel.points)
    dialog = next(iter(window.prompt_dialogs.values()))
    assert not dialog.isModal()
    assert "fluoxetine" in dialog.prompt.text
    assert panel.prompt_banner.isVisible() and "Waiting for the operator" in \
        panel.prompt_banner.text()
    assert window.run.engine.status().prompt is not None  # the schedule waits

    # a marker at the current time, while the prompt waits
    window.events_panel.marker_edit.setText("animal groomed")
    qtbot.mouseClick(window.events_panel.marker_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(e.kind == "marker" and e.text == "animal groomed"
                                for e in window.model.events), timeout=WAIT_MS)

    # a flow the pump cannot drive is refused with the reason (the run goes on)
    window.set_flow(1e4)
    qtbot.waitUntil(lambda: any(e.startswith("Request refused") and "outside" in e
                                for e in window.errors), timeout=WAIT_MS)
    assert run.active

    # a flow change, confirmed in its dialog, reaches the pump
    rig = window.rig_panel
    rig.flow.setValue(1.5)
    dialogs.answer("Change flow")
    qtbot.mouseClick(rig.flow_button, Qt.MouseButton.LeftButton)
    assert "1.5 µL/min" in dialogs.texts[-1]
    qtbot.waitUntil(lambda: window.model.pump is not None
                    and math.isclose(window.model.pump.rate_uL_min, 1.5), timeout=WAIT_MS)
    # and back (the probe's recovery depends on the flow: the samples compare at 1 µL/min)
    rig.flow.setValue(1.0)
    dialogs.answer("Change flow")
    qtbot.mouseClick(rig.flow_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: math.isclose(window.model.pump.rate_uL_min, 1.0), timeout=WAIT_MS)

    # the prompt answered from its dialog: the run goes on to the drug
    dialog.answer.setText("given at 14:02")
    qtbot.mouseClick(dialog.confirm, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.prompt_banner.isVisible(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: run.done, timeout=WAIT_MS)
    assert run.outcome.exit_code == 0, run.outcome.message
    assert any(e.kind == "prompt" and "given at 14:02" in e.text for e in window.model.events)
    assert any(e.kind == "drug" for e in window.model.events)

    # every sample in the time course, 5-HT up after fluoxetine, the drug marked
    live = course(window)
    assert [s for s, *_ in live] == ["B1", "B2", "P1", "P2"]
    values = {s: y for s, _, y, _ in live}
    assert values["P2"] > 1.3 * (values["B1"] + values["B2"]) / 2
    drug_lines = [line for line in window.timecourse_panel.markers.lines if line[1] == "drug"]
    assert len(drug_lines) == 1 and "fluoxetine" in drug_lines[0][2]
    assert window.chromatogram_panel.shown.sample_id == "P2"
    assert panel.start_button.isEnabled()  # a new run may start (with a new file name)
    live_chromatograms = [(v.sample_id, [(p.name, p.rt_s, p.area) for p in v.result.peaks])
                          for v in window.model.chromatograms]

    with SessionReader(out) as reader:
        assert reader.status == "complete"
        assert reader.results() == window.model.results
        audit = " ".join(a["what"] for a in reader.audit())
    assert "flow set to 1.5" in audit and "flow set to 1 µL/min" in audit and "marker: animal groomed" in audit

    # the replay shows the same results as the live run
    replay = window.open_session(out)
    assert replay is not None
    qtbot.waitUntil(lambda: len(window.model.chromatograms) == len(live_chromatograms),
                    timeout=WAIT_MS)
    assert course(window) == live
    assert [(v.sample_id, [(p.name, p.rt_s, p.area) for p in v.result.peaks])
            for v in window.model.chromatograms] == live_chromatograms
    assert not window.events_panel.marker_button.isEnabled()  # a replay never writes


def test_pause_resume_and_abort_from_the_buttons(qtbot, window, dialogs):
    panel = prepare(window, "systemic-drug", short_drug_parameters(post_samples=8))
    run = start(qtbot, window, panel)
    assert panel.pause_button.isEnabled() and not panel.resume_button.isEnabled()
    qtbot.waitUntil(lambda: window.model.pump is not None
                    and window.model.pump.status == "infusing", timeout=WAIT_MS)

    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.state_label.text() == "paused", timeout=WAIT_MS)
    assert run.engine.state is State.PAUSED
    assert panel.resume_button.isEnabled() and not panel.pause_button.isEnabled()
    # perfusion and acquisition go on while paused
    first = window.model.pump.t
    qtbot.waitUntil(lambda: window.model.pump.t > first, timeout=WAIT_MS)
    assert window.model.pump.status == "infusing"

    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.state_label.text() == "running", timeout=WAIT_MS)

    dialogs.answer("Keep running")  # the abort asks first
    qtbot.mouseClick(panel.abort_button, Qt.MouseButton.LeftButton)
    assert run.active and "safe state" in dialogs.texts[-1]

    dialogs.answer("Abort run")
    qtbot.mouseClick(panel.abort_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: run.done, timeout=WAIT_MS)
    assert run.outcome.exit_code == EXIT_ABORTED
    assert "aborted" in panel.step_label.text()
    assert window.rig_panel.links["pump"].text() == "closed (safe state)"
    assert window.rig_panel.pump_status.text() == "stopped (safe state)"
    with SessionReader(run.setup.out) as reader:
        assert reader.status == "complete"
        pump = reader.pump()
    assert pump and pump[-1].t <= run.outcome.plan.duration_s


def test_closing_the_window_mid_run_asks_first(qtbot, window, dialogs):
    panel = prepare(window, "systemic-drug", short_drug_parameters(post_samples=8))
    run = start(qtbot, window, panel)

    dialogs.answer("Keep running")
    window.close()
    assert window.isVisible() and run.active
    assert "unknown state" in dialogs.texts[-1]

    # close while the first sample's tube is filling
    qtbot.waitUntil(lambda: run.engine.status().step.startswith("collect"), timeout=WAIT_MS)
    qtbot.wait(300)  # 90 s of the session into the sample
    dialogs.answer("Abort and close")
    with qtbot.waitSignal(window.closed, timeout=WAIT_MS):
        window.close()
    assert run.done and not window.isVisible()
    assert run.outcome.exit_code == EXIT_ABORTED
    with SessionReader(run.setup.out) as reader:
        assert reader.status == "complete"
        assert reader.n_samples > 0
        assert np.isfinite(reader.signal()[1]).any()
        fractions = reader.fractions()
        assert reader.metadata["end_reason"] == "aborted"
    # the tube in the rack is in the file: what it holds, and that it is partial
    assert [(f.tube, f.sample_id, f.flags) for f in fractions] == [(1, "B1", "partial")]
    assert 0 < fractions[0].volume_uL < 20.0


def test_a_rig_that_cannot_be_opened_is_reported_and_nothing_is_written(qtbot, window,
                                                                      tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text(
        '[pump]\ndriver = "ne1000"\nport = "' + str(tmp_path / "no-such-tty") + '"\n'
        "syringe_diameter_mm = 4.61\nsyringe_volume_uL = 1000.0\n"
        '[detector]\ndriver = "dmm34465a"\nresource = "TCPIP::127.0.0.1::9::SOCKET"\n'
        "interval_s = 0.1\nscale_nA_per_V = 10.0\n", encoding="utf-8")
    panel = window.protocol_panel
    assert panel.load("online-monitoring", {"minutes": 30})
    panel.set_rig(str(rig))
    panel.check()
    assert panel.can_start, panel.problem
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    run = window.run
    qtbot.waitUntil(lambda: run.done, timeout=WAIT_MS)
    assert run.outcome.state is State.FAILED
    assert window.errors and window.errors[-1].startswith("The run failed")
    assert "no-such-tty" in window.errors[-1]
    assert not run.setup.out.exists()
    assert panel.start_button.isEnabled()
