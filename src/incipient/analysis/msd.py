"""Mean squared displacement per species and Cartesian direction, over all time origins.

Own code on numpy's FFT (the Wiener-Khinchin route of Calandrini et al., nMoldyn, 2011): for a
series x(t) of T frames, MSD(m) = S1(m) - 2 S2(m), with S1 from cumulative sums of x^2 and S2
the autocorrelation computed by a zero-padded FFT, so all T-m origins of every lag m are used in
O(T log T) instead of O(T^2). ``msd_direct`` is the plain all-origins loop kept as the test oracle.
Drift correction follows kinisi's convention (subtract the mean displacement of the framework,
i.e. all atoms of the other species) so the two tools can be compared point by point.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from incipient.results import Result

DRIFT_MODES = ("framework", "com", "none")


def msd_fft(x: np.ndarray, *, max_lag: int | None = None, chunk: int = 256) -> np.ndarray:
    """All-origins MSD of every column of ``x`` (shape (T, ...)), for lags 0..max_lag-1.

    Returns an array of shape (L, ...) with L = max_lag (default T): the squared displacement
    of each trailing component averaged over the T-m time origins of lag m (not summed over
    components). Columns are processed ``chunk`` at a time to bound the FFT memory.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim < 1 or x.shape[0] < 2:
        raise ValueError(f"need at least 2 frames along axis 0, got shape {x.shape}")
    n_t = x.shape[0]
    n_lag = n_t if max_lag is None else int(max_lag)
    if not 1 <= n_lag <= n_t:
        raise ValueError(f"max_lag must be in 1..{n_t}, got {max_lag}")
    tail = x.shape[1:]
    flat = x.reshape(n_t, -1)
    out = np.empty((n_lag, flat.shape[1]))
    n_fft = 1 << int(np.ceil(np.log2(2 * n_t)))
    m = np.arange(n_lag)
    norm = 1.0 / (n_t - m)
    for c0 in range(0, flat.shape[1], chunk):
        col = flat[:, c0:c0 + chunk]
        col = col - col.mean(axis=0)  # MSD is shift invariant; centring keeps precision
        sq = col * col
        csum = np.concatenate([np.zeros((1, col.shape[1])), np.cumsum(sq, axis=0)])
        # S1(m) = sum_{t=0}^{T-m-1} [x(t+m)^2 + x(t)^2] / (T-m)
        s1 = (csum[n_t] - csum[m] + csum[n_t - m]) * norm[:, None]
        f = np.fft.rfft(col, n=n_fft, axis=0)
        acf = np.fft.irfft(f * f.conj(), n=n_fft, axis=0)[:n_lag]
        out[:, c0:c0 + chunk] = s1 - 2.0 * acf * norm[:, None]
    np.maximum(out, 0.0, out=out)  # round-off at lag 0
    return out.reshape((n_lag, *tail))


def msd_direct(x: np.ndarray, *, max_lag: int | None = None) -> np.ndarray:
    """Reference all-origins MSD by explicit differences (O(T^2)); same contract as ``msd_fft``."""
    x = np.asarray(x, dtype=float)
    n_t = x.shape[0]
    n_lag = n_t if max_lag is None else int(max_lag)
    out = np.zeros((n_lag, *x.shape[1:]))
    for m in range(1, n_lag):
        d = x[m:] - x[:-m]
        out[m] = (d * d).mean(axis=0)
    return out


def drift_corrected_displacements(traj, species: str | int, drift: str = "framework") -> np.ndarray:
    """Displacements from frame 0 of the atoms of ``species``: (T, N, 3) Angstrom, drift removed.

    ``drift``: "framework" subtracts the mean displacement of all other atoms (kinisi's
    default), "com" the mass-weighted centre-of-mass displacement of the whole system,
    "none" nothing.
    """
    if drift not in DRIFT_MODES:
        raise ValueError(f"drift must be one of {DRIFT_MODES}, got {drift!r}")
    idx = traj.indices_of(species)
    disp = traj.positions - traj.positions[:1]
    out = disp[:, idx]
    if drift == "framework":
        others = np.setdiff1d(np.arange(traj.n_atoms), idx)
        if others.size:
            out = out - disp[:, others].mean(axis=1, keepdims=True)
    elif drift == "com":
        from ase.data import atomic_masses

        w = atomic_masses[traj.numbers]
        com = np.einsum("tnk,n->tk", disp, w / w.sum())
        out = out - com[:, None, :]
    return out


