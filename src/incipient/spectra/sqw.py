"""Coherent dynamic structure factor S(Q,w) from an MD trajectory (paper eq. 6), fast numba kernel.

Own code, written to reproduce dynasor's ``compute_dynamic_structure_factors`` definitions
(checked to 1e-6 relative in tests/spectra/test_spectra_sqw.py; timed in benchmarks/bench_sqw.py):

* rho_s(Q, t) = sum_{i in species s} exp(i Q . r_i(t)) for every frame (numba kernel);
* F_ab(Q, t) = (1/N) < Re[rho_a(Q, t0) rho_b(Q, t0 + t)^*] (+ the a<->b term for a != b) >,
  averaged over window starts t0 = 0, window_step, 2 window_step, ... with t0 + t < n_frames;
* S_ab(Q, w) = dt * Re FFT of F_ab mirrored to negative times (omega in rad/fs as dynasor).

Why it is faster than dynasor: Q must be commensurate with the supercell, so
exp(i Q.r) = prod_k z_k^{m_k} with z_k = exp(2 pi i s_k) (s = fractional coordinates in the
supercell, m = integer supercell coordinates of Q). The kernel builds the powers z_k^m by
multiplication once per atom and frame, so each (atom, Q) pair costs two complex products instead
of a complex exponential; the time correlation over all window starts is one FFT per species
pair instead of a Python loop over windows and lags.

Weighted total: S(Q,w) = sum_{a<=b} w_a(|Q|) w_b(|Q|) S_ab(Q,w) with X-ray form factors
(electrons), neutron b_coh (fm) or unit weights (see :mod:`incipient.spectra.form_factors`).
Units: S in (weight^2) fs per atom (dynasor's normalisation, 1/N with N all atoms);
energy in meV (hbar w), frequency in THz.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import combinations_with_replacement

import numba
import numpy as np

from incipient.results import Result
from incipient.spectra.form_factors import species_weights
from incipient.spectra.paths import check_commensurate, path_distance, rlu_to_cartesian
from incipient.units import hbar_meV_fs_2018 as HBAR_MEV_FS  # hbar in meV*fs (CODATA 2018)

log = logging.getLogger(__name__)


@numba.njit(cache=True, parallel=True, fastmath=False)
def _rho_q_kernel(positions, inv_cell, species, n_species, m, m_min, m_max):  # pragma: no cover
    """rho[t, s, q] = sum_{i in s} exp(2 pi i m_q . frac_i(t)), (T, S, Nq) complex128."""
    n_t, n_at = positions.shape[0], positions.shape[1]
    n_q = m.shape[0]
    rho = np.zeros((n_t, n_species, n_q), dtype=np.complex128)
    length = m_max - m_min + 1
    lmax = 0
    for k in range(3):
        if length[k] > lmax:
            lmax = length[k]
    for t in numba.prange(n_t):
        table = np.empty((3, lmax), dtype=np.complex128)
        acc = np.zeros((n_species, n_q), dtype=np.complex128)
        for i in range(n_at):
            for k in range(3):
                s = (positions[t, i, 0] * inv_cell[0, k] + positions[t, i, 1] * inv_cell[1, k]
                     + positions[t, i, 2] * inv_cell[2, k])
                s = s - np.floor(s)
                phi = 2.0 * np.pi * s
                z = complex(np.cos(phi), np.sin(phi))
                p = complex(np.cos(phi * m_min[k]), np.sin(phi * m_min[k]))
                for j in range(length[k]):
                    if j % 64 == 0 and j > 0:  # re-anchor to keep rounding error at ~1e-15
                        a = phi * (m_min[k] + j)
                        p = complex(np.cos(a), np.sin(a))
                    table[k, j] = p
                    p = p * z
            sp = species[i]
            for q in range(n_q):
                acc[sp, q] += (table[0, m[q, 0] - m_min[0]] * table[1, m[q, 1] - m_min[1]]
                               * table[2, m[q, 2] - m_min[2]])
        for s_ in range(n_species):
            for q in range(n_q):
                rho[t, s_, q] = acc[s_, q]
    return rho


def density_fourier_components(positions, cell, species, n_species, m_int) -> np.ndarray:
    """rho_s(Q, t), shape (T, n_species, Nq), for integer supercell coordinates ``m_int`` of Q."""
    m_int = np.ascontiguousarray(m_int, dtype=np.int64)
    return _rho_q_kernel(np.ascontiguousarray(positions, dtype=np.float64),
                         np.linalg.inv(np.asarray(cell, dtype=np.float64)),
                         np.ascontiguousarray(species, dtype=np.int64), int(n_species),
                         m_int, m_int.min(axis=0), m_int.max(axis=0))


def _correlate(rho, window_size, window_step):
    """Window-averaged Re[rho_a(t0) rho_b(t0+t)^*] for all pairs a <= b; dict -> (Nq, W+1)."""
    from scipy import fft as sfft

    n_t, n_s, _ = rho.shape
    n_fft = sfft.next_fast_len(n_t + window_size + 1)
    mask = (np.arange(n_t) % window_step == 0).astype(float)
    r = np.transpose(rho, (1, 2, 0))  # (S, Nq, T)
    full = sfft.fft(r, n=n_fft, axis=-1)
    masked = sfft.fft(r * mask, n=n_fft, axis=-1)
    lags = np.arange(window_size + 1)
    counts = np.ceil((n_t - lags) / window_step)
    out = {}
    for a, b in combinations_with_replacement(range(n_s), 2):
        c = sfft.ifft(np.conj(masked[a]) * full[b], axis=-1)[:, : window_size + 1].real
        if a != b:
            c = c + sfft.ifft(np.conj(masked[b]) * full[a], axis=-1)[:, : window_size + 1].real
        out[(a, b)] = c / counts
    return out


def _psd(acf, dt_fs):
    signal = np.concatenate([acf, acf[:, :0:-1]], axis=1)
    return 2 * np.pi * np.fft.rfftfreq(signal.shape[1], dt_fs), dt_fs * np.fft.rfft(signal, axis=1).real


@dataclass(frozen=True)
class SqwResult(Result):
    """S(Q,w) from MD along a list of Q points.

    q_rlu: (Nq, 3) Q in r.l.u. of ``reference_cell``; q_cart_invA: (Nq, 3) Cartesian Q (1/A, 2 pi
    included); q_distance_invA: (Nq,) path coordinate; energy_meV: (Nw,) hbar w >= 0;
    frequency_THz: (Nw,); omega_rad_fs: (Nw,) dynasor's axis; time_fs: (W+1,) lags;
    sqw: (Nq, Nw) weighted total, weight^2 fs per atom; fqt: (Nq, W+1) weighted F(Q,t);
    partials_sqw: 'A-B' -> (Nq, Nw) unweighted S_AB (dynasor's Sqw_coh_A_B);
    weights: species -> (Nq,) weights used; reference_cell, cell: (3, 3) A.
    """

    q_rlu: np.ndarray
    q_cart_invA: np.ndarray
    q_distance_invA: np.ndarray
    energy_meV: np.ndarray
    frequency_THz: np.ndarray
    omega_rad_fs: np.ndarray
    time_fs: np.ndarray
    sqw: np.ndarray
    fqt: np.ndarray
    partials_sqw: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    weighting: str = "none"
    window: str = "none"
    reference_cell: np.ndarray | None = None
    cell: np.ndarray | None = None
    n_atoms: int = 0

    def plot(self, ax=None, *, harmonic=None, energy_max_meV: float | None = None, vmin=None,
             vmax=None, log_scale: bool = True):
        """Dispersion map (path coordinate vs energy) with a log colour scale.

        ``harmonic``: a :class:`~incipient.spectra.harmonic.HarmonicSqeResult` on the same Q
        points; its mode energies are overlaid as dots (e.g. the TA branch).
        """
        import matplotlib.pyplot as plt
        from matplotlib.colors import LogNorm, Normalize

        fig, ax = (plt.subplots(figsize=(4.5, 4)) if ax is None else (ax.figure, ax))
        z = np.clip(self.sqw.T, 1e-30, None)
        # robust default: Bragg peaks at E = 0 would otherwise set the colour range
        vmax = vmax or 2.0 * float(np.median(z[2:].max(axis=0)))
        vmin = vmin or vmax * 1e-3
        norm = LogNorm(vmin, vmax) if log_scale else Normalize(vmin, vmax)
        mesh = ax.pcolormesh(self.q_distance_invA, self.energy_meV, z, shading="nearest", norm=norm,
                             cmap="viridis")
        fig.colorbar(mesh, ax=ax, label=f"S(Q,E) ({self.weighting})")
        if harmonic is not None:
            ax.plot(self.q_distance_invA, harmonic.frequencies_meV, "w.", ms=2)
        ax.set_ylim(0, energy_max_meV or float(self.energy_meV[-1]))
        ticks = [0, len(self.q_rlu) - 1]
        ax.set_xticks(self.q_distance_invA[ticks],
                      ["(" + ",".join(f"{x + 0.0:g}" for x in np.round(self.q_rlu[i], 3)) + ")" for i in ticks])
        ax.set_xlabel("Q (r.l.u.)")
        ax.set_ylabel("Energy (meV)")
        fig.tight_layout()
        return fig

    @property
    def sqw_per_meV(self) -> np.ndarray:
        """S(Q,E) per meV: sqw / (2 pi hbar), so that the integral over all E (both signs,
        classical symmetry) equals F(Q, t=0); comparable with harmonic ``sqe`` per atom."""
        return self.sqw / (2 * np.pi * HBAR_MEV_FS)


def sqw(frames_or_path, q_rlu, *, reference_cell=None, timestep_fs: float | None = None,
        window_size: int = 500, window_step: int = 1, weighting="xray",
        window: str = "none") -> SqwResult:
    """Coherent S(Q,w) along Q points given in r.l.u. of ``reference_cell`` (paper eq. 6).

    Parameters
    ----------
    frames_or_path : Trajectory, list of ASE Atoms or trajectory file (see ``read_trajectory``).
    q_rlu : (Nq, 3) Q in r.l.u.; every Q must be commensurate with the MD supercell (checked;
        use :func:`incipient.spectra.paths.commensurate_path`).
    reference_cell : (3, 3) A, rows a, b, c of the cell that defines the r.l.u. (e.g. the
        conventional Cmcm cell); default: the MD cell itself.
    window_size : largest time lag in frames (energy resolution 2 pi hbar / ((2W+1) dt)).
    window_step : frames between window starts (1: every frame is a time origin).
    weighting : 'xray', 'neutron', 'none' or dict symbol -> weight.
    window : 'none' (dynasor-identical) or 'hann' (taper F(Q,t) before the FFT).
    """
    from ase.data import chemical_symbols

    from incipient.md.trajectory import read_trajectory

    traj = read_trajectory(frames_or_path, timestep_fs=timestep_fs)
    if traj.n_frames < 3:
        raise ValueError(f"need at least 3 frames, got {traj.n_frames}")
    if not 2 < window_size < traj.n_frames:
        raise ValueError(f"window_size={window_size} must be > 2 and < n_frames={traj.n_frames}")
    if window_step < 1:
        raise ValueError(f"window_step must be >= 1, got {window_step}")
    if window not in ("none", "hann"):
        raise ValueError(f"window={window!r}: use 'none' or 'hann'")
    ref = traj.cell if reference_cell is None else np.asarray(reference_cell, dtype=float)
    q_rlu = np.atleast_2d(np.asarray(q_rlu, dtype=float))
    m_int = check_commensurate(q_rlu, ref, traj.cell)
    q_cart = rlu_to_cartesian(q_rlu, ref)
    dt = float(traj.dt_fs)
    d_e = 2 * np.pi * HBAR_MEV_FS / ((2 * window_size + 1) * dt)
    log.info("S(Q,w): %d Q points, %d frames, dt %.3g fs, energy step %.4g meV, max %.4g meV",
             len(q_rlu), traj.n_frames, dt, d_e, np.pi * HBAR_MEV_FS / dt)

    zs = sorted(set(int(z) for z in traj.numbers))
    symbols = [chemical_symbols[z] for z in zs]
    species = np.searchsorted(zs, traj.numbers)
    rho = density_fourier_components(traj.positions, traj.cell, species, len(zs), m_int)
    corr = _correlate(rho, window_size, window_step)
    w_species = species_weights(symbols, np.linalg.norm(q_cart, axis=1), weighting)
    taper = (0.5 * (1 + np.cos(np.pi * np.arange(window_size + 1) / window_size))
             if window == "hann" else np.ones(window_size + 1))
    partials, fqt_tot, sqw_tot, omega = {}, 0.0, 0.0, None
    for (a, b), c in corr.items():
        f = c / traj.n_atoms
        omega, s = _psd(f * taper, dt)
        partials[f"{symbols[a]}-{symbols[b]}"] = s
        wab = (w_species[a] * w_species[b])[:, None]
        fqt_tot = fqt_tot + wab * f
        sqw_tot = sqw_tot + wab * s
    label = weighting if isinstance(weighting, str) or weighting is None else "custom"
    return SqwResult(
        q_rlu=q_rlu, q_cart_invA=q_cart, q_distance_invA=path_distance(q_rlu, ref),
        energy_meV=omega * HBAR_MEV_FS, frequency_THz=omega / (2 * np.pi) * 1e3, omega_rad_fs=omega,
        time_fs=dt * np.arange(window_size + 1), sqw=sqw_tot, fqt=fqt_tot, partials_sqw=partials,
        weights={s: w_species[i] for i, s in enumerate(symbols)}, weighting=str(label),
        window=window, reference_cell=ref, cell=traj.cell, n_atoms=traj.n_atoms)
