"""Conductor classification rules and Nernst-Einstein conductivity."""

import numpy as np
import pytest

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
    # no hop in 288 ions x 50 ns = 1.44e7 ion-ps: rate < 2.1e-7 /ps per ion (95 %) < 1e-6
    electronic = classify(D_cm2_s=1e-12, temperature_K=300, n_mobile_per_A3=N_CU, hop_rate_per_ps=0.0,
                          n_hops=0, n_ions=288, duration_ps=5e4, msd_A2=0.5, site_spacing_A=2.6)
    assert electronic.label == "electronic", electronic.reasons
    assert electronic.hop_rate_interval_per_ps[1] < 1e-6
    # no hop in a short run, but a 1.2 eV barrier: TST gives 1e13 /s * exp(-1.2 / kB 300 K) = 7e-9 /ps
    by_tst = classify(D_cm2_s=1e-12, temperature_K=300, n_mobile_per_A3=N_CU, n_hops=0, n_ions=32, duration_ps=12.0,
                      msd_A2=0.5, site_spacing_A=2.6, barrier_eV=1.2, attempt_THz=10.0)
    assert by_tst.label == "electronic" and "transition-state" in by_tst.reasons[1]


def test_short_run_cannot_claim_superionic():
    # a 1 ps run: the vibrational MSD rise gives a large apparent D, but no long-range motion
    c = classify(D_cm2_s=2e-5, temperature_K=600, n_mobile_per_A3=N_CU, hop_rate_per_ps=0.0,
                 msd_A2=1.2, site_spacing_A=2.6)
    assert c.label.startswith("undecided") and "upper bound" in c.reasons[0]
    c = classify(D_cm2_s=2e-5, temperature_K=600, n_mobile_per_A3=N_CU, hop_rate_per_ps=0.1,
                 return_fraction=0.2, msd_A2=1.2, site_spacing_A=2.6)
    assert c.label == "undecided (incipient or superionic)"
    assert c.plot() is not None


def test_few_hops_in_a_short_run_do_not_decide_local_or_long_range():
    """4 hops of 32 ions in 3 ps that did not return, MSD below the squared site spacing (the
    CHGNet CsAg2I3 example): neither incipient nor superionic is supported; the reason says
    what run would decide."""
    c = classify(D_cm2_s=5.1e-5, temperature_K=600, n_mobile_per_A3=N_CU, hop_rate_per_ps=0.0418, n_hops=4, n_ions=32,
                 duration_ps=2.99, return_fraction=0.0, msd_A2=4.33, site_spacing_A=3.04)
    assert c.label == "undecided (incipient or superionic)", c.reasons
    text = " ".join(c.reasons)
    # the MSD grows as t: 3.04^2 / 4.33 x 2.99 ps = 6.38 ps; 10 hops at 0.0418 /ps x 32 ions: 7.5 ps
    assert "6.38 ps" in text and "7.48 ps" in text and "return fraction from 4 hops" in text
    # the same run with many returning hops is local: incipient
    c = classify(D_cm2_s=5.1e-5, temperature_K=600, n_mobile_per_A3=N_CU, hop_rate_per_ps=0.2, n_hops=20, n_ions=32,
                 duration_ps=2.99, return_fraction=0.8, msd_A2=4.33, site_spacing_A=3.04)
    assert c.label == "incipient" and "most hops return" in " ".join(c.reasons)


def test_no_hop_in_a_short_run_is_undecided_with_the_run_that_would_decide():
    """The quick study's situation: 32 Cu x 12 ps, no hop. The 95 % bound on the rate is
    3.0 / 384 ion-ps = 7.8e-3 /ps; that cannot separate electronic from incipient."""
    c = classify(D_cm2_s=3e-8, temperature_K=600, n_mobile_per_A3=N_CU, n_hops=0, n_ions=32, duration_ps=12.0,
                 msd_A2=0.9, site_spacing_A=2.61, kappa_avg_W_mK=0.3, barrier_eV=0.29, phonon_period_ps=1.0)
    assert c.label == "undecided (electronic or incipient)"
    assert np.isclose(c.hop_rate_interval_per_ps[1], -np.log(0.05) / 384, rtol=1e-9)
    text = " ".join(c.reasons)
    assert "ion-ps" in text and "deciding needs a hop" in text and "transition-state theory" in text
    # TST: 1 THz * exp(-0.29 eV / kB 600 K) = 3.6e-3 /ps; 3 hops need 3.0 / (3.6e-3 * 32) = 26 ps
    assert np.isclose(c.evidence["rate_tst_per_ion_ps"], np.exp(-0.29 / (8.617333262e-5 * 600)), rtol=1e-6)
    assert c.plot() is not None


