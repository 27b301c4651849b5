"""Volatility forecasts: EWMA against a hand recursion, GARCH fit and its fallbacks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.forecast import (
    correlation_from_covariance,
    ewma_covariance,
    ewma_forecast,
    ewma_variance,
    garch_forecast,
    log_returns,
)


def _hand_ewma(r: list[float], lam: float, seed_window: int) -> float:
    head = r[:seed_window]
    s2 = sum(x * x for x in head) / len(head)
    for x in r:
        s2 = lam * s2 + (1 - lam) * x * x
    return s2


def test_ewma_small_hand_value() -> None:
    # seed = (0.01² + 0.02²)/2 = 2.5e-4; then 0.94*2.5e-4 + 0.06*1e-4 = 2.41e-4; then 0.94*2.41e-4 + 0.06*4e-4
    assert ewma_variance([0.01, 0.02], 0.94, seed_window=2) == pytest.approx(
        0.94 * 2.41e-4 + 0.06 * 4e-4, rel=1e-12
    )


@given(
    r=st.lists(st.floats(min_value=-0.5, max_value=0.5, allow_nan=False), min_size=1, max_size=300),
    lam=st.floats(min_value=0.5, max_value=0.999),
    seed_window=st.integers(min_value=1, max_value=40),
)
@settings(max_examples=60, deadline=None)
def test_ewma_equals_hand_recursion(r: list[float], lam: float, seed_window: int) -> None:
    assert ewma_variance(r, lam, seed_window) == pytest.approx(
        _hand_ewma(r, lam, seed_window), rel=1e-9, abs=1e-300
    )


def test_ewma_forecast_annualises() -> None:
    prices = 100.0 * np.exp(np.cumsum(np.r_[0.0, np.tile([0.02, -0.02], 50)]))
    f = ewma_forecast(prices)
    assert f.method == "ewma" and f.n_returns == 100 and f.reason == ""
    assert f.sigma_period == pytest.approx(0.02, rel=1e-9)  # every |r| = 0.02
    assert f.sigma_annual == pytest.approx(0.02 * math.sqrt(365), rel=1e-9)


def test_ewma_covariance_diagonal_matches_variance() -> None:
    rng = np.random.default_rng(1)
    r = rng.standard_normal((200, 3)) * [0.01, 0.02, 0.03]
    cov = ewma_covariance(r)
    for j in range(3):
        assert cov[j, j] == pytest.approx(ewma_variance(r[:, j]), rel=1e-12)
    corr = correlation_from_covariance(cov)
    assert np.allclose(np.diag(corr), 1.0) and np.all(np.abs(corr) <= 1.0)
    assert np.allclose(corr, corr.T)


def test_garch_recovers_simulated_process() -> None:
    rng = np.random.default_rng(7)
    omega, alpha, beta = 2e-5, 0.08, 0.9
    n = 2000
    r = np.empty(n)
    var = omega / (1 - alpha - beta)
    for i in range(n):
        r[i] = math.sqrt(var) * rng.standard_normal()
        var = omega + alpha * r[i] ** 2 + beta * var
    prices = 50.0 * np.exp(np.cumsum(np.r_[0.0, r]))
    f = garch_forecast(prices)
    assert f.method == "garch", f.reason
    assert f.params["alpha"] + f.params["beta"] < 1
    assert 0.6 < f.params["beta"] < 0.99
    # the forecast must equal the model's own next-step variance (scaled back), i.e. the rescaling is undone
    assert f.sigma_period == pytest.approx(math.sqrt(var), rel=0.35)
    assert f.sigma_annual == pytest.approx(f.sigma_period * math.sqrt(365))


def test_garch_short_history_falls_back_with_reason() -> None:
    prices = 100.0 * np.exp(np.cumsum(np.r_[0.0, np.full(30, 0.01)]))
    f = garch_forecast(prices)
    assert f.method == "ewma" and "too short" in f.reason and f.n_returns == 30


def test_garch_constant_prices_fall_back() -> None:
    f = garch_forecast(np.full(300, 7.0))
    assert f.method == "ewma" and "constant" in f.reason and f.sigma_period == 0.0


@pytest.mark.parametrize("bad", [[1.0], [1.0, 0.0, 2.0], [1.0, float("nan")]])
def test_bad_prices_are_rejected(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="price"):
        log_returns(bad)


def test_garch_non_stationary_fit_falls_back_to_ewma() -> None:
    # variance rising steadily through the sample: the MLE sits on alpha + beta = 1 (integrated GARCH)
    r = np.random.default_rng(0).standard_normal(400) * np.linspace(0.001, 0.2, 400)
    prices = 100.0 * np.exp(np.cumsum(np.r_[0.0, r]))
    f = garch_forecast(prices)
    assert f.method == "ewma" and f.reason.startswith("GARCH fit non-stationary")
    assert f.sigma_period == pytest.approx(ewma_forecast(prices).sigma_period)
