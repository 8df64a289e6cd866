"""Segmented least squares: kbit beside R `segmented` and Python `piecewise-regression`.

Two tables. (1) One break fitted to R's `plant` (y ~ time, the three groups pooled),
`stagnant` (y ~ x) and `down` (Down syndrome cases per 1000 births ~ mother's age) data
sets, written out by R at run time (the package is GPL; nothing is shipped), and to two
simulated sets: psi, its standard error and 95% interval, the slopes before and after with
standard errors, and Davies' p (two-sided, k = 10). (2) Davies' test on straight lines
(y = 1 + 0.5 x + N(0, 1), x = 1..n, n = 8 and 12): the false-positive rate at 5% of each tool
on the same replicates, and how closely kbit's p-values follow R's.

Without `Rscript` and R's segmented package, the R columns and R's data sets are skipped
with a one-line message. docs/fitting.md quotes the output of:

    python benchmarks/compare_segmented.py --reps 1000
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from fitting import fit_threshold
from fitting.ols import SegmentedLS

# Writes R's data sets as CSV (x, y) into the folder given as its argument.
R_DATA = """
suppressMessages(library(segmented))
out <- commandArgs(TRUE)[1]
data(plant); data(stagnant); data(down)
write.csv(data.frame(x = plant$time, y = plant$y), file.path(out, "plant.csv"), row.names = FALSE)
write.csv(stagnant[, c("x", "y")], file.path(out, "stagnant.csv"), row.names = FALSE)
write.csv(data.frame(x = down$age, y = 1000 * down$cases / down$births), file.path(out, "down.csv"), row.names = FALSE)
"""

# For every set in a long table (set, x, y, full): davies.test's p; where full == 1 also
# segmented()'s psi with its delta-method interval and slope()'s slopes.
R_FIT = """
suppressMessages(library(segmented))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
set.seed(1)
rows <- list()
for (di in split(d, factor(d$set, levels = unique(d$set)))) {
  o <- lm(y ~ x, data = di)
  r <- data.frame(set = di$set[1], davies_p = davies.test(o, seg.Z = ~x)$p.value, psi = NA, psi_se = NA,
                  ci_low = NA, ci_high = NA, slope1 = NA, slope1_se = NA, slope2 = NA, slope2_se = NA)
  if (di$full[1] == 1) {
    s <- segmented(o, seg.Z = ~x)
    ci <- confint(s)
    sl <- slope(s)$x
    r[, c("psi", "psi_se")] <- s$psi[1, c("Est.", "St.Err")]
    r[, c("ci_low", "ci_high")] <- ci[1, 2:3]
    r[, c("slope1", "slope1_se", "slope2", "slope2_se")] <- c(sl[1, 1:2], sl[2, 1:2])
  }
  rows[[length(rows) + 1]] <- r
}
write.csv(do.call(rbind, rows), args[2], row.names = FALSE)
"""


def r_missing() -> str:
    """Why R cannot run here ('' when Rscript and the segmented package are available)."""
    if shutil.which("Rscript") is None:
        return "Rscript not found (Debian: apt-get install r-base-core r-cran-segmented)"
    ok = subprocess.run(["Rscript", "-e", "library(segmented)"], capture_output=True).returncode == 0
    return "" if ok else "R package segmented not installed (Debian: apt-get install r-cran-segmented)"


def rscript(code: str, *args: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(code)
    try:
        subprocess.run(["Rscript", fh.name, *args], check=True, capture_output=True, text=True)
    finally:
        Path(fh.name).unlink()


def r_datasets(folder: Path) -> dict[str, pd.DataFrame]:
    rscript(R_DATA, str(folder))
    return {name: pd.read_csv(folder / f"{name}.csv") for name in ("plant", "stagnant", "down")}


def r_fits(sets: dict[str, pd.DataFrame], full: set[str], folder: Path) -> pd.DataFrame:
    long = pd.concat([df.assign(set=name, full=int(name in full)) for name, df in sets.items()])
    long.to_csv(folder / "sets.csv", index=False)
    rscript(R_FIT, str(folder / "sets.csv"), str(folder / "r_fits.csv"))
    return pd.read_csv(folder / "r_fits.csv").set_index("set")


def simulated(seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 10, 40)
    hinge = 1 + 0.2 * x + 0.8 * np.maximum(x - 6, 0) + rng.normal(0, 0.5, x.size)
    x12 = np.arange(1.0, 13.0)
    return {"sim hinge (psi 6, n 40)": pd.DataFrame({"x": x, "y": hinge}),
            "sim line (n 12)": pd.DataFrame({"x": x12, "y": 1 + 0.5 * x12 + rng.normal(0, 1, x12.size)})}


def straight_lines(n: int, reps: int, seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = np.arange(1.0, n + 1)
    return {f"line{n}_{i}": pd.DataFrame({"x": x, "y": 1 + 0.5 * x + rng.normal(0, 1, n)}) for i in range(reps)}


def kbit_fit(df: pd.DataFrame) -> dict:
    fit = fit_threshold(df, x="x", y="y", method="ols")
    slopes = fit.slopes()
    delta = fit.model.statsmodels_fit(fit.breakpoints, list(fit.params.index)).bse["psi"]
    return dict(psi=fit.breakpoint, psi_se=delta, ci_low=fit.ci[0], ci_high=fit.ci[1],
                slope1=slopes.loc["before", "estimate"], slope1_se=slopes.loc["before", "std_err"],
                slope2=slopes.loc["after", "estimate"], slope2_se=slopes.loc["after", "std_err"], davies_p=fit.p_value)


def piecewise_fit(df: pd.DataFrame, seed: int) -> dict:
    import piecewise_regression

    np.random.seed(seed)  # its bootstrap restarts draw from numpy's global generator
    with warnings.catch_warnings():  # its Davies test warns on the rank-deficient designs of tied x
        warnings.simplefilter("ignore")
        res = piecewise_regression.Fit(df["x"].to_list(), df["y"].to_list(), n_breakpoints=1, n_boot=100,
                                       verbose=False).get_results()
    if not res["converged"]:
        return dict(davies_p=res["davies"])
    est = res["estimates"]
    ci = est["breakpoint1"]["confidence_interval"]
    return dict(psi=est["breakpoint1"]["estimate"], psi_se=est["breakpoint1"]["se"], ci_low=ci[0], ci_high=ci[1],
                slope1=est["alpha1"]["estimate"], slope1_se=est["alpha1"]["se"],
                slope2=est["alpha2"]["estimate"], slope2_se=est["alpha2"]["se"], davies_p=res["davies"])


def kbit_davies(df: pd.DataFrame) -> float:
    return SegmentedLS(df["x"].to_numpy(), df["y"].to_numpy()).davies_pvalue()[1]


def piecewise_davies(df: pd.DataFrame) -> float:
    from piecewise_regression.davies import davies_test

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(davies_test(df["x"].to_numpy(), df["y"].to_numpy()))


def markdown(rows: list[list], headers: list[str]) -> str:
    lines = [headers, ["---"] * len(headers), *rows]
    return "\n".join("| " + " | ".join(map(str, line)) + " |" for line in lines)


def _g(v, digits=4) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v:.{digits}g}"


AGREE = ["psi", "psi_se", "slope1", "slope1_se", "slope2", "slope2_se", "davies_p"]


def fits_table(sets, r: pd.DataFrame | None, seed: int) -> str:
    rows, worst = [], 0.0
    for name, df in sets.items():
        tools = [("kbit", kbit_fit(df)), ("piecewise-regression", piecewise_fit(df, seed))]
        if r is not None:
            tools.insert(1, ("R segmented", r.loc[name].to_dict()))
            ours, theirs = (np.array([v[k] for k in AGREE], dtype=float) for v in (tools[0][1], tools[1][1]))
            worst = max(worst, float(np.max(np.abs(ours - theirs) / np.abs(theirs))))
        for tool, v in tools:
            get = lambda k, v=v: v.get(k, np.nan)  # noqa: E731
            rows.append([name, len(df), tool, _g(get("psi"), 6), _g(get("psi_se")),
                         f"{_g(get('ci_low'))} .. {_g(get('ci_high'))}" if np.isfinite(get("ci_low")) else "",
                         f"{_g(get('slope1'))} ({_g(get('slope1_se'), 3)})" if np.isfinite(get("slope1")) else "",
                         f"{_g(get('slope2'))} ({_g(get('slope2_se'), 3)})" if np.isfinite(get("slope2")) else "",
                         _g(get("davies_p"), 3)])
    table = markdown(rows, ["data", "n", "tool", "psi", "psi SE (delta)", "95% CI of psi",
                            "slope before (SE)", "slope after (SE)", "Davies p"])
    if r is not None:
        table += f"\n\nkbit vs R, largest relative difference over {', '.join(AGREE)}: {worst:.1e}"
    return table


def fpr_table(reps: int, seed: int, folder: Path | None, alpha: float = 0.05) -> str:
    rows = []
    for n in (8, 12):
        sets = straight_lines(n, reps, seed + n)
        p_kbit = np.array([kbit_davies(df) for df in sets.values()])
        p_pw = np.array([piecewise_davies(df) for df in sets.values()])
        se = lambda p: np.sqrt(p * (1 - p) / reps)  # noqa: E731
        row = [n, reps, f"{np.mean(p_kbit <= alpha):.3f} ± {se(np.mean(p_kbit <= alpha)):.3f}"]
        if folder is not None:
            p_r = r_fits(sets, set(), folder)["davies_p"].to_numpy()
            rel = np.abs(p_kbit - p_r) / p_r
            row += [f"{np.mean(p_r <= alpha):.3f}", f"{np.max(np.abs(p_kbit - p_r)):.1e}", f"{np.max(rel):.1e}"]
        row.append(f"{np.mean(p_pw <= alpha):.3f}")
        rows.append(row)
    headers = ["points", "replicates", "kbit FPR"]
    if folder is not None:
        headers += ["R FPR", "max abs. difference of p", "max rel. difference"]
    return markdown(rows, headers + ["piecewise-regression FPR"])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000, help="straight-line replicates per size (default 1000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t = time.perf_counter()
    why = r_missing()
    if why:
        print(f"R segmented skipped: {why}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = None if why else Path(tmp)
        sets = ({} if folder is None else r_datasets(folder)) | simulated(args.seed)
        r = None if folder is None else r_fits(sets, set(sets), folder)
        print("One break (kbit's interval is the profile-likelihood one; R's and piecewise-regression's "
              "are delta-method)\n")
        print(fits_table(sets, r, args.seed))
        print("\nDavies' test on straight lines, x = 1..n, N(0, 1) noise: false-positive rate at 5%\n")
        print(fpr_table(args.reps, args.seed, folder))
    print(f"\n{time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
