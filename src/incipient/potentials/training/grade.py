"""Extrapolation grade of MTP configurations and atoms: D-optimal (MaxVol) active sets of the linear basis.

Own code after Podryabinkin & Shapeev, Comput. Mater. Sci. 140, 171 (2017) and Podryabinkin et
al., J. Chem. Phys. 159, 084112 (2023) (MLIP-2's grades). The linear parameters of an MTP are the
species coefficients xi_t and the moment coefficients theta_a (E_i = xi[t_i] + theta . B_i), so
the derivative of a site energy with respect to them is the row

    b_i = dE_i / d(xi, theta) = (one-hot(t_i), B_i)          (per atom, "neighbourhood")
    b(x) = (1/N) sum_i b_i = dE/d(xi, theta) / N              (per configuration)

(the 1/N makes supercells of one structure one row). Two grades, ``mode``:

* ``"configuration"`` (MLIP-2's default, energy weight 1): one row per training configuration;
* ``"atom"`` (MLIP-2's neighbourhood selection, site-energy weight 1): one row per atom of every
  training configuration; the per-atom grade of a configuration is the maximum over its atoms.
  From a few seed configurations this is the usable one: 10 configurations give 10 rows, fewer
  than the ~30 linear parameters of a level-12 MTP, while their 240 neighbourhoods span them.

MaxVol (Goreinov et al. 2010) picks the m training rows whose m x m matrix A has (locally)
maximal |det A|; the grade of any row b is

    gamma(b) = max_j |(b A^-1)_j|

so active rows have gamma = 1, every training row gamma <= 1 + tol, and gamma > 1 flags
extrapolation (MLIP-2 selects at gamma > 2 and stops MD at gamma > 10 by default). Columns that
are linearly dependent on the training rows (e.g. species counts of one composition) are dropped
first (pivoted QR), so m = the rank of the training rows; a new row's part along dropped columns
is not graded. Columns are scaled by their RMS over the training rows for conditioning (the grade
does not depend on that scale).

:meth:`ActiveSet.select` is MLIP-2's ``select-add``: candidate rows are swapped into the active
set one at a time (largest |b A^-1|_j first, A^-1 updated by Sherman-Morrison) while some
candidate row has a grade above ``swap_threshold``; the selected configurations are those that
own a row of the final active set. Rows are computed by :func:`site_rows` in numpy (no torch):
the same basic moments and products as :mod:`incipient.potentials.mtp_numpy`, which is cheap
enough to grade during MD. :func:`basis_rows` is the torch path (parity in the tests).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from incipient.errors import InputError

MODES = ("configuration", "atom")


def basis_rows(model, atoms_list, species) -> np.ndarray:
    """(n_configs, S + n_scalar): species counts and summed basis functions, divided by N (torch)."""
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


def _tables(model):
    from incipient.potentials.mtp_tables import build_tables

    return build_tables(model)


def site_rows(model, atoms, species, *, tables=None) -> np.ndarray:
    """(N, S + n_scalar) rows b_i = (one-hot(t_i), B_i) of each atom of ``atoms`` (numpy).

    ``B_i`` are the MTP's scalar basis functions (the moments the ``alpha_moment_mapping`` names)
    of atom i's neighbourhood; ``tables``: ``build_tables(model)`` to reuse (MD).
    """
    from incipient.potentials.mtp_numpy import radial_functions
    from incipient.potentials.neighbors import neighbor_list

    t = tables if tables is not None else _tables(model)
    z = {s: k for k, s in enumerate(species)}
    try:
        types = np.array([z[s] for s in atoms.get_chemical_symbols()], dtype=np.int64)
    except KeyError as exc:
        raise InputError(f"element {exc.args[0]} is not in the species list {list(species)}") from None
    n = len(atoms)
    offsets, nbr, vecs = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, t.max_dist)
    centre = np.repeat(np.arange(n), np.diff(offsets))
    nbr = np.asarray(nbr)
    vecs = np.asarray(vecs)
    r = np.linalg.norm(vecs, axis=1)
    if r.size and r.min() <= 1e-8:
        raise InputError("two atoms coincide: no extrapolation grade")
    u = vecs / r[:, None] if r.size else vecs
    Rv, _ = radial_functions(t, r, types[centre], types[nbr])
    pw = t.mono_pow
    top = int(pw.max(initial=0))
    upow = [np.stack([u[:, c] ** e for e in range(top + 1)]) for c in range(3)]
    V = np.zeros((t.n_moments, n))
    for b in range(t.n_basic):
        a = pw[t.basic_mono[b]]
        mono = upow[0][a[0]] * upow[1][a[1]] * upow[2][a[2]]
        V[b] = np.bincount(centre, weights=Rv[t.basic_mu[b]] * mono, minlength=n)
    for (i1, i2, i3), mult in zip(t.times, t.times_mult, strict=True):
        V[i3] += mult * V[i1] * V[i2]
    onehot = np.zeros((n, t.species_count))
    onehot[np.arange(n), types] = 1.0
    return np.hstack([onehot, V[t.mapping].T])


@dataclass
class ActiveSet:
    """MaxVol active set of one MTP: ``indices`` (training configurations that hold active rows).

    ``mode``: "configuration" or "atom" (see the module docstring). ``rows``: (m, 2) the
    (configuration, atom) of each active row (atom = -1 in configuration mode); ``columns``: the
    kept columns; ``matrix``: A (m x m, kept and scaled columns) and ``inverse`` its inverse.
    """

    model: object
    species: tuple
    indices: np.ndarray
    columns: np.ndarray
    inverse: np.ndarray  # A^-1 (m x m) on the kept columns
    column_scale: np.ndarray
    swaps: int
    mode: str = "configuration"
    matrix: np.ndarray | None = None
    rows: np.ndarray | None = None
    _tables: object = field(default=None, repr=False, compare=False)

    @property
    def tables(self):
        if self._tables is None:
            self._tables = _tables(self.model)
        return self._tables

    @property
    def size(self) -> int:
        return int(self.inverse.shape[0])

    def rows_of(self, atoms) -> np.ndarray:
        """Rows of one configuration: (1, cols) in configuration mode, (N, cols) in atom mode."""
        b = site_rows(self.model, atoms, self.species, tables=self.tables)
        return b.mean(axis=0, keepdims=True) if self.mode == "configuration" else b

    def grade_rows(self, rows: np.ndarray) -> np.ndarray:
        """gamma of each row (full columns)."""
        r = np.atleast_2d(rows)[:, self.columns] / self.column_scale
        return np.abs(r @ self.inverse).max(axis=1)

    def grade(self, atoms_list) -> np.ndarray:
        """Extrapolation grade gamma of each configuration (atom mode: the maximum over its atoms)."""
        return np.array([float(self.grade_rows(self.rows_of(a)).max()) for a in atoms_list])

    def grade_atoms(self, atoms) -> np.ndarray:
        """(N,) per-atom grades (neighbourhood grade) of one configuration; needs ``mode="atom"``."""
        if self.mode != "atom":
            raise InputError("per-atom grades need an active set selected over neighbourhoods (mode='atom')")
        return self.grade_rows(site_rows(self.model, atoms, self.species, tables=self.tables))

    def select(self, candidates, *, max_configs: int | None = None, swap_threshold: float = 1.1,
               max_swaps: int = 100000) -> np.ndarray:
        """Indices of ``candidates`` (Atoms) that MaxVol swaps into the active set (MLIP-2 ``select-add``).

        Candidate rows enter one at a time, the one with the largest |b A^-1|_j replacing active
        row j, while some candidate row grades above ``swap_threshold`` (> 1); a candidate is
        selected when it owns a row of the final set. With ``max_configs`` the swapping stops
        before a swap would bring in one configuration more than that. This object is not changed.
        """
        if swap_threshold <= 1.0:
            raise InputError(f"swap_threshold must be > 1, got {swap_threshold}")
        if self.matrix is None:
            raise InputError("this active set has no matrix (select_active_set builds it)")
        if not len(candidates):
            return np.array([], dtype=int)
        blocks = [self.rows_of(a) for a in candidates]
        owner = np.concatenate([np.full(len(b), k) for k, b in enumerate(blocks)])
        R = np.vstack(blocks)[:, self.columns] / self.column_scale
        A = self.matrix.copy()
        Ainv = self.inverse.copy()
        src = np.full(A.shape[0], -1)  # candidate configuration of each active row (-1: training)
        swaps = 0
        while swaps < max_swaps:
            C = np.abs(R @ Ainv)
            if max_configs is not None and len(set(src[src >= 0].tolist())) >= max_configs:
                allowed = np.isin(owner, src[src >= 0])
                C[~allowed] = 0.0
            i, j = np.unravel_index(np.argmax(C), C.shape)
            if C[i, j] <= swap_threshold:
                break
            Ainv = _swap_inverse(Ainv, A[j], R[i], j)
            A[j] = R[i]
            src[j] = owner[i]
            swaps += 1
            if swaps % 50 == 0:
                Ainv = np.linalg.inv(A)
        chosen = src[src >= 0]
        # order: as MaxVol brought them in (highest first grade first)
        first = {}
        for k in chosen.tolist():
            first.setdefault(k, len(first))
        return np.array(sorted(first, key=first.get), dtype=int)

    # -- files (npz): what MD needs to grade with this active set (with the .mtp it belongs to)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, mode=np.str_(self.mode), species=np.array(self.species, dtype=str), indices=self.indices,
                 columns=self.columns, inverse=self.inverse, column_scale=self.column_scale,
                 swaps=np.int64(self.swaps), matrix=self.matrix if self.matrix is not None else np.zeros((0, 0)),
                 rows=self.rows if self.rows is not None else np.zeros((0, 2), int))
        return buf.getvalue()

    def save(self, path) -> None:
        """Write the active set (npz, atomically); :meth:`load` with the same model reads it back."""
        from incipient.results import atomic_write_text

        atomic_write_text(path, self.to_bytes())

    @classmethod
    def load(cls, path, model) -> ActiveSet:
        try:
            z = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise InputError(f"cannot read the active set ({exc})", source=path) from None
        m = z["matrix"]
        return cls(model=model, species=tuple(str(s) for s in z["species"]), indices=z["indices"],
                   columns=z["columns"], inverse=z["inverse"], column_scale=z["column_scale"], swaps=int(z["swaps"]),
                   mode=str(z["mode"]), matrix=m if m.size else None, rows=z["rows"] if z["rows"].size else None)


def _swap_inverse(Ainv: np.ndarray, old: np.ndarray, new: np.ndarray, j: int) -> np.ndarray:
    """Inverse of A with row j replaced (``old`` -> ``new``), Sherman-Morrison."""
    Ainv_u = (new - old) @ Ainv
    return Ainv - np.outer(Ainv[:, j], Ainv_u) / (1.0 + Ainv_u[j])


def select_active_set(model, atoms_list, species, *, mode: str = "configuration", tol: float = 1e-3,
                      max_swaps: int = 10000, rank_rtol: float = 1e-10) -> ActiveSet:
    """D-optimal active set of ``atoms_list`` (the training configurations) for ``model``.

    ``mode="configuration"``: one row per configuration; ``"atom"``: one per atom (neighbourhood).
    """
    import scipy.linalg

    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    atoms_list = list(atoms_list)
    if not atoms_list:
        raise InputError("no training configurations for the active set")
    tables = _tables(model)
    species = tuple(species)
    site = [site_rows(model, a, species, tables=tables) for a in atoms_list]
    if mode == "configuration":
        B = np.vstack([b.mean(axis=0) for b in site])
        where = np.column_stack([np.arange(len(site)), -np.ones(len(site), int)])
    else:
        B = np.vstack(site)
        where = np.vstack([np.column_stack([np.full(len(b), k), np.arange(len(b))]) for k, b in enumerate(site)])
    scale = np.sqrt((B**2).mean(axis=0))
    scale[scale == 0] = 1.0
    Bs = B / scale
    _, R, piv = scipy.linalg.qr(Bs, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    rank = int((d > rank_rtol * d[0]).sum()) if d.size and d[0] > 0 else 0
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
        Ainv = _swap_inverse(Ainv, Bc[idx[j]], Bc[i], j)
        idx[j] = i
        swaps += 1
        if swaps % 50 == 0:
            Ainv = np.linalg.inv(Bc[idx])
    order = np.argsort(idx, kind="stable")
    idx = idx[order]
    A = Bc[idx]
    Ainv = np.linalg.inv(A)
    return ActiveSet(model=model, species=species, indices=np.unique(where[idx, 0]), columns=cols, inverse=Ainv,
                     column_scale=scale[cols], swaps=swaps, mode=mode, matrix=A, rows=where[idx], _tables=tables)
