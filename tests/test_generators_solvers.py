"""Every gold label is re-derived from the question TEXT by solvers written independently of
the generators, one file per family: tests/test_labels_logical.py, tests/test_labels_causal.py
and tests/test_labels_inductive.py. (This file kept the v1 checks; nothing is left here.)"""


# --- logical: tests/test_labels_logical.py (SAT, set models, topological sorts) ---------------


# --- causal: tests/test_labels_causal.py (networkx, a Bayes ball, DAG enumeration) ------------


# --- inductive: tests/test_labels_inductive.py (integer recurrences, list programs, majority of kind)
