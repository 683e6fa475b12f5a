"""Wigner thermal conductivity kappa = kappa_p + kappa_c with three-phonon and isotope scattering.

Engine: phono3py (``run_thermal_conductivity(transport_type="SMM19")``, the Simoncelli-Marzari-
Mauri Wigner transport equation in the relaxation-time approximation; paper eqs. 4-5). phono3py
returns the band-pair mode-kappa matrix; its diagonal (s = s') is the particle-like
(Peierls-Boltzmann) kappa_p, the off-diagonal part the coherence kappa_c. Own code only for:

* assembling inputs (primitive ase.Atoms, fc2 array or file, fc3 as a phono3py array, an hdf5
  file or a ShengBTE file mapped onto the supercell by :mod:`incipient.lattice.fc3_convert`),
* symmetrising the 3x3 tensors with the crystal point group (spglib rotations, Cartesian
  R K R^T averaged; for the orthorhombic Cmcm cell this leaves a diagonal tensor),
* per-branch and spectral (vs frequency) kappa_p and kappa_c: an off-diagonal pair (s, s')
  is attributed half to w_s and half to w_s' (the kernel is symmetric in s, s'),
* T^alpha fits per direction with :func:`incipient.transport.fits.fit_power_law`.

Directions x, y, z are Cartesian; for a cell whose axes follow the conventional ones (the built-in system) they are the conventional
a, b, c axes. phono3py's adaptive smearing is not available (ShengBTE's ``scalebroad`` has no
phono3py counterpart), so smearing is the linear tetrahedron method or a fixed Gaussian width.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from incipient.results import Result

__all__ = ["WignerResult", "symmetrize_tensor", "wigner_conductivity", "wigner_from_phono3py"]

log = logging.getLogger(__name__)

_VOIGT = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]


def _voigt_to_tensor(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v)
    t = np.empty(v.shape[:-1] + (3, 3))
    for k, (i, j) in enumerate(_VOIGT):
        t[..., i, j] = v[..., k]
        t[..., j, i] = v[..., k]
    return t


def symmetrize_tensor(kappa: np.ndarray, cell: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Average (..., 3, 3) Cartesian tensors over a point group: (1/|G|) sum_R R K R^T.

    ``rotations`` are spglib's integer rotations in fractional coordinates of ``cell`` (rows =
    lattice vectors); the Cartesian rotation is L^T R L^-T. The result is also made symmetric.
    """
    L = np.asarray(cell, dtype=float).T  # columns = lattice vectors
    Linv = np.linalg.inv(L)
    k = 0.5 * (np.asarray(kappa) + np.swapaxes(kappa, -1, -2))
    out = np.zeros_like(k)
    for r in np.asarray(rotations):
        Rc = L @ r @ Linv
        out += np.einsum("ij,...jk,lk->...il", Rc, k, Rc)
    return out / len(rotations)