def test_hop_counts_carry_a_poisson_interval():
    from incipient.workflows.classify import poisson_interval

    lo, hi = poisson_interval(10, 100.0)  # Garwood 95 %: 4.795 and 18.39 events
    assert np.isclose(lo, 0.04795, rtol=1e-3) and np.isclose(hi, 0.1839, rtol=1e-3)
    c = classify(D_cm2_s=1e-8, temperature_K=600, n_mobile_per_A3=N_CU, hop_rate_per_ps=0.1, n_hops=10, n_ions=10,
                 duration_ps=10.0, return_fraction=0.9, msd_A2=3.0, site_spacing_A=2.6)
    assert c.label == "incipient" and any("95 % interval" in r for r in c.reasons)
    assert np.allclose(c.hop_rate_interval_per_ps, (lo, hi))


def test_synthetic_hop_statistics_never_give_a_confident_wrong_class():
    """Simulated incipient materials (true rate r per ion per ps, local hops) observed for runs of
    different lengths: the label is 'incipient' or 'undecided', never 'electronic' or 'superionic'."""
    rng = np.random.default_rng(1)
    for rate in (1e-4, 1e-3, 1e-2):
        for duration in (1.0, 10.0, 100.0, 1000.0):
            n = int(rng.poisson(rate * 32 * duration))
            c = classify(D_cm2_s=1e-9, temperature_K=600, n_mobile_per_A3=N_CU, hop_rate_per_ps=n / (32 * duration),
                         n_hops=n, n_ions=32, duration_ps=duration, return_fraction=0.9, msd_A2=0.8, site_spacing_A=2.6)
            assert c.label in ("incipient", "undecided (electronic or incipient)"), (rate, duration, c.reasons)
            assert (c.label == "incipient") == (n > 0)


def test_undecided_incipient_or_superionic_plots_an_upper_bound(tmp_path):
    c = classify(D_cm2_s=5.1e-5, temperature_K=600, n_mobile_per_A3=N_CU, hop_rate_per_ps=0.0418, n_hops=4, n_ions=32,
                 duration_ps=2.99, return_fraction=0.0, msd_A2=4.33, site_spacing_A=3.04, kappa_avg_W_mK=0.3)
    assert np.isfinite(c.sigma_upper_S_m) and np.isclose(c.sigma_upper_S_m, c.sigma_S_m)
    c.plot().savefig(tmp_path / "f5.png")
    assert (tmp_path / "f5.png").stat().st_size > 1000


def _run(T, msd_cs=None, msd_i=None):
    """A migration run at T K (Cu in CsCu2I3, numbers irrelevant here) with the framework's MSDs, or none."""
    from incipient.workflows.summaries import FrameworkMotion, MigrationRun

    fw = {} if msd_cs is None else {
        "Cs": FrameworkMotion(D_cm2_s=0.0, msd_end_of_fit_A2=msd_cs, nearest_A=5.0, diffuses=msd_cs > 25.0),
        "I": FrameworkMotion(D_cm2_s=0.0, msd_end_of_fit_A2=msd_i, nearest_A=4.2, diffuses=msd_i > 4.2**2)}
    return MigrationRun(temperature_K=T, seed=0, duration_ps=10.0, species="Cu", D_xyz_cm2_s=[1e-6] * 3,
                        D_err_xyz_cm2_s=[1e-7] * 3, D_cm2_s=1e-6, D_err_cm2_s=1e-7, hop_rate_per_ion_ps=0.01, n_hops=5,
                        n_ions=32, rates_by_class_per_ion_ps={"z": 0.01}, return_fraction=0.5, mean_residence_time_ps=3.0,
                        n_mobile_per_A3=N_CU, framework=fw)


