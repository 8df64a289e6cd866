"""Locate a threshold: segmented regressions of a metric on x, with an honest test that it exists.

`ThresholdModel.from_table(table, x=..., ...).fit(...)` (or `fit_threshold` in one call)
returns a `ThresholdFit` (or `ThresholdFits` with `by=`).
"""
from fitting.hypotheses import ExistenceTest, LRTest
from fitting.model import ThresholdModel, fit_threshold
from fitting.results import ThresholdFit, ThresholdFits

__all__ = ["ThresholdModel", "fit_threshold", "ThresholdFit", "ThresholdFits", "ExistenceTest", "LRTest"]