def iter_ion_msd(disp: np.ndarray, *, max_lag: int | None = None,
                 ions_per_chunk: int = 64) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield (ion slice, per-ion MSD (L, n, 3) A^2) for chunks of ions of ``disp`` (T, N, 3)."""
    n = disp.shape[1]
    for i0 in range(0, n, ions_per_chunk):
        sl = slice(i0, min(n, i0 + ions_per_chunk))
        yield sl, msd_fft(disp[:, sl], max_lag=max_lag)


def _lag_count(n_frames: int, dt_fs: float, max_lag_ps: float | None) -> int:
    if max_lag_ps is None:
        return n_frames
    if max_lag_ps <= 0:
        raise ValueError(f"max_lag_ps must be positive, got {max_lag_ps}")
    return int(min(n_frames, np.floor(max_lag_ps * 1000.0 / dt_fs) + 1))


@dataclass(frozen=True)
class MSDResult(Result):
    """Mean squared displacement of one species.

    time_ps : (L,) lag times, ps.
    msd_xyz_A2 : (L, 3) MSD along x, y, z averaged over ions and all time origins, A^2.
    msd_sem_xyz_A2 : (L, 3) standard error of that mean over ions, A^2.
    msd_A2 : (L,) total MSD (sum of the three directions), A^2.
    """

    species: str
    n_ions: int
    timestep_fs: float
    drift: str
    time_ps: np.ndarray
    msd_xyz_A2: np.ndarray
    msd_sem_xyz_A2: np.ndarray
    msd_A2: np.ndarray

    def plot(self, ax=None):
        """MSD per direction and total against lag time; returns the Figure."""
        import matplotlib.pyplot as plt

        fig, ax = (plt.subplots(figsize=(5, 3.6)) if ax is None else (ax.figure, ax))
        for k, lab in enumerate("xyz"):
            ax.plot(self.time_ps, self.msd_xyz_A2[:, k], label=f"MSD$_{lab}$")
        ax.plot(self.time_ps, self.msd_A2, "k", label="MSD")
        ax.set_xlabel("time (ps)")
        ax.set_ylabel(r"MSD ($\AA^2$)")
        ax.set_title(f"{self.species}: {self.n_ions} ions")
        ax.legend(frameon=False)
        fig.tight_layout()
        return fig


def _species_name(traj, species) -> str:
    from ase.data import chemical_symbols

    return species if isinstance(species, str) else chemical_symbols[int(species)]


def msd_stats(disp: np.ndarray, n_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean over ions and its standard error, both (L, 3), of the per-ion MSD of ``disp``."""
    n = disp.shape[1]
    s = np.zeros((n_lag, 3))
    s2 = np.zeros((n_lag, 3))
    for _, m in iter_ion_msd(disp, max_lag=n_lag):
        s += m.sum(axis=1)
        s2 += (m * m).sum(axis=1)
    mean = s / n
    var = (s2 / n - mean**2) * (n / (n - 1)) if n > 1 else np.full_like(mean, np.nan)
    return mean, np.sqrt(np.maximum(var, 0.0) / n)


def msd(frames_or_path, species: str | int = "Cu", timestep_fs: float | None = None, *,
        drift: str = "framework", max_lag_ps: float | None = None) -> MSDResult:
    """MSD per Cartesian direction of ``species`` from a trajectory (object, Atoms list or file).

    ``timestep_fs`` is the time between stored frames (needed for formats that do not store it);
    ``max_lag_ps`` limits the lags kept (default: all). See ``drift_corrected_displacements``.
    """
    from incipient.md.trajectory import read_trajectory

    traj = read_trajectory(frames_or_path, timestep_fs=timestep_fs)
    disp = drift_corrected_displacements(traj, species, drift)
    n_lag = _lag_count(traj.n_frames, traj.dt_fs, max_lag_ps)
    mean, sem = msd_stats(disp, n_lag)
    return MSDResult(species=_species_name(traj, species), n_ions=int(disp.shape[1]),
                     timestep_fs=float(traj.dt_fs), drift=drift,
                     time_ps=np.arange(n_lag) * traj.dt_fs / 1000.0, msd_xyz_A2=mean,
                     msd_sem_xyz_A2=sem, msd_A2=mean.sum(axis=1))
