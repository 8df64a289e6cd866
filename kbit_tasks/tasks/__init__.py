"""The kbit lm-eval task folder: pass it to `lm_eval --include_path` (see `kbit_tasks.tasks_dir()`)."""
