"""Breakpoints in units people read: log2(total bits) -> "2.15 Gbit = 268 MB"."""
from __future__ import annotations

import math

_PREFIXES = ["", "k", "M", "G", "T", "P", "E"]


def si(value: float, unit: str) -> str:
    """3 significant digits with a decimal SI prefix: si(2.15e9, "bit") -> "2.15 Gbit"."""
    if not math.isfinite(value) or value <= 0:
        return "n/a"
    i = min(max(int(math.floor(math.log10(value) / 3)), 0), len(_PREFIXES) - 1)
    return f"{value / 1000 ** i:.3g} {_PREFIXES[i]}{unit}"


def readable_bits(log2_bits: float) -> str:
    """Total model size for a log2(bits) value, in bits and in bytes."""
    if not math.isfinite(log2_bits):
        return "n/a"
    bits = 2.0 ** log2_bits
    return f"{si(bits, 'bit')} = {si(bits / 8, 'B')}"


def ci_label(alpha: float) -> str:
    """"95% CI" for alpha = 0.05: every interval label is derived from alpha."""
    return f"{100 * (1 - alpha):.4g}% CI"
