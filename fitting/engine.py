"""The protocol every likelihood engine keeps, so that the fit (fitting.api) never asks which
engine it holds: the binomial floor model (fitting.binomial) and least squares (fitting.ols)."""
from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from fitting.hypotheses import ExistenceTest
from fitting.profile import FinalFit, Grid


@runtime_checkable
class Engine(Protocol):
    """A hinge model's profile likelihood in psi (batched over grid points), its final fit and
    the engine's own inference: the smooth curves, the existence test, identification."""

    method: ClassVar[str]
    emergence_only: ClassVar[bool]  # a break counts only where the slope rises (accuracy: emergence)
    x: np.ndarray
    extra: np.ndarray | None
    extra_names: list[str]

    @classmethod
    def from_cells(cls, cells, extra=None, extra_names=()) -> Engine: ...

    @property
    def n_obs(self) -> int: ...

    def subset(self, mask) -> Engine: ...

    def loglik_grid(self, psis) -> np.ndarray: ...

    def loglik_at(self, psi) -> float: ...

    def predict(self, psis, xs) -> np.ndarray: ...

    def dispersion(self, psis) -> float: ...

    def statsmodels_fit(self, psis, names) -> FinalFit: ...

    def smooth_models(self) -> pd.DataFrame:
        """The no-break curves (model, k, loglik, aic, bic), best (lowest AIC) first."""

    def existence_test(self, grid: Grid, closest: str, n_boot: int, rng, n_breakpoints: int,
                       alpha: float) -> ExistenceTest | None:
        """Is there a break at all (None: not run)."""

    def identified(self, psis, coef: list[str], bse: pd.Series, cov) -> tuple[bool, object, tuple]:
        """(identified, covariance, notes): may replace bse's coefficient entries."""

    def bootstrap_psi(self, psi: float, grid: Grid, n_boot: int, rng) -> np.ndarray | None:
        """psi re-estimated on tables simulated from the fit (None: the engine offers none)."""

    def weak_break(self, z: float) -> tuple[str, ...]:
        """Caveats for a slope change whose Wald z is this weak (measured in simulation)."""


def finite_errors(bse: pd.Series, coef: list[str]) -> bool:
    """Every coefficient has a finite, positive standard error."""
    return bool(np.all(np.isfinite(bse[coef])) and np.all(bse[coef] > 0))