@dataclass(frozen=True, eq=False)
class WignerResult(Result):
    """Wigner conductivity from phono3py (RTA, 3ph + optional isotope scattering).

    Shapes: nT temperatures, ng irreducible q points, nb bands, nf spectral bins.

    temperatures_K : (nT,)
    kappa_p_W_mK, kappa_c_W_mK : (nT, 3, 3) particle-like and coherence tensors (symmetrised with
        the point group if ``symmetrized``).
    kappa_p_raw_W_mK, kappa_c_raw_W_mK : (nT, 3, 3) as returned by phono3py (before symmetrising).
    mesh : (3,) q mesh.  smearing : "tetrahedron" or "gaussian".  sigma_THz : Gaussian width or NaN.
    is_isotope : whether isotope scattering was included.
    qpoints : (ng, 3) reduced coordinates; weights : (ng,) multiplicities (sum = prod(mesh)).
    frequencies_THz : (ng, nb).
    gamma_THz : (nT, ng, nb) total scattering rate Gamma (3ph + isotope), phono3py convention:
        linewidth (FWHM) = 2 Gamma, lifetime tau = 1 / (4 pi Gamma).
    gamma_isotope_THz : (ng, nb) isotope part (zeros if not included).
    mode_kappa_p_W_mK, mode_kappa_c_W_mK : (nT, ng, nb, 3) xx, yy, zz contributions of each
        (irreducible, weighted) mode; summing over ng and nb gives the diagonal of the raw kappa.
    branch_kappa_p_W_mK, branch_kappa_c_W_mK : (nT, nb, 3) per-branch sums.
    spectral_freq_THz : (nf,) bin centres; spectral_kappa_p/c_W_mK_THz : (nT, nf, 3) densities;
    cumulative_kappa_p/c_W_mK : (nT, nf, 3) kappa from modes below the upper bin edge.
    alpha_p, alpha_c, alpha_tot : (3,) fitted exponents kappa ~ T^alpha per direction (NaN if < 2 T).
    n_atoms_prim : atoms in the primitive cell.  timings_s : {"interaction", "conductivity"}.
    """

    temperatures_K: np.ndarray
    kappa_p_W_mK: np.ndarray
    kappa_c_W_mK: np.ndarray
    kappa_p_raw_W_mK: np.ndarray
    kappa_c_raw_W_mK: np.ndarray
    symmetrized: bool
    mesh: np.ndarray
    smearing: str
    sigma_THz: float
    is_isotope: bool
    qpoints: np.ndarray
    weights: np.ndarray
    frequencies_THz: np.ndarray
    gamma_THz: np.ndarray
    gamma_isotope_THz: np.ndarray
    mode_kappa_p_W_mK: np.ndarray
    mode_kappa_c_W_mK: np.ndarray
    branch_kappa_p_W_mK: np.ndarray
    branch_kappa_c_W_mK: np.ndarray
    spectral_freq_THz: np.ndarray
    spectral_kappa_p_W_mK_THz: np.ndarray
    spectral_kappa_c_W_mK_THz: np.ndarray
    cumulative_kappa_p_W_mK: np.ndarray
    cumulative_kappa_c_W_mK: np.ndarray
    alpha_p: np.ndarray
    alpha_c: np.ndarray
    alpha_tot: np.ndarray
    n_atoms_prim: int
    timings_s: dict

    @property
    def kappa_W_mK(self) -> np.ndarray:
        """(nT, 3, 3) total kappa_p + kappa_c."""
        return self.kappa_p_W_mK + self.kappa_c_W_mK

    def diagonal(self) -> dict[str, np.ndarray]:
        """{"p", "c", "tot"} -> (nT, 3) xx, yy, zz components."""
        d = lambda k: np.diagonal(k, axis1=-2, axis2=-1)  # noqa: E731
        return {"p": d(self.kappa_p_W_mK), "c": d(self.kappa_c_W_mK), "tot": d(self.kappa_W_mK)}

    def table(self) -> str:
        """Plain-text table of the diagonal components per temperature (W/m/K)."""
        d = self.diagonal()
        rows = ["  T(K)   kp_x    kp_y    kp_z    kc_x    kc_y    kc_z   ktot_avg"]
        for i, T in enumerate(self.temperatures_K):
            rows.append(f"{T:6.0f} " + " ".join(f"{v:7.4f}" for v in (*d["p"][i], *d["c"][i]))
                        + f"  {d['tot'][i].mean():7.4f}")
        return "\n".join(rows)

    def plot(self, temperature_index: int = 0):
        """Figure-4-like panels: spectral/cumulative kappa_p and kappa_c (c), kappa(T) per direction (d-f)."""
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
        it = temperature_index
        f = self.spectral_freq_THz
        labels = "xyz"
        for ax, kp, kc, ylabel in (
                (axes[0], self.spectral_kappa_p_W_mK_THz, self.spectral_kappa_c_W_mK_THz, "spectral kappa (W/m/K/THz)"),
                (axes[1], self.cumulative_kappa_p_W_mK, self.cumulative_kappa_c_W_mK, "cumulative kappa (W/m/K)")):
            for j in range(3):
                ax.plot(f, kp[it, :, j], color=f"C{j}", label=f"p {labels[j]}")
                ax.plot(f, kc[it, :, j], color=f"C{j}", ls="--", label=f"c {labels[j]}")
            ax.set_xlabel("frequency (THz)")
            ax.set_ylabel(ylabel)
        axes[0].set_title(f"T = {self.temperatures_K[it]:.0f} K")
        axes[0].legend(fontsize=7, ncol=2)
        ax = axes[2]
        d = self.diagonal()
        T = self.temperatures_K
        for j in range(3):
            ax.plot(T, d["p"][:, j], "o-", color=f"C{j}", label=f"p {labels[j]} a={self.alpha_p[j]:.2f}")
            ax.plot(T, d["c"][:, j], "s--", color=f"C{j}", label=f"c {labels[j]} a={self.alpha_c[j]:.2f}")
        if len(T) > 1:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel("T (K)")
        ax.set_ylabel("kappa (W/m/K)")
        ax.legend(fontsize=6, ncol=2)
        return fig


