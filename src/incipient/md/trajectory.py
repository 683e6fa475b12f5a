"""Trajectories on disk and in memory: an H5MD (HDF5) writer/reader and readers for ASE formats.

Uses h5py for H5MD (the ecosystem's standard: https://www.nongnu.org/h5md/) and ASE for .traj,
extxyz and LAMMPS dump files. Positions are kept unwrapped (Angstrom), velocities in
Angstrom/fs, time in fs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from incipient import __version__

H5MD_VERSION = (1, 1)


@dataclass
class Trajectory:
    """Frames of an MD run held in memory.

    Attributes
    ----------
    positions : (T, N, 3) float64, Angstrom, unwrapped (continuous in time).
    cell : (3, 3) float64, Angstrom, rows are lattice vectors (fixed cell).
    numbers : (N,) int, atomic numbers.
    dt_fs : float, time between stored frames in fs.
    velocities : (T, N, 3) float64, Angstrom/fs, or None.
    time_fs : (T,) float64, time of each frame in fs.
    observables : dict name -> (T, ...) arrays (e.g. ``heat_current_eV_A_fs``).
    """

    positions: np.ndarray
    cell: np.ndarray
    numbers: np.ndarray
    dt_fs: float
    velocities: np.ndarray | None = None
    time_fs: np.ndarray | None = None
    observables: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=float)
        if self.positions.ndim != 3 or self.positions.shape[2] != 3:
            raise ValueError(f"positions must have shape (T, N, 3), got {self.positions.shape}")
        self.cell = np.asarray(self.cell, dtype=float).reshape(3, 3)
        self.numbers = np.asarray(self.numbers, dtype=int)
        if self.numbers.shape != (self.positions.shape[1],):
            raise ValueError("numbers must have one entry per atom")
        if self.velocities is not None:
            self.velocities = np.asarray(self.velocities, dtype=float)
            if self.velocities.shape != self.positions.shape:
                raise ValueError("velocities must have the shape of positions")
        if self.time_fs is None:
            self.time_fs = np.arange(self.n_frames) * float(self.dt_fs)
        if not self.dt_fs > 0:
            raise ValueError(f"dt_fs must be positive, got {self.dt_fs}")

    @property
    def n_frames(self) -> int:
        return self.positions.shape[0]

    @property
    def n_atoms(self) -> int:
        return self.positions.shape[1]

    @property
    def symbols(self) -> list[str]:
        from ase.data import chemical_symbols

        return [chemical_symbols[z] for z in self.numbers]

    def indices_of(self, species: str | int) -> np.ndarray:
        """Atom indices of one species (symbol or atomic number)."""
        from ase.data import atomic_numbers

        z = atomic_numbers[species] if isinstance(species, str) else int(species)
        idx = np.flatnonzero(self.numbers == z)
        if idx.size == 0:
            raise ValueError(f"no atoms of species {species!r} in the trajectory")
        return idx

    def atoms(self, frame: int = 0):
        """Frame ``frame`` as an ASE Atoms (positions wrapped into the cell)."""
        from ase import Atoms

        a = Atoms(numbers=self.numbers, positions=self.positions[frame], cell=self.cell, pbc=True)
        if self.velocities is not None:
            from ase import units

            a.set_velocities(self.velocities[frame] / units.fs)  # A/fs -> ASE velocity
        a.wrap()
        return a

    def slice(self, start: int = 0, stop: int | None = None, step: int = 1) -> Trajectory:
        sl = slice(start, stop, step)
        return Trajectory(
            positions=self.positions[sl],
            cell=self.cell,
            numbers=self.numbers,
            dt_fs=self.dt_fs * step,
            velocities=None if self.velocities is None else self.velocities[sl],
            time_fs=self.time_fs[sl],
            observables={k: v[sl] for k, v in self.observables.items()},
        )


def unwrap(positions: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Unwrap wrapped positions (T, N, 3) by minimum-image steps between consecutive frames."""
    positions = np.asarray(positions, dtype=float)
    cell = np.asarray(cell, dtype=float)
    inv = np.linalg.inv(cell)
    frac = positions @ inv
    d = np.diff(frac, axis=0)
    d -= np.round(d)
    out = np.concatenate([frac[:1], frac[:1] + np.cumsum(d, axis=0)], axis=0)
    return out @ cell


