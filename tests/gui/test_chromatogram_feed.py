"""Each chromatogram with its integration comes from the one analysis path: the same peaks as
the results stored by the run, over the stored signal of the run."""

from __future__ import annotations

import numpy as np

from raphe.acquisition.reader import SessionReader
from raphe.acquisition.replay import Replay
from raphe.gui.app.chromatograms import ChromatogramFeed
from raphe.gui.app.replay import stored_method


def test_views_match_the_stored_results_and_signal(recorded_session):
    views = []
    with SessionReader(recorded_session) as reader:
        method = stored_method(reader, recorded_session)
        feed = ChromatogramFeed(method, views.append)
        Replay(reader).run(feed.feed)
        feed.finish()
        injections = reader.injections()
        stored = {(r.sample_id, r.analyte): r for r in reader.results()}
        assert [v.sample_id for v in views] == [i.sample_id for i in injections]
        for view in views:
            inj = view.injection
            end = min([inj.t + method.run_length_s]
                      + [i.t for i in injections if i.t > inj.t])
            t, values = reader.signal(inj.t, end)
            np.testing.assert_allclose(view.t, t - inj.t, atol=1e-3)
            np.testing.assert_array_equal(view.values, values.astype(np.float32))
            for spec in method.analytes:  # the reported peaks
                analyte = view.result.analytes[spec.name]
                result = stored[(view.sample_id, spec.name)]
                if analyte.peak is None:
                    assert "not_found" in result.flags
                else:
                    assert analyte.peak.area == result.area and analyte.peak.rt_s == result.rt_s
    assert len(feed.quantifier.chromatograms) == 0  # handed on, not kept twice


def test_memory_stays_bounded_over_the_run(recorded_session):
    with SessionReader(recorded_session) as reader:
        method = stored_method(reader, recorded_session)
        feed = ChromatogramFeed(method, lambda v: None)
        longest = [0]

        def fed(kind, record):
            feed.feed(kind, record)
            longest[0] = max(longest[0], sum(len(t) for t, _ in feed._chunks))

        Replay(reader).run(fed)
        keep = feed.keep_s / reader.dt
        biggest = max(len(b) for b in reader.blocks())
        assert longest[0] <= keep + 2 * biggest
        assert longest[0] < reader.n_samples / 2
