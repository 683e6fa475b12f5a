"""Form-factor table: Waasmaier-Kirfel against gemmi's IT92 fit; neutron lengths against isotope data."""

import numpy as np
import pytest

from incipient.spectra.form_factors import (
    neutron_scattering_length,
    species_weights,
    xray_form_factor,
)


@pytest.mark.parametrize("symbol,z", [("Cs", 55), ("Cu", 29), ("I", 53), ("Al", 13)])
def test_xray_against_it92(symbol, z):
    import gemmi
    coef = gemmi.IT92_get_exact(gemmi.Element(symbol), 0)
    q = np.linspace(0, 8 * np.pi, 17)  # s = 0 .. 2 1/A
    it92 = np.array([coef.calculate_sf(float((x / (4 * np.pi)) ** 2)) for x in q])
    assert np.max(np.abs(xray_form_factor(symbol, q) - it92) / it92) < 2e-2  # two different fits
    assert float(xray_form_factor(symbol, 0.0)) == pytest.approx(z, abs=0.01)


def test_neutron_against_isotope_average():
    import json
    from pathlib import Path

    import dynasor
    table = json.loads((Path(dynasor.__file__).parent / "post_processing" / "form-factors"
                        / "neutron-scattering-lengths-nist-1992.json").read_text())
    for el in ("Al", "Cu", "Cs", "I", "Ag", "Br", "Cl", "Pb", "O"):
        avg = sum(float(v["abundance"]) / 100 * complex(v["b_coh"]).real for v in table[el].values())
        assert neutron_scattering_length(el) == pytest.approx(avg, rel=2e-3)
    w = species_weights(["Cu", "I"], [1.0, 2.0], "neutron")
    np.testing.assert_allclose(w, [[7.718, 7.718], [5.28, 5.28]])
    with pytest.raises(ValueError, match="Xx"):
        species_weights(["Xx"], [1.0], "xray")


def test_one_gaussian_sum_for_both_tables():
    """The IT92 table (CIF structure factors, MEM prior) and Waasmaier-Kirfel (S(Q,w)) share one code path."""
    import gemmi

    from incipient.experiment import structure_factors as sf
    from incipient.spectra.form_factors import xray_form_factor_s2

    q = np.linspace(0, 8 * np.pi, 17)
    s2 = (q / (4 * np.pi)) ** 2
    for symbol in ("Cs", "Cu", "I"):
        it = gemmi.Element(symbol).it92
        np.testing.assert_allclose(xray_form_factor(symbol, q, table="it92"),
                                   [it.calculate_sf(float(x)) for x in s2], rtol=1e-6)
        np.testing.assert_array_equal(sf.form_factor(symbol, np.sqrt(s2)),
                                      xray_form_factor_s2(symbol, np.sqrt(s2) ** 2, table="it92"))
        np.testing.assert_array_equal(xray_form_factor(symbol, q),
                                      xray_form_factor_s2(symbol, s2, table="waasmaier_kirfel_1995"))
    with pytest.raises(ValueError, match="table"):
        xray_form_factor("Cu", q, table="cromer_mann")
    with pytest.raises(ValueError, match="Xx"):
        xray_form_factor("Xx", q, table="it92")
