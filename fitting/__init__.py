"""Locate the reasoning threshold: segmented regressions of accuracy on log2(total model bits)."""
