"""Fit one group of cleaned cells: locate psi, test that a break exists, and say why not.

The engine (fitting.engine) carries everything that differs between accuracy counts and a
continuous metric, so nothing here asks which one it holds."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from fitting.binomial import MAX_LOGIT, FloorHinge
from fitting.data import Cells
from fitting.engine import Engine
from fitting.hypotheses import LRTest, lr_test
from fitting.ols import SegmentedLS
from fitting.profile import Grid, locate, locate_two
from fitting.results import ThresholdFit
from fitting.smooth import model_table

MIN_DISTINCT_X = 5
ENGINES: dict[str, type[Engine]] = {"binomial": FloorHinge, "ols": SegmentedLS, "wls": SegmentedLS}
MAX_DISPERSION = 10.0  # beyond this the cells scatter so far around every curve that no shape is trusted


def _not_estimated(c: Cells, n_breakpoints: int, reason: str) -> dict:
    """params, bse and cov of a fit that could not be made: NaN, the Series named by the reason."""
    names = param_names(n_breakpoints, _extra(c, True)[1])
    nan = pd.Series(np.nan, index=names, name=f"not estimated: {reason}")
    return dict(params=nan, bse=nan.copy(), cov=pd.DataFrame(np.nan, index=names, columns=names))


def _no_threshold(c: Cells, x_name, alpha, reason, label, n_breakpoints) -> ThresholdFit:
    return ThresholdFit(method=c.method, x_name=x_name, alpha=alpha, n_obs=len(c.x),
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


def _model(c: Cells, with_precision: bool) -> Engine:
    return ENGINES[c.method].from_cells(c, *_extra(c, with_precision))


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
    """Fit one group of cleaned cells (see `ThresholdModel.fit` for the options)."""
    why = _refusal(c)
    if why:
        return _no_threshold(c, x_name, alpha, why, label, n_breakpoints)
    rng = np.random.default_rng(seed)
    model = _model(c, with_precision=True)
    grid = Grid.over(c.x, grid_size)
    psis, cis, ll, reason, ci_open, disp = _locate(model, grid, n_breakpoints, alpha)
    smooth_models = model.smooth_models()
    closest = smooth_models["model"].iloc[0]
    fields = dict(method=c.method, x_name=x_name, alpha=alpha, n_obs=model.n_obs, dispersion=disp, closest=closest,
                  notes=tuple(c.notes), label=label or {}, cells=c, model=model, grid=grid, ci_open=ci_open)
    if not np.all(np.isfinite(psis)):
        return ThresholdFit(breakpoints=psis, cis=tuple(map(tuple, cis)), test=None, reason=reason, llf=ll,
                            models=smooth_models, **_not_estimated(c, n_breakpoints, reason), **fields)
    test = model.existence_test(grid, closest, n_boot, rng, n_breakpoints, alpha)
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
    draws = model.bootstrap_psi(psis[0], grid, boot_ci, rng) if boot_ci and n_breakpoints == 1 else None
    boot = None if draws is None else tuple(np.percentile(draws, [100 * alpha / 2, 100 * (1 - alpha / 2)]))
    changes = [n for n in names if n.startswith("slope_change")]
    coef = [n for n in names if not n.startswith("psi")]
    identified, cov, notes = model.identified(psis, coef, bse, final.cov)
    fields["notes"] += notes
    main = int(np.argmax(final.params[changes].to_numpy()))  # the break where the slope rises most
    # the Wald z of the named break's slope change, its standard error scaled by the dispersion
    # (quasi-likelihood): binomial standard errors alone understate it for over-dispersed cells
    z = float(final.params[changes[main]] / (bse[changes[main]] * np.sqrt(max(1.0, disp)))) if identified else np.nan
    prec = (_precision_tests(c, model, grid, ll)
            if c.precision is not None and len(pd.unique(c.precision)) > 1 else {})
    why_not = _why_not(model, test, alpha, final.params[changes].to_numpy(), z, ci_open, disp, models, closest,
                       n_boot, identified, _too_close(c.x, psis))
    return ThresholdFit(breakpoints=psis, cis=tuple(map(tuple, cis)), test=test, reason=why_not, params=final.params,
                        bse=bse, cov=cov, llf=ll, models=models, boot_ci=boot, precision_tests=prec,
                        caveats=model.weak_break(z), identified=identified, **fields)


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


def _why_not(model: Engine, test, alpha, change, z, ci_open, disp, models, closest, n_boot, identified,
             too_close) -> str:
    """'' when the located break counts as a detected threshold, else the first reason it does not."""
    if not identified:
        return ("not identified: the coefficients' standard errors are not finite, or the fitted curve runs off to "
                f"chance or to 1 (a logit beyond {MAX_LOGIT:g}, as when cells at or below chance push a slope to "
                "infinity), so no shape is read from this fit")
    if too_close:
        return too_close
    if test is None:
        return f"existence test not run (n_boot={n_boot})"
    if not test.p_value <= alpha:
        return f"existence test p = {test.p_value:.3g} > alpha = {alpha:g}"
    if model.emergence_only and not np.max(change) > 0:
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


def _precision_tests(c: Cells, model: Engine, grid, ll_with) -> dict[str, LRTest]:
    """Does total bits alone explain the metric? (per-precision shifts, chi2 LR test), and is
    one breakpoint shared by every precision? (separate hinge fits per precision vs one psi)."""
    out = {}
    plain = _model(c, with_precision=False)
    levels = list(pd.unique(c.precision))
    ll_without = locate(plain, grid).loglik
    out["precision_terms"] = lr_test(ll_with, ll_without, len(levels) - 1)
    subsets = [plain.subset(c.precision == v) for v in levels]
    if min(len(np.unique(s.x)) for s in subsets) < 4:
        out["shared_psi"] = LRTest(np.nan, len(levels) - 1, np.nan,
                                   "a precision has fewer than 4 distinct x: not tested")
        return out
    inner = grid.points[grid.interior][:, None]
    prof = np.stack([s.loglik_grid(inner) for s in subsets])  # (precisions, grid points)
    out["shared_psi"] = lr_test(prof.max(axis=1).sum(), prof.sum(axis=0).max(), len(levels) - 1,
                                "chi2 reference, approximate")
    return out