class H5MDWriter:
    """Append frames to an H5MD file: chunked, gzip-compressed, resizable datasets.

    Layout: ``/particles/all/{position,velocity,species,box}`` and ``/observables/NAME``,
    each time series with ``step``, ``time`` (fs) and ``value`` as H5MD prescribes.
    Rows are queued in memory and written in blocks; ``flush()`` makes everything appended so
    far durable on disk.
    """

    def __init__(self, path: str | os.PathLike, numbers, cell, dt_fs: float, *, mode: str = "w",
                 chunk_frames: int = 64, compression: str | None = "gzip",
                 velocities: bool = True, attrs: dict[str, Any] | None = None) -> None:
        import h5py

        self.path = Path(path)
        self.dt_fs = float(dt_fs)
        self._chunk = int(chunk_frames)
        self._compression = compression
        self._pending: dict[str, tuple] = {}
        self._n_pending = 0
        self._max_pending = 4096  # rows held in memory before they are written
        self.f = h5py.File(self.path, mode)
        f = self.f
        if "h5md" not in f:
            g = f.create_group("h5md")
            g.attrs["version"] = np.array(H5MD_VERSION)
            g.create_group("author").attrs["name"] = "incipient"
            c = g.create_group("creator")
            c.attrs["name"] = "incipient"
            c.attrs["version"] = __version__
            p = f.create_group("particles/all")
            numbers = np.asarray(numbers, dtype=np.int32)
            p.create_dataset("species", data=numbers)
            box = p.create_group("box")
            box.attrs["dimension"] = 3
            box.attrs["boundary"] = np.array([b"periodic"] * 3)
            box.create_dataset("edges", data=np.asarray(cell, dtype=float))
            box["edges"].attrs["unit"] = "angstrom"
            f.create_group("observables")
            f.attrs["dt_fs"] = self.dt_fs
            for k, v in (attrs or {}).items():
                f.attrs[k] = v
        self.n_atoms = int(f["particles/all/species"].shape[0])

    def _series(self, group_path: str, shape: tuple[int, ...], unit: str):
        f = self.f
        if group_path in f:
            return f[group_path]
        g = f.create_group(group_path)
        g.create_dataset("step", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(max(self._chunk, 256),))
        g.create_dataset("time", shape=(0,), maxshape=(None,), dtype=float, chunks=(max(self._chunk, 256),))
        g["time"].attrs["unit"] = "fs"
        chunk = (self._chunk, *shape) if len(shape) >= 2 else (max(self._chunk, 256), *shape)
        g.create_dataset("value", shape=(0, *shape), maxshape=(None, *shape), dtype=float,
                         chunks=chunk, compression=self._compression)
        g["value"].attrs["unit"] = unit
        return g

    def _append(self, g, step: int, time_fs: float, value) -> None:
        """Queue one (step, time, value) row for series ``g``; written by ``flush()``."""
        self._pending.setdefault(g.name, (g, []))[1].append((step, time_fs, np.array(value, dtype=float)))
        self._n_pending += 1
        if self._n_pending >= self._max_pending:
            self._write_pending()

    def _write_pending(self) -> None:
        for g, rows in self._pending.values():
            if not rows:
                continue
            n = g["step"].shape[0]
            k = len(rows)
            for name in ("step", "time", "value"):
                g[name].resize(n + k, axis=0)
            g["step"][n:] = [r[0] for r in rows]
            g["time"][n:] = [r[1] for r in rows]
            g["value"][n:] = np.stack([r[2] for r in rows])
        self._pending = {}
        self._n_pending = 0

    def append(self, step: int, positions, velocities=None, **observables) -> None:
        """Append one frame: unwrapped positions (A), velocities (A/fs), observables (arrays)."""
        time_fs = step * self.dt_fs
        self._append(self._series("particles/all/position", (self.n_atoms, 3), "angstrom"), step, time_fs, positions)
        if velocities is not None:
            self._append(self._series("particles/all/velocity", (self.n_atoms, 3), "angstrom/fs"), step, time_fs, velocities)
        for name, value in observables.items():
            value = np.asarray(value, dtype=float)
            self._append(self._series(f"observables/{name}", value.shape, ""), step, time_fs, value)

    def append_observable(self, name: str, step: int, value, unit: str = "") -> None:
        """Append one value of a time series ``/observables/NAME`` (e.g. the heat current)."""
        value = np.asarray(value, dtype=float)
        self._append(self._series(f"observables/{name}", value.shape, unit), step, step * self.dt_fs, value)

    def truncate_after(self, step: int) -> None:
        """Drop frames with step > ``step`` (used when resuming from a checkpoint)."""
        self._write_pending()
        def visit(g):
            s = g["step"][:]
            keep = int(np.searchsorted(s, step, side="right"))
            for name in ("step", "time", "value"):
                g[name].resize(keep, axis=0)
        for path in ("particles/all/position", "particles/all/velocity"):
            if path in self.f:
                visit(self.f[path])
        for name in list(self.f["observables"]):
            visit(self.f["observables"][name])

    def flush(self) -> None:
        """Write queued rows and flush the file: everything appended so far is on disk."""
        self._write_pending()
        self.f.flush()

    def close(self) -> None:
        if self.f:
            self._write_pending()
            self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_h5md(path: str | os.PathLike, *, start: int = 0, stop: int | None = None, step: int = 1) -> Trajectory:
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: not a readable HDF5/H5MD file ({exc})") from exc
    with f:
        if "particles/all/position/value" not in f:
            raise ValueError(f"{path}: no /particles/all/position/value: not an H5MD trajectory")
        sl = slice(start, stop, step)
        pos = f["particles/all/position/value"][sl]
        time = f["particles/all/position/time"][sl]
        vel = f["particles/all/velocity/value"][sl] if "particles/all/velocity/value" in f else None
        numbers = f["particles/all/species"][:]
        cell = f["particles/all/box/edges"][:]
        if cell.ndim == 1:
            cell = np.diag(cell)
        obs = {}
        for name in f.get("observables", {}):
            g = f["observables"][name]
            if isinstance(g, h5py.Group) and "value" in g and g["value"].shape[0] == f["particles/all/position/value"].shape[0]:
                obs[name] = g["value"][sl]
        dt = float(np.diff(time[:2])[0]) if len(time) > 1 else float(f.attrs.get("dt_fs", 1.0)) * step
    return Trajectory(positions=pos, cell=cell, numbers=numbers, dt_fs=dt, velocities=vel,
                      time_fs=time, observables=obs)


