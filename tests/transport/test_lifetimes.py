"""Lifetime regimes: analytic classification against the Wigner and Ioffe-Regel limits."""

import numpy as np
import pytest

from incipient.transport.lifetimes import LifetimeRegimes, classify_lifetimes


def test_classification_and_fractions(tmp_path):
    # one q point with weight 2, one with weight 1; 2 atoms -> 6 bands; f_max = 6 THz
    f = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 6.0], [0.5, 1.0, 2.0, 3.0, 5.0, 6.0]])
    tau_w = 3 * 2 / (2 * np.pi * 6.0)  # = 1/(2 pi) ps
    # choose lifetimes: particle (10 tau_w), wave (between 1/omega and tau_w), overdamped (< 1/omega)
    tau = np.array([[1.0, 10 * tau_w, 10 * tau_w, 0.5 / (2 * np.pi * 3.0), 0.8 * tau_w, 10 * tau_w],
                    [0.5 / (2 * np.pi * 0.5), 10 * tau_w, 0.9 * tau_w, 10 * tau_w, 10 * tau_w, 0.5 / (2 * np.pi * 6)]])
    gamma = 1.0 / (4 * np.pi * tau)
    w = np.array([2.0, 1.0])
    mk = np.zeros((1, 2, 6, 3))
    mk[0, :, :, 0] = 1.0  # each mode carries unit kappa_p along x
    res = classify_lifetimes(f, gamma[None], w, n_atoms_prim=2, temperatures_K=[300.0], mode_kappa_p=mk)
    assert res.tau_wigner_ps == pytest.approx(tau_w)
    np.testing.assert_allclose(res.tau_ps[0], tau)
    expect = np.array([[-1, 0, 0, 2, 1, 0], [2, 0, 1, 0, 0, 2]])
    np.testing.assert_array_equal(res.regime[0], expect)
    # weighted counts: q0 (w=2): particle 3, wave 1, overdamped 1; q1 (w=1): particle 3, wave 1, overdamped 2
    tot = 2 * 5 + 6
    np.testing.assert_allclose(res.fraction_modes[0], [(6 + 3) / tot, (2 + 1) / tot, (2 + 2) / tot])
    # unit kappa per mode (unweighted, like phono3py's already weighted mode kappa): shares by count of 12
    np.testing.assert_allclose(res.fraction_kappa_p[0, :, 0], [6 / 12, 2 / 12, 3 / 12])
    assert np.all(np.isnan(res.fraction_kappa_p[0, :, 1]))
    back = LifetimeRegimes.load(res.save(tmp_path / "lt.json"))
    np.testing.assert_array_equal(back.regime, res.regime)


def test_shape_errors():
    with pytest.raises(ValueError, match="shapes"):
        classify_lifetimes(np.ones((2, 3)), np.ones((1, 2, 4)), np.ones(2), 1, [300.0])
