"""DHO fits recover the parameters of synthetic resolution-convolved spectra; resolution kernels."""

import numpy as np
import pytest

from incipient.spectra import Resolution, convolve, fit_dho, load_scan_csv
from incipient.spectra.dho import dho, dho_model


def test_fit_recovers_parameters_within_error_bars(tmp_path):
    rng = np.random.default_rng(2024)
    e = np.arange(-8.0, 12.0, 0.25)
    true = np.array([5.0, 2000.0, 3000.0, 3.0, 0.4, 4000.0, 6.0, 1.2])  # bkg, A_el, (A, Ec, gamma) x 2
    mu = dho_model(e, true, temperature_K=300.0, resolution=1.5, n_modes=2)
    y = rng.poisson(mu).astype(float)
    err = np.sqrt(np.maximum(y, 1.0))
    path = tmp_path / "scan.csv"
    path.write_text("energy_meV,intensity,error\n" + "\n".join(f"{a},{b},{c}" for a, b, c in zip(e, y, err, strict=True)))
    e2, y2, err2 = load_scan_csv(path)
    np.testing.assert_allclose(y2, y)
    fit = fit_dho(e2, y2, errors=err2, temperature_K=300.0, resolution_fwhm_meV=1.5, n_modes=2)
    for k in range(2):
        assert abs(fit.E_c_meV[k] - true[3 + 3 * k]) < 3 * fit.E_c_err_meV[k]
        assert abs(fit.fwhm_meV[k] - 2 * true[4 + 3 * k]) < 3 * fit.fwhm_err_meV[k]
        assert abs(fit.amplitude[k] - true[2 + 3 * k]) < 3 * fit.amplitude_err[k]
    assert abs(fit.elastic_amplitude - true[1]) < 3 * fit.elastic_amplitude_err
    assert 0.6 < fit.chi2_reduced < 1.6
    back = type(fit).load(fit.save(tmp_path / "fit.json"))
    np.testing.assert_allclose(back.E_c_meV, fit.E_c_meV)
    import matplotlib.pyplot as plt

    plt.close(fit.plot())


def test_dho_detailed_balance_and_width():
    e = np.linspace(0.5, 10, 50)
    from incipient.units import kB_eV_K

    kt = kB_eV_K * 1e3 * 300.0
    np.testing.assert_allclose(dho(-e, 1.0, 3.0, 0.3, 300.0), np.exp(-e / kt) * dho(e, 1.0, 3.0, 0.3, 300.0),
                               rtol=1e-10)
    # narrow DHO: FWHM of the loss peak is 2 gamma
    x = np.linspace(2.0, 4.0, 20001)
    y = dho(x, 1.0, 3.0, 0.02, 0.0)
    above = x[y >= y.max() / 2]
    assert above[-1] - above[0] == pytest.approx(0.04, rel=2e-2)


@pytest.mark.parametrize("res", [Resolution("gaussian", 1.5), Resolution("pseudo_voigt", 1.5, eta=0.3)])
def test_resolution_preserves_area_and_width(res):
    e = np.linspace(-30, 30, 6001)
    out = convolve(lambda x: np.where(np.abs(x) < 1e-9, 1.0, 0.0) / 0.01, e, res, step_meV=0.01)
    assert np.trapezoid(res(e), e) == pytest.approx(1.0, rel=2e-2 if res.eta else 1e-6)
    above = e[out >= out.max() / 2]
    assert above[-1] - above[0] == pytest.approx(1.5, abs=0.03)
    # a measured profile equal to the Gaussian gives the same convolution
    meas = Resolution("measured", energy_meV=np.linspace(-10, 10, 801),
                      profile=Resolution("gaussian", 1.5)(np.linspace(-10, 10, 801)))
    f = lambda x: dho(x, 1.0, 3.0, 0.5, 300.0)  # noqa: E731
    ee = np.linspace(-6, 8, 30)
    np.testing.assert_allclose(convolve(f, ee, meas, step_meV=0.025),
                               convolve(f, ee, Resolution("gaussian", 1.5), step_meV=0.025), rtol=1e-3, atol=1e-6)


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_scan_csv(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="n_modes"):
        fit_dho(np.arange(10.0), np.ones(10), temperature_K=300, n_modes=0)
    with pytest.raises(ValueError, match="eta"):
        Resolution("pseudo_voigt", 1.0, eta=2.0)
