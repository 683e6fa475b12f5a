"""Trajectories on disk and in memory: crash-safe segmented H5MD writing, H5MD/ASE readers, checks.

Uses h5py for H5MD (the ecosystem's standard: https://www.nongnu.org/h5md/) and ASE for .traj,
extxyz and LAMMPS dump files. Positions are kept unwrapped (Angstrom), velocities in
Angstrom/fs, time in fs.

Crash safety (``SegmentedH5MDWriter``, used by ``run_md``): an HDF5 file that is being appended
to can be left unreadable by a kill -9 or a full disk at the wrong instant. So no HDF5 file is
ever modified in place. While a run goes on, frames are queued in memory and committed as
*segments*: each a complete H5MD file ``OUTPUT.segments/seg-FIRST-LAST.h5md`` (FIRST and LAST
the step range it holds), built in memory, written to a hidden temp name, fsynced and renamed
into place. When the run ends the segments are merged into ``OUTPUT`` (again through a temp file
and a rename) and the folder is removed. ``read_trajectory``, ``read_series`` and
``check_trajectory`` read ``OUTPUT`` if it exists and otherwise present the segments as one
trajectory, so a running, killed or blown-up run can be read like a finished one.
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from incipient import __version__
from incipient.errors import FileFormatError, OutputError

H5MD_VERSION = (1, 1)
SEGMENT_PREFIX = "seg-"
POSITION = "particles/all/position"
VELOCITY = "particles/all/velocity"


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
            from incipient import units

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


# ----------------------------------------------------------------------------- low-level helpers


def _h5py():
    """h5py, with HDF5's own error printing off in this thread (errors still raise in Python)."""
    import h5py

    try:  # h5py silences the main thread at import only; worker threads would print HDF5 stacks
        h5py._errors.silence_errors()
    except Exception:  # pragma: no cover - private API moved
        pass
    return h5py


def _write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of ``data`` to the file descriptor ``fd`` (tests replace it to fake a full disk)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, backup: str | os.PathLike | None = None) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its old content or all of ``data``.

    Hidden temp file in the same folder, fsynced, renamed over ``path``, folder fsynced. With
    ``backup`` the old ``path`` is first renamed to ``backup`` (a reader that finds no ``path``
    uses ``backup``). An OSError (full disk, read-only folder) leaves ``path`` and ``backup``
    untouched and removes the temp file.
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if backup is not None and path.exists():
            os.replace(path, backup)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    _fsync_dir(path.parent)


def remove_temp_files(path: str | os.PathLike) -> None:
    """Delete the hidden temp files that a killed ``atomic_write_bytes(path)`` left behind."""
    path = Path(path)
    if path.parent.is_dir():
        for p in path.parent.glob(f".{path.name}.*.tmp"):
            _unlink(p)


def _init_h5md(f, numbers, cell, dt_fs: float, attrs: dict[str, Any] | None) -> None:
    """The fixed part of an H5MD file: /h5md metadata, species, box, /observables, attributes."""
    g = f.create_group("h5md")
    g.attrs["version"] = np.array(H5MD_VERSION)
    g.create_group("author").attrs["name"] = "incipient"
    c = g.create_group("creator")
    c.attrs["name"] = "incipient"
    c.attrs["version"] = __version__
    p = f.create_group("particles/all")
    p.create_dataset("species", data=np.asarray(numbers, dtype=np.int32))
    box = p.create_group("box")
    box.attrs["dimension"] = 3
    box.attrs["boundary"] = np.array([b"periodic"] * 3)
    box.create_dataset("edges", data=np.asarray(cell, dtype=float))
    box["edges"].attrs["unit"] = "angstrom"
    f.create_group("observables")
    f.attrs["dt_fs"] = float(dt_fs)
    for k, v in (attrs or {}).items():
        f.attrs[k] = v


