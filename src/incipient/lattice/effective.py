"""Fit temperature-effective fc2/fc3/fc4 of any crystal to snapshots (hiPhive) and write phonopy + ShengBTE files.

One call, :func:`effective_force_constants`, turns MD (or rattled) snapshots of a supercell into
the files the kappa stages read, for any primitive cell:

* ``fc2.hdf5``: full fc2 in phonopy's atom order for the phonopy supercell ``fc_supercell`` of
  ``primitive`` (``make_phonopy(primitive, fc_supercell)``), eV/A^2;
* ``phonopy_params.yaml``: ``Phonopy.save`` of that phonon state (``phonopy.load`` reloads it);
* ``FORCE_CONSTANTS_3RD`` / ``FORCE_CONSTANTS_4TH``: ShengBTE / FourPhonon files relative to
  ``primitive`` (its atom order and lattice vectors; atom positions wrapped into the cell, as
  phonopy/phono3py use them), when orders 3 / 4 are fitted;
* ``potential.fcp``: hiPhive's ForceConstantPotential (force constants on any supercell);
* ``fit.npz``: the fit arrays (parameters, snapshot split, held-out forces given / predicted);
* ``effective_fc.json``: the small :class:`EffectiveFC` summary.

hiPhive does the physics (cluster space, symmetry, sum rules, fit, supercell force constants).
Own code: the ShengBTE blocks of orders 3 and 4 (:func:`shengbte_blocks_from_hiphive`), built
from hiPhive's sorted cluster dictionary with the minimum-image vector of every atom from the
home-cell atom. hiPhive's own ``write_shengBTE_fc3`` gives the same triplets (tested) but loops
over all N^3 atom triplets in Python, and there is no fc4 writer in hiPhive.

Supercell sizes: the force constants are evaluated on the phonopy supercell; hiPhive needs it
wider than twice the largest cutoff (each pair then has one nearest image, so nothing aliases),
which :func:`~incipient.lattice.fit.choose_supercell` gives when ``fc_supercell`` is None.
The same supercell serves as phono3py's fc3 supercell for kappa (``supercell_matrix`` of
``wigner_conductivity`` / ``wigner_3ph_4ph``).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from incipient.errors import InputError
from incipient.lattice.bands import plot_dispersion
from incipient.lattice.fit import _quiet_hiphive, check_fit_cutoffs, choose_supercell, fit_potential
from incipient.results import Result, check_output_dir

__all__ = ["EffectiveFC", "check_cutoffs", "choose_supercell", "effective_force_constants", "plot_bands",
           "shengbte_blocks_from_hiphive", "supercell_sites"]

# the study stages' names for the helpers this module builds on
check_cutoffs = check_fit_cutoffs
plot_bands = plot_dispersion

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class EffectiveFC(Result):
    """Summary of an effective force-constant fit and the files it wrote (paths as strings).

    files : {"fc2", "phonopy_params", "fc3", "fc4", "fcp", "fit_npz", "summary"} -> path (fc3 / fc4
        only when fitted).
    orders, cutoffs_A : fitted orders (2, 3, 4) and their cluster cutoffs.
    fc_supercell : diagonal of the phonopy supercell of ``primitive`` the fc2 is written for
        (also the supercell to use for fc3 in kappa); fc_supercell_matrix : the full 3x3 matrix.
    n_parameters, n_parameters_by_order : independent parameters (total and per order, aligned
        with ``orders``). n_snapshots_train/test : snapshots fitted / held out.
    rmse_train_eV_A, rmse_test_eV_A, r2_test : force errors; test on held-out snapshots (NaN
        without). force_std_eV_A : spread of the training forces (what the RMSE compares to).
    n_snapshots_dropped : snapshots left out because an atom was more than max_displacement_A from
        its site (a hopped ion; :func:`incipient.lattice.fit.off_site_snapshots`).
    n_fc3_blocks, n_fc4_blocks : ShengBTE triplets / quartets written (0 if not fitted).
    fc2_asr_drift_eV_A2 : largest |sum_j fc2(i, j)|, acoustic sum rule (should be ~1e-12).
    stability_mesh, n_imaginary_modes, lowest_frequency_THz : phonopy check on a Gamma-centred
        mesh; lowest_frequency_THz is the most negative (imaginary) mode or None when stable.
    wall_fit_s, wall_total_s : timings.
    """

    out_dir: str
    files: dict
    orders: tuple[int, ...]
    cutoffs_A: tuple[float, ...]
    fc_supercell: tuple[int, int, int] | None
    fc_supercell_matrix: tuple
    fit_method: str
    n_parameters: int
    n_parameters_by_order: tuple[int, ...]
    n_snapshots_train: int
    n_snapshots_test: int
    rmse_train_eV_A: float
    rmse_test_eV_A: float
    r2_test: float
    force_std_eV_A: float
    n_fc3_blocks: int
    n_fc4_blocks: int
    fc2_asr_drift_eV_A2: float
    stability_mesh: tuple[int, int, int]
    n_imaginary_modes: int
    lowest_frequency_THz: float | None
    wall_fit_s: float
    wall_total_s: float
    n_snapshots_dropped: int = 0
    max_displacement_A: float = float("nan")

    def __post_init__(self):  # JSON gives lists back: keep the tuples tuples
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(tuple(x) if isinstance(x, list) else x for x in v))

    @property
    def stable(self) -> bool:
        return self.n_imaginary_modes == 0

    @property
    def n_imaginary(self) -> int:
        return self.n_imaginary_modes

    @property
    def fc2_file(self) -> Path:
        return self.path("fc2")

    @property
    def fc3_file(self) -> Path | None:
        return self.path("fc3") if "fc3" in self.files else None

    @property
    def fc4_file(self) -> Path | None:
        return self.path("fc4") if "fc4" in self.files else None

    @property
    def phonopy_params_file(self) -> Path:
        return self.path("phonopy_params")

    def path(self, key: str) -> Path:
        """Path of one written file ("fc2", "fc3", "fc4", "phonopy_params", "fcp", "fit_npz")."""
        if key not in self.files:
            raise KeyError(f"no {key!r} file (written: {', '.join(sorted(self.files))})")
        return Path(self.files[key])

    def phonopy(self):
        """The saved phonon state: ``phonopy.load(phonopy_params.yaml)`` with its fc2."""
        import phonopy

        return phonopy.load(str(self.path("phonopy_params")), produce_fc=False, log_level=0)

    def fc2(self) -> np.ndarray:
        """The written fc2 (N, N, 3, 3) eV/A^2, phonopy order for ``fc_supercell_matrix``."""
        from incipient.lattice.phonopy_io import read_fc2

        return read_fc2(self.path("fc2"))

    def text(self) -> str:
        """One-paragraph summary for reports."""
        stab = ("dynamically stable" if self.stable else
                f"{self.n_imaginary_modes} imaginary modes (lowest {self.lowest_frequency_THz:.2f} THz)")
        return (f"hiPhive {self.fit_method} fit of orders {list(self.orders)} (cutoffs {list(self.cutoffs_A)} A, "
                f"{self.n_parameters} parameters) to {self.n_snapshots_train} snapshots; held-out force RMSE "
                f"{self.rmse_test_eV_A:.4f} eV/A (R^2 {self.r2_test:.3f}, {self.n_snapshots_test} snapshots); "
                f"{stab} on a {'x'.join(map(str, self.stability_mesh))} mesh."
                + (f" {self.n_snapshots_dropped} snapshots left out: an atom more than {self.max_displacement_A:.2f} A "
                   "from its site (hopped ions)." if self.n_snapshots_dropped else ""))


# ----------------------------------------------------------------------------- ShengBTE blocks
def supercell_sites(supercell, primitive, tol_A: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Site in ``primitive`` and cell offset (integer, primitive lattice) of every supercell atom.

    Supercell atom s sits at ``primitive.positions[site[s]] + offset[s] @ primitive.cell``.
    """
    pcell = np.asarray(primitive.cell, dtype=float)
    inv = np.linalg.inv(pcell)
    frac = np.asarray(supercell.positions) @ inv  # (N, 3) in primitive units
    pfrac = np.asarray(primitive.positions) @ inv
    d = frac[:, None, :] - pfrac[None, :, :]
    off = np.rint(d)
    dist = np.linalg.norm((d - off) @ pcell, axis=-1)  # (N, n_prim)
    site = np.argmin(dist, axis=1)
    worst = dist[np.arange(len(site)), site].max() if len(site) else 0.0
    if worst > tol_A:
        raise ValueError(f"the supercell is not a supercell of the primitive cell (an atom is {worst:.3g} A "
                         "from every primitive site)")
    num_p, num_s = np.asarray(primitive.numbers), np.asarray(supercell.numbers)
    if not np.array_equal(num_s, num_p[site]):
        raise ValueError("supercell atoms sit on primitive sites of another element")
    return site, off[np.arange(len(site)), site].astype(np.int64)