def test_a_diffusing_framework_is_not_classified():
    """A melted lattice (framework MSD beyond its squared nearest distance) must not be called
    superionic: the class is decided where the framework holds, or left undecided."""
    from incipient.workflows.classify import molten_classification, solid_runs

    runs = [_run(100, 0.3, 0.7), _run(300, 2.8, 4.3), _run(600, 40.1, 47.2)]
    use, solid, note = solid_runs(runs)
    assert [r.temperature_K for r in use] == [100, 300] and solid == use
    assert "at 600 K the framework itself diffuses (Cs MSD 40.1 A^2 > (5.00 A)^2, I MSD 47.2 A^2 > (4.20 A)^2)" in note
    # no framework information (older studies) or all solid: every run, no note
    old = _run(300)
    assert solid_runs([old]) == ([old], [old], "")
    # every run molten: all runs kept, none solid, and the label says so instead of "superionic"
    hot = [_run(600, 40.0, 1.0), _run(900, 90.0, 80.0)]
    use, solid, note = solid_runs(hot)
    assert use == hot and solid == [] and note == ""
    c = classify(D_cm2_s=5e-5, temperature_K=900, n_mobile_per_A3=0.0077, msd_A2=41.0, site_spacing_A=2.96)
    assert c.label == "superionic"  # what the mobile ion alone says
    m = molten_classification(c, hot[1])
    assert m.label == "undecided (the framework diffuses at every temperature)"
    assert m.reasons[0].startswith("the framework diffuses in every run (at 900 K: Cs MSD 90.0 A^2 > (5.00 A)^2")
    assert m.D_cm2_s == c.D_cm2_s and m.reasons[1:] == c.reasons


def test_return_fraction_interval_decides_locality():
    """0.58 from 98 hop pairs (95 % Wilson 0.48-0.67) cannot show that hops stay local; 0.97 from
    120 pairs can. Without the pair count the old rule (fraction >= 0.5) stands."""
    from incipient.workflows.classify import wilson_interval

    lo, hi = wilson_interval(0.58, 98)
    assert 0.47 < lo < 0.49 and 0.67 < hi < 0.69  # Wilson by hand: centre 0.5774, half-width 0.0960
    kw = {"D_cm2_s": 4.5e-6, "temperature_K": 300, "n_mobile_per_A3": 0.0077, "hop_rate_per_ps": 0.0255,
          "msd_A2": 5.4, "site_spacing_A": 2.96, "n_hops": 98, "n_ions": 128, "duration_ps": 30.0}
    weak = classify(return_fraction=0.58, n_hop_pairs=98, **kw)
    assert weak.label == "undecided (incipient or superionic)", weak.reasons
    assert any("does not exclude 0.5" in r for r in weak.reasons)
    assert weak.evidence["return_fraction_95"] == [lo, hi]
    strong = classify(return_fraction=0.97, n_hop_pairs=120, **kw)
    assert strong.label == "incipient" and "95 % 0.92-0.99" in " ".join(strong.reasons)
    assert classify(return_fraction=0.58, **kw).label == "incipient"  # no pair count: fraction alone


def test_observed_rate_above_the_tst_bound_is_flagged():
    # 444 hops in 128 ions x 100 ps (0.035 /ps) against nu exp(-Ea/kT) = 0.5 THz x exp(-0.113 eV / kB 300 K) = 0.0064 /ps
    kw = {"D_cm2_s": 4.8e-6, "temperature_K": 300, "n_mobile_per_A3": 0.0077, "hop_rate_per_ps": 444 / 12800,
          "msd_A2": 15.7, "site_spacing_A": 2.96, "n_hops": 444, "n_ions": 128, "duration_ps": 100.0,
          "return_fraction": 0.58, "n_hop_pairs": 325, "barrier_eV": 0.113, "attempt_THz": 0.5}
    c = classify(**kw)
    assert c.label == "superionic"  # D above 1e-6 with the MSD past the squared site spacing
    assert c.evidence["rate_tst_per_ion_ps"] == pytest.approx(0.5 * np.exp(-0.113 / (8.617333e-5 * 300)), rel=1e-4)
    assert c.evidence["rate_exceeds_tst"] and any("5.5x that" in r for r in c.reasons), c.reasons
    # a rate below the bound says nothing of the kind
    ok = classify(**{**kw, "barrier_eV": 0.05})
    assert "rate_exceeds_tst" not in ok.evidence
