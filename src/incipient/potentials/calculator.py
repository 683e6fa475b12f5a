"""ASE calculator for Moment Tensor Potentials: energy, forces, stress, per-atom energies and virials.

Thin layer: reads the model (``mtp_file``), builds a neighbour list (``neighbors``) and calls one
of three interchangeable backends with parity tests between them: ``"c"`` (``mtp_ckernel``, the
compiled C kernel, fastest, built by pip install), ``"numba"`` (``mtp_kernel``, same algorithm,
used when the C kernel is not built) or ``"numpy"`` (``mtp_numpy``, the readable reference).
``backend="auto"`` (default) picks ``"c"`` when available, else ``"numba"``. Threads: both
compiled backends use ``numba.get_num_threads()`` threads (set ``NUMBA_NUM_THREADS``).

Properties (ASE names and units): ``energy`` (eV), ``energies`` (N,) eV, ``forces`` (N, 3)
eV/A, ``stress`` (6,) eV/A^3 = (1/V) dE/d(strain) (ASE's sign convention, Voigt order
xx yy zz yz xz xy), ``stresses`` (N, 6) eV/A^3 summing to ``stress``, and ``virials`` (N, 3, 3)
eV: the centroid per-atom virial W_j = sum_i r_ij (x) dE_i/dr_j (r_ij = r_j - r_i), whose sum
is V * stress and which gives the potential heat current J_pot = -sum_j W_j . v_j.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_numbers

from incipient.potentials.mtp_file import MTPModel, read_mtp
from incipient.potentials.mtp_tables import build_tables
from incipient.potentials.neighbors import neighbor_list

BACKENDS = ("auto", "c", "numba", "numpy")


def _voigt(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) symmetric part -> (..., 6) Voigt xx yy zz yz xz xy."""
    s = 0.5 * (m + np.swapaxes(m, -1, -2))
    return np.stack([s[..., 0, 0], s[..., 1, 1], s[..., 2, 2], s[..., 1, 2], s[..., 0, 2], s[..., 0, 1]], axis=-1)


class MTP(Calculator):
    """Moment Tensor Potential calculator.

    Parameters
    ----------
    path : MLIP-2 ``.mtp`` file; ``None`` loads the CsCu2I3 potential of the paper.
    species : chemical symbols (or atomic numbers) of MTP types 0, 1, 2, ... in order.
    backend : ``"auto"`` (C kernel if built, else numba), ``"c"``, ``"numba"`` or ``"numpy"``
        (reference).
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress", "stresses", "virials"]

    def __init__(self, path: str | Path | None = None, species=("Cs", "Cu", "I"), backend: str = "auto", **kwargs):
        super().__init__(**kwargs)
        if path is None:
            from incipient.data import cscu2i3_mtp

            path = cscu2i3_mtp()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.model: MTPModel = read_mtp(path)
        zs = [atomic_numbers[s] if isinstance(s, str) else int(s) for s in species]
        if len(zs) != self.model.species_count:
            raise ValueError(
                f"{path}: the potential has species_count = {self.model.species_count} but "
                f"{len(zs)} species were given ({list(species)})"
            )
        self.species_numbers = np.array(zs)
        self._type_of = {z: k for k, z in enumerate(zs)}
        self.tables = build_tables(self.model)
        if backend in ("auto", "c"):
            from incipient.potentials import mtp_ckernel

            if mtp_ckernel.available():
                backend = "c"
            elif backend == "c":
                raise RuntimeError("backend='c': the C MTP kernel is not built (pip install -e . with a C compiler)")
            else:
                backend = "numba"
        self.backend = backend

    def types_of(self, numbers) -> np.ndarray:
        try:
            return np.array([self._type_of[int(z)] for z in numbers], dtype=np.int64)
        except KeyError as exc:
            from ase.data import chemical_symbols

            raise ValueError(
                f"{self.model.path}: no MTP type for element {chemical_symbols[exc.args[0]]}; "
                f"the potential covers {[chemical_symbols[z] for z in self.species_numbers]}"
            ) from None

    def evaluate(self, positions, cell, pbc, numbers, *, virials: bool = True):
        """Raw evaluation: dict with energy, energies, forces and (optionally) virials (N, 3, 3)."""
        types = self.types_of(numbers)
        offsets, nbr, vecs = neighbor_list(positions, cell, pbc, self.model.cutoff_A)
        t = self.tables
        if self.backend == "c":
            import numba

            from incipient.potentials import mtp_ckernel
            from incipient.potentials.mtp_kernel import forces_and_virials

            E, G = mtp_ckernel.site_energies_and_gradients(t, offsets, nbr, vecs, types, numba.get_num_threads())
            F, W = forces_and_virials(offsets, nbr, vecs, G, len(types), virials)
        elif self.backend == "numba":
            import numba

            from incipient.potentials.mtp_kernel import (
                BLOCK,
                forces_and_virials,
                site_energies_and_gradients,
            )

            # a block of BLOCK atoms is the unit of parallel work: one thread when there are
            # fewer than two blocks per thread
            threads = numba.get_num_threads()
            if -(-len(types) // BLOCK) < 2 * threads:
                numba.set_num_threads(1)
            try:
                E, G = site_energies_and_gradients(
                    offsets, nbr, vecs, types, t.radial_coeffs, t.min_dist, t.max_dist, t.scaling,
                    t.mono_parent, t.mono_dir, t.mono_pow, t.mono_lower, t.basic_mu, t.basic_mono,
                    t.times, t.times_mult, t.n_moments, t.mapping, t.moment_coeffs, t.species_coeffs,
                    t.mb_ptr, t.mb_idx, t.pull_ptr, t.pull_i3, t.pull_oth, t.pull_mult,
                    np.argsort(np.diff(offsets), kind="stable"), numba.get_num_threads(),
                )
            finally:
                numba.set_num_threads(threads)
            F, W = forces_and_virials(offsets, nbr, vecs, G, len(types), virials)
        else:
            from incipient.potentials.mtp_numpy import evaluate

            centre = np.repeat(np.arange(len(types)), np.diff(offsets))
            E, G = evaluate(t, types, centre, nbr, vecs)
            F = np.zeros((len(types), 3))
            np.add.at(F, centre, G)
            np.add.at(F, nbr, -G)
            W = np.zeros((len(types), 3, 3))
            if virials:
                np.add.at(W, nbr, vecs[:, :, None] * G[:, None, :])
        out = {"energies": E, "energy": float(E.sum()), "forces": F}
        if virials:
            out["virials"] = W
        return out

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        want_stress = a.cell.rank == 3 and a.pbc.all()
        res = self.evaluate(a.positions, a.cell.array, a.pbc, a.numbers, virials=True)
        self.results["energy"] = res["energy"]
        self.results["free_energy"] = res["energy"]
        self.results["energies"] = res["energies"]
        self.results["forces"] = res["forces"]
        self.results["virials"] = res["virials"]
        if want_stress:
            vol = a.get_volume()
            self.results["stresses"] = _voigt(res["virials"]) / vol
            self.results["stress"] = _voigt(res["virials"].sum(axis=0)) / vol
