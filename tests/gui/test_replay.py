"""Replay: the recorded session at once, played and scrubbed; reanalysis into a NEW file."""

from __future__ import annotations

import hashlib

from raphe.acquisition.reader import SessionReader

from gui_helpers import WAIT_MS


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_scrubbing_shows_the_session_as_it_was(qtbot, window, recorded_session):
    replay = window.open_session(recorded_session)
    qtbot.waitUntil(lambda: len(window.model.chromatograms) == len(window.model.injections),
                    timeout=WAIT_MS)
    everything = list(window.model.results)
    drug_t = next(e.t for e in window.model.events if e.kind == "drug")
    replay.seek(drug_t)
    run = replay.method.run_length_s
    assert window.model.results == [r for r in everything if r.inject_t + run <= drug_t]
    assert all(e.t <= drug_t for e in window.model.events)
    assert all(v.end_t <= drug_t for v in window.model.chromatograms)
    assert window.model.limit == drug_t and window.trace_panel.cursor.isVisible()
    assert window.replay_panel.slider.value() == round(drug_t)
    shown = [p.sample_id for p in window.timecourse_panel.points]
    assert shown and all(s.startswith("B") for s in shown)
    # the slider scrubs too: its right end is the session's end (ever so slightly past
    # the last whole second)
    window.replay_panel.slider.setValue(window.replay_panel.slider.maximum())
    assert window.model.results == everything and replay.cursor == replay.t_end


def test_playing_moves_the_cursor_and_reveals_the_results(qtbot, window, recorded_session):
    replay = window.open_session(recorded_session)
    total = len(window.model.results)
    window.replay_panel.speed_box.setCurrentText("1000×")
    window.replay_panel.play_button.click()  # from the end: starts again at the beginning
    assert replay.playing and window.model.results == []
    qtbot.waitUntil(lambda: len(window.model.results) > 0, timeout=WAIT_MS)
    window.replay_panel.play_button.click()
    assert not replay.playing
    paused_at = replay.cursor
    qtbot.wait(200)
    assert replay.cursor == paused_at
    window.toggle_replay()  # Space
    qtbot.waitUntil(lambda: not replay.playing, timeout=WAIT_MS)  # plays to the end
    assert replay.cursor == replay.t_end and len(window.model.results) == total


def test_reanalysis_writes_a_new_session_and_never_the_original(qtbot, window,
                                                                recorded_session, tmp_path):
    before = digest(recorded_session)
    window.open_session(recorded_session)
    window.reanalyse("simulated-5ht", recorded_session)  # refused: it exists
    assert "never overwritten" in window.errors[-1]
    out = tmp_path / "again.h5"
    window.reanalyse("simulated-5ht", out)
    qtbot.waitUntil(lambda: window.replay is not None and window.replay.path == out,
                    timeout=WAIT_MS)
    assert digest(recorded_session) == before
    with SessionReader(recorded_session) as old, SessionReader(out) as new:
        assert new.status == "complete"
        assert new.results() == old.results()  # the same method: the same results
        assert any("reanalysed" in a["what"] for a in new.audit())
    assert "again.h5" in window.mode_label.text()
