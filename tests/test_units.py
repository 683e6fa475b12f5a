"""The one units module: CODATA 2018 literals, ASE's constants, and the one Bose-Einstein occupation."""

import math
import warnings

import numpy as np
import pytest
from ase import units as ase_units

from incipient import units as U


def test_codata_2018_literals_are_consistent():
    assert U.hbar_meV_fs_2018 == pytest.approx(U.h_Js_2018 / (2 * math.pi) / U.eV_J_2018 * 1e18, rel=1e-15)
    assert U.hbar_Js_2018 == pytest.approx(U.h_Js_2018 / (2 * math.pi), rel=1e-9)
    assert U.THz_to_meV_2018 == pytest.approx(U.h_Js_2018 / U.eV_J_2018 * 1e15, rel=1e-9)
    assert U.kB_eV_K_2018 == pytest.approx(U.kB_J_K_2018 / U.eV_J_2018, rel=1e-9)


def test_ase_set_is_ase():
    assert U.kB_eV_K == ase_units.kB and U.fs == ase_units.fs and U.GPa_eV_A3 == ase_units.GPa
    assert U.eV_A3_to_GPa == 160.21766208  # the value the MTP training report has always used
    # the two sets agree to ~1e-8 relative (CODATA 2014 vs 2018)
    assert U.hbar_Js == pytest.approx(U.hbar_Js_2018, rel=1e-7)
    assert U.THz_to_meV == pytest.approx(U.THz_to_meV_2018, rel=1e-7)
    assert U.sqrt_eV_A2_amu_to_THz == pytest.approx(15.633302, rel=1e-6)


def test_bose_einstein():
    x = np.array([1e-3, 0.5, 1.0, 5.0, 800.0])
    n = U.bose_einstein(x)
    np.testing.assert_allclose(n[:4], 1.0 / (np.exp(x[:4]) - 1.0), rtol=1e-12)
    assert n[4] == 0.0  # exp overflows quietly
    np.testing.assert_allclose(U.bose_einstein(-x[:4]), -(n[:4] + 1), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert U.bose_einstein(0.0) == np.inf and U.bose_einstein(800.0) == 0.0


def test_spectra_use_the_one_bose_factor():
    from incipient.spectra.dho import bose_factor_times_E
    from incipient.spectra.harmonic import bose

    T = 300.0
    nu = np.array([0.5, 2.0, 7.0])  # THz
    np.testing.assert_array_equal(bose(nu, T), U.bose_einstein(nu * U.THz_to_meV * 1e-3 / (U.kB_eV_K * T)))
    e = np.array([-20.0, -1.0, 1.0, 20.0])  # meV
    x = e / (U.kB_eV_K * 1e3 * T)
    np.testing.assert_allclose(bose_factor_times_E(e, T), e * (U.bose_einstein(x) + 1), rtol=1e-12)
