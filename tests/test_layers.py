"""The layer rule of /work/shared/ARCHITECTURE.md, checked on the source: no import circle, and
no module importing from a layer above its own. Imports are read with `ast`, lazy ones inside
functions included (a lazy import hides a circle from Python, not from a reader)."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kbit_tasks", "fitting")

# The rule, written once: each module's layer is that of the longest prefix listed here. A
# module may import from its own layer and the layers below it; `__main__` modules are entry
# points, so console. A new top-level module must be placed here before the test passes.
LAYERS = ("ground", "lm-eval", "app", "console")
PLACES = {
    "kbit_tasks.cli": "console",
    "kbit_tasks.sweep": "app", "kbit_tasks.report": "app", "kbit_tasks.family": "app", "kbit_tasks.shortcuts": "app",
    "kbit_tasks.tasks": "lm-eval", "kbit_tasks.model": "lm-eval", "kbit_tasks.prefix_sharing": "lm-eval",
    "kbit_tasks.lm_eval_compat": "lm-eval",
    "kbit_tasks.generators": "ground", "kbit_tasks.quant": "ground", "fitting": "ground",
    "kbit_tasks": "ground",  # the package itself (tasks_dir) and the small helpers beside it:
    "kbit_tasks.atomic": "ground", "kbit_tasks.arguments": "ground", "kbit_tasks.model_sources": "ground",
    "kbit_tasks.provenance": "ground", "kbit_tasks.tiny": "ground", "kbit_tasks.pretrained": "ground",
}
# `fitting` is a statistics library for any table: it imports nothing from kbit_tasks.
APART = {"fitting": "kbit_tasks"}


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the packages under `root`."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of `modules` that `name` imports anywhere in its file (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names}
    resolved = set()
    for target in targets:  # `import a.b.c` names a.b.c; an attribute of a module names the module
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def import_graph(root: Path = ROOT) -> nx.DiGraph:
    modules = module_files(root)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        graph.add_edges_from((name, target) for target in imports(name, path, modules))
    return graph


def layer(module: str) -> str:
    if module.endswith(".__main__"):
        return "console"
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in PLACES:
            return PLACES[".".join(parts[:i])]
    raise KeyError(f"{module}: no layer; place it in tests/test_layers.py's PLACES (see ARCHITECTURE.md)")


def circles(graph: nx.DiGraph) -> list[list[str]]:
    """Each group of modules that import each other, round a circle (strongly connected, > 1)."""
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)


def upward(graph: nx.DiGraph) -> list[str]:
    """Every import from a lower layer to a higher one, and every import across an APART wall."""
    bad = []
    for src, dst in sorted(graph.edges):
        if LAYERS.index(layer(src)) < LAYERS.index(layer(dst)):
            bad.append(f"{src} ({layer(src)}) imports {dst} ({layer(dst)})")
        for lib, forbidden in APART.items():
            if src.split(".")[0] == lib and dst.split(".")[0] == forbidden:
                bad.append(f"{src} imports {dst}: {lib} imports nothing from {forbidden}")
    return bad


def test_every_module_has_a_layer():
    for module in module_files(ROOT):
        layer(module)


def test_no_import_circle():
    assert circles(import_graph()) == []


def test_no_upward_import():
    assert upward(import_graph()) == []


def test_a_synthetic_graph_shows_what_is_caught():
    graph = nx.DiGraph([("kbit_tasks.quant.core", "kbit_tasks.model"),  # ground -> lm-eval
                        ("kbit_tasks.sweep.runner", "kbit_tasks.model"),  # app -> lm-eval: fine
                        ("fitting.api", "kbit_tasks.atomic"),  # same layer, but across the wall
                        ("kbit_tasks.family.build", "kbit_tasks.shortcuts.text"),
                        ("kbit_tasks.shortcuts.text", "kbit_tasks.family.build")])
    assert upward(graph) == [
        "fitting.api imports kbit_tasks.atomic: fitting imports nothing from kbit_tasks",
        "kbit_tasks.quant.core (ground) imports kbit_tasks.model (lm-eval)"]
    assert circles(graph) == [["kbit_tasks.family.build", "kbit_tasks.shortcuts.text"]]


@pytest.mark.parametrize("planted", [
    "def _late():\n    from kbit_tasks.cli.eval import main  # noqa\n",  # lazy, in a function
    "from ..sweep import grid  # noqa\n",  # relative
])
def test_a_planted_violation_in_a_copy_of_the_tree_is_caught(tmp_path, planted):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    victim = tmp_path / "kbit_tasks" / "quant" / "core.py"
    victim.write_text(victim.read_text() + "\n" + planted)
    bad = set(upward(import_graph(tmp_path))) - set(upward(import_graph()))
    assert len(bad) == 1 and bad.pop().startswith("kbit_tasks.quant.core (ground) imports kbit_tasks.")
    victim.write_text(victim.read_text() + "\nimport kbit_tasks.model  # noqa\n")  # model.py imports quant
    assert any({"kbit_tasks.model", "kbit_tasks.quant.core"} <= set(c) for c in circles(import_graph(tmp_path)))
    assert not any("kbit_tasks.quant.core" in c for c in circles(import_graph()))


# The tidy table's columns (ARCHITECTURE.md's contract), which `fitting` must not know: a caller
# names them (kbit_tasks.report.table.COLUMNS). Four are also fitting's own words: the roles
# successes and chance, the model-comparison table's "model" column, the plot's "metric" label.
KBIT_COLUMNS = ("model", "params", "bits", "quant_type", "blocksize", "bits_per_param", "total_bits",
                "log2_total_bits", "task", "group", "level", "metric", "value", "stderr", "n", "successes", "chance")
OWN_WORDS = {"model", "successes", "chance", "metric"}
OWN_ATTRIBUTES = {"n", "params"}  # a count array and a fit's estimates, as statsmodels names them


def kbit_knowledge(root: Path = ROOT) -> list[str]:
    """Every place in fitting/ that names a kbit column (a string, docstrings aside, or an
    attribute such as `table.log2_total_bits`) or imports kbit_tasks."""
    found = []
    for path in sorted((root / "fitting").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        docs = {id(node.body[0].value) for node in ast.walk(tree)
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        where = path.relative_to(root)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in set(KBIT_COLUMNS) - OWN_WORDS and id(node) not in docs:
                found.append(f"{where}:{node.lineno} names column {node.value!r}")
            elif isinstance(node, ast.Attribute) and node.attr in set(KBIT_COLUMNS) - OWN_WORDS - OWN_ATTRIBUTES:
                found.append(f"{where}:{node.lineno} reads column .{node.attr}")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{where}:{node.lineno} imports {n}" for n in names if n.split(".")[0] == "kbit_tasks"]
    return found


def test_fitting_names_no_kbit_column_and_imports_nothing_from_kbit_tasks():
    assert kbit_knowledge() == []


def test_a_planted_kbit_column_or_import_in_fitting_is_caught(tmp_path):
    shutil.copytree(ROOT / "fitting", tmp_path / "fitting", ignore=shutil.ignore_patterns("__pycache__"))
    victim = tmp_path / "fitting" / "units.py"
    victim.write_text(victim.read_text() + '\n\ndef _late(t):\n    """log2_total_bits in a docstring is prose."""\n'
                      '    from kbit_tasks import atomic  # noqa\n    return t["log2_total_bits"], t.quant_type, t.n\n')
    lines = len((ROOT / "fitting" / "units.py").read_text().splitlines())
    assert sorted(kbit_knowledge(tmp_path)) == [f"fitting/units.py:{lines + 5} imports kbit_tasks",
                                                f"fitting/units.py:{lines + 6} names column 'log2_total_bits'",
                                                f"fitting/units.py:{lines + 6} reads column .quant_type"]
