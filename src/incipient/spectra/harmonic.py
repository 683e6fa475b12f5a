"""Harmonic one-phonon S(Q,E) from second-order force constants (paper eq. 2), phonons from phonopy.

Wraps phonopy for frequencies, eigenvectors (``run_qpoints``) and the thermal displacement
matrices of the Debye-Waller factor (``ThermalDisplacementMatrices`` on a full, unsymmetrised
mesh); the structure factor, Bose factors and energy map are own code so that MD and harmonic
maps share Q paths (r.l.u. of any reference cell), weights and energy axes.

Per mode s at Q (eigenvectors taken at Q itself, so no extra phase factor is needed in
phonopy's gauge):

    F_s(Q) = sum_d w_d(|Q|) exp(-W_d(Q)) (Q . e_ds) / sqrt(M_d),  W_d = Q . U_d . Q / 2,
    I_s^loss(Q) = hbar / (2 omega_s) |F_s|^2 (n_s + 1)   at  E = +hbar omega_s (phonon creation),
    I_s^gain(Q) = hbar / (2 omega_s) |F_s|^2 n_s         at  E = -hbar omega_s (annihilation),

with U_d the thermal displacement matrix (A^2), M_d in amu, n_s the Bose factor. Intensities
are in weight^2 (electrons^2 for X-rays, fm^2 for neutrons) per primitive cell:
hbar/(2 M omega) is expressed in A^2 so Q.u is dimensionless. The relation to phonopy's
``DynamicStructureFactor`` (m^2/J with b in A) is I = h * 1e32 * S_phonopy (tested).
The map ``sqe`` places each mode as a Gaussian of ``fwhm_meV`` (per meV) on ``energy_meV``.

User yaml files are opened with :func:`load_phonopy`, never with ``phonopy.load(path)``
directly: phonopy parses yaml with PyYAML's full loader, which runs tags such as
``!!python/object/apply:os.system``. The bytes are first parsed with ``yaml.safe_load`` (plain
data only; anything it rejects is refused, naming the file) and only those checked bytes are
handed to phonopy.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from incipient.errors import FileFormatError
from incipient.results import Result
from incipient.spectra.form_factors import species_weights
from incipient.spectra.paths import path_distance, rlu_to_cartesian
from incipient.units import THz_to_meV, amu_kg, bose_einstein, hbar_Js, kB_eV_K


def _hbar_over_2m_omega_A2_THz() -> float:
    """hbar / (2 * 1 amu * 2 pi * 1 THz) in A^2 (divide by nu in THz, M in amu)."""
    return hbar_Js / (2.0 * amu_kg * 2.0 * np.pi * 1e12) * 1e20


def bose(freq_THz, temperature_K: float) -> np.ndarray:
    """Bose-Einstein occupation at frequency nu (THz), 0 at T = 0."""
    e = np.asarray(freq_THz, dtype=float) * THz_to_meV * 1e-3
    if temperature_K <= 0:
        return np.zeros_like(e)
    return bose_einstein(e / (kB_eV_K * temperature_K))


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed for .gz / .xz / .lzma / .bz2 (as phonopy allows)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            import gzip

            return gzip.decompress(path.read_bytes())
        if suffix in (".xz", ".lzma"):
            import lzma

            return lzma.decompress(path.read_bytes())
        if suffix == ".bz2":
            import bz2

            return bz2.decompress(path.read_bytes())
        return path.read_bytes()
    except OSError:
        raise
    except Exception as exc:  # a corrupt archive (gzip.BadGzipFile is an OSError; lzma.LZMAError is not)
        raise FileFormatError(f"cannot decompress ({type(exc).__name__}: {exc})", source=path) from exc


def safe_yaml(path) -> tuple[object, bytes]:
    """(data, bytes) of a yaml file parsed with ``yaml.safe_load``; FileFormatError naming the
    file for any YAML that is not plain data (Python object tags, unknown tags, bad syntax)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    raw = _read_bytes(path)
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise FileFormatError(f"refused: not plain YAML data{where}: {problem}; a phonopy yaml needs no "
                              "tags that construct Python objects", source=path) from None
    return data, raw


def load_phonopy(path, **kwargs):
    """``phonopy.load`` of a phonopy yaml file that cannot execute code (see module docstring).

    ``kwargs`` go to ``phonopy.load`` (e.g. ``force_constants_filename``). Raises
    FileFormatError naming the file for unsafe or unreadable yaml, or a yaml without a
    crystal structure.
    """
    import phonopy

    path = Path(path)
    data, raw = safe_yaml(path)
    if not isinstance(data, dict) or not any(k in data for k in ("unit_cell", "primitive_cell", "supercell")):
        raise FileFormatError("not a phonopy yaml file (no unit_cell, primitive_cell or supercell)", source=path)
    try:
        return phonopy.load(io.BytesIO(raw), **kwargs)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise FileFormatError(f"not a usable phonopy yaml ({type(exc).__name__}: {exc})", source=path) from exc