def from_atoms_list(frames, dt_fs: float) -> Trajectory:
    """Trajectory from a list of ASE Atoms (positions unwrapped between frames)."""
    from ase import units

    if len(frames) == 0:
        raise ValueError("empty list of frames")
    cell = frames[0].cell.array
    pos = unwrap(np.array([a.get_positions() for a in frames]), cell)
    vel = None
    if all(a.has("momenta") for a in frames):
        vel = np.array([a.get_velocities() for a in frames]) * units.fs  # -> A/fs
    return Trajectory(positions=pos, cell=cell, numbers=frames[0].numbers, dt_fs=dt_fs, velocities=vel)


def read_trajectory(obj, *, timestep_fs: float | None = None, **kwargs) -> Trajectory:
    """Load frames from a Trajectory, a list of Atoms, or a file.

    Files: H5MD (``.h5``, ``.h5md``, ``.hdf5``), ASE ``.traj``, extended XYZ (``.xyz``,
    ``.extxyz``) and LAMMPS text dumps (``.dump``, ``.lammpstrj``). Formats without a stored
    time step need ``timestep_fs`` (the time between stored frames).
    """
    if isinstance(obj, Trajectory):
        return obj
    if isinstance(obj, list | tuple):
        if timestep_fs is None:
            raise ValueError("timestep_fs (time between frames) is needed for a list of Atoms")
        return from_atoms_list(list(obj), timestep_fs)
    path = Path(obj)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such trajectory file")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".h5md", ".hdf5"):
        return read_h5md(path, **kwargs)
    import ase.io

    fmt = {".traj": "traj", ".xyz": "extxyz", ".extxyz": "extxyz", ".dump": "lammps-dump-text",
           ".lammpstrj": "lammps-dump-text"}.get(suffix)
    if fmt is None:
        raise ValueError(f"{path}: unknown trajectory format {suffix!r} (use .h5md, .traj, .xyz, .dump)")
    if timestep_fs is None:
        raise ValueError(f"{path}: {fmt} files store no time step; pass timestep_fs")
    try:
        frames = ase.io.read(path, index=":", format=fmt)
    except Exception as exc:  # ASE raises many types for malformed files
        raise ValueError(f"{path}: cannot read as {fmt}: {exc}") from exc
    return from_atoms_list(frames, timestep_fs)
