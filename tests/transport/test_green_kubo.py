"""Green-Kubo analysis against Ornstein-Uhlenbeck heat currents with known integrals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.constants as sc
from scipy.signal import lfilter

from incipient.transport import (
    GreenKuboResult,
    green_kubo,
    kappa_vs_fstar,
    kappa_vs_run_length,
    kappa_vs_supercell,
)
from incipient.transport.cepstral import cepstral_zero_frequency
from incipient.transport.green_kubo import (
    EV_PER_A_FS_K_TO_W_PER_M_K,
    kappa_prefactor_W_mK,
    nve_mean_temperature,
    read_heat_currents,
)

DT = 1.0  # fs
VOL = 2000.0  # A^3
TEMP = 300.0  # K


def ou(rng, n, C0, tau_fs, n_series):
    """Stationary OU processes sampled every DT: <x(0) x(m DT)> = C0 exp(-m DT / tau) exactly."""
    a = np.exp(-DT / tau_fs)
    xi = rng.standard_normal((n, n_series)) * np.sqrt(C0 * (1 - a * a))
    xi[0] = rng.standard_normal(n_series) * np.sqrt(C0)
    return lfilter([1.0], [1.0, -a], xi, axis=0)


def discrete_integral(C0, tau_fs):
    """Trapezoid integral of the sampled C0 exp(-t/tau) to infinity (= half the f=0 spectrum)."""
    a = np.exp(-DT / tau_fs)
    return DT * C0 * (1 + a) / (2 * (1 - a))


# Independent sources: (C0, tau). Virial and convective currents are mixtures of them, so the
# correlations of every term and tensor element are known sums of exponentials.
SOURCES = [(1.0, 20.0), (1.0, 20.0), (1.0, 20.0), (0.5, 10.0), (0.5, 10.0), (0.5, 10.0)]
MV = np.array([[1.0, 0, 0, 0, 0, 0],
               [0.6, 0.8, 0, 0, 0, 0],
               [0, 0, 1.0, 0, 0, 0]])
MC = np.array([[0.4, 0, 0, 1.0, 0, 0],
               [0, 0.4, 0, 0, 1.0, 0],
               [0, 0, -0.3, 0, 0, 1.0]])


def analytic_kappa():
    I = np.array([discrete_integral(*s) for s in SOURCES])
    pref = kappa_prefactor_W_mK(VOL, TEMP)
    V = (MV * I) @ MV.T
    CONV = (MC * I) @ MC.T
    CROSS = (MV * I) @ MC.T + (MC * I) @ MV.T
    CROSS = 0.5 * (CROSS + CROSS.T)
    return pref * np.stack([V, CONV, CROSS, V + CONV + CROSS])


@pytest.fixture(scope="module")
def ou_currents():
    rng = np.random.default_rng(0)
    n, n_seg = 2 ** 14, 16
    jc, jv = [], []
    for _ in range(n_seg):
        z = np.concatenate([ou(rng, n, C0, tau, 1) for C0, tau in SOURCES], axis=1)
        jv.append(z @ MV.T)
        jc.append(z @ MC.T)
    return jc, jv


@pytest.fixture(scope="module")
def ou_result(ou_currents):
    jc, jv = ou_currents
    return green_kubo(jc, jv, volume_A3=VOL, temperature_K=TEMP, dt_fs=DT)


def test_conversion_factor_by_hand():
    # 1 eV/(A fs K) in W/(m K), written out in SI
    assert EV_PER_A_FS_K_TO_W_PER_M_K == pytest.approx(sc.e / (1e-10 * 1e-15), rel=1e-7)
    # a constant current J_x = c: <J_x(0) J_x(t)> = c^2 at every lag, so the running integral
    # read at t_c is kappa = c^2 t_c / (V kB T^2); computed here in SI units by hand
    c, t_c, n = 0.37, 50.0, 400
    jv = np.zeros((n, 3))
    jv[:, 0] = c
    r = green_kubo(None, jv, volume_A3=VOL, temperature_K=TEMP, dt_fs=DT, cutoff=t_c,
                   max_lag_fs=100.0, cepstral=False)
    c_SI = c * sc.e * 1e-10 / 1e-15  # eV*A/fs -> J*m/s
    kappa_SI = c_SI ** 2 * (t_c * 1e-15) / (VOL * 1e-30 * sc.k * TEMP ** 2)
    assert r.kappa_W_mK[0, 0, 0] == pytest.approx(kappa_SI, rel=1e-6)
    assert r.kappa_W_mK[3, 0, 0] == pytest.approx(kappa_SI, rel=1e-6)
    assert np.all(r.kappa_W_mK[:, 1:, 1:] == 0)
    assert np.all(np.isnan(r.cepstral_kappa_W_mK))


def test_ou_recovers_all_terms_within_error(ou_result):
    r = ou_result
    true = analytic_kappa()
    assert r.n_segments == 16
    z = []
    for est, err, name in ((r.kappa_W_mK, r.kappa_err_W_mK, "cutoff"),
                           (r.cepstral_kappa_W_mK, r.cepstral_err_W_mK, "cepstral")):
        for i, term in enumerate(r.terms):
            for a in range(3):
                for b in range(a, 3):
                    zi = (est[i, a, b] - true[i, a, b]) / err[i, a, b]
                    # diagonal within 3 sigma, off-diagonal (noisier error estimate) within 4
                    assert abs(zi) < (3 if a == b else 4), (name, term, a, b, est[i, a, b], err[i, a, b])
                    z.append(zi)
    # over all 48 checks the z-scores scatter like unit normals (seed-to-seed study: 0.9-1.4)
    assert np.sqrt(np.mean(np.square(z))) < 1.5
    # error bars are useful: below 20% of the diagonal total (about 3-13% here)
    for a in range(3):
        for err in (r.kappa_err_W_mK, r.cepstral_err_W_mK):
            assert err[3, a, a] < 0.2 * true[3, a, a]
    # the cross term is resolved (nonzero) where it should be: CROSS_xx = 2*0.4*I1
    assert true[2, 0, 0] / r.kappa_err_W_mK[2, 0, 0] > 3
    # the first-dip cutoff lies beyond the decay of the correlation (tau = 20 fs)
    assert np.all(np.diag(r.cutoff_fs) > 40.0)


def test_first_avalanche_and_fixed_cutoff(ou_currents):
    jc, jv = ou_currents
    true = analytic_kappa()
    r = green_kubo(jc, jv, volume_A3=VOL, temperature_K=TEMP, dt_fs=DT, cutoff="first_avalanche",
                   cepstral=False)
    assert r.cutoff_method == "first_avalanche"
    d = np.diagonal(r.kappa_W_mK[3]) - np.diagonal(true[3])
    assert np.all(np.abs(d) < 3 * np.diagonal(r.kappa_err_W_mK[3]))
    r2 = green_kubo(jc, jv, volume_A3=VOL, temperature_K=TEMP, dt_fs=DT, cutoff=150.0,
                    cepstral=False)
    assert np.all(r2.cutoff_fs == 150.0) and r2.cutoff_method == "fixed"


def test_decomposition_adds_up_exactly(ou_currents):
    jc, jv = ou_currents
    kw = dict(volume_A3=VOL, temperature_K=TEMP, dt_fs=DT, max_lag_fs=500.0)
    r = green_kubo(jc[:4], jv[:4], **kw)
    # kappa of the summed current J = J_conv + J_virial, analysed as a single current
    rj = green_kubo(None, [c + v for c, v in zip(jc[:4], jv[:4], strict=True)], **kw)
    np.testing.assert_allclose(r.running_W_mK[3], r.running_W_mK[:3].sum(axis=0), rtol=1e-12, atol=0)
    np.testing.assert_allclose(rj.running_W_mK[0], r.running_W_mK[:3].sum(axis=0),
                               rtol=1e-9, atol=1e-9 * np.abs(r.running_W_mK[3]).max())
    np.testing.assert_allclose(rj.kappa_W_mK[0], r.kappa_W_mK[:3].sum(axis=0), rtol=1e-9,
                               atol=1e-9 * np.abs(r.kappa_W_mK[3]).max())
    np.testing.assert_array_equal(rj.cutoff_fs, r.cutoff_fs)
    np.testing.assert_allclose(r.cepstral_kappa_W_mK[3], r.cepstral_kappa_W_mK[:3].sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(rj.cepstral_kappa_W_mK[0], r.cepstral_kappa_W_mK[3], rtol=1e-9)


def test_cepstral_error_bar_is_calibrated():
    # chi-square periodograms of a Lorentzian spectrum: z-scores of log S(0) over 1000 draws.
    # The f = 0 bin of a real series has ell degrees of freedom, the others 2 ell. The AIC
    # truncation leaves a mean z of -0.14 +- 0.02 for this spectrum (3000 draws; the same
    # before and after the f = 0 fix), so 300 draws sat at the 0.2 limit.
    rng = np.random.default_rng(7)
    ell, K = 16, 200
    f = np.arange(K) / K
    S = 3.0 / (1 + (2.5 * f) ** 2)
    dof = np.full(K, 2 * ell)
    dof[0] = ell
    z = []
    for _ in range(1000):
        Sh = S * rng.chisquare(dof) / dof
        est = cepstral_zero_frequency(Sh, ell)
        z.append((est.log_S0 - np.log(3.0)) / np.sqrt(est.log_var))
    z = np.array(z)
    assert abs(z.mean()) < 0.2
    assert 0.75 < z.std() < 1.15


def test_result_round_trip_and_plot(ou_result, tmp_path):
    path = ou_result.save(tmp_path / "gk.json")
    back = GreenKuboResult.load(path)
    np.testing.assert_array_equal(back.kappa_W_mK, ou_result.kappa_W_mK)
    np.testing.assert_array_equal(back.cepstral_P_star, ou_result.cepstral_P_star)
    assert back.cutoff_method == ou_result.cutoff_method
    k, e = back.kappa("CROSS", "cepstral")
    assert k.shape == e.shape == (3, 3)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = ou_result.plot()
    fig.savefig(tmp_path / "gk.png")
    assert len(fig.axes) == 6
    plt.close(fig)


def test_convergence_tools(ou_currents):
    jc, jv = ou_currents
    kw = dict(volume_A3=VOL, temperature_K=TEMP, dt_fs=DT, max_lag_fs=400.0)
    # fixed cutoff: a data-chosen one moves with the data and blurs the 1/sqrt(length) law
    cr = kappa_vs_run_length(jc, jv, fractions=(0.25, 1.0), cutoff=100.0, **kw)
    assert cr.x[1] == pytest.approx(4 * cr.x[0])
    # error ~ 1/sqrt(length): a 4x longer run halves it. One ratio of two 16-sample standard
    # errors scatters from 0.3 to 1.0 (seen over seeds), so test the geometric mean over the
    # 4 terms x 3 directions
    ratio = np.diagonal(cr.kappa_err_W_mK[1], axis1=-2, axis2=-1) / np.diagonal(
        cr.kappa_err_W_mK[0], axis1=-2, axis2=-1)
    assert 0.38 < np.exp(np.mean(np.log(ratio))) < 0.65
    cf = kappa_vs_fstar(jc[:8], jv[:8], fstar_THz=(2.0, 10.0), cepstral=True, **kw)
    np.testing.assert_allclose(cf.x, [2.0, 10.0])
    d = cf.cepstral_kappa_W_mK[0, 3] - cf.cepstral_kappa_W_mK[1, 3]
    e = np.hypot(cf.cepstral_err_W_mK[0, 3], cf.cepstral_err_W_mK[1, 3])
    assert np.all(np.abs(np.diagonal(d)) < 3 * np.diagonal(e))
    rs = [green_kubo(jc[:2], jv[:2], **kw), green_kubo(jc[:4], jv[:4], **kw)]
    cs = kappa_vs_supercell(rs, n_atoms=[240, 1920])
    assert cs.kappa_W_mK.shape == (2, 4, 3, 3) and cs.x_label == "number of atoms"


def test_input_validation():
    good = np.zeros((100, 3))
    with pytest.raises(ValueError, match="shape"):
        green_kubo(np.zeros((100, 2)), good, volume_A3=1, temperature_K=1, dt_fs=1)
    with pytest.raises(ValueError, match="volume_A3"):
        green_kubo(good, good, volume_A3=-1, temperature_K=1, dt_fs=1)
    with pytest.raises(ValueError, match="cutoff"):
        green_kubo(good, good + 1, volume_A3=1, temperature_K=1, dt_fs=1, cutoff="plateau",
                   fstar_THz=500)
    with pytest.raises(ValueError, match="differ|shape"):
        green_kubo(good, np.zeros((90, 3)), volume_A3=1, temperature_K=1, dt_fs=1)
    # removing the mean empties the f = 0 bin: the cepstral estimate came out ~1e-28 W/m/K
    with pytest.raises(ValueError, match="subtract_mean"):
        green_kubo(good, good + 1, volume_A3=1, temperature_K=1, dt_fs=1, subtract_mean=True)


def test_cli_reads_h5md(ou_currents, tmp_path):
    from incipient.cli.main import main
    from incipient.md.trajectory import H5MDWriter

    jc, jv = ou_currents
    cell = np.diag([10.0, 10.0, 20.0])  # V = 2000 A^3 = VOL
    paths, n = [], 200  # H5MDWriter appends frame by frame (~10 ms each): keep it short
    for k in range(2):
        p = tmp_path / f"run{k}.h5md"
        with H5MDWriter(p, numbers=[1], cell=cell, dt_fs=DT) as w:
            for i in range(n):
                w.append(i, np.zeros((1, 3)), heat_current_conv_eV_A_fs=jc[k][i],
                         heat_current_virial_eV_A_fs=jv[k][i])
        paths.append(p)
    c, v, dt, vol = read_heat_currents(paths[0])
    assert dt == DT and vol == pytest.approx(VOL) and c.shape == (n, 3)
    out = tmp_path / "res.json"
    rc = main(["gk", *map(str, paths), "--temperature-K", str(TEMP), "--n-segments", "2",
               "--fstar-THz", "100", "--output", str(out)])
    assert rc == 0
    r = GreenKuboResult.load(out)
    ref = green_kubo([jc[0][:n], jc[1][:n]], [jv[0][:n], jv[1][:n]], volume_A3=VOL,
                     temperature_K=TEMP, dt_fs=DT, n_segments=2, fstar_THz=100.0)
    np.testing.assert_allclose(r.kappa_W_mK, ref.kappa_W_mK, rtol=1e-12)
    assert r.n_segments == 4
    with pytest.raises(ValueError, match="heat_current_conv"):
        bad = tmp_path / "bad.h5md"
        with H5MDWriter(bad, numbers=[1], cell=cell, dt_fs=DT):
            pass
        read_heat_currents(bad)
    assert json.loads(out.read_text())["type"] == "GreenKuboResult"


def oscillating_currents(n_seg=4, n=16384, amp2=200.0, k0=328, seed=5):
    """OU virial currents (C0 = 1, tau = 20 fs) plus an undamped optical-like oscillation
    sqrt(amp2) cos(2 pi f0 t + phi) along x, f0 = k0 / (n DT) = 20 THz exactly on a Fourier bin:
    it adds (amp2/2) cos(2 pi f0 t) to the correlation and nothing to the spectrum below f*, so
    kappa_xx is the OU value while the running integral oscillates with amplitude amp2/(2 w0)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * DT
    jv = []
    for _ in range(n_seg):
        x = ou(rng, n, 1.0, 20.0, 3)
        x[:, 0] += np.sqrt(amp2) * np.cos(2 * np.pi * k0 / (n * DT) * t + rng.uniform(0, 2 * np.pi))
        jv.append(x)
    return jv


