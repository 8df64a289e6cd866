"""The `kbit-fit` report: phase diagram, mirage check and precision panel on a simulated table
with known truths (a planted break in one family, none in another, an accuracy-only break in
a third), and figures whose CSVs hold the data drawn."""
import numpy as np
import pandas as pd
import pytest

from kbit_tasks.report.simulate import simulate_table

PSI = {("logical", 1): 30.5, ("logical", 2): 32.0}  # planted breaks, log2(total bits)


def _continuous_rows(acc_rows: pd.DataFrame, metric: str, rng, psi=None) -> pd.DataFrame:
    """A continuous metric: a straight line in x plus noise, with a hinge at psi if given."""
    x = acc_rows["log2_total_bits"].to_numpy()
    sign = -1 if metric == "brier_score" else 1  # Brier falls as the model improves
    value = 0.5 + sign * (0.02 * (x - x.mean()) + (0 if psi is None else 0.3 * np.maximum(x - psi, 0)))
    return acc_rows.assign(metric=metric, value=value + rng.normal(0, 0.01, len(x)), successes=np.nan, stderr=0.01)


def report_table(seed: int = 0) -> pd.DataFrame:
    """logical: breaks in accuracy and in the smooth metrics (they survive); causal: no break
    (a smooth floor-logistic curve); inductive: a break in accuracy only (smooth metrics are
    straight lines: a mirage by construction)."""
    rng = np.random.default_rng(seed)
    parts = []
    for (fam, lev), psi in PSI.items():
        acc = simulate_table(psi=psi, chance=0.25, seed=seed + lev, tasks=(f"kbit_{fam}_x_l{lev}",), b2=2.0)
        acc = acc[acc.metric == "acc"]
        parts += [acc, *(_continuous_rows(acc, m, rng, psi) for m in ("brier_score", "gold_logprob"))]
    for lev in (1, 2):
        t = simulate_table(psi=None, chance=0.25, seed=seed + 10 + lev, tasks=(f"kbit_causal_x_l{lev}",), b2=0.6)
        parts += [t, _continuous_rows(t[t.metric == "acc"], "brier_score", rng)]
    acc = simulate_table(psi=31.0, chance=0.25, seed=seed + 20, tasks=("kbit_inductive_x_l1",), b2=2.0)
    acc = acc[acc.metric == "acc"]
    parts += [acc, *(_continuous_rows(acc, m, rng) for m in ("brier_score", "gold_logprob"))]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from kbit_tasks.cli.fit import main

    folder = tmp_path_factory.mktemp("report")
    report_table().to_csv(folder / "results.csv", index=False)
    main([str(folder / "results.csv"), "--by", "group,level", "--n-boot", "39", "-o", str(folder / "out")])
    return folder / "out"