def _chunk_rows(shape: tuple[int, ...], chunk_frames: int) -> int:
    return chunk_frames if len(shape) >= 2 else max(chunk_frames, 256)


def _create_series(f, group_path: str, n_rows: int, shape: tuple[int, ...], unit: str, *,
                   chunk_frames: int = 64, compression: str | None = "gzip"):
    """A complete H5MD time series group (step, time in fs, value) with ``n_rows`` rows."""
    g = f.create_group(group_path)
    if n_rows == 0:
        g.create_dataset("step", shape=(0,), dtype=np.int64)
        g.create_dataset("time", shape=(0,), dtype=float)
        g.create_dataset("value", shape=(0, *shape), dtype=float)
    else:
        rows = min(_chunk_rows(shape, chunk_frames), n_rows)
        small = min(max(chunk_frames, 256), n_rows)
        g.create_dataset("step", shape=(n_rows,), dtype=np.int64, chunks=(small,), fletcher32=True)
        g.create_dataset("time", shape=(n_rows,), dtype=float, chunks=(small,), fletcher32=True)
        g.create_dataset("value", shape=(n_rows, *shape), dtype=float, chunks=(rows, *shape),
                         compression=compression, fletcher32=True)
    g["time"].attrs["unit"] = "fs"
    g["value"].attrs["unit"] = unit
    return g


class H5MDWriter:
    """Append frames to one H5MD file: chunked, gzip-compressed, resizable datasets.

    Layout: ``/particles/all/{position,velocity,species,box}`` and ``/observables/NAME``,
    each time series with ``step``, ``time`` (fs) and ``value`` as H5MD prescribes.
    Rows are queued in memory and written in blocks; ``flush()`` writes everything appended so
    far. The file is modified in place, so a kill or a full disk while it is open can leave it
    unreadable: fine for converting or test data; MD runs use ``SegmentedH5MDWriter``.
    """

    def __init__(self, path: str | os.PathLike, numbers, cell, dt_fs: float, *, mode: str = "w",
                 chunk_frames: int = 64, compression: str | None = "gzip",
                 velocities: bool = True, attrs: dict[str, Any] | None = None) -> None:
        h5py = _h5py()
        self.path = Path(path)
        self.dt_fs = float(dt_fs)
        self._chunk = int(chunk_frames)
        self._compression = compression
        self._pending: dict[str, tuple] = {}
        self._n_pending = 0
        self._max_pending = 4096  # rows held in memory before they are written
        self.f = h5py.File(self.path, mode)
        if "h5md" not in self.f:
            _init_h5md(self.f, numbers, cell, self.dt_fs, attrs)
        self.n_atoms = int(self.f["particles/all/species"].shape[0])

    def _series(self, group_path: str, shape: tuple[int, ...], unit: str):
        f = self.f
        if group_path in f:
            return f[group_path]
        g = f.create_group(group_path)
        small = max(self._chunk, 256)
        g.create_dataset("step", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(small,))
        g.create_dataset("time", shape=(0,), maxshape=(None,), dtype=float, chunks=(small,))
        g["time"].attrs["unit"] = "fs"
        g.create_dataset("value", shape=(0, *shape), maxshape=(None, *shape), dtype=float,
                         chunks=(_chunk_rows(shape, self._chunk), *shape), compression=self._compression)
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
        self._append(self._series(POSITION, (self.n_atoms, 3), "angstrom"), step, time_fs, positions)
        if velocities is not None:
            self._append(self._series(VELOCITY, (self.n_atoms, 3), "angstrom/fs"), step, time_fs, velocities)
        for name, value in observables.items():
            value = np.asarray(value, dtype=float)
            self._append(self._series(f"observables/{name}", value.shape, ""), step, time_fs, value)

    def append_observable(self, name: str, step: int, value, unit: str = "") -> None:
        """Append one value of a time series ``/observables/NAME`` (e.g. the heat current)."""
        value = np.asarray(value, dtype=float)
        self._append(self._series(f"observables/{name}", value.shape, unit), step, step * self.dt_fs, value)

    def truncate_after(self, step: int) -> None:
        """Drop frames with step > ``step``."""
        self._write_pending()

        def visit(g):
            s = g["step"][:]
            keep = int(np.searchsorted(s, step, side="right"))
            for name in ("step", "time", "value"):
                g[name].resize(keep, axis=0)
        for path in (POSITION, VELOCITY):
            if path in self.f:
                visit(self.f[path])
        for name in list(self.f["observables"]):
            visit(self.f["observables"][name])

    def flush(self) -> None:
        """Write queued rows and flush the file."""
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


