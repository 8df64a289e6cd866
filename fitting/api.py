"""`fit_threshold`: the one entry point. Validates everything, then fits each group."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from fitting.binomial import FloorHinge
from fitting.data import Cells, Spec, cells, pooled_below_chance, prepare
from fitting.ols import SegmentedLS
from fitting.profile import Grid, locate, locate_two, lr_test, pair_grid
from fitting.results import ThresholdFit, ThresholdFits
from fitting.smooth import compare_smooth, existence_test, family, model_table

MIN_DISTINCT_X = 5


def fit_threshold(data, x: str = "log2_total_bits", successes: str = "successes", trials: str | None = None,
                  chance=None, n_breakpoints: int = 1, method: str = "binomial", by=None, *, y: str = "value",
                  weights: str | None = None, metric: str | None = None, precision: str | None = None,
                  alpha: float = 0.05, n_boot: int = 199, boot_ci: int = 0, grid_size: int = 40, seed: int = 0):
    """Fit a segmented regression of a metric on x and locate the threshold.

    method: "binomial" (successes of trials above a chance floor), "ols" or "wls" (a continuous
    metric `y`, weighted by the column `weights` for wls). trials defaults to "n", else "trials";
    chance to the "chance" column (binomial only; a number or a column name also work).
    by: columns to group by, giving a ThresholdFits. precision: a column (e.g. "bits") for
    per-precision intercept terms and the shared-breakpoint test. n_boot: bootstrap replicates of
    the existence test (binomial); boot_ci: replicates for a bootstrap interval (0 = none).
    """
    if n_breakpoints not in (1, 2):
        raise ValueError(f"n_breakpoints={n_breakpoints!r} is not one of: 1, 2")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} must lie strictly between 0 and 1")
    for name, v, low in (("n_boot", n_boot, 0), ("boot_ci", boot_ci, 0), ("grid_size", grid_size, 10)):
        if int(v) != v or v < low:
            raise ValueError(f"{name}={v!r} must be a whole number >= {low}")
    by = [by] if isinstance(by, str) else list(by or [])
    if not isinstance(data, (pd.DataFrame, dict)):
        raise ValueError(f"data must be a pandas DataFrame or a dict of columns, not {type(data).__name__}")
    df0 = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    if trials is None:
        trials = "n" if "n" in df0.columns or "trials" not in df0.columns else "trials"
    if chance is None and method == "binomial":
        if "chance" not in df0.columns:
            raise ValueError("chance not given and the table has no 'chance' column: pass chance=0.5 (a number) "
                             "or the name of a column")
        chance = "chance"
    spec = Spec(x=x, method=method, successes=successes, trials=trials, chance=chance, y=y, weights=weights,
                precision=precision)
    df = prepare(df0, spec, metric, by)
    opts = dict(n_breakpoints=n_breakpoints, alpha=alpha, n_boot=int(n_boot), boot_ci=int(boot_ci),
                grid_size=int(grid_size), seed=seed)
    if not by:
        return fit_cells(cells(df, spec), x_name=x, **opts)
    fits = {}
    groups = list(df.groupby(by, sort=True, dropna=False))
    every = cells(df, spec)
    whole = pooled_below_chance(every, f"the table's {len(every.x)} cells") if len(groups) > 1 else ""
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        c = cells(part, spec)
        if whole:  # a caution about the whole table reaches every fit of it
            c.notes.append(whole)
            c.caveats.append(whole)
        fits[key] = fit_cells(c, x_name=x, label=dict(zip(by, key)), **opts)
    return ThresholdFits(by, fits)


WEAK_Z = 5.0  # below this Wald z of the slope change the interval under-covers (benchmark, 'weak break')
MAX_DISPERSION = 10.0  # beyond this the cells scatter so far around every curve that no shape is trusted


def _not_estimated(c: Cells, n_breakpoints: int, reason: str) -> dict:
    """params, bse and cov of a fit that could not be made: NaN, the Series named by the reason."""
    names = param_names(n_breakpoints, _extra(c, True)[1])
    nan = pd.Series(np.nan, index=names, name=f"not estimated: {reason}")
    return dict(params=nan, bse=nan.copy(), cov=pd.DataFrame(np.nan, index=names, columns=names))


def _no_threshold(c: Cells, method, x_name, alpha, reason, label, n_breakpoints) -> ThresholdFit:
    return ThresholdFit(method=method, x_name=x_name, alpha=alpha, n_obs=len(c.x),
                        breakpoints=np.full(n_breakpoints, np.nan), cis=((np.nan, np.nan),) * n_breakpoints,
                        ci_open=False, test=None, reason=reason, notes=tuple(c.notes), label=label or {}, cells=c,
                        **_not_estimated(c, n_breakpoints, reason))


def param_names(n_breakpoints: int, extra_names) -> list[str]:
    """const, slope, slope_change[, slope_change2], precision shifts, psi[, psi2]."""
    nth = lambda base, j: f"{base}{'' if j == 0 else j + 1}"  # noqa: E731
    return ["const", "slope", *[nth("slope_change", j) for j in range(n_breakpoints)], *extra_names,
            *[nth("psi", j) for j in range(n_breakpoints)]]


def _refusal(c: Cells) -> str:
    """Why these cells cannot show a threshold at all, or '' if they can be fitted."""
    if len(c.x) == 0:
        return "no usable rows (all missing or with zero trials)"
    k = len(np.unique(c.x))
    if k < MIN_DISTINCT_X:
        return f"only {k} distinct x value(s); at least {MIN_DISTINCT_X} are needed"
    if c.s is not None:
        above = stats.binom.sf(c.s - 1, c.n, c.c) < 0.05  # P(S >= s) under chance
        if not above.any():
            return "every cell is at chance level (no cell is above chance at the 5% level)"
    elif np.ptp(c.y) == 0:
        return "the metric is constant"
    return ""


def _extra(c: Cells, with_precision: bool):
    """Per-precision indicator columns (the highest precision is the reference) and their names."""
    if not with_precision or c.precision is None:
        return None, []
    levels = sorted(pd.unique(c.precision), key=lambda v: (str(type(v)), v))
    if not levels:
        return None, []
    ref = levels[-1]
    names = [f"prec[{v}]" for v in levels if v != ref]
    extra = np.stack([(c.precision == v).astype(float) for v in levels if v != ref], axis=-1) if names else None
    return extra, names


def _model(c: Cells, method: str, with_precision: bool):
    extra, names = _extra(c, with_precision)
    if method == "binomial":
        return FloorHinge(c.x, c.s, c.n, c.c, extra, names)
    return SegmentedLS(c.x, c.y, c.w, extra, names)


def _locate(model, grid, n_breakpoints, alpha):
    """(psis, cis, loglik, reason, ci_open, dispersion) of the reported model."""
    q = stats.chi2.ppf(1 - alpha, 1)
    if n_breakpoints == 1:
        loc, disp = profile_interval(model, grid, alpha)
        return np.array([loc.psi]), [loc.ci], loc.loglik, loc.reason, loc.ci_open, disp
    pair = locate_two(model, grid)
    if pair.reason:
        return np.full(2, np.nan), [(np.nan, np.nan)] * 2, pair.loglik, pair.reason, False, 1.0
    disp = model.dispersion(pair.psis)
    cis, ci_open = pair.intervals(q * disp)
    return pair.psis, cis, pair.loglik, "", ci_open, disp


def fit_cells(c: Cells, x_name: str, n_breakpoints=1, alpha=0.05, n_boot=199, boot_ci=0, grid_size=40, seed=0,
              label=None) -> ThresholdFit:
    """Fit one group of cleaned cells (see `fit_threshold` for the options)."""
    method = "binomial" if c.s is not None else ("wls" if c.w is not None and len(np.unique(c.w)) > 1 else "ols")
    why = _refusal(c)
    if why:
        return _no_threshold(c, method, x_name, alpha, why, label, n_breakpoints)
    rng = np.random.default_rng(seed)
    model = _model(c, method, with_precision=True)
    grid = Grid.over(c.x, grid_size)
    psis, cis, ll, reason, ci_open, disp = _locate(model, grid, n_breakpoints, alpha)
    smooth_models = _smooth(model)
    closest = smooth_models["model"].iloc[0]
    fields = dict(method=method, x_name=x_name, alpha=alpha, n_obs=model.n_obs, dispersion=disp, closest=closest,
                  notes=tuple(c.notes), label=label or {}, cells=c, model=model, grid=grid, ci_open=ci_open)
    if not np.all(np.isfinite(psis)):
        return ThresholdFit(breakpoints=psis, cis=tuple(map(tuple, cis)), test=None, reason=reason, llf=ll,
                            models=smooth_models, **_not_estimated(c, n_breakpoints, reason), **fields)
    test = _existence_test(model, grid, closest, n_boot, rng, n_breakpoints, alpha)
    names = param_names(len(psis), model.extra_names)
    final = model.statsmodels_fit(psis, names)
    bse = final.bse.copy()
    if final.llf > ll + 1e-6:  # the polishing fit improved on the profile optimum: keep its psi
        psis, ll = final.params[[n for n in final.params.index if n.startswith("psi")]].to_numpy(), final.llf
        cis = [(min(lo, p), max(hi, p)) for (lo, hi), p in zip(cis, psis)]  # the interval holds the estimate
    # The likelihood has kinks in psi at every data point, so a Hessian-based standard error
    # for psi can be far off; report the one implied by the profile interval instead.
    z_crit = stats.norm.ppf(1 - alpha / 2)
    for j, name in enumerate(n for n in bse.index if n.startswith("psi")):
        bse[name] = (cis[j][1] - cis[j][0]) / (2 * z_crit)
    models = _compare(model, grid, ll, n_breakpoints, smooth_models, disp)
    boot = None
    if boot_ci and method == "binomial" and n_breakpoints == 1:
        draws = model.bootstrap_psi(psis[0], grid, boot_ci, rng)
        boot = tuple(np.percentile(draws, [100 * alpha / 2, 100 * (1 - alpha / 2)]))
    changes = [n for n in names if n.startswith("slope_change")]
    coef = [n for n in names if not n.startswith("psi")]
    identified, cov, notes = _identified(model, psis, coef, bse, final.cov)
    fields["notes"] += notes
    main = int(np.argmax(final.params[changes].to_numpy()))  # the break where the slope rises most
    # the Wald z of the named break's slope change, its standard error scaled by the dispersion
    # (quasi-likelihood): binomial standard errors alone understate it for over-dispersed cells
    z = float(final.params[changes[main]] / (bse[changes[main]] * np.sqrt(max(1.0, disp)))) if identified else np.nan
    prec = (_precision_tests(c, method, model, grid, ll)
            if c.precision is not None and len(pd.unique(c.precision)) > 1 else {})
    why_not = _why_not(method, test, alpha, final.params[changes].to_numpy(), z, ci_open, disp, models, closest,
                       n_boot, identified, _too_close(c.x, psis))
    weak = ()
    if method == "binomial" and not abs(z) >= WEAK_Z:  # a NaN z is the weakest of all
        weak = ((f"the slope change is weakly determined (Wald |z| = {np.floor(abs(z) * 100) / 100:g} < {WEAK_Z:g})"
                 if np.isfinite(z) else "the slope change has no finite Wald z (its standard error is not identified)")
                + ": in simulation the interval for such weak breaks covered psi less often than stated (0.87 at "
                "95%, docs/fitting.md, 'weak break')",)
    return ThresholdFit(breakpoints=psis, cis=tuple(map(tuple, cis)), test=test, reason=why_not, params=final.params,
                        bse=bse, cov=cov, llf=ll, models=models, boot_ci=boot, precision_tests=prec,
                        caveats=weak, identified=identified, **fields)


MAX_LOGIT = 10.0  # a fitted logit beyond this at a cell: the curve ran off to the floor or ceiling


def _identified(model, psis, coef, bse, cov):
    """(identified, covariance, notes). Least squares: every coefficient has a finite, positive
    standard error. Binomial: the fitted logit stays within MAX_LOGIT at every cell (beyond it
    the likelihood is flat: cells at or below chance push a segment's slope to infinity) and the
    coefficients' information at the located psi is invertible. Where the joint information
    (psi included, kinked there) is singular but the fixed-psi one is not, the coefficients'
    standard errors are the fixed-psi ones, and a note says so."""
    finite = bool(np.all(np.isfinite(bse[coef])) and np.all(bse[coef] > 0))
    if model.method != "binomial":
        return finite, cov, ()
    eta, fixed = model.at_breaks(psis)
    ok = eta <= MAX_LOGIT and bool(np.all(np.isfinite(np.diag(fixed))) and np.all(np.diag(fixed) > 0))
    if not ok or finite:
        return ok, cov, ()
    bse[coef] = np.sqrt(np.diag(fixed))
    cov = pd.DataFrame(fixed, index=coef, columns=coef)
    return True, cov, ("standard errors of the coefficients hold psi fixed: the joint information matrix "
                       "(psi included) is singular at the located psi, so they understate the uncertainty",)


def _too_close(x, psis) -> str:
    """Why two breakpoints are not two (fewer than two model sizes between them), or ''."""
    if len(psis) < 2:
        return ""
    inside = np.unique(x[(x >= psis[0]) & (x <= psis[1])])
    if inside.size >= 2:
        return ""
    return (f"the two breakpoints ({psis[0]:.3f} and {psis[1]:.3f}) are closer than one model size apart: "
            f"{inside.size} distinct x from one to the other, so the middle segment's slope rests on at most "
            "one cell")


def _why_not(method, test, alpha, change, z, ci_open, disp, models, closest, n_boot, identified, too_close) -> str:
    """'' when the located break counts as a detected threshold, else the first reason it does not."""
    if not identified:
        return ("not identified: the coefficients' standard errors are not finite, or the fitted curve runs off to "
                f"chance or to 1 (a logit beyond {MAX_LOGIT:g}, as when cells at or below chance push a slope to "
                "infinity), so no shape is read from this fit")
    if too_close:
        return too_close
    if test is None:
        return f"existence test not run (n_boot={n_boot})"
    if not test["p_value"] <= alpha:
        return f"existence test p = {test['p_value']:.3g} > alpha = {alpha:g}"
    if method == "binomial" and not np.max(change) > 0:
        return "the slope falls at psi: saturation (levelling off), not emergence"
    if len(change) > 1 and not z >= stats.norm.ppf(1 - alpha):
        return (f"the rising break's own slope change is not significant (Wald z = {z:.3g} < "
                f"{stats.norm.ppf(1 - alpha):.3g}, one-sided at alpha = {alpha:g})")
    if ci_open:
        return "the interval for psi is open (it reaches the data edge or is not pinned down)"
    if disp > MAX_DISPERSION:
        return (f"dispersion {disp:.3g} > {MAX_DISPERSION:g}: the cells scatter far beyond binomial noise "
                "around the fitted break, so its shape is not trusted")
    qaic = models.set_index("model")["qaic"]
    row = "one break" if len(change) == 1 else "two breaks"
    if row in qaic and qaic[closest] <= qaic[row]:
        return f"{'QAIC' if disp > 1 else 'AIC'} prefers the smooth curve ({closest})"
    return ""


def _smooth(model) -> pd.DataFrame:
    """The no-break curves, best (lowest AIC) first."""
    if model.method == "binomial":
        return compare_smooth(model.X0, model.s, model.n, model.c)
    q = 0 if model.extra is None else model.extra.shape[1]
    return model_table([("linear", 2 + q, model.linear_alternative()), ("sigmoid", 4 + q, model.sigmoid_alternative())],
                       model.n_obs)


def _existence_test(model, grid, closest, n_boot, rng, n_breakpoints, alpha) -> dict | None:
    """Binomial: the parametric bootstrap against the closest smooth curve (fitting.smooth), and
    for two breaks also against the best one break (p is the larger: both must reject; the
    second is run only when the first rejects at alpha);
    least squares: Davies' test (its null is a straight line), and for two breaks a Gaussian
    parametric bootstrap against one break."""
    singles = grid.points[grid.interior][::2, None]  # every other grid point: the same on data and replicates
    pairs = pair_grid(grid)
    if model.method != "binomial":
        stat, p = model.davies_pvalue()
        out = {"stat": stat, "p_value": p, "null": "linear", "name": "Davies (k=10)"}
        if n_breakpoints == 2:
            if n_boot == 0:
                return None
            p_one = model.versus_fewer_breaks(pairs, singles, n_boot, rng)
            out.update(p_smooth=p, p_one_break=p_one, p_value=max(p, p_one), null="linear; one break",
                       name=f"Davies (k=10) vs linear, p = {p:.3g}; Gaussian parametric bootstrap vs one break "
                            f"(B={n_boot}), p = {p_one:.3g}")
        return out
    if n_boot == 0:
        return None
    if n_breakpoints == 1:
        out = existence_test(model, singles, family(closest), n_boot, rng)
        out["name"] = f"quasi-LR vs {closest}, parametric bootstrap (B={n_boot})"
        return out
    smooth = existence_test(model, pairs, family(closest), n_boot, rng, null_phi=True)
    out = {"stat": smooth["stat"], "p_value": smooth["p_value"], "null": f"{closest}; one break",
           "dispersion": smooth["dispersion"], "n_boot": n_boot, "p_smooth": smooth["p_value"], "p_one_break": None,
           "name": f"quasi-LR of two breaks vs {closest} (p = {smooth['p_value']:.3g}), parametric bootstrap "
                   f"(B={n_boot}); vs one break not run: the smooth curve is not rejected"}
    if smooth["p_value"] <= alpha:  # else two breaks are refused whatever the second test says: not run
        one = existence_test(model, pairs, singles, n_boot, rng, null_phi=True)
        out.update(p_value=max(smooth["p_value"], one["p_value"]), p_one_break=one["p_value"],
                   name=f"quasi-LR of two breaks vs {closest} (p = {smooth['p_value']:.3g}) and vs one break "
                        f"(p = {one['p_value']:.3g}), parametric bootstrap (B={n_boot})")
    return out


def profile_interval(model, grid: Grid, alpha: float = 0.05):
    """psi and its profile-likelihood interval at level 1 - alpha, the deviance cut-off scaled by
    the Pearson dispersion when that exceeds 1. Returns (Located, dispersion)."""
    first = locate(model, grid)
    if not np.isfinite(first.psi):
        return first, 1.0
    disp = model.dispersion([first.psi])
    return locate(model, grid, crit=stats.chi2.ppf(1 - alpha, 1) * disp), disp


def _compare(model, grid, ll, n_breakpoints, smooth_models, disp) -> pd.DataFrame:
    """The smooth curves, one and two breakpoints, by AIC and BIC, and QAIC (the log-likelihood
    divided by the fit's dispersion, so that over-dispersed cells do not inflate the gaps).
    k counts the mean's parameters, each breakpoint included; a failed alternative is left out."""
    q = 0 if model.extra is None else model.extra.shape[1]
    if n_breakpoints == 1:
        two = locate_two(model, grid, refine=False)  # for its AIC row only
        rows = [("one break", 4 + q, ll), ("two breaks", 6 + q, None if two.reason else two.loglik)]
    else:
        one = locate(model, grid)
        rows = [("one break", 4 + q, one.loglik if not one.reason else None), ("two breaks", 6 + q, ll)]
    out = pd.concat([smooth_models, model_table(rows, model.n_obs).sort_values("k", ignore_index=True)],
                    ignore_index=True)
    out["qaic"] = 2 * out["k"] - 2 * out["loglik"] / max(1.0, disp)
    return out


def _precision_tests(c: Cells, method, model, grid, ll_with) -> dict:
    """Does total bits alone explain the metric? (per-precision shifts, chi2 LR test), and is
    one breakpoint shared by every precision? (separate hinge fits per precision vs one psi)."""
    out = {}
    plain = _model(c, method, with_precision=False)
    levels = list(pd.unique(c.precision))
    ll_without = locate(plain, grid).loglik
    out["precision_terms"] = lr_test(ll_with, ll_without, len(levels) - 1)
    subsets = [plain.subset(c.precision == v) for v in levels]
    if min(len(np.unique(s.x)) for s in subsets) < 4:
        out["shared_psi"] = {"lr": np.nan, "df": len(levels) - 1, "p_value": np.nan,
                             "note": "a precision has fewer than 4 distinct x: not tested"}
        return out
    inner = grid.points[grid.interior][:, None]
    prof = np.stack([s.loglik_grid(inner) for s in subsets])  # (precisions, grid points)
    t = lr_test(prof.max(axis=1).sum(), prof.sum(axis=0).max(), len(levels) - 1)
    t["note"] = "chi2 reference, approximate"
    out["shared_psi"] = t
    return out
