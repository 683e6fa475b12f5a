"""FFT all-origins MSD against the direct O(T^2) loop, and the msd() API on a random walk."""

import numpy as np
import pytest

from incipient.analysis import msd
from incipient.analysis.msd import drift_corrected_displacements, msd_direct, msd_fft
from incipient.md.trajectory import Trajectory


def test_fft_msd_equals_direct_all_origins():
    rng = np.random.default_rng(0)
    x = 30.0 + rng.normal(size=(257, 7, 3)).cumsum(axis=0)  # odd length, offset from origin
    ref = msd_direct(x)
    got = msd_fft(x, chunk=5)  # several chunks
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(msd_fft(x, max_lag=40), ref[:40], rtol=1e-10, atol=1e-9)


def test_msd_random_walk_slope_and_drift_removal():
    rng = np.random.default_rng(1)
    n_t, n = 400, 200
    steps = rng.normal(size=(n_t, n, 3)) * np.array([0.1, 0.05, 0.02])
    pos = np.cumsum(steps, axis=0)
    # framework atoms that all drift together; the drift must be removed from the Cu MSD
    frame = np.linspace(0, 2.0, n_t)[:, None, None] * np.ones((1, 1, 3))
    traj = Trajectory(positions=np.concatenate([pos + frame, np.repeat(frame, 10, axis=1)], axis=1), cell=np.eye(3) * 30,
                      numbers=np.r_[np.full(n, 29), np.full(10, 53)], dt_fs=2.0)
    disp = drift_corrected_displacements(traj, "Cu")
    np.testing.assert_allclose(disp, pos - pos[:1], atol=1e-12)
    r = msd(traj, "Cu")
    # MSD_a(m) = m * sigma_a^2 for a Gaussian walk: check at lag 50 within 5 standard errors
    m = 50
    expected = m * np.array([0.1, 0.05, 0.02]) ** 2
    assert np.all(np.abs(r.msd_xyz_A2[m] - expected) < 5 * r.msd_sem_xyz_A2[m])
    assert r.time_ps[m] == pytest.approx(0.1)
    np.testing.assert_allclose(r.msd_A2, r.msd_xyz_A2.sum(axis=1))


def test_msd_bad_input():
    with pytest.raises(ValueError, match="max_lag"):
        msd_fft(np.zeros((10, 3)), max_lag=20)
    traj = Trajectory(positions=np.zeros((5, 2, 3)), cell=np.eye(3), numbers=[29, 29], dt_fs=1.0)
    with pytest.raises(ValueError, match="drift"):
        drift_corrected_displacements(traj, "Cu", drift="bogus")
    with pytest.raises(ValueError, match="no atoms of species"):
        msd(traj, "Ag")
