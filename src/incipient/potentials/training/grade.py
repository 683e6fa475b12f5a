"""Extrapolation grade of MTP configurations: D-optimal (MaxVol) active set of the linear basis.

Own code after Podryabinkin & Shapeev, Comput. Mater. Sci. 140, 171 (2017), the grade MLIP-2's
active learning uses. Each configuration x gives a row b(x) = dE/d(linear parameters) / N: the
species counts and the basis functions summed over its atoms, per atom (so supercells of one
structure have one row). MaxVol (Goreinov et al. 2010) picks the m rows of the training rows whose
m x m matrix A has (locally) maximal |det A|; the grade of any configuration is

    gamma(x) = max_j |(b(x) A^-1)_j|

so the active set has gamma = 1, every training configuration gamma <= 1 + tol, and gamma > 1
flags extrapolation (MLIP-2 selects at gamma > 2 and stops MD at gamma > 10 by default).
Columns that are linearly dependent on the training set (e.g. species counts of one
composition) are dropped first (pivoted QR), so m = the rank of the training rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.errors import InputError


def basis_rows(model, atoms_list, species) -> np.ndarray:
    """(n_configs, S + n_scalar): species counts and summed basis functions, divided by N."""
    import torch

    from incipient.potentials.training import torch_mtp as tm

    st = tm.structure_of(model)
    z = {s: k for k, s in enumerate(species)}
    try:
        types = [np.array([z[s] for s in a.get_chemical_symbols()]) for a in atoms_list]
    except KeyError as exc:
        raise InputError(f"element {exc.args[0]} is not in the species list {list(species)}") from None
    chunks = tm.prepare(list(atoms_list), types, st, cache_bytes=0)
    p = tm.params_of(model)
    rows = []
    eye = torch.eye(st.n_scalar, dtype=torch.float64)[:1]
    with torch.no_grad():
        for ch in chunks:
            basis = tm.evaluate(ch, st, p, forces=False, seeds=eye)["basis"].numpy()
            counts = np.zeros((ch.n_configs, st.species_count))
            np.add.at(counts, (ch.config_of_atom.numpy(), ch.types.numpy()), 1.0)
            rows.append(np.hstack([counts, basis]) / ch.natoms.numpy()[:, None])
    return np.vstack(rows)


@dataclass
class ActiveSet:
    """MaxVol active set: ``indices`` into the training configurations, the kept ``columns``."""

    model: object
    species: tuple
    indices: np.ndarray
    columns: np.ndarray
    inverse: np.ndarray  # A^-1 (m x m) on the kept columns
    column_scale: np.ndarray
    swaps: int

    def grade_rows(self, rows: np.ndarray) -> np.ndarray:
        r = rows[:, self.columns] / self.column_scale
        return np.abs(r @ self.inverse).max(axis=1)

    def grade(self, atoms_list) -> np.ndarray:
        """Extrapolation grade gamma of each configuration."""
        return self.grade_rows(basis_rows(self.model, atoms_list, self.species))


def select_active_set(model, atoms_list, species, *, tol: float = 1e-3, max_swaps: int = 10000,
                      rank_rtol: float = 1e-10) -> ActiveSet:
    """D-optimal active set of ``atoms_list`` (the training configurations) for ``model``."""
    import scipy.linalg

    B = basis_rows(model, atoms_list, tuple(species))
    n, m0 = B.shape
    scale = np.sqrt((B**2).mean(axis=0))
    scale[scale == 0] = 1.0
    Bs = B / scale
    _, R, piv = scipy.linalg.qr(Bs, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    rank = int((d > rank_rtol * d[0]).sum()) if d.size else 0
    if rank == 0:
        raise InputError("the basis is zero on every configuration")
    cols = np.sort(piv[:rank])
    Bc = Bs[:, cols]
    # initial rows: pivoted QR of B^T picks well-conditioned rows
    _, _, rpiv = scipy.linalg.qr(Bc.T, mode="economic", pivoting=True)
    idx = np.array(rpiv[:rank])
    Ainv = np.linalg.inv(Bc[idx])
    swaps = 0
    while swaps < max_swaps:
        C = Bc @ Ainv
        i, j = np.unravel_index(np.argmax(np.abs(C)), C.shape)
        if abs(C[i, j]) <= 1.0 + tol:
            break
        # replace row j of the active set by row i (Sherman-Morrison on A^-1)
        u = Bc[i] - Bc[idx[j]]
        Ainv_u = u @ Ainv  # row vector
        denom = 1.0 + Ainv_u[j]
        Ainv = Ainv - np.outer(Ainv[:, j], Ainv_u) / denom
        idx[j] = i
        swaps += 1
        if swaps % 50 == 0:
            Ainv = np.linalg.inv(Bc[idx])
    Ainv = np.linalg.inv(Bc[idx])
    return ActiveSet(model=model, species=tuple(species), indices=np.sort(idx), columns=cols, inverse=Ainv,
                     column_scale=scale[cols], swaps=swaps)