def test_first_dip_is_the_first_maximum_and_the_plot_says_so(tmp_path, caplog):
    # the "first dip" (first zero of the correlation) of an oscillating correlation is the top
    # of the running integral's first oscillation: here ~40x kappa, as on CsCu2I3 (30-60x)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true = kappa_prefactor_W_mK(VOL, TEMP) * discrete_integral(1.0, 20.0)
    with caplog.at_level("WARNING", logger="incipient.transport.green_kubo"):
        r = green_kubo(None, oscillating_currents(), volume_A3=VOL, temperature_K=TEMP, dt_fs=DT,
                       max_lag_fs=400.0, n_store=5000)
    kc, tc = r.kappa_W_mK[3, 0, 0], r.cutoff_fs[0, 0]
    assert tc < 20.0  # quarter period of 20 THz: 12.5 fs
    assert kc > 20 * true
    assert abs(r.cepstral_kappa_W_mK[3, 0, 0] - true) < 4 * r.cepstral_err_W_mK[3, 0, 0]
    # the value read is the maximum of the running integral up to the cutoff
    R = r.running_W_mK[3, :, 0, 0]
    upto = r.time_fs <= tc
    assert kc == pytest.approx(R[upto].max(), rel=0.02)
    assert any("first maximum" in m and "kappa_xx" in m for m in caplog.messages)
    # the plot: the title names both numbers for what they are, the value read is marked at t_c
    fig = r.plot()
    ax = fig.axes[0]
    title = ax.get_title()
    assert f"cepstral (dotted) {r.cepstral_kappa_W_mK[3, 0, 0]:.3g}" in title
    assert "running integral at the first zero of <JJ> (its 1st max)" in title
    assert f"t_c = {tc:.4g} fs (red dot): {kc:.3g}" in title
    assert not title.startswith("total xx: cutoff")
    dots = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert len(dots) == 1
    np.testing.assert_allclose(np.ravel(dots[0].get_data()), [tc / 1000.0, kc])
    fig.savefig(tmp_path / "gk_osc.png")
    plt.close(fig)


