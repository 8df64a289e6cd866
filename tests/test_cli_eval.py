"""`kbit-eval`: lm-eval's CLI with the kbit tasks appended, its help, the README's offline
command, and the one-line error path (and `--debug`) of all four commands. In-process, with lm-eval's index of
its ~10,000 built-in tasks switched off (it costs a minute on 2 cores and tests nothing of ours)."""
import functools
import re
import subprocess
import sys

import pytest

import kbit_tasks
from kbit_tasks.cli.eval import builtin_tasks_needed
from kbit_tasks.cli.eval import main as eval_main
from kbit_tasks.generators import SUBTASKS, task_name

TASKS = sorted(task_name(f, s, lv) for f, s, levels in SUBTASKS for lv in levels)


@pytest.fixture
def kbit_only(monkeypatch):
    import lm_eval.tasks

    monkeypatch.setattr(lm_eval.tasks, "TaskManager",
                        functools.partial(lm_eval.tasks.TaskManager, include_defaults=False))
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # eval_main rewrites it for lm-eval's parser


def test_tasks_dir_one_liner():
    out = subprocess.run([sys.executable, "-c", "from kbit_tasks.cli.eval import main; main(['--tasks-dir'])"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == kbit_tasks.tasks_dir()


def test_builtin_tasks_are_indexed_only_when_a_task_needs_them():
    from types import SimpleNamespace as Args

    assert not builtin_tasks_needed(Args(command="run", tasks="kbit_*,kbit-logical"))
    assert not builtin_tasks_needed(Args(command="validate", tasks=["kbit_logical_rules_l1"]))
    assert builtin_tasks_needed(Args(command="run", tasks="kbit_*,hellaswag"))
    assert builtin_tasks_needed(Args(command="run", tasks="kbit_tasks/tasks/kbit_logical_rules_l1.yaml"))
    assert not builtin_tasks_needed(Args(command="ls", include_defaults=False))
    assert builtin_tasks_needed(Args(command="ls", include_defaults=True))


@pytest.fixture
def asked_for_defaults(monkeypatch):
    """What each TaskManager was asked for; built without the built-ins whatever the answer."""
    import lm_eval.tasks

    asked, real = [], lm_eval.tasks.TaskManager

    def spy(*args, include_defaults=True, **kwargs):
        asked.append(include_defaults)
        return real(*args, include_defaults=False, **kwargs)

    monkeypatch.setattr(lm_eval.tasks, "TaskManager", spy)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    return asked


def test_ls_skips_lm_evals_builtin_tasks_unless_asked(asked_for_defaults, capsys):
    eval_main(["ls", "tasks"])
    eval_main(["ls", "tasks", "--include_defaults"])
    assert asked_for_defaults == [False, True]
    import lm_eval.tasks

    assert lm_eval.tasks.TaskManager.__name__ == "spy"  # swapped back after the command


def test_a_users_include_path_is_added_to_kbits_not_in_place_of_it(asked_for_defaults, tmp_path, capsys):
    kbit_rules = f"{kbit_tasks.tasks_dir()}/kbit_logical_rules_l1.yaml"
    (tmp_path / "my_rules.yaml").write_text(f"task: my_rules\ninclude: {kbit_rules}\n")
    eval_main(["validate", "--tasks", "my_rules,kbit_logical_rules_l1", "--include_path", str(tmp_path)])
    assert "All tasks found and valid" in capsys.readouterr().out
    eval_main(["ls", "tasks", "--include_path", str(tmp_path)])
    out = capsys.readouterr().out
    assert "|my_rules " in out and "|kbit_logical_rules_l1 " in out


def test_ls_tasks_lists_every_kbit_task(kbit_only, capsys):
    eval_main(["ls", "tasks"])
    out = capsys.readouterr().out
    for name in TASKS + ["kbit", "kbit-logical", "kbit-causal", "kbit-inductive"]:
        assert re.search(rf"\|{name}\s*\|", out), name


def test_validate_accepts_every_task(kbit_only, capsys):
    eval_main(["validate", "--tasks", ",".join(TASKS)])
    assert "All tasks found and valid" in capsys.readouterr().out


@pytest.fixture
def no_indexing(kbit_only, monkeypatch):
    """lm-eval's task index and model loading made to fail loudly: a check must come first."""
    import lm_eval.tasks
    from lm_eval.models.huggingface import HFLM

    def forbidden(*args, **kwargs):
        raise AssertionError("lm-eval indexed its tasks or loaded a model before kbit's checks")

    monkeypatch.setattr(lm_eval.tasks, "TaskManager", forbidden)
    monkeypatch.setattr(HFLM, "__init__", forbidden)


@pytest.mark.parametrize("model_args, message", [
    ("bits=1", "--model_args: bits=1 is not supported; choose one of (2, 3, 4, 5, 6, 7, 8, 16)"),
    ("bits=9", "bits=9 is not supported"),
    ("bits=abc", "bits='abc' is not supported"),
    ("bits=4,quant_type=foo", "quant_type='foo' is not supported; choose one of"),
    ("bits=4,dtype=nf", "--model_args: 'dtype' is now called 'quant_type' (as in kbit-hf's model_args); "
                        "write quant_type=nf"),
    ("bits=4,torch_dtype=bfloat16", "write dtype=bfloat16"),
    ("bits=4,blocksize=33", "blocksize=33 is not supported; choose a power of two"),
    ("bits=4,blocksize=0", "blocksize=0 is not supported"),
    ("bits=4,outliers=0.9", "outliers=0.9 is not supported; choose a fraction in [0, 0.5]"),
    ("bits=4,outliers=-1", "outliers=-1"),
    ("bits=4,compute_dtype=fp32", "compute_dtype='fp32' is not supported"),
    ("bits=4,pristine=ram", "pristine='ram' is not valid; choose one of ('auto', 'device', 'file', 'cpu')"),
    ("bits=4,prefix_sharing=maybe", "prefix_sharing='maybe' is not supported; choose true or false"),
])
def test_bad_kbit_hf_args_are_one_line_before_any_indexing(no_indexing, tiny_model_dir, capsys, model_args, message):
    with pytest.raises(SystemExit) as exit_:
        eval_main(["run", "--model", "kbit-hf", "--model_args", f"pretrained={tiny_model_dir},{model_args}",
                   "--tasks", "kbit_logical_rules_l1"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    [line] = [ln for ln in err.splitlines() if ln.startswith("kbit-eval: error:")]
    assert message in line


@pytest.mark.parametrize("argv, message", [
    (["--metadata", '{"n": 0}'], "--metadata: n=0 is not valid; use an integer from 1 to 10000"),
    (["--metadata", '{"nn": 5}'], "--metadata: unknown key(s) 'nn'; valid keys are n, seed, distractors"),
    (["--metadata", '{"distractors": -2}'], "--metadata: distractors=-2 is not valid; use an integer from 0 to 64"),
    (["--model_args", "pretrained=./no/such/model"], "pretrained='./no/such/model': no such folder"),
    (["--model_args", "pretrained=nobody-org/no-such-model"], "not a model in the Hugging Face cache"),
    (["--device", "gpu"], "--device 'gpu' is not a device; choose one of cpu, cuda, mps (cuda:N for the Nth GPU)"),
    (["--batch_size", "abc"], "--batch_size 'abc' is not valid; use a positive integer, 'auto' or 'auto:N'"),
    (["--limit", "-3"], "--limit -3 is not valid; use a positive number of items or a fraction in (0, 1)"),
    (["--num_fewshot", "-1"], "--num_fewshot=-1 is not valid; use an integer >= 0"),
    (["--num_fewshot", "100"], "--num_fewshot=100 is not valid for kbit_logical_rules_l1; use 0 to 12"),
    (["--tasks", "kbit_logical_rulez_l1"], "'kbit_logical_rulez_l1' is not a kbit task; did you mean "
                                           "'kbit_logical_rules_l1'? (`kbit-eval ls tasks` lists them)"),
    (["--tasks", "kbit_logical_rules_l9"], "kbit_logical_rules_l9 is deeper than the shipped rungs; write its task "
                                           "with python -m kbit_tasks.tasks.rungs --out DIR rules:9"),
    (["--model_args", "bits=4"], "--model_args: kbit-hf needs pretrained=FOLDER_OR_HUB_ID"),
    (["--model_args", "pretrained="], "--model_args: kbit-hf needs pretrained=FOLDER_OR_HUB_ID"),
    (["--model_args", "pretrained=/tmp,dtype=bf16"], "dtype='bf16' is not supported; choose one of ('auto', "),
    (["--model", "hf", "--model_args", "pretrained=./no/such/model"], "pretrained='./no/such/model': no such folder"),
    (["--model", "hf", "--tasks", "arc_easy", "--num_fewshot", "-1"], "--num_fewshot=-1 is not valid; use an integer"),
])
def test_bad_run_flags_metadata_and_model_args_are_one_line(no_indexing, capsys, argv, message):
    """What lm-eval would take silently, refuse only after the model loaded, or answer with a
    traceback: one line, exit 2, before any task index or model load."""
    flags = {"--model": "kbit-hf", "--model_args": "pretrained=/tmp", "--tasks": "kbit_logical_rules_l1"}
    flags |= dict(zip(argv[::2], argv[1::2]))
    with pytest.raises(SystemExit) as exit_:
        eval_main(["run", *(x for pair in flags.items() for x in pair)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    [line] = [ln for ln in err.splitlines() if ln.startswith("kbit-eval: error:")]
    assert message in line, line


def test_a_users_include_path_may_hold_kbit_names_kbit_does_not_ship():
    from types import SimpleNamespace

    from kbit_tasks.cli.eval import check_eval_args

    check_eval_args(SimpleNamespace(tasks=["kbit_logical_rules_l9"], include_path="my_rungs"))
    with pytest.raises(ValueError, match="deeper than the shipped rungs"):
        check_eval_args(SimpleNamespace(tasks=["kbit_logical_rules_l9"], include_path=None))


def test_debug_shows_the_traceback(no_indexing, monkeypatch):
    with pytest.raises(ValueError, match="bits=9"):
        eval_main(["run", "--model", "kbit-hf", "--model_args", "pretrained=/tmp,bits=9", "--tasks", "kbit_*",
                   "--debug"])
    monkeypatch.setenv("KBIT_DEBUG", "1")
    with pytest.raises(ValueError, match="bits=9"):
        eval_main(["run", "--model", "kbit-hf", "--model_args", "pretrained=/tmp,bits=9", "--tasks", "kbit_*"])


def test_other_tasks_keep_their_metadata_keys():
    from types import SimpleNamespace

    from kbit_tasks.cli.eval import check_eval_args

    check_eval_args(SimpleNamespace(tasks="kbit_logical_rules_l1,ruler", metadata={"max_seq_lengths": [4096]},
                                    model="hf", model_args={"pretrained": "/tmp"}))


@pytest.mark.parametrize("argv, message", [
    (["--threads", "0"], "--threads 0: must be a positive integer"),
    (["--only", "nosuch"], "--only nosuch: not in preset 'ci'; choose from"),
    (["--out", "FILE"], "is a file, not a folder"),
    (["--out", "FILE/sub"], "is not writable"),
])
def test_kbit_family_build_errors_are_one_line(tmp_path, capsys, monkeypatch, argv, message):
    from kbit_tasks.cli.family import main

    (tmp_path / "FILE").write_text("not a folder")
    monkeypatch.setattr("kbit_tasks.family.build.build_family", lambda *a, **k: pytest.fail("trained anyway"))
    argv = [a.replace("FILE", str(tmp_path / "FILE")) for a in argv]
    out = [] if "--out" in argv else ["--out", str(tmp_path / "family")]
    with pytest.raises(SystemExit) as exit_:
        main(["build", "--preset", "ci", *out, *argv])
    err = capsys.readouterr().err
    assert (exit_.value.code == 2 and err.startswith("kbit-family: error: ")
            and message in err and "Traceback" not in err)


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_help_names_kbits_tasks_model_and_options(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        eval_main(argv)
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and out.startswith("usage: kbit-eval")
    for needle in ("kbit-logical", "kbit_logical_syllogism_l1", "--metadata", "--model kbit-hf", "quant_type",
                   "--debug", "--tasks-dir", "python -m kbit_tasks.tiny"):
        assert needle in out, needle


def test_helps_quantization_facts_are_quantconfigs():
    """The help writes the quantization's choices out (kbit_tasks.quant imports torch); they must be QuantConfig's."""
    from kbit_tasks.cli.eval import about
    from kbit_tasks.quant import BITS, BLOCKSIZES, QUANT_TYPES, QuantConfig

    text = " ".join(about().split())
    default = QuantConfig(bits=4)
    assert f"bits=4 alone is {default.quant_type}4 in blocks of {default.blocksize} weights" in text
    assert BITS == (*range(2, 9), 16) and "bits 2 to 8, or 16 (unquantized)" in text
    assert f"quant_type {', '.join(QUANT_TYPES[:-1])} or {QUANT_TYPES[-1]}" in text
    assert BLOCKSIZES == (*(2**i for i in range(5, 13)), "row") and "a power of two from 32 to 4096, or row" in text


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_an_absent_accelerator_is_one_line_not_a_silent_cpu_run(no_indexing, monkeypatch, capsys, device):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exit_:
        eval_main(["run", "--model", "kbit-hf", "--model_args", "pretrained=/tmp", "--tasks", "kbit_*",
                   "--device", device])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert f"kbit-eval: error: --device '{device}' is not available on this machine; choose one of cpu" in err


@pytest.mark.slow
def test_run_prints_the_table(kbit_only, tiny_model_dir, capfd, monkeypatch, tmp_path):
    """Through the kbit-hf model, which `kbit-eval` registers; outside a git checkout, without
    git's "fatal: not a git repository" (lm-eval asks git for the working directory's commit)."""
    monkeypatch.chdir(tmp_path)
    eval_main(["run", "--model", "kbit-hf", "--model_args", f"pretrained={tiny_model_dir},bits=4",
               "--tasks", "kbit-logical", "--limit", "2", "--device", "cpu", "--batch_size", "16",
               "--metadata", '{"n": 6}'])
    out, err = capfd.readouterr()
    assert "fatal" not in err
    for name in ("kbit-logical", "logical syllogism l1", "logical ordering l3"):
        assert name in out
    for metric in ("acc", "acc_norm", "brier_score", "gold_logprob"):
        assert f"|{metric}" in out.replace(" ", "")


def test_the_readme_opens_with_install_and_the_offline_command_help_shows():
    """The README's first screen (60 lines) installs kbit and runs one task offline, with the very
    command `kbit-eval --help` prints, so the two cannot drift apart."""
    from pathlib import Path

    from kbit_tasks.cli.eval import about

    top = (Path(__file__).resolve().parents[1] / "README.md").read_text().splitlines()[:60]
    assert any(line.startswith("pip install -e .") for line in top)
    readme = [" ".join(line.rstrip("\\").split()) for line in top]
    helps = [" ".join(line.rstrip("\\").split()) for line in about().splitlines()]
    tiny = [line.split("#")[0].strip() for line in readme if line.startswith("python -m kbit_tasks.tiny")]
    assert tiny and any(line.strip() == tiny[0] for line in helps)
    run = readme.index(next(line for line in readme if line.startswith("kbit-eval run --model kbit-hf")))
    start = next(i for i, line in enumerate(helps) if line.startswith("kbit-eval run --model kbit-hf"))
    assert readme[run] + " " + readme[run + 1] == helps[start] + " " + helps[start + 1]


COMMANDS = {  # each console command, the help that lists --debug, and one bad input
    "kbit-eval": ("eval", ["--help"], ["run", "--model", "kbit-hf", "--model_args", "pretrained=/tmp,bits=9",
                                       "--tasks", "kbit_*"]),
    "kbit-sweep": ("sweep", ["run", "--help"], ["run", "no-such-config.yaml"]),
    "kbit-fit": ("fit", ["--help"], ["no-such-table.csv", "-o", "OUT"]),
    "kbit-family": ("family", ["build", "--help"], ["build", "--preset", "ci", "--out", "OUT", "--threads", "0"]),
}


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_every_command_shares_the_one_line_error_and_debug(prog, capsys, monkeypatch, tmp_path):
    import importlib

    monkeypatch.setattr(sys, "argv", list(sys.argv))
    module, help_argv, bad = COMMANDS[prog]
    main = importlib.import_module(f"kbit_tasks.cli.{module}").main
    bad = [a.replace("OUT", str(tmp_path / "out")) for a in bad]
    with pytest.raises(SystemExit) as exit_:
        main(help_argv)
    assert exit_.value.code == 0 and "--debug" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(bad)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and err.startswith(f"{prog}: error: ")
    with pytest.raises(ValueError):
        main([*bad, "--debug"])