# ----------------------------------------------------------------------------- segments


def segments_dir(path: str | os.PathLike) -> Path:
    """The folder ``PATH.segments`` that holds the committed segments of an unfinished run."""
    return Path(str(path) + ".segments")


def segment_files(path: str | os.PathLike) -> list[Path]:
    """The committed segment files of ``path``, in step order (hidden temp files excluded)."""
    d = segments_dir(path)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.name.startswith(SEGMENT_PREFIX) and p.suffix == ".h5md")


def trajectory_files(path: str | os.PathLike) -> list[Path]:
    """The H5MD files that make up trajectory ``path``: ``[path]`` if it exists, else its segments."""
    path = Path(path)
    if path.is_file():
        return [path]
    files = segment_files(path)
    if not files:
        raise FileNotFoundError(f"{path}: no such trajectory file (and no {segments_dir(path).name}/ of a running MD)")
    return files


def trajectory_exists(path: str | os.PathLike) -> bool:
    return Path(path).is_file() or bool(segment_files(path))


class FileJobs:
    """File writes (atomic, fsynced) done in order by one background thread, off the MD loop.

    An fsync costs 5-70 ms on a loaded disk; in this thread it overlaps the force calls. Jobs
    run strictly in the order submitted, so a checkpoint is never on disk before the segment it
    names. The first job that raises stops the queue (later jobs are dropped: they may depend on
    it) and its exception is raised by the next ``submit`` or ``wait``.
    """

    def __init__(self, max_queued: int = 8) -> None:
        import queue
        import threading

        self._q: queue.Queue = queue.Queue(maxsize=max_queued)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="incipient-md-io", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._q.get()
            try:
                if job is None:
                    return
                if self._error is None:
                    fn, args = job
                    fn(*args)
            except BaseException as exc:  # handed to the MD thread
                self._error = exc
            finally:
                self._q.task_done()

    def _raise(self) -> None:
        if self._error is not None:  # sticky: every later submit/wait raises it too
            raise self._error

    def submit(self, fn, *args) -> None:
        """Queue ``fn(*args)`` (blocks while ``max_queued`` jobs wait); raises an earlier job's error."""
        self._raise()
        self._q.put((fn, args))

    def wait(self) -> None:
        """Block until every queued job is done; raise the first error among them."""
        self._q.join()
        self._raise()

    def close(self) -> None:
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()


