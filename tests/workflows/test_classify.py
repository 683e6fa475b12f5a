"""Conductor classification rules and Nernst-Einstein conductivity."""

import numpy as np

from incipient.workflows.classify import classify, nernst_einstein_sigma_S_m

N_CU = 8 / (10.04 * 12.94 * 6.05)  # Cu per A^3 in CsCu2I3


def test_nernst_einstein_by_hand():
    # sigma = n e^2 D / (kB T): n = 1e28 m^-3, D = 1e-9 m^2/s (1e-5 cm^2/s), T = 300 K
    e, kB = 1.602176634e-19, 1.380649e-23
    expected = 1e28 * e**2 * 1e-9 / (kB * 300)
    assert np.isclose(nernst_einstein_sigma_S_m(1e-5, 1e-2, 300), expected, rtol=1e-6)


def test_the_three_classes():
    incipient = classify(D_cm2_s=9.3e-8, temperature_K=600, n_mobile_per_A3=N_CU, hop_rate_per_ps=0.02,
                         return_fraction=0.8, msd_A2=9.0, site_spacing_A=2.6)
    assert incipient.label == "incipient"
    superionic = classify(D_cm2_s=3e-5, temperature_K=600, n_mobile_per_A3=N_CU, hop_rate_per_ps=2.0,
                          return_fraction=0.3, msd_A2=400.0, site_spacing_A=2.6)
    assert superionic.label == "superionic" and superionic.sigma_S_m > 1
    electronic = classify(D_cm2_s=1e-12, temperature_K=300, n_mobile_per_A3=N_CU, hop_rate_per_ps=0.0)
    assert electronic.label == "electronic"


def test_short_run_cannot_claim_superionic():
    # a 1 ps run: the vibrational MSD rise gives a large apparent D, but no long-range motion
    c = classify(D_cm2_s=2e-5, temperature_K=600, n_mobile_per_A3=N_CU, hop_rate_per_ps=0.0,
                 msd_A2=1.2, site_spacing_A=2.6)
    assert c.label == "electronic" and "upper bound" in c.reasons[0]
    c = classify(D_cm2_s=2e-5, temperature_K=600, n_mobile_per_A3=N_CU, hop_rate_per_ps=0.1,
                 return_fraction=0.2, msd_A2=1.2, site_spacing_A=2.6)
    assert c.label == "incipient"
    assert c.plot() is not None