def shengbte_blocks_from_hiphive(fcs, primitive, order: int, *, fc_tol: float = 1e-12):
    """hiPhive ForceConstants (a supercell of ``primitive``) -> ShengBTEFC3 (order 3) or ShengBTEFC4 (4).

    Every ordered atom tuple whose first atom is in the home cell is a block; atoms 2..n sit at
    the minimum-image position from atom 1, so the supercell must be wider than twice the
    cutoff (true for supercells that hiPhive can evaluate the potential on). Lattice vectors R
    are relative to ``primitive``'s positions as given. Blocks whose largest entry is below
    ``fc_tol`` (eV/A^n) are left out. Sorted by atoms, then R (reproducible files).
    """
    from ase.geometry import find_mic

    from incipient.lattice.shengbte import ShengBTEFC3, ShengBTEFC4

    if order not in (3, 4):
        raise ValueError(f"order must be 3 or 4, got {order}")
    sc = fcs.supercell
    site, off = supercell_sites(sc, primitive)
    n_prim = len(primitive)
    home = np.full(n_prim, -1)
    for s in np.flatnonzero(~off.any(axis=1)):
        home[site[s]] = s
    if (home < 0).any():
        # no atom with offset 0 for a site: use any image of it as "home" (translation invariance)
        for p in np.flatnonzero(home < 0):
            home[p] = int(np.flatnonzero(site == p)[0])
    is_home = np.zeros(len(sc), dtype=bool)
    is_home[home] = True
    pos = np.asarray(sc.positions)
    pcell = np.asarray(primitive.cell, dtype=float)
    ppos = np.asarray(primitive.positions)
    # minimum-image vector from each home atom to every supercell atom -> lattice vector R
    R_of = np.empty((n_prim, len(sc), 3))
    for p, h in enumerate(home):
        vec, _ = find_mic(pos - pos[h], sc.cell, pbc=True)
        r = ppos[p] + vec - ppos[site]
        n = r @ np.linalg.inv(pcell)
        if np.abs(n - np.rint(n)).max() > 1e-4:
            raise ValueError("minimum-image vectors are not primitive lattice vectors")
        R_of[p] = np.rint(n) @ pcell
    perms = list(itertools.permutations(range(order)))
    keys, tensors = [], []
    for cluster, tensor in fcs.get_fc_dict(order=order).items():
        if len(cluster) != order or not any(is_home[a] for a in cluster):
            continue
        tensor = np.asarray(tensor)
        if np.abs(tensor).max() < fc_tol:
            continue
        seen = set()
        for perm in perms:
            c = tuple(int(cluster[q]) for q in perm)
            if c in seen or not is_home[c[0]]:
                continue
            seen.add(c)
            keys.append(c)
            tensors.append(np.transpose(tensor, perm))
    if not keys:
        raise ValueError(f"no order-{order} force constants in the hiPhive object")
    k = np.asarray(keys, dtype=np.int64)  # supercell indices
    p1 = site[k[:, 0]]
    atoms = site[k]
    R = [R_of[p1, k[:, q]] for q in range(1, order)]
    sort = np.lexsort(tuple(np.round(r[:, d], 6) for r in reversed(R) for d in (2, 1, 0))
                      + tuple(atoms[:, q] for q in reversed(range(order))))
    phi = np.asarray(tensors)[sort]
    atoms = atoms[sort]
    R = [r[sort] for r in R]
    if order == 3:
        return ShengBTEFC3(R2_A=R[0], R3_A=R[1], atoms=atoms, phi_eV_A3=phi)
    return ShengBTEFC4(R2_A=R[0], R3_A=R[1], R4_A=R[2], atoms=atoms, phi_eV_A4=phi)