class SegmentedH5MDWriter:
    """Crash-safe H5MD output of an MD run: rows queued in memory, committed as segment files.

    ``append``/``append_observable`` queue rows; ``commit()`` writes all queued rows as one new
    segment (a complete H5MD file, written atomically) and returns its name; ``committed`` lists
    the segments of this run so far (the MD checkpoint stores it, so a resume knows which
    segments belong to it: ``recover``). ``finalize()`` merges the segments into ``path``.
    Nothing HDF5 writes ever touches the disk directly (segments are built in memory), so a full
    disk is a plain OSError, reported as OutputError with nothing committed lost.
    """

    _n_images = 0

    def __init__(self, path: str | os.PathLike, numbers, cell, dt_fs: float, *,
                 attrs: dict[str, Any] | None = None, chunk_frames: int = 64,
                 compression: str | None = None, max_pending_bytes: int = 64 << 20) -> None:
        self.path = Path(path)
        self.dir = segments_dir(self.path)
        self.numbers = np.asarray(numbers, dtype=np.int32)
        self.cell = np.asarray(cell, dtype=float)
        self.dt_fs = float(dt_fs)
        self.attrs = dict(attrs or {})
        self.n_atoms = len(self.numbers)
        self._chunk = int(chunk_frames)
        self._compression = compression
        self._max_pending_bytes = int(max_pending_bytes)
        self._series: dict[str, tuple[tuple[int, ...], str]] = {}
        self._rows: dict[str, list] = {}
        self._pending_bytes = 0
        self.committed: list[str] = []
        self._jobs: FileJobs | None = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.dir}: cannot create the trajectory folder ({exc.strerror or exc})") from exc

    # -- queueing
    def declare(self, group_path: str, shape: tuple[int, ...], unit: str = "") -> None:
        """Make series ``group_path`` appear in every segment (possibly with no rows)."""
        if group_path not in self._series:
            self._series[group_path] = (tuple(shape), unit)
            self._rows[group_path] = []

    def _queue(self, group_path: str, step: int, value, unit: str) -> None:
        value = np.array(value, dtype=float)
        self.declare(group_path, value.shape, unit)
        self._rows[group_path].append((int(step), value))
        self._pending_bytes += value.nbytes + 16
        if self._pending_bytes > self._max_pending_bytes:
            self.commit()

    def append(self, step: int, positions, velocities=None) -> None:
        """Queue one frame: unwrapped positions (A) and velocities (A/fs)."""
        self._queue(POSITION, step, positions, "angstrom")
        if velocities is not None:
            self._queue(VELOCITY, step, velocities, "angstrom/fs")

    def append_observable(self, name: str, step: int, value, unit: str = "") -> None:
        """Queue one value of the time series ``/observables/NAME``."""
        self._queue(f"observables/{name}", step, value, unit)

    @property
    def n_pending(self) -> int:
        return sum(len(r) for r in self._rows.values())

    # -- committing
    def _segment_bytes(self) -> tuple[bytes, int, int]:
        h5py = _h5py()
        steps = [s for rows in self._rows.values() for s, _ in rows]
        SegmentedH5MDWriter._n_images += 1
        # in memory (HDF5 core driver, no backing file): nothing HDF5 does touches the disk
        # libver v110: compact object headers and chunk indexes (a 5-frame segment of 48 atoms is
        # 24 kB instead of 71 kB); readable by HDF5 >= 1.10 (2016), as every h5py 3 is
        f = h5py.File(f"incipient-segment-{os.getpid()}-{self._n_images}.h5md", "w", driver="core",
                      backing_store=False, libver="v110")
        try:
            _init_h5md(f, self.numbers, self.cell, self.dt_fs, self.attrs)
            for name, (shape, unit) in self._series.items():
                rows = self._rows[name]
                g = _create_series(f, name, len(rows), shape, unit, chunk_frames=self._chunk,
                                   compression=self._compression)
                if rows:
                    s = np.array([r[0] for r in rows], dtype=np.int64)
                    g["step"][:] = s
                    g["time"][:] = s * self.dt_fs
                    g["value"][:] = np.stack([r[1] for r in rows])
            f.flush()
            image = f.id.get_file_image()
        finally:
            f.close()
        return image, min(steps), max(steps)

    def commit(self) -> str | None:
        """Queue the queued rows as one segment file (written atomically, in the background).

        Returns its name (None if no rows were queued); it is in ``committed`` at once, and on
        disk once ``wait()`` returns (an OSError then is raised as OutputError by ``wait`` or the
        next ``commit``).
        """
        if not self.n_pending:
            return None
        data, first, last = self._segment_bytes()
        name = f"{SEGMENT_PREFIX}{first:012d}-{last:012d}.h5md"
        self.submit(self._write_segment, self.dir / name, data)
        for rows in self._rows.values():
            rows.clear()
        self._pending_bytes = 0
        if name not in self.committed:
            self.committed.append(name)
        return name

    @staticmethod
    def _write_segment(path: Path, data: bytes) -> None:
        try:
            atomic_write_bytes(path, data)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write a trajectory segment ({exc.strerror or exc})") from exc

    def submit(self, fn, *args) -> None:
        """Run ``fn(*args)`` in the writer's background file thread, after the writes before it."""
        if self._jobs is None:
            self._jobs = FileJobs()
        self._jobs.submit(fn, *args)

    def wait(self) -> None:
        """Block until every commit (and submitted job) is on disk; raise the first failure."""
        if self._jobs is not None:
            self._jobs.wait()

    def close(self) -> None:
        """Wait for the queued writes (errors ignored: use ``wait`` to see them) and stop the thread."""
        if self._jobs is not None:
            try:
                self._jobs.wait()
            except BaseException:
                pass
            self._jobs.close()
            self._jobs = None

    def recover(self, committed: list[str]) -> list[str]:
        """Resume: keep the segments ``committed`` (from a checkpoint), delete the others.

        Segments not in ``committed`` were written after that checkpoint (their frames will be
        recomputed identically); hidden temp files are debris of a killed write. Returns the
        names in ``committed`` that are missing (then the run cannot resume exactly).
        """
        keep = set(committed)
        # newest first: a kill in between leaves the segments a prefix of the trajectory
        for p in sorted(self.dir.iterdir(), reverse=True):
            if p.name not in keep and (p.name.startswith(SEGMENT_PREFIX) or p.name.endswith(".tmp")):
                p.unlink()
        self.committed = list(committed)
        return [n for n in committed if not (self.dir / n).is_file()]

    def finalize(self) -> Path:
        """Merge the committed segments into ``path`` (atomically) and remove the segment folder."""
        self.commit()
        self.wait()
        files = [self.dir / n for n in self.committed]
        merge_segments(files, self.path, compression=self._compression)
        remove_segments(self.path)
        return self.path


