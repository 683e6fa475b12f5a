"""Diffusion coefficients on analytic cases: anisotropic random walk and harmonic rattlers."""

import numpy as np
import pytest

from incipient.analysis import diffusion
from incipient.analysis.diffusion import DiffusionResult
from incipient.md.trajectory import Trajectory

D_TRUE_A2_PS = np.array([0.02, 0.005, 0.001])  # anisotropic, like CsCu2I3's x >> z, y


def _walk(seed, n_t=1000, n=60, dt_fs=10.0):
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=(n_t, n, 3)) * np.sqrt(2 * D_TRUE_A2_PS * dt_fs / 1000.0)
    return Trajectory(positions=np.cumsum(steps, axis=0), cell=np.eye(3) * 40,
                      numbers=np.full(n, 29), dt_fs=dt_fs)


def test_random_walk_recovers_anisotropic_D(tmp_path):
    r = diffusion(_walk(0), "Cu")
    d_true = D_TRUE_A2_PS * 1e-4  # A^2/ps -> cm^2/s
    z = (r.D_xyz_cm2_s - d_true) / r.D_err_xyz_cm2_s
    assert np.all(np.abs(z) < 3), z
    assert abs(r.D_cm2_s - d_true.mean()) < 3 * r.D_err_cm2_s
    # error bars are meaningful: relative errors of order 10 %, not 1e-3 or 1
    assert np.all((r.D_err_xyz_cm2_s / d_true > 0.03) & (r.D_err_xyz_cm2_s / d_true < 0.4))
    assert r.error_method == "ions"
    # JSON round trip
    back = DiffusionResult.load(r.save(tmp_path / "d.json"))
    np.testing.assert_allclose(back.D_xyz_cm2_s, r.D_xyz_cm2_s)
    fig = r.plot()
    assert len(fig.axes) == 1
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_error_bars_are_calibrated_over_seeds():
    # |z| of a well-calibrated one-sigma error: median 0.67, fraction beyond 2 sigma ~5 %
    z = []
    for seed in range(12):
        r = diffusion(_walk(100 + seed, n_t=400, n=40), "Cu")
        z.append((r.D_xyz_cm2_s - D_TRUE_A2_PS * 1e-4) / r.D_err_xyz_cm2_s)
    z = np.abs(np.array(z)).ravel()
    assert 0.4 < np.median(z) < 1.0
    assert np.mean(z > 2.5) < 0.12


def test_block_errors_for_few_ions():
    r = diffusion(_walk(3, n_t=4000, n=4), "Cu")
    assert r.error_method == "blocks" and r.n_blocks == 8
    z = (r.D_xyz_cm2_s - D_TRUE_A2_PS * 1e-4) / r.D_err_xyz_cm2_s
    assert np.all(np.abs(z) < 4), z


def test_harmonic_rattlers_give_D_consistent_with_zero():
    rng = np.random.default_rng(5)
    n_t, n, dt = 2000, 50, 5.0
    t = np.arange(n_t) * dt
    omega = 2 * np.pi * rng.uniform(0.5, 3.0, size=(n, 3)) / 1000.0  # 0.5-3 THz, rad/fs
    phase = rng.uniform(0, 2 * np.pi, size=(n, 3))
    amp = rng.uniform(0.3, 0.8, size=(n, 3))  # ~1 A^2 MSD like Cu at 300 K
    pos = 5.0 + amp * np.cos(omega * t[:, None, None] + phase) + rng.normal(size=(n_t, n, 3)) * 0.05
    traj = Trajectory(positions=pos, cell=np.eye(3) * 20, numbers=np.full(n, 29), dt_fs=dt)
    r = diffusion(traj, "Cu")
    assert np.all(np.abs(r.D_xyz_cm2_s) < 3 * r.D_err_xyz_cm2_s + 1e-12)
    # resolution of a 10 ps run: errors ~1e-7 cm^2/s (amplitude^2 / duration), not larger
    assert np.all(r.D_err_xyz_cm2_s < 3e-7)
    assert r.intercept_xyz_A2.min() > 0.01  # the plateau is the vibrational amplitude


def test_fit_window_validation():
    with pytest.raises(ValueError, match="fit window"):
        diffusion(_walk(0, n_t=100, n=10), "Cu", fit_start_ps=0.5, fit_end_ps=0.51)
    with pytest.raises(ValueError, match="error_method"):
        diffusion(_walk(0, n_t=100, n=10), "Cu", error_method="magic")


def test_cli_migration_writes_json(tmp_path):
    import json

    from incipient.cli.main import main
    from incipient.md.trajectory import H5MDWriter

    traj = _walk(7, n_t=200, n=12)
    path = tmp_path / "walk.h5md"
    with H5MDWriter(path, traj.numbers, traj.cell, traj.dt_fs, velocities=False) as w:
        for t in range(traj.n_frames):
            w.append(t, traj.positions[t])
    out = tmp_path / "mig.json"
    assert main(["migration", str(path), "--species", "Cu", "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    ref = diffusion(traj, "Cu")
    np.testing.assert_allclose(data["diffusion"]["D_xyz_cm2_s"], ref.D_xyz_cm2_s, rtol=1e-10)
    assert data["hops"]["n_ions"] == 12
    assert main(["migration", str(tmp_path / "missing.h5md")]) == 1
