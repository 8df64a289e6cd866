"""The offline reference model family: five Llama-style sizes trained here, on CPU, on one recipe.

Hub families (Pythia, OPT) cannot be downloaded on the project's machines; this
one is built from the kbit generators' train lexicon, so the whole pipeline
(family x precisions x tasks x fit) runs anywhere. Command line: `kbit-family build`
(kbit_tasks/cli/family.py). See docs/family.md.
"""
from kbit_tasks.family.build import build_family, cached_manifest
from kbit_tasks.family.presets import PRESETS, Preset, Size, get_preset

__all__ = ["PRESETS", "Preset", "Size", "build_family", "cached_manifest", "get_preset"]