def remove_segments(path: str | os.PathLike) -> None:
    d = segments_dir(path)
    if d.is_dir():
        shutil.rmtree(d)


def merge_segments(files: list[Path], output: str | os.PathLike, *, chunk_frames: int = 64,
                   compression: str | None = "gzip") -> None:
    """Concatenate H5MD segment files into one H5MD file ``output`` (temp file, then rename).

    Raises FileFormatError for an unreadable segment (naming it and the first bad frame) and
    OutputError when ``output`` cannot be written (checked against the free space first); either
    way ``output`` is left as it was and the segments are kept.
    """
    h5py = _h5py()
    output = Path(output)
    if not files:
        raise FileFormatError("no committed frames to merge", source=output)
    series: dict[str, tuple[tuple[int, ...], str, int]] = {}
    for p in files:
        with _open_h5(p) as f:
            for name, g in _series_groups(f):
                shape = tuple(g["value"].shape[1:])
                unit = g["value"].attrs.get("unit", "")
                old = series.get(name)
                series[name] = (shape, unit, (old[2] if old else 0) + g["step"].shape[0])
    need = sum(n * (8 * int(np.prod(shape)) + 16) for shape, _, n in series.values()) * 1.02 + (1 << 20)
    free = shutil.disk_usage(output.parent).free
    if free < need:  # checked first, so that HDF5 never meets a full disk
        raise OutputError(f"{output}: cannot merge the trajectory segments: {need / 1e6:.1f} MB needed, "
                          f"{free / 1e6:.1f} MB free ({os.strerror(errno.ENOSPC)})")
    tmp = output.parent / f".{output.name}.{os.getpid()}.tmp"
    try:
        h5py.File(tmp, "w").close()
        _reserve(tmp, int(need))  # HDF5 then writes into allocated blocks: it never meets a full disk
        with _open_h5(files[0]) as first, h5py.File(tmp, "r+") as out:
            _init_h5md(out, first["particles/all/species"][()], first["particles/all/box/edges"][()],
                       float(first.attrs.get("dt_fs", 1.0)),
                       {k: v for k, v in first.attrs.items() if k != "dt_fs"})
            groups = {name: _create_series(out, name, n, shape, unit, chunk_frames=chunk_frames, compression=compression)
                      for name, (shape, unit, n) in series.items()}
            filled = dict.fromkeys(series, 0)
            queued: dict[str, list] = {name: [] for name in series}

            def flush(name):  # whole chunks at a time: no read-modify-write of partial chunks
                rows = queued[name]
                if rows:
                    g, k = groups[name], filled[name]
                    st = np.concatenate([r[0] for r in rows])
                    g["step"][k:k + len(st)] = st
                    g["time"][k:k + len(st)] = np.concatenate([r[1] for r in rows])
                    g["value"][k:k + len(st)] = np.concatenate([r[2] for r in rows])
                    filled[name] = k + len(st)
                    rows.clear()

            for p in files:  # each segment opened once
                with _open_h5(p) as f:
                    for name, src in _series_groups(f):
                        if src["step"].shape[0] == 0:
                            continue
                        queued[name].append(_read_group(p, name, src))  # FileFormatError on a bad frame
                        if sum(len(r[0]) for r in queued[name]) >= 4 * (groups[name]["value"].chunks or (64,))[0]:
                            flush(name)
            for name in series:
                flush(name)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, output)
    except FileFormatError:
        _unlink(tmp)
        raise
    except (OSError, RuntimeError) as exc:
        _unlink(tmp)
        raise OutputError(f"{output}: cannot write the merged trajectory ({getattr(exc, 'strerror', None) or exc})") from exc
    except BaseException:
        _unlink(tmp)
        raise
    _fsync_dir(output.parent)


