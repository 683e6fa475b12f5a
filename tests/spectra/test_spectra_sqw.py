"""S(Q,w) from MD: equality with dynasor, a single phonon mode, commensurability checks."""

import numpy as np
import pytest

from incipient.md.trajectory import Trajectory
from incipient.spectra import commensurate_path, sqw
from incipient.spectra.paths import check_commensurate

# the paper's S(Q,w) paths in r.l.u. of the Cmcm cell (the CsCu2I3 system file's [sqw_paths])
PAPER_PATHS = {"(7,7-K,0)": ((7.0, 7.0, 0.0), (7.0, 6.0, 0.0)),
               "(H,4,0)": ((0.0, 4.0, 0.0), (1.0, 4.0, 0.0)),
               "(0,8,-2+L)": ((0.0, 8.0, -2.0), (0.0, 8.0, -1.0))}


def _random_walk_traj(rng, n=4, a=3.0, n_frames=80):
    g = np.array([[i, j, k] for i in range(n) for j in range(n) for k in range(n)], float) * a
    pos0 = np.concatenate([g, g + a / 2])
    numbers = np.array([29] * len(g) + [53] * len(g))
    pos = pos0[None] + 0.015 * np.cumsum(rng.normal(size=(n_frames, len(pos0), 3)), axis=0)
    return Trajectory(positions=pos, cell=np.eye(3) * n * a, numbers=numbers, dt_fs=2.0)


@pytest.mark.parametrize("window_step", [1, 3])
def test_sqw_equals_dynasor(tmp_path, window_step):
    import dynasor
    from ase import Atoms
    from ase.io import write

    rng = np.random.default_rng(11)
    traj = _random_walk_traj(rng)
    ref = np.eye(3) * 3.0
    q = np.vstack([commensurate_path((1, 0, 0), (2, 0, 0), ref, traj.cell),
                   commensurate_path((0, 1, 1), (1, 2, 2), ref, traj.cell)])
    ours = sqw(traj, q, reference_cell=ref, window_size=20, window_step=window_step, weighting="none")
    path = tmp_path / "t.traj"
    write(path, [Atoms(numbers=traj.numbers, positions=p, cell=traj.cell, pbc=True) for p in traj.positions])
    idx = {"Cu": list(np.flatnonzero(traj.numbers == 29)), "I": list(np.flatnonzero(traj.numbers == 53))}
    dtraj = dynasor.Trajectory(str(path), trajectory_format="ase", atomic_indices=idx)
    ref_s = dynasor.compute_dynamic_structure_factors(dtraj, ours.q_cart_invA, dt=2.0, window_size=20,
                                                      window_step=window_step)
    np.testing.assert_allclose(ours.omega_rad_fs, ref_s.omega, rtol=1e-12)
    for key, val in ours.partials_sqw.items():
        a, b = key.split("-")
        theirs = getattr(ref_s, f"Sqw_coh_{a}_{b}", None)
        theirs = getattr(ref_s, f"Sqw_coh_{b}_{a}") if theirs is None else theirs
        assert np.abs(val - theirs).max() <= 1e-6 * np.abs(theirs).max()
    assert np.abs(ours.sqw - ref_s.Sqw_coh).max() <= 1e-6 * np.abs(ref_s.Sqw_coh).max()
    assert np.abs(ours.fqt - ref_s.Fqt_coh).max() <= 1e-6 * np.abs(ref_s.Fqt_coh).max()


def test_single_phonon_gives_peak_at_q_omega(tmp_path):
    a, n, nu_THz, amp = 3.0, 8, 2.0, 0.05
    g = np.array([[i, j, k] for i in range(n) for j in range(n) for k in range(n)], float) * a
    q = 2 * np.pi / a * np.array([0.25, 0.0, 0.0])
    dt_fs, n_frames = 10.0, 1000
    t = dt_fs * np.arange(n_frames)
    phase = (g @ q)[None, :] - 2 * np.pi * nu_THz * 1e-3 * t[:, None]
    pos = np.repeat(g[None], n_frames, axis=0)
    pos[:, :, 0] += amp * np.cos(phase)  # longitudinal wave along x
    traj = Trajectory(positions=pos, cell=np.eye(3) * n * a, numbers=np.full(len(g), 29), dt_fs=dt_fs)
    qs = [[1.25, 0, 0], [1.5, 0, 0], [1.25, 0.25, 0]]
    res = sqw(traj, qs, reference_cell=np.eye(3) * a, window_size=200, weighting="xray")
    e = res.energy_meV
    de = e[1] - e[0]
    e_mode = nu_THz * 4.135667696
    assert abs(e[np.argmax(res.sqw[0])] - e_mode) <= de
    # G + 2q only carries the weak second-order (two-phonon) line at 2 w; G + (q, q, 0)
    # matches no wave vector of the displacement field and carries nothing
    peak = res.sqw[0].max()
    assert abs(e[np.argmax(res.sqw[1])] - 2 * e_mode) <= de
    assert res.sqw[1].max() < 1e-2 * peak
    assert np.abs(res.sqw[2]).max() < 1e-8 * peak
    back = type(res).load(res.save(tmp_path / "sqw.json"))
    np.testing.assert_allclose(back.sqw, res.sqw)
    import matplotlib.pyplot as plt

    plt.close(res.plot())


def test_commensurability_is_validated_and_explained():
    ref = np.diag([10.0, 12.9, 6.05])
    cell = ref * np.array([3, 3, 5])[:, None]  # the paper's 3 x 3 x 5 MD cell
    path = commensurate_path(*PAPER_PATHS["(7,7-K,0)"], ref, cell)
    np.testing.assert_allclose(np.diff(path[:, 1]), -1 / 3)
    assert len(commensurate_path(*PAPER_PATHS["(0,8,-2+L)"], ref, cell)) == 6
    with pytest.raises(ValueError, match=r"grid of \[0.333333, 0.333333, 0.2\] r.l.u."):
        check_commensurate([[7, 6.5, 0]], ref, cell)
    rng = np.random.default_rng(0)
    traj = Trajectory(positions=rng.uniform(0, 9, (10, 4, 3)), cell=np.eye(3) * 9.0,
                      numbers=np.array([29] * 4), dt_fs=1.0)
    with pytest.raises(ValueError, match="not commensurate"):
        sqw(traj, [[0.1, 0, 0]], reference_cell=np.eye(3) * 3.0, window_size=4)
