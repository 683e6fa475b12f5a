"""Power-law fits kappa = A T^alpha: exact recovery and agreement with numpy.polyfit."""

from __future__ import annotations

import numpy as np
import pytest

from incipient.transport import PowerLawFit, fit_power_law

T = np.array([300.0, 350.0, 400.0, 450.0, 500.0, 600.0])


def test_exact_power_law():
    kappa = 0.8 * T ** -0.43
    fit = fit_power_law(T, kappa)
    assert fit.alpha == pytest.approx(-0.43, abs=1e-12)
    assert fit.prefactor == pytest.approx(0.8, rel=1e-10)
    assert fit.alpha_err == pytest.approx(0.0, abs=1e-10)
    np.testing.assert_allclose(fit.predict(T), kappa, rtol=1e-12)


def test_weighted_fit_recovers_exponent_and_matches_polyfit():
    rng = np.random.default_rng(3)
    alpha_true = np.array([0.17, -0.30, -0.43])  # paper's EMD exponents x, y, z
    kappa_true = np.array([0.5, 0.4, 0.3]) * (T[:, None] / 300.0) ** alpha_true
    err = 0.03 * kappa_true * (1 + rng.random(kappa_true.shape))
    kappa = kappa_true + err * rng.standard_normal(kappa_true.shape)
    fit = fit_power_law(T, kappa, err)
    assert fit.alpha.shape == (3,) and fit.weighted
    assert np.all(np.abs(fit.alpha - alpha_true) < 3 * fit.alpha_err)
    assert np.all(fit.alpha_err < 0.1)
    for j in range(3):
        # reference: numpy's weighted polyfit of ln kappa vs ln T with unscaled covariance
        sy = err[:, j] / kappa[:, j]
        p, cov = np.polyfit(np.log(T), np.log(kappa[:, j]), 1, w=1 / sy, cov="unscaled")
        assert fit.alpha[j] == pytest.approx(p[0], rel=1e-10)
        assert fit.alpha_err[j] == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-8)
        assert fit.prefactor[j] == pytest.approx(np.exp(p[1]), rel=1e-8)
        assert fit.prefactor_err[j] == pytest.approx(np.exp(p[1]) * np.sqrt(cov[1, 1]), rel=1e-6)


def test_unweighted_errors_and_repeated_draws():
    # without errors the covariance is scaled by the residual variance: over many noisy draws
    # the spread of alpha matches the mean reported alpha_err (within 15%)
    rng = np.random.default_rng(11)
    alphas, errs = [], []
    for _ in range(400):
        k = 2.0 * T ** 0.44 * np.exp(0.05 * rng.standard_normal(T.size))
        f = fit_power_law(T, k)
        alphas.append(f.alpha)
        errs.append(f.alpha_err)
    assert np.mean(alphas) == pytest.approx(0.44, abs=0.01)
    rms_err = np.sqrt(np.mean(np.square(errs)))
    assert np.std(alphas) == pytest.approx(rms_err, rel=0.15)


def test_round_trip_plot_and_validation(tmp_path):
    kappa = np.stack([T ** 0.1, T ** -0.2], axis=1)
    fit = fit_power_law(T, kappa, 0.05 * kappa)
    back = PowerLawFit.load(fit.save(tmp_path / "fit.json"))
    np.testing.assert_allclose(back.alpha, fit.alpha)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = fit.plot(labels=["x", "y"])
    fig.savefig(tmp_path / "fit.png")
    plt.close(fig)
    with pytest.raises(ValueError, match="positive"):
        fit_power_law(T, -kappa[:, 0])
    with pytest.raises(ValueError, match="shape"):
        fit_power_law(T, kappa[:3])


def test_power_law_alpha_per_column_nan_where_no_fit():
    from incipient.transport import power_law_alpha

    kappa = np.stack([2.0 * T ** -0.7, T ** 0.3, -T], axis=1)
    a = power_law_alpha(T, kappa)
    np.testing.assert_allclose(a[:2], [-0.7, 0.3], atol=1e-12)
    assert a[0] == fit_power_law(T, kappa[:, 0]).alpha  # the same fit, not a second one
    assert np.isnan(a[2])  # non-positive column
    assert np.isnan(power_law_alpha(T[:1], kappa[:1])).all()  # one temperature
