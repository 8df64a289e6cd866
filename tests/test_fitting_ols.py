"""Segmented least squares against R `segmented` (1.6-2): Davies' test, psi, slopes and their errors."""
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from fitting import fit_threshold
from fitting.ols import SegmentedLS

# Values printed by R segmented 1.6-2: davies.test(lm(y ~ x, weights = w), alternative=...)$p.value,
# and segmented(...)$psi / slope(): (x, y, w, p two.sided, greater, less, psi, psi se, slopes, slope ses).
R_RECORDED = [
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [2.1, 2.0, 2.6, 2.4, 2.9, 3.1, 4.6, 5.9, 7.4, 8.8], None,
     (1.219171375e-05, 6.095856876e-06, 1.0), (5.901639328, 0.1669714913), (0.20, 1.42), (0.049665548, 0.049665548)),
    # ties at both ends: R's evaluation points start and end on a tie, where the design is singular
    ([1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 12],
     [1.02, 1.10, 1.21, 2.35, 3.25, 4.18, 4.07, 4.17, 4.98, 6.85, 8.33, 8.46, 8.51, 8.70], None,
     (0.9412440115, 0.4706220058, 0.6922094491), (6.999993481, 3.571217378), (0.65296192, 0.84263831),
     (0.13212038, 0.12180897)),
    # weighted least squares (method="wls")
    (list(range(1, 13)), [0.88, 1.43, 1.21, 2.19, 2.49, 3.59, 3.77, 5.07, 6.5, 7.5, 7.72, 9.77],
     [1.3, 3.0, 1.3, 2.5, 2.7, 1.5, 1.6, 1.4, 0.8, 1.7, 1.1, 1.1],
     (0.004604843979, 0.002302421990, 1.0), (6.602993639, 0.6343884427), (0.47705564, 1.12651950),
     (0.080658310, 0.094163405)),
]


@pytest.mark.parametrize("x, y, w, p, psi, slopes, slope_se", R_RECORDED)
def test_davies_psi_and_slopes_equal_r_recorded(x, y, w, p, psi, slopes, slope_se):
    model = SegmentedLS(np.array(x, float), np.array(y, float), None if w is None else np.array(w, float))
    for alternative, expected in zip(("two.sided", "greater", "less"), p):
        assert model.davies_pvalue(alternative=alternative)[1] == pytest.approx(expected, rel=1e-8)
    table = pd.DataFrame({"x": x, "y": y, "w": w or 1.0})
    fit = fit_threshold(table, x="x", y="y", weights=None if w is None else "w")
    assert fit.p_value == pytest.approx(p[0], rel=1e-8)
    assert fit.breakpoint == pytest.approx(psi[0], rel=1e-5)
    delta = fit.model.statsmodels_fit(fit.breakpoints, list(fit.params.index)).bse["psi"]
    assert delta == pytest.approx(psi[1], rel=1e-5)
    s = fit.slopes()
    assert s["estimate"].to_numpy() == pytest.approx(slopes, rel=1e-6)
    assert s["std_err"].to_numpy() == pytest.approx(slope_se, rel=1e-6)


def _r_segmented() -> bool:
    return shutil.which("Rscript") is not None and subprocess.run(
        ["Rscript", "-e", "library(segmented)"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _r_segmented(), reason="Rscript with R's segmented package is not installed")
def test_davies_equals_r_on_stagnant_and_above_300_points(tmp_path):
    """R's own data set (t-based bound) and 350 points (R switches to the normal bound)."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, 350)
    pd.DataFrame({"x": x, "y": x + 0.1 * np.maximum(x - 5, 0) + rng.normal(0, 1, x.size)}).to_csv(
        tmp_path / "big.csv", index=False)
    code = f"""suppressMessages(library(segmented)); data(stagnant)
write.csv(stagnant, "{tmp_path}/stagnant.csv", row.names = FALSE)
big <- read.csv("{tmp_path}/big.csv")
for (d in list(stagnant, big)) for (a in c("two.sided", "greater", "less"))
  cat(format(davies.test(lm(y ~ x, data = d), alternative = a)$p.value, digits = 15), "\\n")"""
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True).stdout.split()
    r = np.array(out, dtype=float).reshape(2, 3)
    for row, name in zip(r, ("stagnant", "big")):
        d = pd.read_csv(tmp_path / f"{name}.csv")
        model = SegmentedLS(d["x"].to_numpy(), d["y"].to_numpy())
        ours = [model.davies_pvalue(alternative=a)[1] for a in ("two.sided", "greater", "less")]
        assert ours == pytest.approx(row, rel=1e-6), name


def test_davies_false_positive_rate_on_straight_lines():
    """v1 (a normal bound on Wald statistics) rejected 14-19% of straight lines at 8-12 points."""
    rng = np.random.default_rng(12)
    for n in (8, 12):
        x = np.arange(1.0, n + 1)
        p = [SegmentedLS(x, 1 + 0.5 * x + rng.normal(0, 1, n)).davies_pvalue()[1] for _ in range(400)]
        assert 0.02 <= np.mean(np.array(p) <= 0.05) <= 0.08, n


def test_davies_rejects_unknown_options():
    model = SegmentedLS(np.arange(10.0), np.arange(10.0) ** 2)
    with pytest.raises(ValueError, match="alternative='two_sided' is not one of: two.sided, greater, less"):
        model.davies_pvalue(alternative="two_sided")
    with pytest.raises(ValueError, match="k=1 must be a whole number >= 2"):
        model.davies_pvalue(k=1)
