"""Locate the reasoning threshold: segmented regressions of accuracy on log2(total model bits).

`fit_threshold(table, ...)` returns a `ThresholdFit` (or `ThresholdFits` with `by=`).
"""
from fitting.api import fit_threshold
from fitting.results import ThresholdFit, ThresholdFits

__all__ = ["fit_threshold", "ThresholdFit", "ThresholdFits"]
