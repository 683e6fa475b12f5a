"""X-ray structure factors of a refined CIF model with harmonic and third-order anharmonic ADPs.

Own numpy code (gemmi's structure-factor calculators know no Gram-Charlier terms). Form factors
are the International Tables Vol. C Table 6.1.1.4 four-Gaussian fits (IT92, the table Jana
refined with) from :mod:`incipient.spectra.form_factors` (``table="it92"``); anomalous
dispersion f', f'' are taken from the CIF's ``_atom_type_scat_dispersion_*`` (as Jana used them).

Conventions (Jana2020 / Kuhs): for an atom at fractional x with fractional displacement covariance
beta/(2 pi^2), the temperature factor is

    T(h) = exp(-2 pi^2 h^T U* h) * [1 + (2 pi i)^3 / 3! * C^{jkl} h_j h_k h_l]

with U*_ij = U^ij a*_i a*_j and C^{jkl} dimensionless; Jana writes C^{jkl} multiplied by 10^3,
so ``C = 1e-3 * C_jana`` (checked against the F^2_calc that Jana wrote into the same CIF, see
tests/experiment/test_structure_factors_cif.py). F(h) = sum_atoms occ f T exp(2 pi i h.x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.experiment.cif import CifModel, expand_sites
from incipient.spectra.form_factors import xray_form_factor_s2

JANA_C_SCALE = 1e-3
_C_INDEX = ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1), (0, 1, 2), (0, 2, 2), (1, 1, 1), (1, 1, 2), (1, 2, 2), (2, 2, 2))


def form_factor(element: str, stol_invA: np.ndarray) -> np.ndarray:
    """Neutral-atom f0(sin(theta)/lambda) in electrons (IT92 four-Gaussian fit)."""
    return xray_form_factor_s2(element, np.asarray(stol_invA, dtype=float) ** 2, table="it92")


def third_order_tensor(C10: np.ndarray) -> np.ndarray:
    """Full symmetric (3, 3, 3) tensor from the 10 independent components (111, 112, ..., 333)."""
    import itertools

    T = np.zeros((3, 3, 3))
    for val, idx in zip(C10, _C_INDEX, strict=True):
        for perm in set(itertools.permutations(idx)):
            T[perm] = val
    return T


@dataclass(frozen=True)
class ExpandedAtom:
    """One atom of the full cell: element, frac (3,), occupancy, U* (3, 3) fractional covariance
    (dimensionless, U*_ij = U^ij a*_i a*_j), C (3, 3, 3) dimensionless third cumulant or None."""

    element: str
    frac: np.ndarray
    occupancy: float
    Ustar: np.ndarray
    C: np.ndarray | None


def expanded_atoms(model: CifModel) -> list[ExpandedAtom]:
    """All atoms of the cell with their ADP tensors rotated by the generating operation."""
    rec = np.linalg.inv(model.lattice).T
    astar = np.linalg.norm(rec, axis=1)
    out = []
    for i, frac, rot in expand_sites(model):
        site = model.sites[i]
        U0 = site.U_aniso_A2 * np.outer(astar, astar)
        U = rot @ U0 @ rot.T
        C = None
        if site.C_jana is not None and np.any(site.C_jana != 0):
            C0 = third_order_tensor(JANA_C_SCALE * site.C_jana)
            C = np.einsum("ia,jb,kc,abc->ijk", rot, rot, rot, C0)
        out.append(ExpandedAtom(site.element, frac, site.occupancy, U, C))
    return out


def stol(model: CifModel, hkl: np.ndarray) -> np.ndarray:
    """sin(theta)/lambda in 1/A for Miller indices ``hkl`` (N, 3)."""
    rec = np.linalg.inv(model.lattice).T
    return 0.5 * np.linalg.norm(np.asarray(hkl, float) @ rec, axis=1)


def structure_factors(
    model: CifModel,
    hkl: np.ndarray,
    *,
    anomalous: bool = True,
    anharmonic: bool = True,
    dispersion_real: bool | None = None,
) -> np.ndarray:
    """Complex F(hkl) (N,) in electrons of the CIF model.

    ``anomalous`` adds f' + i f'' (CIF values); ``dispersion_real`` (default: same as
    ``anomalous``) controls f' alone. ``anharmonic`` switches the Jana C^{jkl} terms.
    """
    hkl = np.asarray(hkl, dtype=float).reshape(-1, 3)
    s = stol(model, hkl)
    use_fp = anomalous if dispersion_real is None else dispersion_real
    f_cache: dict[str, np.ndarray] = {}
    F = np.zeros(len(hkl), dtype=complex)
    for atom in expanded_atoms(model):
        if atom.element not in f_cache:
            f = form_factor(atom.element, s).astype(complex)
            fp, fpp = model.dispersion.get(atom.element, (0.0, 0.0))
            if use_fp:
                f = f + fp
            if anomalous:
                f = f + 1j * fpp
            f_cache[atom.element] = f
        T = np.exp(-2.0 * np.pi**2 * np.einsum("ni,ij,nj->n", hkl, atom.Ustar, hkl))
        if anharmonic and atom.C is not None:
            cubic = np.einsum("ijk,ni,nj,nk->n", atom.C, hkl, hkl, hkl)
            T = T * (1.0 + (2j * np.pi) ** 3 / 6.0 * cubic)
        F += atom.occupancy * f_cache[atom.element] * T * np.exp(2j * np.pi * hkl @ atom.frac)
    return F
