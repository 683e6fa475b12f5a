"""Trajectory readers: H5MD round trip, ASE .traj, extxyz and LAMMPS dump, with unwrapping."""

import numpy as np
import pytest
from ase import Atoms

from incipient.md.trajectory import H5MDWriter, read_trajectory, unwrap


def frames(n=5, seed=0):
    rng = np.random.default_rng(seed)
    cell = np.diag([5.0, 6.0, 7.0])
    x0 = rng.uniform(0, 5, (4, 3))
    steps = rng.normal(0, 0.3, (n, 4, 3))
    true = x0 + np.cumsum(steps, axis=0)
    return cell, true


def test_unwrap_recovers_continuous_path():
    cell, true = frames(50)
    wrapped = (true @ np.linalg.inv(cell)) % 1.0 @ cell
    un = unwrap(wrapped, cell)
    np.testing.assert_allclose(un - un[0] + true[0], true, atol=1e-10)


def test_h5md_round_trip(tmp_path):
    cell, true = frames(7)
    with H5MDWriter(tmp_path / "t.h5md", [29] * 4, cell, dt_fs=2.0) as w:
        for k, x in enumerate(true):
            w.append(k * 5, x, velocities=x * 0.1)
    t = read_trajectory(tmp_path / "t.h5md")
    np.testing.assert_array_equal(t.positions, true)
    np.testing.assert_array_equal(t.velocities, true * 0.1)
    assert t.dt_fs == 10.0 and t.time_fs[-1] == 60.0
    np.testing.assert_array_equal(t.cell, cell)


@pytest.mark.parametrize("fmt,suffix", [("traj", ".traj"), ("extxyz", ".xyz")])
def test_ase_formats(tmp_path, fmt, suffix):
    import ase.io

    cell, true = frames(6)
    images = []
    for x in true:
        a = Atoms("Cu4", positions=x, cell=cell, pbc=True)
        a.wrap()
        images.append(a)
    path = tmp_path / f"t{suffix}"
    ase.io.write(path, images, format=fmt)
    t = read_trajectory(path, timestep_fs=4.0)
    np.testing.assert_allclose(t.positions - t.positions[0] + true[0], true, atol=1e-6)
    assert t.dt_fs == 4.0


def test_lammps_dump(tmp_path):
    cell, true = frames(3)
    lines = []
    for k, x in enumerate(true):
        xw = x % np.diag(cell)
        lines += ["ITEM: TIMESTEP", str(k), "ITEM: NUMBER OF ATOMS", "4", "ITEM: BOX BOUNDS pp pp pp",
                  "0 5", "0 6", "0 7", "ITEM: ATOMS id type x y z"]
        lines += [f"{i + 1} 1 {p[0]} {p[1]} {p[2]}" for i, p in enumerate(xw)]
    path = tmp_path / "t.dump"
    path.write_text("\n".join(lines) + "\n")
    t = read_trajectory(path, timestep_fs=1.0)
    np.testing.assert_allclose(t.positions - t.positions[0] + true[0], true, atol=1e-6)


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.h5md"):
        read_trajectory(tmp_path / "missing.h5md")
    bad = tmp_path / "bad.h5md"
    bad.write_text("not hdf5")
    with pytest.raises(ValueError, match="bad.h5md: not a readable HDF5"):
        read_trajectory(bad)
    (tmp_path / "x.xyz").write_text("garbage\n")
    with pytest.raises(ValueError, match="x.xyz"):
        read_trajectory(tmp_path / "x.xyz", timestep_fs=1.0)
    with pytest.raises(ValueError, match="pass timestep_fs"):
        read_trajectory(tmp_path / "x.xyz")