# ----------------------------------------------------------------------------- the fit
def effective_force_constants(primitive, ideal_supercell, snapshots, cutoffs_A: Sequence[float], *,
                              out_dir: str | os.PathLike, fc_supercell=None, fit_method: str = "least-squares",
                              test_fraction: float = 0.1, rng: np.random.Generator | int | None = 0,
                              symprec: float = 1e-5, stability_mesh=(8, 8, 8), margin_A: float = 0.1,
                              verbose: bool = False, **fit_kwargs) -> EffectiveFC:
    """Fit fc2 (+ fc3, fc4: one order per cutoff) to snapshots and write the phonopy/ShengBTE files.

    Parameters
    ----------
    primitive : ase.Atoms, the cell the force constants refer to (cluster space, ShengBTE atom
        order and lattice vectors, phonopy's unit = primitive cell); ``System.phonon_primitive()``.
    ideal_supercell : ase.Atoms, the undisplaced (MD) supercell of the snapshots, a supercell of
        ``primitive`` (same positions up to lattice vectors).
    snapshots : ase.Atoms with forces (MD frames), or ``(displacements, forces)`` arrays
        (n_snap, N, 3) in A and eV/A.
    cutoffs_A : cluster cutoffs of orders 2, 3, 4 (1 to 3 values); each < half the smallest width
        of ``ideal_supercell`` (InputError before any work).
    out_dir : folder for the files (created).
    fc_supercell : phonopy supercell of ``primitive`` for fc2 (3 ints or 3x3); None: the smallest
        diagonal one wider than 2 * max(cutoffs) + ``margin_A`` (:func:`choose_supercell`). A
        given one must be wider than 2 * max(cutoffs) (hiPhive evaluates the potential on it).
    fit_method, test_fraction, rng, symprec, fit_kwargs : as :func:`fit_force_constants`.
    stability_mesh : Gamma-centred q mesh of the imaginary-mode check.
    """
    from incipient.lattice.phonons import _supercell_matrix, check_stability, make_phonopy
    from incipient.lattice.phonopy_io import phonopy_to_ase_atoms, write_fc2
    from incipient.lattice.shengbte import write_shengbte_fc3, write_shengbte_fc4

    t0 = time.perf_counter()
    cutoffs = tuple(float(c) for c in cutoffs_A)
    if not 1 <= len(cutoffs) <= 3:
        raise InputError(f"give 1 to 3 cutoffs (orders 2, 3, 4), got {len(cutoffs)}: {list(cutoffs_A)}")
    check_fit_cutoffs(np.asarray(ideal_supercell.cell), cutoffs)
    if fc_supercell is None:
        fc_supercell = choose_supercell(primitive, max(cutoffs), margin_A=margin_A)
    smat = _supercell_matrix(fc_supercell)
    check_fit_cutoffs(smat @ np.asarray(primitive.cell), cutoffs, what=f"fc2 supercell {smat.tolist()}")
    out = check_output_dir(out_dir, "out_dir")

    fit = fit_potential(ideal_supercell, snapshots, primitive, cutoffs, fit_method=fit_method,
                        test_fraction=test_fraction, rng=rng, symprec=symprec, verbose=verbose, **fit_kwargs)
    t_fit = time.perf_counter() - t0
    files: dict[str, str] = {}
    ph = make_phonopy(primitive, smat, symprec=symprec)
    with _quiet_hiphive(verbose):
        fcs = fit.fcp.get_force_constants(phonopy_to_ase_atoms(ph.supercell))
    fc2 = np.ascontiguousarray(fcs.get_fc_array(order=2))
    files["fc2"] = str(write_fc2(out / "fc2.hdf5", fc2))
    # phonopy_params.yaml holds the compact fc2 (n_prim rows: 1/N_cells of the full array's size)
    ph.force_constants = np.ascontiguousarray(fc2[ph.primitive.p2s_map])
    files["phonopy_params"] = str(ph.save(str(out / "phonopy_params.yaml"), settings={"force_constants": True}))
    ph.force_constants = fc2
    n3 = n4 = 0
    # ShengBTE lattice vectors relative to phonopy's primitive cell: the given one with fractional
    # positions wrapped into [0, 1), exactly as phono3py / the kappa codes rebuild it
    prim_ph = phonopy_to_ase_atoms(ph.primitive)
    if len(cutoffs) >= 2:
        fc3 = shengbte_blocks_from_hiphive(fcs, prim_ph, 3)
        files["fc3"] = str(write_shengbte_fc3(out / "FORCE_CONSTANTS_3RD", fc3))
        n3 = fc3.n_blocks
    if len(cutoffs) >= 3:
        fc4 = shengbte_blocks_from_hiphive(fcs, prim_ph, 4)
        files["fc4"] = str(write_shengbte_fc4(out / "FORCE_CONSTANTS_4TH", fc4))
        n4 = fc4.n_blocks
    fit.fcp.write(str(out / "potential.fcp"))
    files["fcp"] = str(out / "potential.fcp")

    np.savez_compressed(out / "fit.npz", parameters=fit.parameters, cutoffs_A=np.asarray(cutoffs),
                        orders=np.asarray(fit.orders), n_parameters_by_order=np.asarray(
                            [fit.n_parameters_by_order[o] for o in fit.orders]),
                        train_idx=fit.train_idx, test_idx=fit.test_idx, forces_test_ref_eV_A=fit.forces_test_ref_eV_A,
                        forces_test_pred_eV_A=fit.forces_test_pred_eV_A, fc_supercell_matrix=smat,
                        primitive_cell_A=np.asarray(primitive.cell), primitive_numbers=primitive.numbers,
                        primitive_positions_A=primitive.positions)
    files["fit_npz"] = str(out / "fit.npz")

    files["summary"] = str(out / "effective_fc.json")
    modes = check_stability(ph, mesh=stability_mesh)
    diag = np.diag(smat)
    res = EffectiveFC(
        out_dir=str(out), files=files, orders=fit.orders, cutoffs_A=cutoffs,
        fc_supercell=tuple(int(x) for x in diag) if np.array_equal(smat, np.diag(diag)) else None,
        fc_supercell_matrix=tuple(tuple(int(x) for x in row) for row in smat), fit_method=fit_method,
        n_parameters=fit.n_parameters, n_parameters_by_order=tuple(fit.n_parameters_by_order[o] for o in fit.orders),
        n_snapshots_train=len(fit.train_idx), n_snapshots_test=len(fit.test_idx),
        rmse_train_eV_A=fit.rmse_train_eV_A, rmse_test_eV_A=fit.rmse_test_eV_A, r2_test=fit.r2_test,
        force_std_eV_A=fit.force_std_eV_A, n_fc3_blocks=n3, n_fc4_blocks=n4,
        fc2_asr_drift_eV_A2=float(np.abs(fc2.sum(axis=1)).max()),
        stability_mesh=tuple(int(x) for x in stability_mesh), n_imaginary_modes=len(modes),
        lowest_frequency_THz=float(modes[0][1]) if modes else None,
        wall_fit_s=t_fit, wall_total_s=time.perf_counter() - t0, n_snapshots_dropped=len(fit.dropped_idx),
        max_displacement_A=fit.max_displacement_A)
    res.save(out / "effective_fc.json")
    log.info("%s", res.text())
    return res
