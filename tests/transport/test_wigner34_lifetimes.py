"""Per-mode lifetimes of a Wigner34Result (Figure 4a,b): tau = 1/rate and the regime limits."""

import numpy as np

from incipient.transport.wigner34 import Wigner34Result


def _result():
    f = np.array([[0.5, 1.0, 2.0], [0.8, 1.5, 3.0]])  # THz, 2 q-points x 3 bands
    r3 = np.array([[[0.05, 0.5, 1.0], [0.1, 2.0, 40.0]]])  # 1/ps at one temperature
    r34 = r3 * np.array([[[1.0, 3.0, 2.0], [1.5, 1.0, 1.0]]])
    z = np.zeros((1, 3))
    return Wigner34Result(temperatures_K=np.array([300.0]), kappa_p_3ph=z + 1, kappa_c_3ph=z + 1,
                          kappa_p_34ph=z + 0.5, kappa_c_34ph=z + 1, kappa_p_34ph_err=z, kappa_c_34ph_err=z,
                          mesh=(2, 1, 1), n_samples=0, scalebroad=1.0, n_dropped_modes=0, wall_3ph_s=0.0,
                          wall_4ph_s=0.0, frequencies_THz=f, weights=np.array([1.0, 1.0]),
                          rates_3ph_per_ps=r3, rates_34ph_per_ps=r34, n_atoms_prim=1)


def test_lifetimes_are_inverse_rates_and_regimes_follow_the_limits():
    r = _result()
    for which, rates in (("3ph", r.rates_3ph_per_ps), ("34ph", r.rates_34ph_per_ps)):
        reg = r.lifetime_regimes(which)
        np.testing.assert_allclose(reg.tau_ps, 1.0 / rates, rtol=1e-12)
        tau_w = 3 * 1 / (2 * np.pi * 3.0)  # 3 n_at / (2 pi f_max)
        assert abs(reg.tau_wigner_ps - tau_w) < 1e-12
        tau_ir = 1.0 / (2 * np.pi * r.frequencies_THz)
        expect = np.where(reg.tau_ps[0] < tau_ir, 2, np.where(reg.tau_ps[0] > tau_w, 0, 1))
        np.testing.assert_array_equal(reg.regime[0], expect)
        np.testing.assert_allclose(reg.fraction_modes.sum(axis=1), 1.0)
    # 4ph triples the rate of mode (q0, band 1) at 1 THz: tau 2 ps -> 0.67 ps, still above 1/omega = 0.16 ps
    # and above tau_W = 0.16 ps, so particle-like in both; the 40/ps mode at 3 THz is overdamped in both
    assert r.lifetime_regimes("3ph").regime[0, 0, 1] == 0 == r.lifetime_regimes("34ph").regime[0, 0, 1]
    assert r.lifetime_regimes("3ph").regime[0, 1, 2] == 2 == r.lifetime_regimes("34ph").regime[0, 1, 2]


def test_lifetime_figure_renders(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    fig = _result().plot_lifetimes((0,))
    fig.savefig(tmp_path / "tau.png", dpi=80)
    assert (tmp_path / "tau.png").stat().st_size > 5_000