def make_phonopy(unitcell, supercell_matrix, fc2, primitive_matrix=None):
    """Phonopy object from an ASE ``unitcell``, a supercell matrix and fc2 (full or compact)."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    pa = PhonopyAtoms(symbols=unitcell.get_chemical_symbols(), cell=unitcell.cell.array,
                      scaled_positions=unitcell.get_scaled_positions(),
                      masses=unitcell.get_masses())
    ph = Phonopy(pa, supercell_matrix=supercell_matrix, primitive_matrix=primitive_matrix)
    fc2 = np.asarray(fc2, dtype=float)
    n_s = len(ph.supercell)
    if fc2.shape not in ((n_s, n_s, 3, 3), (len(ph.primitive), n_s, 3, 3)):
        raise ValueError(f"fc2 has shape {fc2.shape}; expected ({n_s}, {n_s}, 3, 3) or "
                         f"({len(ph.primitive)}, {n_s}, 3, 3) for this supercell")
    ph.force_constants = fc2
    return ph


@dataclass(frozen=True)
class HarmonicSqeResult(Result):
    """Harmonic one-phonon S(Q,E).

    q_rlu: (Nq, 3) r.l.u. of reference_cell; q_cart_invA: (Nq, 3); q_distance_invA: (Nq,);
    frequencies_THz, frequencies_meV: (Nq, nb); intensity_loss, intensity_gain: (Nq, nb)
    in weight^2 per primitive cell (E > 0: probe loses energy); energy_meV: (NE,);
    sqe: (Nq, NE) per meV, both sides, Gaussians of fwhm_meV; debye_waller_2W: (Nq, n_atoms).
    """

    q_rlu: np.ndarray
    q_cart_invA: np.ndarray
    q_distance_invA: np.ndarray
    frequencies_THz: np.ndarray
    frequencies_meV: np.ndarray
    intensity_loss: np.ndarray
    intensity_gain: np.ndarray
    energy_meV: np.ndarray
    sqe: np.ndarray
    debye_waller_2W: np.ndarray
    temperature_K: float
    fwhm_meV: float
    weighting: str = "xray"

    def plot(self, ax=None, *, log_scale: bool = True, show_modes: bool = True, energy_max_meV: float | None = None,
             vmax_percentile: float | None = None):
        """Map of S(Q,E) with log colours; mode energies overlaid.

        energy_max_meV: top of the energy axis (default: the map's). vmax_percentile: the colour
        scale ends at this percentile of the map's values (e.g. 99.5) instead of its maximum, so
        the acoustic intensity next to a Bragg point does not hide the rest; 4 decades shown.
        """
        import matplotlib.pyplot as plt
        from matplotlib.colors import LogNorm, Normalize

        fig, ax = (plt.subplots(figsize=(4.5, 4)) if ax is None else (ax.figure, ax))
        z = np.clip(self.sqe.T, 1e-30, None)
        vmax = float(z.max()) if vmax_percentile is None else float(np.percentile(z, vmax_percentile))
        norm = LogNorm(vmax * 1e-4, vmax) if log_scale else Normalize(0, vmax)
        m = ax.pcolormesh(self.q_distance_invA, self.energy_meV, z, shading="nearest", norm=norm,
                          cmap="viridis")
        fig.colorbar(m, ax=ax, label=f"harmonic S(Q,E) ({self.weighting}) / meV")
        if show_modes:
            ax.plot(self.q_distance_invA, self.frequencies_meV, "w-", lw=0.5)
        ax.set_ylim(self.energy_meV[0], self.energy_meV[-1] if energy_max_meV is None else energy_max_meV)
        ax.set_xlabel("|Q - Q0| (1/A)")
        ax.set_ylabel("Energy (meV)")
        fig.tight_layout()
        return fig


def harmonic_sqe(phonon, q_rlu, *, temperature_K: float, reference_cell=None, weighting="xray",
                 energy_meV=None, fwhm_meV: float = 0.5, mesh=(8, 8, 8),
                 freq_min_THz: float = 1e-3) -> HarmonicSqeResult:
    """One-phonon S(Q,E) (paper eq. 2) for energy loss and gain on Q points in r.l.u.

    Parameters
    ----------
    phonon : phonopy.Phonopy with force constants set, or a tuple
        ``(ase_unitcell, supercell_matrix, fc2)`` (see :func:`make_phonopy`).
    q_rlu : (Nq, 3) Q in r.l.u. of ``reference_cell`` (default: phonopy's unit cell).
    temperature_K : Bose factors and Debye-Waller factors.
    weighting : 'xray' (Waasmaier-Kirfel f(|Q|)), 'neutron', 'none', dict or callable.
    energy_meV : energy grid of the map (default: +-1.1 x the highest mode, step
        min(0.05, fwhm/10) meV).
    fwhm_meV : Gaussian width used to draw modes on the map.
    mesh : q mesh for the Debye-Waller thermal displacements (full mesh, no symmetry).
    freq_min_THz : modes at or below this frequency are left out (acoustic modes at Gamma).
    """
    from phonopy.phonon.thermal_displacement import ThermalDisplacementMatrices

    if isinstance(phonon, tuple | list):
        phonon = make_phonopy(*phonon)
    if phonon.force_constants is None:
        raise ValueError("the Phonopy object has no force constants set")
    if not (np.isfinite(temperature_K) and temperature_K >= 0):
        raise ValueError(f"temperature_K must be a finite number >= 0, got {temperature_K}")
    if not (np.isfinite(fwhm_meV) and fwhm_meV > 0):
        raise ValueError(f"fwhm_meV must be a finite number > 0, got {fwhm_meV}")
    ref = np.asarray(phonon.unitcell.cell if reference_cell is None else reference_cell, float)
    q_rlu = np.atleast_2d(np.asarray(q_rlu, dtype=float))
    q_cart = rlu_to_cartesian(q_rlu, ref)
    prim = phonon.primitive
    q_prim = q_cart @ np.asarray(prim.cell).T / (2 * np.pi)
    phonon.run_qpoints(q_prim, with_eigenvectors=True)
    qp = phonon.qpoints
    freqs = np.asarray(qp.frequencies)  # (Nq, nb) THz
    eig = np.asarray(qp.eigenvectors)  # (Nq, 3na, nb)

    phonon.run_mesh(mesh, is_mesh_symmetry=False, with_eigenvectors=True)
    td = ThermalDisplacementMatrices(phonon.mesh, freq_min=freq_min_THz)
    td.temperatures = np.array([float(temperature_K)])
    td.run()
    u_mat = np.asarray(td.thermal_displacement_matrices[0])  # (na, 3, 3) A^2

    symbols = list(prim.symbols)
    masses = np.asarray(prim.masses)
    uniq = sorted(set(symbols), key=symbols.index)
    w_sp = species_weights(uniq, np.linalg.norm(q_cart, axis=1), weighting)  # (nsp, Nq)
    w_at = w_sp[[uniq.index(s) for s in symbols]]  # (na, Nq)
    two_w = np.einsum("qi,dij,qj->qd", q_cart, u_mat, q_cart)  # 2W_d
    na = len(symbols)
    e3 = eig.reshape(len(q_rlu), na, 3, -1)
    qe = np.einsum("qi,qdis->qds", q_cart, e3)
    amp = (w_at.T * np.exp(-0.5 * two_w) / np.sqrt(masses)[None, :])[:, :, None] * qe
    f2 = np.abs(amp.sum(axis=1)) ** 2  # (Nq, nb)
    valid = freqs > freq_min_THz
    nu = np.where(valid, freqs, 1.0)
    n = bose(nu, temperature_K)
    pref = _hbar_over_2m_omega_A2_THz() / nu * f2
    loss = np.where(valid, pref * (n + 1), 0.0)
    gain = np.where(valid, pref * n, 0.0)

    e_modes = freqs * THz_to_meV
    if energy_meV is None:
        e_top = 1.1 * max(float(e_modes.max()), 1.0) + 2 * fwhm_meV
        step = min(0.05, fwhm_meV / 10)
        e_grid = step * np.arange(-np.ceil(e_top / step), np.ceil(e_top / step) + 1)
    else:
        e_grid = np.asarray(energy_meV, float)
    sig = fwhm_meV / (2 * np.sqrt(2 * np.log(2)))
    gauss = lambda x0: np.exp(-0.5 * ((e_grid[None, None, :] - x0[..., None]) / sig) ** 2) / (  # noqa: E731
        sig * np.sqrt(2 * np.pi))
    sqe = (loss[..., None] * gauss(e_modes)).sum(axis=1) + (gain[..., None] * gauss(-e_modes)).sum(axis=1)
    label = weighting if isinstance(weighting, str) or weighting is None else "custom"
    return HarmonicSqeResult(
        q_rlu=q_rlu, q_cart_invA=q_cart, q_distance_invA=path_distance(q_rlu, ref),
        frequencies_THz=freqs, frequencies_meV=e_modes, intensity_loss=loss, intensity_gain=gain,
        energy_meV=e_grid, sqe=sqe, debye_waller_2W=two_w, temperature_K=float(temperature_K),
        fwhm_meV=float(fwhm_meV), weighting=str(label))


def sum_degenerate(frequencies_THz, intensities, *, tol_THz: float = 1e-4) -> list[list[tuple[float, float]]]:
    """Per Q: list of (frequency, summed intensity) over groups of degenerate modes."""
    out = []
    for f, i in zip(np.atleast_2d(frequencies_THz), np.atleast_2d(intensities), strict=True):
        groups, cur_f, cur_i = [], f[0], i[0]
        for fk, ik in zip(f[1:], i[1:], strict=True):
            if abs(fk - cur_f) < tol_THz:
                cur_i += ik
            else:
                groups.append((float(cur_f), float(cur_i)))
                cur_f, cur_i = fk, ik
        groups.append((float(cur_f), float(cur_i)))
        out.append(groups)
    return out
