"""The positive control: a pretrained model fine-tuned here on low-depth train-split items (docs/family.md)."""
from kbit_tasks.family.control.build import RECIPES, Recipe, build_control, get_recipe, training_items, write_sweeps
from kbit_tasks.family.control.report import write_report

__all__ = ["RECIPES", "Recipe", "build_control", "get_recipe", "training_items", "write_report", "write_sweeps"]
