"""Lowest-branch DHO fits of S(Q,w): a synthetic map with a known dispersion and damping is recovered."""

import numpy as np

from incipient.spectra.branches import BranchFit, fit_lowest_branch
from incipient.spectra.dho import dho


class _Map:
    """The attributes of an SqwResult that fit_lowest_branch reads."""

    def __init__(self, q, e, spec):
        self.q_rlu = q
        self.q_distance_invA = np.linalg.norm(q - q[0], axis=1)
        self.energy_meV = e
        self.sqw_per_meV = spec


def _synthetic(ec, gamma, T=300.0, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    e = np.arange(0, 30, 0.2)
    q = np.array([[h, 4, 0] for h in np.linspace(0.1, 0.5, len(ec))])
    spec = []
    for k in range(len(ec)):
        y = dho(e, 1.0, ec[k], gamma[k], T) + dho(e, 0.5, 3 * ec[k] + 8, 1.0, T)  # TA + a higher optic mode
        spec.append(y * (1 + noise * rng.standard_normal(e.size)) + 1e-4)
    return _Map(q, e, np.array(spec))


def test_known_dispersion_and_damping_recovered(tmp_path):
    ec = np.array([1.5, 2.5, 3.5, 4.5, 5.0])
    gamma = np.array([0.3, 0.4, 0.6, 1.0, 3.0])  # the last one overdamped-ish: gamma close to E_c
    fit = fit_lowest_branch(_synthetic(ec, gamma), temperature_K=300.0, path="(H,4,0)")
    assert fit.fitted.all()
    # 1 % multiplicative noise: energies within 3 % (or 3 sigma), FWHM = 2 gamma within 10 %
    assert np.all(np.abs(fit.E_c_meV - ec) < np.maximum(0.03 * ec, 3 * fit.E_c_err_meV))
    assert np.allclose(fit.fwhm_meV, 2 * gamma, rtol=0.1)
    assert np.allclose(fit.quality_factor, ec / (2 * gamma), rtol=0.12)
    assert fit.underdamped_fraction == 1.0  # E_c > gamma everywhere
    fit.save(tmp_path / "b.npz")
    back = BranchFit.load(tmp_path / "b.npz")
    assert np.allclose(back.E_c_meV, fit.E_c_meV) and back.path == "(H,4,0)"
    assert "E_c/FWHM" in fit.table()


def test_no_peak_is_not_fitted():
    m = _synthetic(np.array([2.0, 3.0]), np.array([0.3, 0.3]))
    m.sqw_per_meV[1] = 1e-4 + 0 * m.sqw_per_meV[1]  # a flat spectrum: nothing to fit
    fit = fit_lowest_branch(m, temperature_K=300.0)
    assert fit.fitted.tolist() == [True, False] and np.isnan(fit.E_c_meV[1])


def test_q_zero_is_never_fitted():
    """S(0, w) of an MD cell is elastic only (the Q = 0 density is the number of atoms); what lies
    above zero energy is rounding noise (1e-12 of the elastic line in a CHGNet run, which a DHO
    fitted at 6 meV): Gamma gets no branch energy, whatever its spectrum looks like."""
    m = _synthetic(np.array([2.0, 3.0]), np.array([0.3, 0.3]))
    assert fit_lowest_branch(m, temperature_K=300.0).fitted.tolist() == [True, True]
    m.q_rlu = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]])  # the same spectra, the first at Q = 0
    fit = fit_lowest_branch(m, temperature_K=300.0)
    assert fit.fitted.tolist() == [False, True] and np.isnan(fit.E_c_meV[0])