def test_temperature_is_the_measured_one_per_run(ou_currents):
    jc, jv = ou_currents
    kw = dict(volume_A3=VOL, dt_fs=DT, max_lag_fs=300.0, cutoff=150.0)
    T1, T2 = 296.0, 309.0
    r1 = green_kubo(jc[0], jv[0], temperature_K=T1, **kw)
    r2 = green_kubo(jc[1], jv[1], temperature_K=T2, **kw)
    both = green_kubo(jc[:2], jv[:2], temperature_K=[T1, T2], **kw)
    # each run enters with its own 1/T_r^2: kappa is the mean of the per-run kappas
    np.testing.assert_allclose(both.running_W_mK, 0.5 * (r1.running_W_mK + r2.running_W_mK), rtol=1e-10,
                               atol=1e-12 * np.abs(r1.running_W_mK).max())
    assert both.temperature_K == pytest.approx(0.5 * (T1 + T2))
    assert list(both.run_temperature_K) == [T1, T2]
    assert both.summary()["run_temperature_K"] == [T1, T2]
    # equal temperatures per run reproduce the single-temperature analysis
    same = green_kubo(jc[:2], jv[:2], temperature_K=[T1, T1], **kw)
    ref = green_kubo(jc[:2], jv[:2], temperature_K=T1, **kw)
    np.testing.assert_allclose(same.cepstral_kappa_W_mK, ref.cepstral_kappa_W_mK, rtol=1e-12)
    assert ref.run_temperature_K == ()
    # kappa ~ 1/T^2: the nominal 300 K instead of a measured 309 K overestimates kappa by 6 %
    nominal = green_kubo(jc[1], jv[1], temperature_K=300.0, **kw)
    np.testing.assert_allclose(nominal.kappa_W_mK, r2.kappa_W_mK * (T2 / 300.0) ** 2, rtol=1e-12)
    with pytest.raises(ValueError, match="one per run"):
        green_kubo(jc[:2], jv[:2], temperature_K=[T1, T2, 300.0], **kw)
    with pytest.raises(ValueError, match="positive"):
        green_kubo(jc[:2], jv[:2], temperature_K=[T1, -1.0], **kw)


