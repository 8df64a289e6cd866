"""kbit's report on a tidy results table: which fits to make (build), the phase diagram, mirage
check and precision panel (panels, figures), the markdown; `fitting` does the statistics."""
from kbit_tasks.report.table import COLUMNS, fit_table

__all__ = ["COLUMNS", "fit_table"]
