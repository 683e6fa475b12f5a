"""VACF DOS: independent harmonic oscillators give peaks at their frequencies and the 3N sum rule."""

import numpy as np
import pytest

from incipient.analysis import vdos
from incipient.md.trajectory import Trajectory

FREQ = {"Cs": (1.0, 1.0, 1.0), "Cu": (2.0, 2.5, 3.0), "I": (4.0, 4.0, 4.0)}  # THz per x, y, z


def _oscillators(rng, n_frames=4000, dt_fs=5.0, with_velocities=True):
    numbers = np.array([55] * 4 + [29] * 8 + [53] * 12)
    masses = {55: 132.9, 29: 63.5, 53: 126.9}
    sym = {55: "Cs", 29: "Cu", 53: "I"}
    t = dt_fs * np.arange(n_frames) * 1e-3  # ps
    n = len(numbers)
    vel = np.empty((n_frames, n, 3))
    pos = np.empty((n_frames, n, 3))
    base = rng.uniform(0, 20, (n, 3))
    for i, z in enumerate(numbers):
        for a in range(3):
            nu = FREQ[sym[z]][a]
            phase = rng.uniform(0, 2 * np.pi)
            amp = np.sqrt(1.0 / masses[z])  # equipartition-like amplitude, A/fs
            vel[:, i, a] = amp * np.cos(2 * np.pi * nu * t + phase)
            pos[:, i, a] = base[i, a] + amp / (2 * np.pi * nu * 1e-3) * np.sin(2 * np.pi * nu * t + phase)
    return Trajectory(positions=pos, cell=np.eye(3) * 20.0, numbers=numbers, dt_fs=dt_fs,
                      velocities=vel if with_velocities else None)


def _peak(nu, g):
    return nu[np.argmax(g)]


def test_oscillator_peaks_and_normalisation():
    rng = np.random.default_rng(7)
    traj = _oscillators(rng)
    res = vdos(traj, correlation_time_fs=5000.0)
    nu = res.frequency_THz
    dnu = nu[1] - nu[0]
    for s, f3 in FREQ.items():
        for a in range(3):
            assert abs(_peak(nu, res.by_direction[s][a]) - f3[a]) <= dnu + 1e-12
        # stated normalisation: each direction integrates to N_s, species to 3 N_s (trapezoid)
        np.testing.assert_allclose(np.trapezoid(res.by_direction[s], nu, axis=1), res.counts[s], rtol=1e-10)
        np.testing.assert_allclose(res.integral(s), 3 * res.counts[s], rtol=1e-10)
    np.testing.assert_allclose(res.integral(), 3 * 24, rtol=1e-10)
    np.testing.assert_allclose(res.frequency_meV, nu * 4.135667696, rtol=1e-8)
    mw = vdos(traj, correlation_time_fs=5000.0, mass_weighted=True)
    np.testing.assert_allclose(mw.integral(), 3 * 24, rtol=1e-10)


def test_vdos_from_positions_and_roundtrip(tmp_path):
    rng = np.random.default_rng(3)
    traj = _oscillators(rng, n_frames=2000, with_velocities=False)
    res = vdos(traj, correlation_time_fs=4000.0, window="hann")
    nu = res.frequency_THz
    assert abs(_peak(nu, res.by_species["I"]) - 4.0) <= nu[1] - nu[0]
    back = type(res).load(res.save(tmp_path / "vdos.json"))
    np.testing.assert_array_equal(back.total, res.total)
    fig = res.plot()
    assert len(fig.axes) == 4
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_vdos_rejects_bad_input():
    rng = np.random.default_rng(1)
    traj = _oscillators(rng, n_frames=100)
    with pytest.raises(ValueError, match="correlation_time_fs"):
        vdos(traj, correlation_time_fs=1e6)
    with pytest.raises(ValueError, match="window"):
        vdos(traj, window="boxcar")
    with pytest.raises(ValueError, match="species"):
        vdos(traj, species=["Ag"])