def _alpha(T: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Exponents per column of k (nT, 3); NaN where fewer than 2 T or non-positive values."""
    out = np.full(k.shape[1], np.nan)
    if len(T) < 2:
        return out
    from incipient.transport.fits import fit_power_law

    for j in range(k.shape[1]):
        if np.all(k[:, j] > 0):
            out[j] = float(fit_power_law(T, k[:, j]).alpha)
    return out


def _spectral(freqs, mode_p, mode_c, bin_THz):
    fmax = float(np.max(freqs))
    edges = np.arange(0.0, fmax + 2 * bin_THz, bin_THz)
    centres = 0.5 * (edges[1:] + edges[:-1])
    nT = mode_p.shape[0]
    sp = np.zeros((nT, len(centres), 3))
    sc = np.zeros_like(sp)
    f = freqs.ravel()
    for it in range(nT):
        for j in range(3):
            sp[it, :, j] = np.histogram(f, edges, weights=mode_p[it, ..., j].ravel())[0]
            sc[it, :, j] = np.histogram(f, edges, weights=mode_c[it, ..., j].ravel())[0]
    return centres, sp / bin_THz, sc / bin_THz, np.cumsum(sp, axis=1), np.cumsum(sc, axis=1)


def wigner_from_phono3py(ph3, mesh, temperatures_K, *, smearing: str = "tetrahedron",
                         sigma_THz: float | None = None, is_isotope: bool = True,
                         symmetrize: bool = True, spectral_bin_THz: float = 0.05,
                         log_level: int = 0) -> WignerResult:
    """Run the SMM19 Wigner RTA conductivity on a Phono3py object that already holds fc2 and fc3."""
    if ph3.fc2 is None or ph3.fc3 is None:
        raise ValueError("Phono3py object needs both fc2 and fc3")
    T = np.atleast_1d(np.asarray(temperatures_K, dtype=float))
    if T.ndim != 1 or np.any(T <= 0):
        raise ValueError(f"temperatures_K must be positive, got {temperatures_K}")
    if smearing == "tetrahedron":
        ph3.sigmas = None
        sigma = float("nan")
    elif smearing == "gaussian":
        if sigma_THz is None or sigma_THz <= 0:
            raise ValueError(f"smearing='gaussian' needs a positive sigma_THz, got {sigma_THz}")
        ph3.sigmas = [float(sigma_THz)]
        sigma = float(sigma_THz)
    elif smearing == "adaptive":
        raise ValueError("smearing='adaptive' is not available in phono3py; use 'tetrahedron' or 'gaussian'")
    else:
        raise ValueError(f"smearing must be 'tetrahedron' or 'gaussian', got {smearing!r}")
    mesh = np.asarray(mesh, dtype=int).reshape(-1)
    if mesh.shape != (3,) or np.any(mesh < 1):
        raise ValueError(f"mesh must be 3 positive integers, got {mesh}")
    ph3.mesh_numbers = mesh
    t0 = time.perf_counter()
    ph3.init_phph_interaction()
    t1 = time.perf_counter()
    ph3.run_thermal_conductivity(temperatures=T, is_isotope=is_isotope, transport_type="SMM19",
                                 log_level=log_level)
    t2 = time.perf_counter()
    tc = ph3.thermal_conductivity
    k_tot = _voigt_to_tensor(np.asarray(tc.kappa)[0])
    k_p = _voigt_to_tensor(np.asarray(tc.kappa_intra)[0])
    k_c = k_tot - k_p
    n_mesh = int(np.prod(mesh))
    mkm = np.asarray(tc.mode_kappa_matrix)[0] / n_mesh  # (nT, ng, nb, nb, 6)
    nb = mkm.shape[2]
    diag = np.arange(nb)
    mode_p = mkm[:, :, diag, diag, :3]  # (nT, ng, nb, 3)
    mode_c = mkm[..., :3].sum(axis=3) - mode_p
    freqs = np.asarray(tc.frequencies)  # (ng, nb) on the irreducible grid points
    gamma = np.asarray(tc.gamma)[0]
    g_iso = np.zeros(freqs.shape)
    if is_isotope and tc.gamma_isotope is not None:
        g_iso = np.asarray(tc.gamma_isotope)[0]
        gamma = gamma + g_iso[None]
    if symmetrize:
        rots = ph3.primitive_symmetry.symmetry_operations["rotations"]
        cell = np.asarray(ph3.primitive.cell)
        kp_s, kc_s = symmetrize_tensor(k_p, cell, rots), symmetrize_tensor(k_c, cell, rots)
    else:
        kp_s, kc_s = k_p, k_c
    centres, sp, sc, cp, cc = _spectral(freqs, mode_p, mode_c, spectral_bin_THz)
    dg = lambda k: np.diagonal(k, axis1=-2, axis2=-1)  # noqa: E731
    qpoints = np.asarray(tc.qpoints)
    res = WignerResult(
        temperatures_K=T, kappa_p_W_mK=kp_s, kappa_c_W_mK=kc_s, kappa_p_raw_W_mK=k_p, kappa_c_raw_W_mK=k_c,
        symmetrized=bool(symmetrize), mesh=mesh, smearing=smearing, sigma_THz=sigma, is_isotope=bool(is_isotope),
        qpoints=qpoints, weights=np.asarray(tc.grid_weights), frequencies_THz=freqs, gamma_THz=gamma,
        gamma_isotope_THz=g_iso, mode_kappa_p_W_mK=mode_p, mode_kappa_c_W_mK=mode_c,
        branch_kappa_p_W_mK=mode_p.sum(axis=1), branch_kappa_c_W_mK=mode_c.sum(axis=1),
        spectral_freq_THz=centres, spectral_kappa_p_W_mK_THz=sp, spectral_kappa_c_W_mK_THz=sc,
        cumulative_kappa_p_W_mK=cp, cumulative_kappa_c_W_mK=cc,
        alpha_p=_alpha(T, dg(kp_s)), alpha_c=_alpha(T, dg(kc_s)), alpha_tot=_alpha(T, dg(kp_s + kc_s)),
        n_atoms_prim=len(ph3.primitive), timings_s={"interaction": t1 - t0, "conductivity": t2 - t1},
    )
    log.info("Wigner kappa on mesh %s (%s): interaction %.1f s, conductivity %.1f s",
             mesh, smearing, t1 - t0, t2 - t1)
    return res


def _load_fc2(fc2) -> np.ndarray:
    if isinstance(fc2, str | os.PathLike):
        from incipient.lattice.phonopy_io import read_fc2

        return read_fc2(fc2)
    return np.asarray(fc2, dtype=float)


def _load_fc3(fc3, ph3) -> tuple[np.ndarray, Any]:
    from incipient.lattice.fc3_convert import shengbte_fc3_to_phono3py
    from incipient.lattice.shengbte import ShengBTEFC3, read_shengbte_fc3

    if isinstance(fc3, str | os.PathLike):
        path = Path(fc3)
        if path.suffix in (".hdf5", ".h5"):
            from incipient.lattice.phonopy_io import read_fc3_hdf5

            return read_fc3_hdf5(path), None
        fc3 = read_shengbte_fc3(path)
    if isinstance(fc3, ShengBTEFC3):
        conv = shengbte_fc3_to_phono3py(fc3, ph3)
        log.info("ShengBTE fc3 mapped: %d triplets, sum-rule drift %.2g eV/A^3",
                 fc3.n_blocks, conv.drift_before_eV_A3)
        return conv.fc3, conv.nonzero_indices
    return np.asarray(fc3, dtype=float), None


def wigner_conductivity(primitive, fc2, fc3, *, supercell_matrix, phonon_supercell_matrix=None,
                        mesh=(8, 8, 8), temperatures_K=(300.0,), smearing: str = "tetrahedron",
                        sigma_THz: float | None = None, is_isotope: bool = True, symmetrize: bool = True,
                        fc3_nonzero_indices: np.ndarray | None = None, fc2_atoms=None, symprec: float = 1e-5,
                        spectral_bin_THz: float = 0.05, cutoff_frequency_THz: float = 0.05,
                        log_level: int = 0) -> WignerResult:
    """Wigner conductivity of ``primitive`` (ase.Atoms with masses) from given force constants.

    fc2 : array (full (N2,N2,3,3) or compact (n_prim,N2,3,3)) for the phonon supercell, or a path
        to FORCE_CONSTANTS / FORCE_CONSTANTS_2ND / fc2.hdf5 -- the lead's 300 K effective fc2 plugs in here.
    fc3 : compact/full phono3py array, fc3.hdf5 path, ShengBTE FORCE_CONSTANTS_3RD path or a
        :class:`~incipient.lattice.shengbte.ShengBTEFC3` (mapped onto ``supercell_matrix``).
    fc3_nonzero_indices : phono3py's (n_prim, N, N) byte mask of the atom triplets its kernel
        visits; None: those present in a ShengBTE file, else the nonzero blocks of the array
        (:func:`incipient.transport.threephonon.fc3_sparsity_mask`; exact, the others are zero).
    supercell_matrix : fc3 supercell (3 ints or 3x3); phonon_supercell_matrix : fc2 supercell
        (default: the same).
    fc2_atoms : the supercell (ase.Atoms) whose atom order a full fc2 uses, e.g. the MD cell
        ``primitive.repeat((3, 3, 3))`` of a hiPhive fit; the fc2 is then reordered to phonopy's
        supercell order. Leave None if fc2 is already in phonopy's order.
    cutoff_frequency_THz : modes below it take no part (as in
        :func:`incipient.transport.fourphonon.mesh_phonons`). phono3py's own default, 1e-4 THz, lets
        Gamma acoustic modes of a fitted fc2 whose sum rule holds to ~1e-4 THz in: with vanishing
        linewidths their coherence terms diverge (seen: kappa_c of 100-450 W/m/K for a CHGNet fc2).
    """
    from incipient.lattice.phonons import make_phono3py
    from incipient.lattice.phonopy_io import reorder_fc2, supercell_permutation

    ph3 = make_phono3py(primitive, supercell_matrix, phonon_supercell_matrix, symprec=symprec, log_level=0,
                        cutoff_frequency_THz=cutoff_frequency_THz)
    fc2_arr = _load_fc2(fc2)
    if fc2_atoms is not None:
        fc2_arr = reorder_fc2(fc2_arr, supercell_permutation(fc2_atoms, ph3.phonon_supercell))
    n2 = len(ph3.phonon_supercell)
    if fc2_arr.shape[1:] != (n2, 3, 3) or fc2_arr.shape[0] not in (n2, len(primitive)):
        raise ValueError(f"fc2 shape {fc2_arr.shape} does not fit the {n2}-atom phonon supercell")
    ph3.fc2 = np.ascontiguousarray(fc2_arr)
    fc3_arr, nz = _load_fc3(fc3, ph3)
    if fc3_nonzero_indices is not None:
        nz = fc3_nonzero_indices
    n_sc = len(ph3.supercell)
    if fc3_arr.shape[1:] != (n_sc, n_sc, 3, 3, 3):
        raise ValueError(f"fc3 shape {fc3_arr.shape} does not fit the {n_sc}-atom supercell")
    ph3.fc3 = np.ascontiguousarray(fc3_arr)
    if nz is None:  # phono3py's kernel skips the all-zero atom triplets (exact: they contribute 0)
        from incipient.transport.threephonon import fc3_sparsity_mask

        nz = fc3_sparsity_mask(ph3.fc3)
    ph3.fc3_nonzero_indices = np.ascontiguousarray(nz, dtype="byte")
    return wigner_from_phono3py(ph3, mesh, temperatures_K, smearing=smearing, sigma_THz=sigma_THz,
                                is_isotope=is_isotope, symmetrize=symmetrize,
                                spectral_bin_THz=spectral_bin_THz, log_level=log_level)
