"""Build phonopy/phono3py objects for incipient structures and check harmonic stability.

Wraps phonopy and phono3py (no own lattice dynamics): ``make_phono3py`` sets up a Phono3py
object with the primitive cell taken as given (``primitive_matrix='P'``), so that atom order and
lattice vectors match ShengBTE files written for the same cell; ``check_stability`` lists
imaginary modes (reported as negative frequencies, phonopy's convention).
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["as_phonopy", "check_stability", "make_phono3py", "make_phonopy", "set_displacement_forces"]

log = logging.getLogger(__name__)


def _supercell_matrix(sc) -> np.ndarray:
    m = np.asarray(sc, dtype=int)
    if m.shape == (3,):
        m = np.diag(m)
    if m.shape != (3, 3) or abs(round(np.linalg.det(m))) < 1:
        raise ValueError(f"supercell matrix must be 3 ints or a non-singular 3x3 int matrix, got {sc}")
    return m


def make_phono3py(primitive, supercell_matrix, phonon_supercell_matrix=None, *, symprec: float = 1e-5,
                  fc2: np.ndarray | None = None, fc3: np.ndarray | None = None,
                  fc3_nonzero_indices: np.ndarray | None = None, log_level: int = 0,
                  lang: str | None = None, cutoff_frequency_THz: float | None = None):
    """Phono3py object for ``primitive`` (ase.Atoms, used as phono3py's unit AND primitive cell).

    ``supercell_matrix`` defines the fc3 supercell, ``phonon_supercell_matrix`` the fc2 one
    (defaults to the same). ``fc2``/``fc3`` (compact or full) are attached if given.
    ``lang``: phono3py's backend, "C" (OpenMP threads) or "Rust" (rayon threads); None: phono3py's
    default. ``cutoff_frequency_THz``: modes below it take no part (phono3py's ``cutoff_frequency``;
    None: phono3py's default, 1e-4 THz).
    """
    from phono3py import Phono3py

    from incipient.lattice.phonopy_io import ase_to_phonopy_atoms

    ph3 = Phono3py(
        ase_to_phonopy_atoms(primitive),
        supercell_matrix=_supercell_matrix(supercell_matrix),
        phonon_supercell_matrix=None if phonon_supercell_matrix is None else _supercell_matrix(phonon_supercell_matrix),
        primitive_matrix="P",
        symprec=symprec,
        log_level=log_level,
        **({} if lang is None else {"lang": lang}),
        **({} if cutoff_frequency_THz is None else {"cutoff_frequency": float(cutoff_frequency_THz)}),
    )
    n_sc2 = len(ph3.phonon_supercell)
    if fc2 is not None:
        fc2 = np.ascontiguousarray(fc2, dtype=float)
        if fc2.shape[1:] != (n_sc2, 3, 3) or fc2.shape[0] not in (n_sc2, len(primitive)):
            raise ValueError(f"fc2 shape {fc2.shape} does not fit the {n_sc2}-atom phonon supercell")
        ph3.fc2 = fc2
    if fc3 is not None:
        n_sc3 = len(ph3.supercell)
        fc3 = np.ascontiguousarray(fc3, dtype=float)
        if fc3.shape[1:] != (n_sc3, n_sc3, 3, 3, 3) or fc3.shape[0] not in (n_sc3, len(primitive)):
            raise ValueError(f"fc3 shape {fc3.shape} does not fit the {n_sc3}-atom supercell")
        ph3.fc3 = fc3
        if fc3_nonzero_indices is not None:
            ph3.fc3_nonzero_indices = np.ascontiguousarray(fc3_nonzero_indices, dtype="byte")
    return ph3


def make_phonopy(primitive, supercell_matrix, fc2: np.ndarray | None = None, *, symprec: float = 1e-5):
    """Phonopy object for ``primitive`` (ase.Atoms, used as unit and primitive cell) with optional fc2."""
    from phonopy import Phonopy

    from incipient.lattice.phonopy_io import ase_to_phonopy_atoms

    ph = Phonopy(ase_to_phonopy_atoms(primitive), supercell_matrix=_supercell_matrix(supercell_matrix),
                 primitive_matrix="P", symprec=symprec)
    if fc2 is not None:
        ph.force_constants = np.ascontiguousarray(fc2, dtype=float)
    return ph


def as_phonopy(phonon):
    """A Phonopy object with force constants: ``phonon`` itself, or one built from a Phono3py's fc2.

    For a Phono3py object the Phonopy uses its unit cell, primitive matrix and *phonon*
    supercell matrix (the fc2 supercell; phono3py leaves it None when it equals the fc3
    supercell) and its fc2.
    """
    from phonopy import Phonopy

    if isinstance(phonon, Phonopy):
        return phonon
    if not hasattr(phonon, "fc2") or not hasattr(phonon, "unitcell"):
        raise TypeError(f"expected a Phonopy or Phono3py object, got {type(phonon).__name__}")
    if phonon.fc2 is None:
        raise ValueError("Phono3py object has no fc2")
    psm = phonon.phonon_supercell_matrix
    if psm is None:
        psm = phonon.supercell_matrix
    pm = phonon.primitive_matrix
    ph = Phonopy(phonon.unitcell.copy(), supercell_matrix=psm, primitive_matrix=np.eye(3) if pm is None else pm,
                 symprec=phonon.symmetry.tolerance)
    ph.force_constants = np.ascontiguousarray(phonon.fc2)
    return ph


def check_stability(phonopy_obj, mesh=(8, 8, 8), *, tolerance_THz: float = -1e-2,
                    extra_qpoints=((0.0, 0.0, 0.0),)) -> list[tuple[np.ndarray, float]]:
    """List imaginary modes of a Phonopy (or Phono3py: its fc2 is used) object.

    Scans a Gamma-centred ``mesh`` plus ``extra_qpoints`` (reduced coordinates of the primitive
    reciprocal lattice) and returns ``[(q, freq_THz), ...]`` for every mode below
    ``tolerance_THz`` (imaginary frequencies are negative, phonopy's convention), sorted with the
    most unstable first. Acoustic modes near Gamma within the tolerance are not reported. An
    empty list means dynamically stable on that mesh; a warning is logged otherwise.
    """
    ph = as_phonopy(phonopy_obj)
    if ph.force_constants is None:
        raise ValueError("phonopy object has no force constants")
    mesh = np.asarray(mesh, dtype=int)
    grid = np.stack(np.meshgrid(*[np.arange(n) / n for n in mesh], indexing="ij"), -1).reshape(-1, 3)
    qpts = np.vstack([np.asarray(extra_qpoints, dtype=float).reshape(-1, 3), grid])
    ph.run_qpoints(qpts)
    freqs = ph.qpoints.frequencies
    out = []
    for q, f in zip(qpts, freqs, strict=True):
        for fi in f:
            if fi < tolerance_THz:
                out.append((q.copy(), float(fi)))
    # unique (q, f) pairs, most unstable first
    seen, uniq = set(), []
    for q, f in sorted(out, key=lambda x: x[1]):
        key = (tuple(np.round(q % 1.0, 6)), round(f, 6))
        if key not in seen:
            seen.add(key)
            uniq.append((q, f))
    if uniq:
        log.warning("%d imaginary modes; lowest %.3f THz at q=%s", len(uniq), uniq[0][1], uniq[0][0])
    return uniq


def set_displacement_forces(phonon, calculator) -> np.ndarray:
    """Compute the forces of a Phonopy/Phono3py object's displaced supercells with an ASE calculator.

    Sets ``phonon.forces`` (n_displacements, N, 3) in eV/A and returns it. Supercells that
    phono3py skips (``None``, beyond ``cutoff_pair_distance``) get zero forces, as phono3py
    expects. Call ``generate_displacements`` first.
    """
    from incipient.lattice.phonopy_io import phonopy_to_ase_atoms

    n_atoms = len(phonon.supercell)
    forces = []
    for sc in phonon.supercells_with_displacements:
        if sc is None:
            forces.append(np.zeros((n_atoms, 3)))
            continue
        atoms = phonopy_to_ase_atoms(sc)
        atoms.calc = calculator
        forces.append(np.array(atoms.get_forces()))
    phonon.forces = np.array(forces)
    return phonon.forces
