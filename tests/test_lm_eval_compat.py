"""Every lm-eval workaround lives in kbit_tasks/lm_eval_compat.py: no other kbit module
replaces an lm-eval object, sets LOCAL_RANK for it, or imports lm-eval's private CLI; and no
module at all, that one included, replaces an lm-eval model's methods on an instance (kbit
changes them by subclassing: kbit-hf, SweepLM). The check is a scan of the source, and is
shown to catch a planted violation."""
import re
from pathlib import Path

import pytest

import kbit_tasks

PACKAGE = Path(kbit_tasks.__file__).resolve().parent
COMPAT = PACKAGE / "lm_eval_compat.py"
# What only the compat module may do, each with the workaround it stands for.
FORBIDDEN = {
    r"\blm_eval\._cli\b|\blm_eval\.__main__\b": "lm-eval's private CLI",
    r"\._subparsers\b": "the private parser of lm-eval's CLI",
    r"^\s*(?:[\w.]*\blm_eval)\.[\w.]+\s*=(?!=)": "an lm-eval module attribute replaced",
    r"\b(?:add_env_info|get_git_commit_hash)\s*=(?!=)": "lm-eval's environment report / git hash replaced",
    r"""environ\[\s*["']LOCAL_RANK["']\s*\]\s*=(?!=)|environ\.(?:pop|setdefault)\(\s*["']LOCAL_RANK""":
        "LOCAL_RANK set for lm-eval",
    r"\.tqdm\s*=(?!=)": "an lm-eval progress bar switched off",
    r"\.addFilter\(": "an lm-eval log message filtered",
}
LM_METHODS = ("loglikelihood|loglikelihood_rolling|generate_until|_loglikelihood_tokens|_model_call|_model_generate"
              "|_encode_pair|_detect_batch_size|tok_encode|tok_decode|_select_cont_toks")
# What no module may do: an lm-eval model's method replaced on an instance (subclass and override).
INSTANCE_PATCH = {
    rf"\.(?:{LM_METHODS})\s*=(?!=)|del\s+[\w.]+\.(?:{LM_METHODS})\b|setattr\([^,]+,\s*[\"'](?:{LM_METHODS})[\"']":
        "an lm-eval model's method replaced on an instance",
}


def violations(text: str, rules: dict = FORBIDDEN | INSTANCE_PATCH) -> list[str]:
    """'line N: what' for each forbidden use in a module's source (comments skipped)."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        for pattern, what in rules.items():
            if re.search(pattern, code):
                found.append(f"line {number}: {what}: {line.strip()}")
    return found


def test_only_the_compat_module_works_around_lm_eval():
    found = {str(path.relative_to(PACKAGE)): v for path in sorted(PACKAGE.rglob("*.py")) if path != COMPAT
             if (v := violations(path.read_text()))}
    assert not found, f"lm-eval workarounds outside kbit_tasks/lm_eval_compat.py: {found}"


def test_no_module_replaces_an_lm_eval_models_methods_on_an_instance():
    found = {str(path.relative_to(PACKAGE)): v for path in sorted(PACKAGE.rglob("*.py"))
             if (v := violations(path.read_text(), INSTANCE_PATCH))}
    assert not found, f"instance patches of an lm-eval model (subclass and override instead): {found}"


def test_the_compat_module_holds_each_workaround():
    """The scan sees every workaround in the compat module itself (so it would see them anywhere)."""
    text = COMPAT.read_text()
    assert {what for v in violations(text) for what in FORBIDDEN.values() if what in v} == set(FORBIDDEN.values())


@pytest.mark.parametrize("planted", [
    "from lm_eval._cli import HarnessCLI",
    "    import lm_eval.__main__",
    "    lm_eval.api.task.tqdm = functools.partial(tqdm, disable=True)",
    "    lm_eval.evaluator.add_env_info = once",
    "    os.environ['LOCAL_RANK'] = '0'",
    "    lm._model_call = timer",
    "    lm._encode_pair = functools.cache(lm._encode_pair)",
    "    lm.loglikelihood = functools.partial(lm.loglikelihood, disable_tqdm=True)",
    "        self.lm.loglikelihood = counted",
    "        del self.lm.loglikelihood",
    "    setattr(lm, '_detect_batch_size', once)",
    "    parser._subparsers.choices['ls'].add_argument('--x')",
    "    logging.getLogger('lm_eval.api.task').addFilter(quiet)",
])
def test_a_planted_workaround_is_caught(planted):
    source = (PACKAGE / "sweep" / "runner.py").read_text()
    assert not violations(source)
    assert violations(source + "\n\ndef sneaky(lm):\n" + planted + "\n")


def test_reads_and_comparisons_are_not_workarounds():
    assert not violations("if lm._model_call == x:\n    rank = os.environ.get('LOCAL_RANK')\n"
                          "    out = lm._model_call(ids)  # lm._model_call = no, a comment\n")


def test_no_entry_points_for_lm_eval_which_reads_none():
    """kbit reaches lm-eval by import (kbit-eval registers the tasks folder and kbit-hf), not by
    packaging entry points: lm-eval never asks importlib.metadata for any, so an `lm_eval.tasks`
    or `lm_eval.models` group in setup.cfg would be inert. If a later lm-eval reads them, the
    first assertion fails and they may be declared."""
    import configparser

    import lm_eval

    root = Path(lm_eval.__file__).parent
    readers = [str(p.relative_to(root)) for p in root.rglob("*.py") if "tasks" not in p.relative_to(root).parts
               and re.search(r"\bentry_points\s*\(|\bEntryPoints?\b.*\bgroup\b", p.read_text(errors="replace"))]
    assert readers == []
    setup = configparser.ConfigParser()
    setup.read(PACKAGE.parent / "setup.cfg")
    assert [g for g in setup["options.entry_points"] if g.startswith("lm_eval")] == []
