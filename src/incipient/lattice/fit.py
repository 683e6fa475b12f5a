"""Fit (temperature-effective) 2nd/3rd/4th-order force constants to supercell snapshots with hiPhive.

Wraps hiPhive (cluster space, symmetry-adapted parameters, fit matrix) and trainstation (the
linear solvers: least-squares, ardr, rfe, lasso, ...). Own code only for the bookkeeping the
paper's workflow needs: a hold-out split by *snapshot* (not by force row, so the test error is an
honest out-of-sample error), and export of fc3 in phono3py's compact layout
(n_prim, N, N, 3, 3, 3) straight from hiPhive's sorted cluster dictionary, without ever building
the dense N^3 array (7 GB for 324 atoms).

Speed: hiPhive builds the acoustic-sum-rule constraint map from the exact (sympy) null space of
its constraint matrix; its ``SparseMatrix.nullspace`` back-substitutes with one sympy element
access per (pivot, free variable) pair, zeros included: O(pivots x free) calls, hours for a
fourth-order cluster space of a 12-atom cell (8472 fourth-order parameters at 3.5 A).
:func:`cluster_space` builds the same cluster space with that one step replaced by
:func:`_sparse_nullspace`, which reads the same exact reduced matrix once, by its non-zero
entries (the same basis vectors, element for element; tested against hiPhive's own).

Fitting to snapshots of MD at temperature T gives temperature-effective force constants
(as in TDEP/hiPhive's "effective harmonic models"); this is how the paper obtains a stable
300 K fc2 for a crystal whose 0 K harmonic fc2 has imaginary modes (a double-well mobile ion).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from incipient.errors import InputError, RunError
from incipient.results import Result

__all__ = ["FitResult", "FcpFit", "check_fit_cutoffs", "choose_supercell", "compact_fc3_from_hiphive", "cluster_space",
           "off_site_snapshots",
           "fit_force_constants", "fit_potential", "max_fit_cutoff_A", "to_phono3py_order"]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- cutoffs and cells
def max_fit_cutoff_A(cell) -> float:
    """Largest cluster cutoff a periodic cell allows: half its smallest perpendicular width (A).

    hiPhive maps every cluster of the cluster space onto the snapshot supercell; a pair farther
    apart than half the width would meet its own periodic image and land in two orbits.
    """
    from incipient.system import perpendicular_widths

    return float(0.5 * perpendicular_widths(np.asarray(cell, dtype=float)).min())


def check_fit_cutoffs(supercell_cell, cutoffs_A: Sequence[float], *, what: str = "snapshot supercell") -> None:
    """Raise InputError unless every cutoff is positive and < half the smallest width of ``supercell_cell``.

    ``cutoffs_A[k]`` is the cutoff of order k + 2 (fc2, fc3, fc4, ...). Cheap: call it before MD
    runs with the MD supercell's cell (3x3 rows, A) and the fitting cutoffs.
    """
    cutoffs = list(cutoffs_A)
    if not cutoffs:
        raise InputError("no fitting cutoffs given (one per order: fc2, fc3, fc4)")
    limit = max_fit_cutoff_A(supercell_cell)
    for k, c in enumerate(cutoffs):
        order = k + 2
        try:
            c = float(c)
        except (TypeError, ValueError):
            raise InputError(f"fc{order} cutoff {c!r} is not a number") from None
        if not np.isfinite(c) or c <= 0:
            raise InputError(f"fc{order} cutoff {c!r} A must be a positive number")
        if c >= limit:
            raise InputError(f"fc{order} cutoff {c:g} A (order {order}) is not below half the smallest perpendicular "
                             f"width of the {what} ({limit:.3f} A): use a larger supercell or cutoffs < {limit:.3f} A")


def choose_supercell(primitive, cutoff_A: float, *, margin_A: float = 0.1,
                     min_width_A: float = 0.0) -> tuple[int, int, int]:
    """Smallest diagonal repeat of ``primitive`` (ase.Atoms or 3x3 cell) at least 2*cutoff + margin wide.

    Every pair within ``cutoff_A`` then has one nearest periodic image, so force constants with
    that cutoff live in the supercell without aliasing. ``min_width_A`` is a floor on the width.
    """
    from incipient.system import repeat_for_width

    cell = np.asarray(primitive.cell if hasattr(primitive, "cell") else primitive, dtype=float)
    if not np.isfinite(cutoff_A) or cutoff_A <= 0:
        raise InputError(f"cutoff {cutoff_A!r} A must be a positive number")
    return repeat_for_width(cell, max(2.0 * float(cutoff_A) + float(margin_A), float(min_width_A)))



@dataclass(frozen=True, eq=False)
class FitResult(Result):
    """Force constants fitted with hiPhive.

    Attributes
    ----------
    fc2 : (N, N, 3, 3) eV/A^2, phonopy full layout for the ideal supercell.
    fc3 : (n_prim, N, N, 3, 3, 3) eV/A^3, phono3py compact layout (None if order 3 not fitted).
    p2s_map : (n_prim,) supercell indices of the primitive atoms (phono3py's p2s_map).
    cutoffs_A : cluster cutoffs per order (2, 3, ...).
    fit_method : trainstation method name.
    n_parameters : number of independent symmetry-adapted parameters.
    n_snapshots_train, n_snapshots_test : snapshots used to fit / held out.
    rmse_train_eV_A, rmse_test_eV_A : force RMSE on training / held-out snapshots (eV/A).
    r2_test : coefficient of determination of the held-out forces (NaN if no test snapshots).
    fcp : the hiPhive ForceConstantPotential (not saved by ``save``; use ``fcp.write``).
    """

    fc2: np.ndarray
    fc3: np.ndarray | None
    p2s_map: np.ndarray
    cutoffs_A: tuple[float, ...]
    fit_method: str
    n_parameters: int
    n_snapshots_train: int
    n_snapshots_test: int
    rmse_train_eV_A: float
    rmse_test_eV_A: float
    r2_test: float
    fcp: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.pop("fcp")
        return d

    def write_phonopy(self, folder: str | os.PathLike) -> dict[str, Path]:
        """Write fc2.hdf5 (full) and, if fitted, compact fc3.hdf5 into ``folder``."""
        from incipient.lattice.phonopy_io import write_fc2, write_fc3_hdf5

        folder = Path(folder)
        out = {"fc2": write_fc2(folder / "fc2.hdf5", self.fc2)}
        if self.fc3 is not None:
            out["fc3"] = write_fc3_hdf5(folder / "fc3.hdf5", self.fc3, p2s_map=self.p2s_map)
        return out

    def plot(self):
        """Bar chart of train/test force RMSE; returns the Figure."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(3.5, 3), constrained_layout=True)
        ax.bar(["train", "test"], [self.rmse_train_eV_A, self.rmse_test_eV_A], color=["C0", "C1"])
        ax.set_ylabel("force RMSE (eV/A)")
        ax.set_title(f"{self.fit_method}, cutoffs {self.cutoffs_A}, R2_test={self.r2_test:.3f}", fontsize=8)
        return fig


def compact_fc3_from_hiphive(fcs, p2s_map: Sequence[int]) -> np.ndarray:
    """hiPhive ForceConstants -> phono3py compact fc3 (n_prim, N, N, 3, 3, 3) without the dense array.

    Each sorted cluster (a, b, c) and all its index permutations are placed where the first atom
    is a primitive atom; tensor axes are permuted with the atoms.
    """
    p2s_map = np.asarray(p2s_map, dtype=int)
    n = fcs.n_atoms
    where = {int(s): p for p, s in enumerate(p2s_map)}
    out = np.zeros((len(p2s_map), n, n, 3, 3, 3))
    perms = list(itertools.permutations(range(3)))
    for cluster, tensor in fcs.get_fc_dict(order=3).items():
        if len(cluster) != 3:
            continue
        for perm in perms:
            c = tuple(cluster[q] for q in perm)
            p = where.get(c[0])
            if p is not None:
                out[p, c[1], c[2]] = np.transpose(tensor, perm)
    return out


def _as_snapshots(snapshots, ideal_supercell):
    """Accept a list of Atoms with forces or a (displacements, forces) pair -> list of Atoms."""
    from ase.calculators.singlepoint import SinglePointCalculator

    if isinstance(snapshots, tuple) and len(snapshots) == 2:
        disps, forces = (np.asarray(a, dtype=float) for a in snapshots)
        n = len(ideal_supercell)
        if disps.ndim != 3 or disps.shape[1:] != (n, 3) or forces.shape != disps.shape:
            raise ValueError(f"(displacements, forces) must both have shape (n_snap, {n}, 3), "
                             f"got {disps.shape} and {forces.shape}")
        out = []
        for u, f in zip(disps, forces, strict=True):
            a = ideal_supercell.copy()
            a.positions = ideal_supercell.positions + u
            a.calc = SinglePointCalculator(a, forces=f)
            out.append(a)
        return out
    out = list(snapshots)
    if not out:
        raise ValueError("no snapshots given")
    conv = []
    for k, a in enumerate(out):
        if len(a) != len(ideal_supercell):
            raise ValueError(f"snapshot {k} has {len(a)} atoms, ideal supercell {len(ideal_supercell)}")
        if a.calc is None:
            raise ValueError(f"snapshot {k} carries no forces (atoms.calc is None)")
        b = a.copy()
        b.calc = SinglePointCalculator(b, forces=a.get_forces())
        conv.append(b)
    return conv


@dataclass(frozen=True, eq=False)
class FcpFit:
    """A hiPhive fit before any supercell is built: the potential and its honest errors.

    fcp : hiPhive ForceConstantPotential; cluster_space : its ClusterSpace.
    parameters : (n_parameters,) fitted symmetry-adapted parameters.
    n_parameters_by_order : {order: n} independent parameters per order.
    train_idx, test_idx : indices, into the snapshots kept, of those fitted / held out.
    dropped_idx : indices, into the snapshots given, of those left out (an atom off its site);
    max_displacement_A : the limit used for that.
    rmse_*_eV_A, r2_test : force errors (NaN without test snapshots).
    forces_test_ref_eV_A, forces_test_pred_eV_A : (n_test, N, 3) held-out forces, given / predicted.
    """

    fcp: Any
    cluster_space: Any
    parameters: np.ndarray
    cutoffs_A: tuple[float, ...]
    fit_method: str
    n_parameters_by_order: dict
    train_idx: np.ndarray
    test_idx: np.ndarray
    rmse_train_eV_A: float
    rmse_test_eV_A: float
    r2_test: float
    force_std_eV_A: float
    forces_test_ref_eV_A: np.ndarray
    forces_test_pred_eV_A: np.ndarray
    dropped_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    max_displacement_A: float = float("nan")

    @property
    def n_parameters(self) -> int:
        return int(len(self.parameters))

    @property
    def orders(self) -> tuple[int, ...]:
        return tuple(range(2, len(self.cutoffs_A) + 2))


class _NullVector:
    """One null-space basis vector in the form hiPhive's constraint map reads (``row_list()``, ``len``)."""

    def __init__(self, n: int, entries: list):
        self._n, self._entries = n, entries

    def __len__(self) -> int:
        return self._n

    def row_list(self) -> list:
        return self._entries


def _sparse_nullspace(self, simplify=False):
    """hiPhive's ``SparseMatrix.nullspace`` (same exact reduced row echelon form from its
    ``rref_sparse``, same basis: free variable = 1, pivot variables = minus the reduced column),
    read by non-zero entries instead of element by element."""
    reduced, pivots = self.rref_sparse(simplify=simplify)
    pivot_of_row = dict(enumerate(pivots))
    pivot_set = set(pivots)
    by_column: dict[int, list] = {}
    for r, c, v in reduced.row_list():
        if c not in pivot_set:
            by_column.setdefault(c, []).append((pivot_of_row[r], 0, -v))
    n = self.cols
    basis = []
    for free in (i for i in range(n) if i not in pivot_set):
        entries = [(free, 0, 1)] + by_column.get(free, [])
        basis.append(_NullVector(n, sorted(entries, key=lambda t: t[0])))
    return basis


def cluster_space(primitive, cutoffs_A: Sequence[float], *, symprec: float = 1e-5, fast_nullspace: bool = True):
    """``hiphive.ClusterSpace(primitive, cutoffs_A, symprec=symprec)``, with the null space of the
    acoustic-sum-rule constraint matrix (only that one) computed by :func:`_sparse_nullspace`
    unless ``fast_nullspace`` is False."""
    from hiphive import ClusterSpace
    from hiphive.core import translational_constraints as tc

    if not fast_nullspace:
        return ClusterSpace(primitive, list(cutoffs_A), symprec=symprec)

    class _Constraints(type(tc.SparseMatrix(1, 1, 0))):
        nullspace = _sparse_nullspace

    original = tc.get_translational_constraint_matrix

    def constraint_matrix(cs):
        m = original(cs)
        m.__class__ = _Constraints
        return m

    tc.get_translational_constraint_matrix = constraint_matrix
    try:
        return ClusterSpace(primitive, list(cutoffs_A), symprec=symprec)
    finally:
        tc.get_translational_constraint_matrix = original


def _quiet_hiphive(verbose: bool):
    import contextlib

    import hiphive  # noqa: F401  (its import sets the 'hiphive' logger to INFO; do it first)

    @contextlib.contextmanager
    def ctx():
        hlog = logging.getLogger("hiphive")
        old = hlog.level
        if not verbose:
            hlog.setLevel(logging.WARNING)
        try:
            yield
        finally:
            hlog.setLevel(old)

    return ctx()


def off_site_snapshots(snapshots, ideal_supercell, max_displacement_A: float | None = None):
    """Indices of the snapshots in which some atom is farther than ``max_displacement_A`` (minimum
    image, atom i against site i) from its ideal site, and the limit used.

    Default limit: half the shortest distance between two sites of ``ideal_supercell``, beyond which
    the atom is nearer another site than its own: a hopped mobile ion (or a melted frame), which no
    Taylor expansion about the ideal sites describes and which hiPhive's site mapping refuses
    ("Duplicates in permutation").
    """
    from ase.geometry import find_mic

    if max_displacement_A is None:
        d = ideal_supercell.get_all_distances(mic=True)
        max_displacement_A = 0.5 * float(d[np.triu_indices(len(d), 1)].min())
    bad = []
    for k, a in enumerate(snapshots):
        u, _ = find_mic(a.positions - ideal_supercell.positions, ideal_supercell.cell, pbc=True)
        if float(np.linalg.norm(u, axis=1).max()) > max_displacement_A:
            bad.append(k)
    return np.asarray(bad, dtype=int), float(max_displacement_A)


def fit_potential(ideal_supercell, snapshots, primitive, cutoffs_A: Sequence[float], *,
                  fit_method: str = "least-squares", test_fraction: float = 0.1,
                  rng: np.random.Generator | int | None = 0, symprec: float = 1e-5, verbose: bool = False,
                  max_displacement_A: float | None = None, **fit_kwargs) -> FcpFit:
    """Fit a hiPhive ForceConstantPotential of orders 2..len(cutoffs_A)+1 to snapshots.

    Checks the cutoffs against ``ideal_supercell`` (:func:`check_fit_cutoffs`) before any work.
    Snapshots with an atom off its site (:func:`off_site_snapshots`, limit ``max_displacement_A``)
    are left out and listed in ``dropped_idx``; an error if fewer than two remain.
    Snapshots are held out whole (``test_fraction`` of them, chosen with ``rng``). Arguments as
    :func:`fit_force_constants`; no supercell force constants are built here.
    """
    check_fit_cutoffs(np.asarray(ideal_supercell.cell), cutoffs_A)
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    cutoffs = [float(c) for c in cutoffs_A]
    snaps = _as_snapshots(snapshots, ideal_supercell)
    dropped, max_u = off_site_snapshots(snaps, ideal_supercell, max_displacement_A)
    if len(snaps) - len(dropped) < 2:
        raise ValueError(f"{len(dropped)} of {len(snaps)} snapshots have an atom more than {max_u:.2f} A from its "
                         "site (hopped ions?): too few left to fit; take snapshots from a lower temperature")
    if len(dropped):
        log.warning("%d of %d snapshots left out: an atom is more than %.2f A from its site", len(dropped), len(snaps), max_u)
        keep = set(range(len(snaps))) - set(dropped.tolist())
        snaps = [a for k, a in enumerate(snaps) if k in keep]
    rng = np.random.default_rng(rng)
    n_test = int(round(test_fraction * len(snaps)))
    if len(snaps) - n_test < 1:
        raise ValueError(f"{len(snaps)} snapshots leave none to fit with test_fraction={test_fraction}")
    order = rng.permutation(len(snaps))
    test_idx, train_idx = np.sort(order[:n_test]), np.sort(order[n_test:])
    with _quiet_hiphive(verbose):
        from hiphive import ForceConstantPotential, StructureContainer
        from hiphive.utilities import prepare_structures
        from trainstation import fit

        cs = cluster_space(primitive, cutoffs, symprec=symprec)
        n_rows = len(train_idx) * 3 * len(ideal_supercell)
        if fit_method == "least-squares" and n_rows < cs.n_dofs:
            raise InputError(f"{cs.n_dofs} force-constant parameters (cutoffs {cutoffs} A, {len(primitive)}-atom primitive "
                             f"cell) but only {n_rows} force rows in {len(train_idx)} training snapshots: a least-squares "
                             "fit is underdetermined; give more snapshots or smaller cutoffs (or a primitive cell with its "
                             "symmetry: a larger symprec)")
        structures = prepare_structures(snaps, ideal_supercell)
        sc = StructureContainer(cs)
        for s in structures:
            sc.add_structure(s)
        X_train, y_train = sc.get_fit_data(structures=list(train_idx))
        log.info("hiPhive: %d parameters, %d training rows", cs.n_dofs, len(y_train))
        res = fit(X_train, y_train, fit_method=fit_method, **fit_kwargs)
        params = np.asarray(res["parameters"], dtype=float)
        rmse_train = float(np.sqrt(np.mean((X_train @ params - y_train) ** 2)))
        if n_test:
            X_test, y_test = sc.get_fit_data(structures=list(test_idx))
            resid = X_test @ params - y_test
            rmse_test = float(np.sqrt(np.mean(resid**2)))
            r2 = float(1.0 - np.sum(resid**2) / np.sum((y_test - y_test.mean()) ** 2))
            f_ref = np.asarray(y_test, dtype=float).reshape(n_test, len(ideal_supercell), 3)
            f_pred = np.asarray(X_test @ params, dtype=float).reshape(n_test, len(ideal_supercell), 3)
        else:
            rmse_test, r2 = float("nan"), float("nan")
            f_ref = f_pred = np.zeros((0, len(ideal_supercell), 3))
        if n_test and r2 < 0:
            raise RunError(f"the force-constant fit predicts the held-out forces worse than their mean (R^2 = {r2:.3g}, "
                           f"RMSE {rmse_test:.3g} eV/A; {cs.n_dofs} parameters, {n_rows} force rows): the fit is "
                           "meaningless; give more snapshots or smaller cutoffs")
        fcp = ForceConstantPotential(cs, params)
        by_order = {o: int(cs.get_n_dofs_by_order(o)) for o in range(2, len(cutoffs) + 2)}
    return FcpFit(fcp=fcp, cluster_space=cs, parameters=params, cutoffs_A=tuple(cutoffs), fit_method=fit_method,
                  n_parameters_by_order=by_order, train_idx=train_idx, test_idx=test_idx,
                  rmse_train_eV_A=rmse_train, rmse_test_eV_A=rmse_test, r2_test=r2,
                  force_std_eV_A=float(np.std(y_train)), forces_test_ref_eV_A=f_ref,
                  forces_test_pred_eV_A=f_pred, dropped_idx=dropped, max_displacement_A=max_u)


def fit_force_constants(ideal_supercell, snapshots, primitive, cutoffs_A: Sequence[float] = (8.0, 6.0, 5.2), *,
                        fit_method: str = "least-squares", test_fraction: float = 0.1,
                        rng: np.random.Generator | int | None = 0, symprec: float = 1e-5,
                        compute_fc3: bool = True, verbose: bool = False, **fit_kwargs) -> FitResult:
    """Fit force constants of orders 2..len(cutoffs_A)+1 to snapshots with hiPhive.

    Parameters
    ----------
    ideal_supercell : ase.Atoms, the undisplaced supercell the snapshots are displaced from.
    snapshots : list of ase.Atoms with forces (e.g. MD frames) or ``(displacements, forces)``
        arrays of shape (n_snap, N, 3) in A and eV/A.
    primitive : ase.Atoms primitive cell (defines the cluster space and the compact fc3 layout).
    cutoffs_A : cluster cutoffs for orders 2, 3, 4, ... (paper: 8, 6, 5.2 A); each must be below
        half the smallest width of ``ideal_supercell`` (InputError before any work otherwise).
    fit_method : any trainstation method ('least-squares', 'ardr', 'rfe', 'lasso', ...).
    test_fraction : fraction of snapshots held out (chosen with ``rng``) for RMSE/R^2.
    verbose : keep hiPhive's INFO tables on stdout (off by default so CLI output stays JSON).
    fit_kwargs : passed to ``trainstation.fit``.

    The force constants are evaluated on ``ideal_supercell`` itself (fc2 full, fc3 compact); for
    files on a chosen phonopy supercell and ShengBTE fc3/fc4 use
    :func:`incipient.lattice.effective.effective_force_constants`.
    """
    from phonopy.structure.cells import get_primitive

    from incipient.lattice.phonopy_io import ase_to_phonopy_atoms

    f = fit_potential(ideal_supercell, snapshots, primitive, cutoffs_A, fit_method=fit_method,
                      test_fraction=test_fraction, rng=rng, symprec=symprec, verbose=verbose, **fit_kwargs)
    with _quiet_hiphive(verbose):
        fcs = f.fcp.get_force_constants(ideal_supercell)
    fc2 = fcs.get_fc_array(order=2)
    # p2s_map of the primitive atoms inside the ideal supercell, as phono3py would use it
    sc_ph = ase_to_phonopy_atoms(ideal_supercell)
    pmat = np.linalg.solve(np.array(ideal_supercell.cell).T, np.array(primitive.cell).T)
    prim_in_sc = get_primitive(sc_ph, pmat, symprec=1e-4)
    p2s = np.asarray(prim_in_sc.p2s_map, dtype=int)
    fc3 = compact_fc3_from_hiphive(fcs, p2s) if (compute_fc3 and len(f.cutoffs_A) >= 2) else None
    return FitResult(fc2=fc2, fc3=fc3, p2s_map=p2s, cutoffs_A=f.cutoffs_A, fit_method=fit_method,
                     n_parameters=f.n_parameters, n_snapshots_train=len(f.train_idx),
                     n_snapshots_test=len(f.test_idx), rmse_train_eV_A=f.rmse_train_eV_A,
                     rmse_test_eV_A=f.rmse_test_eV_A, r2_test=f.r2_test, fcp=f.fcp)


def to_phono3py_order(result: FitResult, ideal_supercell, ph3) -> tuple[np.ndarray, np.ndarray | None]:
    """Reorder a fit's fc2 (full) and compact fc3 from the ideal supercell's atom order to ``ph3``'s.

    ``ph3`` is a Phono3py object (e.g. ``make_phono3py(primitive, supercell_matrix)``) whose
    supercell (fc3) and phonon supercell (fc2) are the same lattice as ``ideal_supercell``.
    Returns (fc2 (N, N, 3, 3), fc3 (n_prim, N, N, 3, 3, 3) or None) ready for ``ph3.fc2/fc3``.
    """
    from incipient.lattice.phonopy_io import reorder_fc2, supercell_permutation

    fc2 = reorder_fc2(result.fc2, supercell_permutation(ideal_supercell, ph3.phonon_supercell))
    if result.fc3 is None:
        return fc2, None
    perm = supercell_permutation(ideal_supercell, ph3.supercell)
    row_of = {int(s): k for k, s in enumerate(result.p2s_map)}
    p2s = np.asarray(ph3.primitive.p2s_map)
    fc3 = np.empty((len(p2s),) + result.fc3.shape[1:])
    for p, s in enumerate(p2s):
        k = row_of.get(int(perm[s]))
        if k is None:
            raise ValueError(f"primitive atom {p} of phono3py is not a primitive atom of the fit")
        fc3[p] = result.fc3[k][np.ix_(perm, perm)]
    return fc2, fc3