def test_nve_mean_temperature(tmp_path):
    from incipient.md.dynamics import MDResult

    def md_result(tmean):
        return MDResult(n_atoms=4, steps_nvt=2, steps_nve=3, timestep_fs=1.0,
                        time_fs=np.arange(5.0), temperature_K=np.array([300, 301, 305, 306, 307.0]),
                        potential_eV=np.zeros(5), total_eV=np.zeros(5), phase=np.array([0, 0, 1, 1, 1]),
                        nve_drift_meV_atom_ns=0.0, mean_temperature_nve_K=tmean, wall_s=1.0, force_s=0.5,
                        ns_per_day=1.0, atom_steps_per_s=1.0, trajectory=str(tmp_path / "run.h5md"))

    res = md_result(306.0)
    traj = tmp_path / "run.h5md"
    res.save(f"{traj}.result.json")  # the study's MD task writes it next to the trajectory
    assert nve_mean_temperature(traj) == 306.0
    assert nve_mean_temperature(f"{traj}.result.json") == 306.0
    assert nve_mean_temperature(res) == 306.0
    assert nve_mean_temperature({"trajectory": str(traj), "temperature_K": 300.0}) == 306.0
    assert nve_mean_temperature({"mean_temperature_nve_K": 303.5}) == 303.5
    assert nve_mean_temperature(tmp_path / "other.h5md") is None
    assert nve_mean_temperature(md_result(float("nan"))) is None
