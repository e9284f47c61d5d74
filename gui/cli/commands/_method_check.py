"""The dry run's method check: the method's settings against a simulated chromatogram."""

from __future__ import annotations


def dry_run_warnings(method) -> list[str]:
    """The method check (``method_check.check``) of ``method`` on one basal chromatogram
    of the simulated rig's assay (the one whose bundled method it is, else ``standard``).
    Nothing for a method without named peaks."""
    if method is None or not method.peaks:
        return []
    from raphe.acquisition.analysis.chromatogram import Chromatogram
    from raphe.acquisition.analysis.method_check import check
    from raphe.gui.cli.commands._sim_options import basal_chromatogram

    t, values = basal_chromatogram(method.name, method.run_length_s)
    return check(method, Chromatogram(t, values, "nA"))
