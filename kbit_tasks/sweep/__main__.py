"""`python -m kbit_tasks.sweep` (what `accelerate launch -m kbit_tasks.sweep run CFG` starts)."""
from kbit_tasks.cli.sweep import main

main()