@pytest.mark.slow
def test_report_has_the_three_sections_and_their_figures(report):
    text = (report / "report.md").read_text()
    for head in ("## Phase diagram", "## Mirage check", "## Precision panel", "## All fits"):
        assert head in text
    for name in ("phase_diagram", "mirage", "precision"):
        assert (report / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"({name}.png)" in text and f"({name}.csv)" in text
    assert "At a fixed total-bit budget" in text


@pytest.mark.slow
def test_phase_table_has_every_family_and_level_with_planted_truths(report):
    phase = pd.read_csv(report / "phase_diagram.csv")
    assert sorted(zip(phase.group, phase.level)) == [("causal", 1), ("causal", 2), ("inductive", 1),
                                                      ("logical", 1), ("logical", 2)]
    rows = phase.set_index(["group", "level"])
    for key, psi in PSI.items():
        assert rows.loc[key, "detected"] and rows.loc[key, "ci_low"] <= psi <= rows.loc[key, "ci_high"]
    for key in (("causal", 1), ("causal", 2)):
        assert not rows.loc[key, "detected"] and rows.loc[key, "threshold"] == "none detectable"
    text = (report / "report.md").read_text()
    assert "| causal | 1 | none detectable |" in text


@pytest.mark.slow
def test_mirage_verdict_flips_on_an_accuracy_only_break(report):
    mirage = pd.read_csv(report / "mirage.csv")
    verdict = mirage.groupby(["group", "level"])["verdict"].first()
    assert verdict[("logical", 1)] == "survives" and verdict[("logical", 2)] == "survives"
    assert verdict[("inductive", 1)] == "mirage?"
    assert verdict[("causal", 1)] == "no threshold"
    inductive = mirage[mirage.group == "inductive"].set_index("metric")
    assert inductive.loc["accuracy", "detected"] and not inductive.loc["gold_logprob", "detected"]


@pytest.mark.slow
def test_figure_csvs_hold_the_drawn_data(report):
    """The precision CSV's accuracies are the pooled counts of the table; the phase CSV's psi
    are those of fits.csv (the same fits)."""
    table = pd.read_csv(report.parent / "results.csv")
    points = pd.read_csv(report / "precision.csv")
    acc = table[table.metric == "acc"]
    for _, r in points.sample(5, random_state=0).iterrows():
        rows = acc[(acc.group == r.group) & (acc.bits == r.bits) & (acc.model == r.model)]
        assert r.successes == rows.successes.sum() and r.accuracy == pytest.approx(rows.successes.sum() / rows.n.sum())
    fits = pd.read_csv(report / "fits.csv").set_index(["group", "level"])
    phase = pd.read_csv(report / "phase_diagram.csv").set_index(["group", "level"])
    assert np.allclose(phase["psi"], fits.loc[phase.index, "breakpoint"], equal_nan=True)


def test_mirage_verdict_words():
    """The verdict from fits alone: stand-ins with only what mirage_verdict reads."""
    from types import SimpleNamespace as Fit

    from kbit_tasks.report.panels import mirage_verdict

    acc = Fit(detected=True, ci=(30.0, 31.0), breakpoint=30.5)
    near = Fit(detected=True, ci=(30.5, 31.5), breakpoint=31.0)
    far = Fit(detected=True, ci=(33.0, 34.0), breakpoint=33.5)
    none = Fit(detected=False, ci=(np.nan, np.nan), breakpoint=np.nan, reason="only 3 distinct x value(s)")
    assert mirage_verdict(acc, {"gold_logprob": near})[0] == "survives"
    word, sentence = mirage_verdict(acc, {"gold_logprob": none, "brier_score": none})
    assert word == "mirage?" and "gold_logprob: only 3 distinct x value(s)" in sentence
    assert mirage_verdict(acc, {"gold_logprob": far})[0] == "mirage?"
    assert mirage_verdict(none, {"gold_logprob": near})[0] == "no threshold"
    assert mirage_verdict(acc, {})[0] == "not checked"


def test_best_k_sentence_says_cannot_tell_when_precisions_tie():
    from kbit_tasks.report.panels import best_k_sentence, budget_frame

    points = pd.DataFrame({"group": "g", "bits": [4, 8, 4, 8], "log2_total_bits": [30.0, 30.0, 31.0, 31.0],
                           "successes": [50, 51, 80, 20], "n": [100, 100, 100, 100], "chance": 0.25})
    budget = budget_frame(points)
    assert list(budget["best_k"]) == [8, 4] and list(budget["clear"]) == [False, True]
    assert "4-bit, best in 1 of the 1 comparisons" in best_k_sentence(budget)
    assert "cannot tell" in best_k_sentence(budget.iloc[:1])


@pytest.mark.slow
def test_figures_draw_exactly_their_csv(report):
    """Redrawn from the saved CSVs, the figures plot those numbers: each k's accuracy line in the
    precision panel, each detected psi in the phase diagram."""
    import matplotlib

    matplotlib.use("Agg")
    from kbit_tasks.report.figures import phase_figure, precision_figure

    points = pd.read_csv(report / "precision.csv")
    fig = precision_figure(points)
    for ax in fig.axes:
        fam = ax.get_title().removeprefix("family: ")
        for bar in ax.containers:
            k = int(bar.get_label().split("-")[0])
            want = points[(points.group == fam) & (points.bits == k)].sort_values("log2_total_bits")
            x, y = bar.lines[0].get_data()
            assert np.allclose(x, want.log2_total_bits) and np.allclose(y, want.accuracy)
    phase = pd.read_csv(report / "phase_diagram.csv")
    drawn = sorted(y for line in phase_figure(phase, (27, 36)).axes[0].get_lines() for y in line.get_ydata())
    assert np.allclose(drawn, sorted(phase.loc[phase.detected, "psi"]))


@pytest.mark.slow
def test_no_precision_effect_planted_gives_cannot_tell(report):
    assert "which k is best for reasoning: cannot tell" in (report / "report.md").read_text()


def test_a_planted_precision_advantage_is_named():
    """3-bit weights given +1.5 on the logit scale at every size (simulate_table's
    collapse_3bit, negated): at equal total bits 3-bit is the answer, and never the loser."""
    from kbit_tasks.report.panels import best_k_sentence, budget_frame, precision_points

    table = simulate_table(psi=None, chance=0.25, seed=3, tasks=("kbit_logical_x_l1",), collapse_3bit=-1.5, b2=0.6)
    budget = budget_frame(precision_points(table, "acc"))
    assert best_k_sentence(budget).startswith("At a fixed total-bit budget, which k is best for reasoning: 3-bit")
    assert not (budget["clear"] & (budget["best_k"] != 3)).any()


def test_a_table_without_family_and_level_still_reports_and_says_why(tmp_path):
    from kbit_tasks.cli.fit import main

    table = simulate_table(seed=0).drop(columns=["group", "level"])
    table.to_csv(tmp_path / "t.csv", index=False)
    main([str(tmp_path / "t.csv"), "--metric", "acc", "--n-boot", "0", "-o", str(tmp_path / "out")])
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Not drawn: the table has no 'group' or 'level' column" in text and "## All fits" in text
    assert not (tmp_path / "out" / "phase_diagram.png").exists()


def test_a_shift_without_a_standard_error_is_said_to_be_not_identified():
    """Near chance the information matrix can be singular: a shift of -104.86 is then no
    estimate at all, and the precision table says so instead of printing it bare."""
    from kbit_tasks.report.panels import precision_frame
    from fitting.results import ThresholdFit

    fit = ThresholdFit(method="binomial", x_name="log2_total_bits", alpha=0.05, n_obs=35,
                       breakpoints=np.array([np.nan]), cis=(), ci_open=True, test=None, reason="",
                       params=pd.Series({"prec[2]": 47.62, "prec[3]": -0.39, "prec[4]": 1.5}),
                       bse=pd.Series({"prec[2]": np.nan, "prec[3]": 3.3, "prec[4]": 0.0}))
    shifts = precision_frame({"all": fit})["shifts"].iloc[0]
    assert shifts == "prec[2] +47.62 (not identified), prec[3] -0.39 (se 3.3), prec[4] +1.50 (not identified)"


def test_what_to_fit_is_decided_in_one_place():
    """kbit-fit's fits are all made in kbit_tasks/report/build.py (through table.py's fit_table):
    the command, the panels, the markdown and the figures fit nothing themselves."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = [root / "kbit_tasks" / "cli" / "fit.py", *sorted((root / "kbit_tasks" / "report").glob("*.py"))]
    fitting = [p.name for p in files if re.search(r"\b(fit_table|fit_threshold)\(|ThresholdModel\b", p.read_text())]
    assert fitting == ["build.py", "table.py"]
