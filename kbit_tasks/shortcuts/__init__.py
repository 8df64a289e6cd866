"""The shortcut battery: how far reading without reasoning gets on each kbit task.

`text` reads an item's surface, `cues` holds the generic cues and the lookup-table guesser,
`task_cues` the subtask-specific cues (the shortcuts the v1 items allowed), `probe` the learned linear
probe, and `battery` runs them all, fitted on the training split and scored on the evaluation
split. Command line: `python scripts/task_shortcuts.py --n 300`.
"""