def _reserve(path: Path, size: int) -> None:
    """Allocate ``size`` bytes of disk for ``path`` (ENOSPC now rather than inside HDF5)."""
    if not hasattr(os, "posix_fallocate"):  # pragma: no cover - macOS, Windows: free space was checked
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)):
            return  # the file system cannot preallocate; the free space was checked
        raise
    finally:
        os.close(fd)


def _unlink(p: Path) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


# ----------------------------------------------------------------------------- reading


class MissingSeriesError(FileFormatError, KeyError):
    """The trajectory has no such time series (e.g. heat currents were not recorded)."""

    __str__ = Exception.__str__


class Series(NamedTuple):
    """One H5MD time series: step (T,), time in fs (T,), value (T, ...), unit of value."""

    step: np.ndarray
    time: np.ndarray
    value: np.ndarray
    unit: str


def _open_h5(path: Path):
    h5py = _h5py()
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"not a readable HDF5/H5MD file ({exc})", source=path) from exc


def _series_groups(f):
    """(path, group) of every time series in an open H5MD file: position, velocity, observables."""
    h5py = _h5py()
    out = []
    for name in (POSITION, VELOCITY):
        if name in f and isinstance(f[name], h5py.Group) and "value" in f[name]:
            out.append((name, f[name]))
    obs = f.get("observables")
    if obs is not None:
        for k in obs:
            g = obs[k]
            if isinstance(g, h5py.Group) and "value" in g and "step" in g:
                out.append((f"observables/{k}", g))
    return out


def _raise_first_bad_frame(path: Path, name: str, g, exc: Exception, offset: int = 0):
    """Find the first frame of series ``g`` that cannot be read and raise FileFormatError."""
    n = g["value"].shape[0]
    bad = None
    for i in range(n):
        try:
            g["value"][i]
            g["step"][i]
            g["time"][i]
        except OSError:
            bad = i
            break
    where = f"frame {offset + bad}" if bad is not None else "its step/time index"
    raise FileFormatError(f"{name}: {where} is unreadable ({' '.join(str(exc).split())})", source=path) from exc


