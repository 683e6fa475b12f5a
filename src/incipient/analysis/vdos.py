"""Vibrational density of states from the velocity autocorrelation function (paper's PDOS formula).

Own code (numpy FFTs; no reference library computes the per-species, per-direction split with
this normalisation). For each atom i and direction alpha the VACF
C_ia(t) = < v_ia(t0) v_ia(t0 + t) >_t0 is computed by zero-padded FFT (all time origins,
unbiased 1/(T - t) average), summed over the atoms of a group, divided by its t = 0 value (the
paper's <sum_i v_i(t0).v_i(t0+t)> / <sum_i v_i(t0).v_i(t0)>), tapered with a window and Fourier
transformed to a one-sided spectrum g(nu), nu >= 0 in THz.

Normalisation convention (exact on the output grid with the trapezoid rule, because
g_k = 2 dt * DFT_k of the mirrored, windowed VACF and every window equals 1 at t = 0):

* ``by_direction[s][alpha]`` integrates to N_s (the number of atoms of species s);
* ``by_species[s]`` = sum over alpha, integrates to 3 N_s;
* ``total`` integrates to 3 N: the sum of the species (``mass_weighted=False``) or, with
  ``mass_weighted=True``, the spectrum of sum_i m_i v_i(t0).v_i(t0+t) scaled to 3 N (in the
  harmonic classical limit every mode carries kT, so this is the phonon DOS).

Densities are per THz; ``frequency_meV`` is h nu. Without stored velocities, velocities are
taken as central differences of the unwrapped positions (second order, edges one-sided). That
fallback damps the spectrum by [sin(x)/x]^2 with x = 2 pi nu dt (-19 % at a quarter of the
Nyquist frequency) and is noisy for sparsely stored frames, so it is never silent: it logs a warning
unless asked for with ``finite_differences=True``, ``finite_differences=False`` makes it an
error, and ``VdosResult.velocity_source`` records which velocities were used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from incipient.results import Result
from incipient.units import THz_to_meV

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VdosResult(Result):
    """VACF density of states.

    frequency_THz: (Nf,) nu >= 0; frequency_meV: (Nf,) h nu;
    total: (Nf,) states/THz, integral 3N; by_species: symbol -> (Nf,), integral 3 N_s;
    by_direction: symbol -> (3, Nf) for x, y, z (Cartesian), integral N_s each;
    vacf_time_fs: (L,) lags; vacf: symbol -> (3, L) normalised VACF per direction (1 at t=0);
    counts: symbol -> N_s; timestep_fs, correlation_time_fs, window, mass_weighted;
    velocity_source: 'stored' or 'finite differences' (of positions, see the module docstring).
    """

    frequency_THz: np.ndarray
    frequency_meV: np.ndarray
    total: np.ndarray
    by_species: dict = field(default_factory=dict)
    by_direction: dict = field(default_factory=dict)
    vacf_time_fs: np.ndarray | None = None
    vacf: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    timestep_fs: float = 1.0
    correlation_time_fs: float = 0.0
    window: str = "hann"
    mass_weighted: bool = False
    velocity_source: str = "stored"

    def integral(self, which: str = "total") -> float:
        """Trapezoid integral over frequency (THz) of ``total`` or of one species."""
        y = self.total if which == "total" else self.by_species[which]
        return float(np.trapezoid(y, self.frequency_THz))

    def plot(self, *, energy_max_meV: float | None = 15.0, directions: bool = True):
        """DOS panels as in Figure 3g-i: total + species, and per-direction partial DOS per species."""
        import matplotlib.pyplot as plt

        ncol = 1 + (len(self.by_direction) if directions else 0)
        fig, axes = plt.subplots(1, ncol, figsize=(3.2 * ncol, 3), squeeze=False)
        e = self.frequency_meV
        per_meV = 1.0 / THz_to_meV
        ax = axes[0, 0]
        ax.plot(e, self.total * per_meV, "k", label="total")
        for s, g in self.by_species.items():
            ax.plot(e, g * per_meV, label=s)
        ax.set_title("DOS")
        ax.legend(fontsize=7)
        if directions:
            for k, (s, g3) in enumerate(self.by_direction.items(), start=1):
                for a, lab in enumerate("xyz"):
                    axes[0, k].plot(e, g3[a] * per_meV, label=f"{s} {lab}")
                axes[0, k].set_title(f"{s} projected DOS")
                axes[0, k].legend(fontsize=7)
        for ax in axes[0]:
            ax.set_xlabel("Energy (meV)")
            ax.set_xlim(0, energy_max_meV or e[-1])
        axes[0, 0].set_ylabel("states / meV")
        fig.tight_layout()
        return fig


def _acf_fft(x: np.ndarray, n_lags: int) -> np.ndarray:
    """Unbiased autocorrelation over all time origins along axis 0, summed over the other axes."""
    from scipy import fft as sfft

    n = x.shape[0]
    nfft = sfft.next_fast_len(2 * n)
    f = sfft.rfft(x, n=nfft, axis=0)
    p = np.abs(f) ** 2
    p = p.reshape(p.shape[0], -1).sum(axis=1) if x.ndim > 1 else p
    c = sfft.irfft(p, n=nfft)[:n_lags]
    return c / (n - np.arange(n_lags))


def _spectrum(acf_norm: np.ndarray, dt_ps: float, window: str) -> tuple[np.ndarray, np.ndarray]:
    n = len(acf_norm)
    if window == "hann":
        w = 0.5 * (1 + np.cos(np.pi * np.arange(n) / (n - 1)))
    elif window == "none":
        w = np.ones(n)
    elif window == "gaussian":
        w = np.exp(-0.5 * (np.arange(n) / (n / 3.0)) ** 2)
    else:
        raise ValueError(f"window={window!r}: use 'hann', 'gaussian' or 'none'")
    c = acf_norm * w
    sym = np.concatenate([c, c[-2:0:-1]])  # even, length 2(n-1)
    g = 2.0 * dt_ps * np.fft.rfft(sym).real
    nu = np.fft.rfftfreq(len(sym), dt_ps)
    return nu, g


def vdos(frames_or_path, *, timestep_fs: float | None = None, correlation_time_fs: float | None = None,
         window: str = "hann", mass_weighted: bool = False, species=None,
         finite_differences: bool | None = None) -> VdosResult:
    """VACF DOS: total, per species and per species per Cartesian direction.

    Parameters
    ----------
    frames_or_path : Trajectory, list of ASE Atoms or trajectory file (``read_trajectory``).
    timestep_fs : time between stored frames (needed for formats that do not store it).
    correlation_time_fs : longest VACF lag used (sets the resolution ~ 1/t THz); default half
        the trajectory length.
    window : taper of the VACF before the FFT: 'hann' (default), 'gaussian' or 'none'.
    mass_weighted : total from the mass-weighted VACF (see module docstring).
    species : optional list of symbols to keep (default: all).
    finite_differences : for a trajectory without stored velocities: ``None`` (default) uses
        central differences of the positions and logs a warning, ``True`` uses them without a
        warning (explicit opt-in), ``False`` raises ValueError. Ignored when velocities are
        stored.
    """
    from ase.data import atomic_masses, chemical_symbols

    from incipient.md.trajectory import read_trajectory

    traj = read_trajectory(frames_or_path, timestep_fs=timestep_fs)
    if traj.n_frames < 4:
        raise ValueError(f"need at least 4 frames for a VACF, got {traj.n_frames}")
    dt_fs = float(traj.dt_fs)
    v = traj.velocities
    source = "stored"
    if v is None:
        if finite_differences is False:
            raise ValueError("the trajectory stores no velocities and finite_differences=False; "
                             "store velocities in the MD or allow finite differences of positions")
        msg = ("the trajectory stores no velocities: using central differences of positions every %.3g fs "
               "(spectrum damped by sinc^2(2 pi nu dt) at high frequency)")
        if finite_differences:
            log.info(msg, dt_fs)
        else:
            log.warning(msg + "; pass finite_differences=True to accept this", dt_fs)
        v = np.gradient(traj.positions, dt_fs, axis=0)
        source = "finite differences"
    n_t = traj.n_frames
    if correlation_time_fs is None:
        n_lags = n_t // 2
    else:
        n_lags = int(round(correlation_time_fs / dt_fs)) + 1
        if not 3 <= n_lags <= n_t:
            raise ValueError(f"correlation_time_fs={correlation_time_fs} gives {n_lags} lags; "
                             f"need 3..{n_t} (trajectory {n_t} frames of {dt_fs} fs)")
    dt_ps = dt_fs * 1e-3
    zs = sorted(set(int(z) for z in traj.numbers))
    symbols = [chemical_symbols[z] for z in zs]
    if species is not None:
        unknown = set(species) - set(symbols)
        if unknown:
            raise ValueError(f"species {sorted(unknown)} not in the trajectory ({symbols})")
        symbols = [s for s in symbols if s in species]
    log.info("VDOS: %d frames, dt %.3g fs, resolution %.4g THz, Nyquist %.4g THz",
             n_t, dt_fs, 1.0 / (2 * (n_lags - 1) * dt_ps), 0.5 / dt_ps)

    by_dir, by_sp, vacfs, counts = {}, {}, {}, {}
    mw_acf = np.zeros(n_lags)
    nu = None
    n_total = 0
    for s in symbols:
        idx = traj.indices_of(s)
        counts[s] = int(idx.size)
        n_total += idx.size
        g3, a3 = [], []
        for a in range(3):
            c = _acf_fft(v[:, idx, a], n_lags)
            if c[0] <= 0:
                raise ValueError(f"species {s}: zero velocities along axis {a}; cannot normalise")
            nu, g = _spectrum(c / c[0], dt_ps, window)
            g3.append(idx.size * g)
            a3.append(c / c[0])
            mw_acf += atomic_masses[traj.numbers[idx[0]]] * c
        by_dir[s] = np.array(g3)
        by_sp[s] = by_dir[s].sum(axis=0)
        vacfs[s] = np.array(a3)
    if mass_weighted:
        _, total = _spectrum(mw_acf / mw_acf[0], dt_ps, window)
        total = 3 * n_total * total
    else:
        total = np.sum(list(by_sp.values()), axis=0)
    return VdosResult(frequency_THz=nu, frequency_meV=nu * THz_to_meV, total=total,
                      by_species=by_sp, by_direction=by_dir,
                      vacf_time_fs=dt_fs * np.arange(n_lags), vacf=vacfs, counts=counts,
                      timestep_fs=dt_fs, correlation_time_fs=dt_fs * (n_lags - 1),
                      window=window, mass_weighted=mass_weighted, velocity_source=source)
