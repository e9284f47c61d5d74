"""Session → file → SessionReader round trip, ordering, metadata and never-overwrite."""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pytest

from raphe.acquisition import store
from raphe.acquisition.reader import SessionReader
from raphe.acquisition.replay import Replay
from raphe.acquisition.session import Session, SessionError
from raphe.errors import InputError
from raphe.records import Event

from session_helpers import Log, blocks, same_stream, sample_records

RIG = {"text": "[pump]\ndriver = 'ne1000'\n",
       "identities": {"pump": {"model": "NE-1000", "serial": "12345", "firmware": "V3.934"}}}
PROTOCOL = {"name": "baseline-ipsapirone", "source": "def run(rig):\n    rig.wait(minutes=20)\n",
            "parameters": {"interval_min": 20, "dose_mg_kg": 0.3}}


def make(path, **kw):
    return Session.create(path, operator="ana", animal_id="R17", notes="PFC, 1.5 uL/min",
                          rig=RIG, protocol=PROTOCOL, method_toml="[peaks]\n",
                          signal_dt=0.1, scale_nA_per_V=10.0, wall_start=1.7e9, **kw)


def test_round_trip_every_table_and_metadata(tmp_path):
    path = tmp_path / "s.h5"
    recs = sample_records()
    bl = blocks([10, 1, 37, 200, 5])
    with make(path) as s:
        for b in bl[:2]:
            s.add_block(b)
        for e in recs["events"]:
            s.add_event(e)
        for b in bl[2:]:
            s.add_block(b)
        for x in recs["injections"]:
            s.add_injection(x)
        for x in recs["fractions"]:
            s.add_fraction(x)
        for x in recs["pump"]:
            s.add_pump_state(x)
        for x in recs["results"]:
            s.add_result(x)
        s.add_range_change(4.0, 20.0, "range 2 nA -> 5 nA")
        s.add_audit("ana", "baseline samples = S001..S003", "S001..S004", t=5.0)
        s.add_calibration(6.0, "5-HT", {"slope": 0.31, "intercept": 0.0})
    with SessionReader(path) as r:
        assert r.complete and r.status == "complete"
        m = r.metadata
        assert (m["operator"], m["animal_id"], m["notes"]) == ("ana", "R17", "PFC, 1.5 uL/min")
        assert m["rig"]["identities"]["pump"]["serial"] == "12345"
        assert m["rig"]["text"] == RIG["text"]
        assert m["protocol"]["sha256"] == hashlib.sha256(PROTOCOL["source"].encode()).hexdigest()
        assert m["protocol"]["parameters"] == PROTOCOL["parameters"]
        assert m["method_toml"] == "[peaks]\n"
        assert m["format_version"] == store.FORMAT_VERSION and m["wall_start"] == 1.7e9
        assert m["signal"] == {"dt": 0.1, "units": "nA", "scale_nA_per_V": 10.0}
        assert r.events()[:3] == recs["events"]
        assert r.events()[3].kind == "range" and "scale_nA_per_V=20" in r.events()[3].text
        assert r.injections() == recs["injections"]
        assert r.fractions() == recs["fractions"]
        assert r.pump() == recs["pump"]
        got = r.results()
        assert got[0] == recs["results"][0]
        assert got[1].flags == "not_found" and np.isnan(got[1].conc_nM)
        assert r.audit()[0]["previous"] == "S001..S004"
        assert r.calibration()[0]["fit"]["slope"] == 0.31
        assert r.n_samples == 253
        assert r.duration_s == pytest.approx(25.3)
        t, v = r.signal()
        np.testing.assert_array_equal(v, np.concatenate([b.values for b in bl]))
        np.testing.assert_array_equal(r.overload(), np.concatenate([b.overload for b in bl]))
        np.testing.assert_allclose(t, np.arange(253) * 0.1, atol=1e-12)
        got_blocks = list(r.blocks())
        same_stream([("block", b) for b in bl], [("block", b) for b in got_blocks])
        assert r.check() == {"status": "complete", "timestamps_monotonic": True,
                             "tables_consistent": True, "problems": [], "gaps": []}


def test_creating_over_an_existing_file_fails_and_leaves_it(tmp_path):
    path = tmp_path / "s.h5"
    path.write_bytes(b"recorded data")
    with pytest.raises(InputError, match=str(path)):
        make(path)
    assert path.read_bytes() == b"recorded data"


def test_bad_arguments_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="signal_dt"):
        Session.create(tmp_path / "a.h5", signal_dt=0)
    with pytest.raises(InputError, match="does not exist"):
        Session.create(tmp_path / "nope" / "a.h5", signal_dt=0.1)


def test_long_text_is_cut_on_a_character_boundary(tmp_path):
    path = tmp_path / "s.h5"
    with make(path) as s:
        s.add_event(Event(0.0, "marker", "é" * 400))
    with SessionReader(path) as r:
        text = r.events()[0].text
    assert text == "é" * 256


def test_closed_session_refuses_records(tmp_path):
    s = make(tmp_path / "s.h5")
    s.close()
    with pytest.raises(SessionError, match="closed"):
        s.add_event(Event(0.0, "marker", "late"))
    s.close()  # idempotent


def test_subscribers_and_replay_see_the_file_order_from_many_threads(tmp_path):
    path = tmp_path / "s.h5"
    live = Log()
    bl = blocks([7] * 300, seed=3)
    with make(path) as s:
        s.subscribe(live)

        def producer(k):
            for i in range(100):
                s.add_event(Event(float(i), "marker", f"thread {k} #{i}", "protocol"))

        threads = [threading.Thread(target=producer, args=(k,)) for k in range(3)]
        for th in threads:
            th.start()
        for b in bl:  # the detector thread
            s.add_block(b)
        for th in threads:
            th.join()
    replayed = Log()
    with Replay(path) as rp:
        assert rp.run(replayed) == 600
    same_stream(live.items, replayed.items)
    with SessionReader(path) as r:
        seqs = np.concatenate([r.table("blocks")["seq"], r.table("events")["seq"]])
        assert sorted(seqs) == list(range(600))


def test_a_failing_consumer_does_not_stop_recording(tmp_path):
    def broken(kind, record):
        raise ValueError("boom")

    path = tmp_path / "s.h5"
    with make(path) as s:
        sub = s.subscribe(broken)
        for b in blocks([5, 5]):
            s.add_block(b)
        assert sub.flush(timeout=30)
        assert sub.failures == 2
    with SessionReader(path) as r:
        assert r.n_samples == 10


def test_a_writer_failure_is_reported_and_flushed_data_stay_readable(tmp_path):
    from raphe.records import DetectorBlock

    path = tmp_path / "s.h5"
    s = make(path)
    for b in blocks([20, 20]):
        s.add_block(b)
    assert s.sync(timeout=30)
    s.add_block(DetectorBlock(40, 4.0, 0.1, np.array(["not a number"])))  # the writer chokes
    assert s.sync(timeout=30) is False
    with pytest.raises(SessionError, match="writer failed"):
        s.add_event(Event(5.0, "marker", "after the failure"))
    with pytest.raises(SessionError, match="writer failed"):
        s.close()
    with SessionReader(path) as r:
        assert r.status == "open" and r.n_samples == 40