def _read_group(path: Path, name: str, g, sl=slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        return g["step"][sl], g["time"][sl], g["value"][sl]
    except OSError as exc:
        _raise_first_bad_frame(path, name, g, exc)


def _collect(path, wanted: set[str] | None = None, sl: slice = slice(None)) -> dict[str, Series]:
    """The time series of trajectory ``path`` (all, or those in ``wanted``), each file opened once.

    ``sl`` selects rows: applied inside HDF5 for one file, after concatenation for segments.
    """
    files = trajectory_files(path)
    one = len(files) == 1
    parts: dict[str, list] = {}
    meta: dict[str, tuple] = {}
    for p in files:
        with _open_h5(p) as f:
            for name, g in _series_groups(f):
                if wanted is not None and name not in wanted:
                    continue
                meta.setdefault(name, (str(g["value"].attrs.get("unit", "")), g["value"].shape[1:]))
                parts.setdefault(name, []).append(_read_group(p, name, g, sl if one else slice(None)))
    out = {}
    for name, rows in parts.items():
        unit, shape = meta[name]
        st = np.concatenate([r[0] for r in rows]).astype(np.int64)
        tm = np.concatenate([r[1] for r in rows])
        val = np.concatenate([r[2] for r in rows]) if rows else np.zeros((0, *shape))
        if not one:
            st, tm, val = st[sl], tm[sl], val[sl]
        out[name] = Series(st, tm, val, unit)
    return out


def read_series(path: str | os.PathLike, name: str) -> Series:
    """One time series of an H5MD trajectory (finished file or segments of a running MD).

    ``name`` is the group path, e.g. ``'particles/all/position'`` or
    ``'observables/heat_current_conv_eV_A_fs'`` (a bare name is looked up under observables).
    Raises FileNotFoundError, MissingSeriesError (a FileFormatError and KeyError: series not
    recorded) or FileFormatError (unreadable, naming the file and the first bad frame).
    """
    if "/" not in name:
        name = f"observables/{name}"
    got = _collect(path, {name})
    if name not in got:
        raise MissingSeriesError(f"no /{name}/value (series not recorded)", source=path)
    return got[name]


def read_box(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(cell (3, 3) in A, atomic numbers (N,), file attributes) of an H5MD trajectory."""
    p = trajectory_files(path)[0]
    with _open_h5(p) as f:
        if "particles/all/species" not in f or "particles/all/box/edges" not in f:
            raise FileFormatError("no /particles/all/species or /particles/all/box/edges: not an H5MD trajectory", source=p)
        cell = f["particles/all/box/edges"][()]
        numbers = f["particles/all/species"][()]
        attrs = dict(f.attrs.items())
    return (np.diag(cell) if cell.ndim == 1 else cell), numbers, attrs


def read_h5md(path: str | os.PathLike, *, start: int = 0, stop: int | None = None, step: int = 1) -> Trajectory:
    """An H5MD trajectory (one file, or the segments of a running/killed MD) as a Trajectory.

    Observables with one value per position frame (e.g. the heat current saved with every
    frame) go to ``Trajectory.observables``.
    """
    path = Path(path)
    cell, numbers, attrs = read_box(path)
    lengths: dict[str, int] = {}
    for p in trajectory_files(path):
        with _open_h5(p) as f:
            for name, g in _series_groups(f):
                lengths[name] = lengths.get(name, 0) + g["step"].shape[0]
    if POSITION not in lengths:
        raise FileFormatError(f"no /{POSITION}/value: not an H5MD trajectory", source=path)
    n = lengths[POSITION]
    wanted = {POSITION, VELOCITY} | {k for k, m in lengths.items() if k.startswith("observables/") and m == n}
    series = _collect(path, wanted, slice(start, stop, step))
    pos = series[POSITION]
    obs = {k.split("/", 1)[1]: v.value for k, v in sorted(series.items()) if k.startswith("observables/")}
    time = pos.time
    dt = float(np.diff(time[:2])[0]) if len(time) > 1 else float(attrs.get("dt_fs", 1.0)) * step
    return Trajectory(positions=pos.value, cell=cell, numbers=numbers, dt_fs=dt,
                      velocities=series[VELOCITY].value if VELOCITY in series else None,
                      time_fs=time, observables=obs)


def check_trajectory(path: str | os.PathLike) -> int:
    """Read every frame of an H5MD trajectory; raise FileFormatError at the first bad one.

    Checks each file (``path``, or each segment of an unfinished run): it opens, has the H5MD
    species/box, every series' step/time/value rows read back (checksums and compression
    included), positions and velocities are finite, steps increase, and series agree on the
    number of atoms. The error names the file and the first bad frame (counted over the whole
    trajectory, from 0). Returns the number of position frames.
    """
    files = trajectory_files(path)
    n_atoms = None
    frame0: dict[str, int] = {}
    last_step: dict[str, int] = {}
    for p in files:
        with _open_h5(p) as f:
            try:
                numbers = f["particles/all/species"][()]
                f["particles/all/box/edges"][()]
            except (KeyError, OSError) as exc:
                raise FileFormatError(f"no readable /particles/all/species or box ({exc})", source=p) from exc
            if n_atoms is None:
                n_atoms = len(numbers)
            elif len(numbers) != n_atoms:
                raise FileFormatError(f"{len(numbers)} atoms, the earlier files have {n_atoms}", source=p)
            groups = _series_groups(f)
            if not any(n == POSITION for n, _ in groups) and len(files) == 1:
                raise FileFormatError(f"no /{POSITION}/value: not an H5MD trajectory", source=p)
            for name, g in groups:
                off = frame0.get(name, 0)
                n = g["value"].shape[0]
                if g["step"].shape[0] != n or g["time"].shape[0] != n:
                    raise FileFormatError(f"{name}: step/time/value lengths differ", source=p)
                if name in (POSITION, VELOCITY) and g["value"].shape[1:] != (n_atoms, 3):
                    raise FileFormatError(f"{name}: rows of shape {g['value'].shape[1:]}, expected ({n_atoms}, 3)", source=p)
                block = max(1, (g["value"].chunks or (256,))[0])
                for i0 in range(0, n, block):
                    sl = slice(i0, min(n, i0 + block))
                    try:
                        s, t, v = g["step"][sl], g["time"][sl], g["value"][sl]
                    except OSError as exc:
                        _raise_first_bad_frame(p, name, g, exc, offset=off)
                    bad_rows = ~np.isfinite(v.reshape(len(v), -1)).all(1) | ~np.isfinite(t)
                    if bad_rows.any():
                        i = int(np.flatnonzero(bad_rows)[0])
                        raise FileFormatError(f"{name}: frame {off + i0 + i} has non-finite values", source=p)
                    prev = np.concatenate([[last_step.get(name, -(1 << 62))], s])
                    if np.any(np.diff(prev) <= 0):
                        i = int(np.flatnonzero(np.diff(prev) <= 0)[0])
                        raise FileFormatError(f"{name}: frame {off + i0 + i} has step {s[i]}, not after the step before", source=p)
                    if len(s):
                        last_step[name] = int(s[-1])
                frame0[name] = off + n
    return frame0.get(POSITION, 0)


def from_atoms_list(frames, dt_fs: float) -> Trajectory:
    """Trajectory from a list of ASE Atoms (positions unwrapped between frames)."""
    from incipient import units

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
    suffix = path.suffix.lower()
    if suffix in (".h5", ".h5md", ".hdf5"):
        return read_h5md(path, **kwargs)  # the file, or the segments of an unfinished MD run
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such trajectory file")
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
