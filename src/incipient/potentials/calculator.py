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

Checks (cheap next to the kernel; each a one-line :mod:`incipient.errors` exception):

* at construction: the species are known, distinct elements, as many as the file's types; when
  the file declares its species (``# species: Cs Cu I`` comment) or is byte for byte the
  potential of a built-in system (SHA-256 against the ``[potential]`` of each built-in system
  file), a different order is an :class:`InputError`. A plain
  MLIP-2 file does not store its species, so a wrong order cannot be detected there; see
  :func:`plausibility_warnings` for the heuristic used by ``incipient relax`` and ``md``;
* before every evaluation: finite positions and cell, a periodic cell of non-zero volume
  (:class:`InputError`), then, over the neighbour pairs already built (O(pairs)), no two atoms
  closer than ``min_pair_fraction`` (default 0.5) x the potential's ``min_dist``
  (:class:`RunError` naming the pair and distance: far below the fitted range the MTP gives
  meaningless energies, e.g. -6.6e5 eV for two atoms 0.3 A apart);
* after it: energy and forces finite (:class:`RunError`).

MLIP-3's ``RBChebyshev_repuls`` radial basis (frozen below ``min_dist`` plus a fixed pair
repulsion) is evaluated on every backend: the numpy one clamps directly, the compiled ones get
pairs below ``min_dist`` through :mod:`incipient.potentials.repulsion` (exact, no kernel change).

Many structures at once: :meth:`MTP.evaluate_batch` (one kernel call for all, results per
structure) and :meth:`MTP.calculate_batch` (fills each ASE image's calculator results).

``todict()`` (ASE's calculator record, written into trajectories) gives the provenance: the
potential file, its SHA-256, the species order and the backend.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_numbers, chemical_symbols

from incipient.errors import InputError, RunError
from incipient.potentials import repulsion
from incipient.potentials.mtp_file import READABLE_RADIAL_BASES, MTPModel, read_mtp
from incipient.potentials.mtp_tables import build_tables
from incipient.potentials.neighbors import closest_pair, neighbor_list, periodic_batch_neighbor_list

BACKENDS = ("auto", "c", "numba", "numpy")

#: default of ``MTP(min_pair_fraction=...)``: pairs closer than this fraction of ``min_dist`` stop
#: the evaluation (the Chebyshev basis is fitted on [min_dist, max_dist] only).
MIN_PAIR_FRACTION = 0.5
#: pairs closer than this (A) are refused whatever ``min_pair_fraction`` is: coincident atoms
COINCIDENT_A = 1e-6

#: Heuristic limits of :func:`plausibility_warnings` (a structure read from a file or built,
#: evaluated with the right species order, stays far below them; for the built-in three-species MTP
#: every wrong order of Cs, Cu, I gives 9-25 eV/A on the built-in cell, and E > 0 for 4 of the 5).
PLAUSIBLE_MAX_FORCE_EV_A = 5.0
PLAUSIBLE_MAX_ENERGY_EV_ATOM = 0.0


def plausibility_warnings(atoms, *, check_force: bool = True) -> list[str]:
    """Heuristic warnings for a structure evaluated with ``atoms.calc`` (empty list: nothing found).

    An MLIP-2 file does not store which element each type is, so a wrong species order goes
    unnoticed by the file; its signature is an absurd energy and force on a sensible structure.
    Flags a largest force component above :data:`PLAUSIBLE_MAX_FORCE_EV_A` (5 eV/A, when
    ``check_force``) and an energy per atom above :data:`PLAUSIBLE_MAX_ENERGY_EV_ATOM` (0 eV: a
    bound solid fitted to DFT total energies is negative). A heuristic: it cannot prove the order
    right, and a far-from-equilibrium structure can trip it.
    """
    out = []
    e = float(atoms.get_potential_energy()) / len(atoms)
    hint = ("check that the species order matches the potential's types 0, 1, ... "
            "(an MTP file does not store its species)")
    if check_force:
        fmax = float(np.abs(atoms.get_forces()).max())
        if fmax > PLAUSIBLE_MAX_FORCE_EV_A:
            out.append(f"largest force {fmax:.3g} eV/A exceeds {PLAUSIBLE_MAX_FORCE_EV_A:g} eV/A; {hint}")
    if e > PLAUSIBLE_MAX_ENERGY_EV_ATOM:
        out.append(f"energy {e:+.4g} eV/atom is above {PLAUSIBLE_MAX_ENERGY_EV_ATOM:g} eV/atom (unbound); {hint}")
    return out


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=1)
def _known_potentials() -> dict[str, tuple[str, ...]]:
    """SHA-256 -> species order of the MTP files of the built-in systems (their system files)."""
    import tomllib

    from incipient.system import BUILTIN_DIR

    out = {}
    for f in BUILTIN_DIR.glob("*/system.toml"):
        try:
            pot = tomllib.loads(f.read_text()).get("potential", {})
            if "mtp" in pot and "species" in pot:
                out[_sha256(f.parent / pot["mtp"])] = tuple(pot["species"])
        except (OSError, tomllib.TOMLDecodeError):
            continue
    return out


_VOIGT_A = np.array([0, 4, 8, 5, 2, 1])
_VOIGT_B = np.array([0, 4, 8, 7, 6, 3])


def _voigt(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) symmetric part -> (..., 6) Voigt xx yy zz yz xz xy."""
    f = m.reshape(m.shape[:-2] + (9,))
    return 0.5 * (f[..., _VOIGT_A] + f[..., _VOIGT_B])


def _det3(c) -> float:
    (a, b, c_), (d, e, f), (g, h, i) = np.asarray(c, dtype=float).tolist()
    return a * (e * i - f * h) - b * (d * i - f * g) + c_ * (d * h - e * g)


def _same(x, y) -> bool:
    """Exactly equal arrays (shape and values; NaN never equals)."""
    return x.shape == y.shape and bool((x == y).all())


class MTP(Calculator):
    """Moment Tensor Potential calculator.

    Parameters
    ----------
    path : MLIP-2 ``.mtp`` file (a built-in system's: ``incipient.system.load_system(name).calculator()``).
    species : chemical symbols (or atomic numbers) of MTP types 0, 1, 2, ... in order;
        ``None``: the order the file declares (``# species:`` comment, or the built-in system
        whose potential it is); required otherwise.
    backend : ``"auto"`` (C kernel if built, else numba), ``"c"``, ``"numba"`` or ``"numpy"``
        (reference).
    min_pair_fraction : an evaluation with two atoms closer than this fraction of the
        potential's ``min_dist`` raises :class:`~incipient.errors.RunError` (default 0.5; 0
        keeps only the refusal of coincident atoms, closer than ``COINCIDENT_A`` = 1e-6 A).
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress", "stresses", "virials"]

    def __init__(self, path: str | Path, species=None, backend: str = "auto", *,
                 min_pair_fraction: float = MIN_PAIR_FRACTION, **kwargs):
        super().__init__(**kwargs)
        if path is None:
            raise InputError("MTP: give the .mtp file (a built-in system's potential: "
                             "incipient.system.load_system(name).calculator())")
        if backend not in BACKENDS:
            raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if not (np.isfinite(min_pair_fraction) and 0.0 <= min_pair_fraction < 1.0):
            raise InputError(f"min_pair_fraction must be in [0, 1), got {min_pair_fraction!r}")
        self.model: MTPModel = read_mtp(path, radial_bases=READABLE_RADIAL_BASES)
        self.repulsive = self.model.radial_basis_type == "RBChebyshev_repuls"
        self.sha256 = _sha256(path)
        declared = self.model.species or _known_potentials().get(self.sha256)
        if species is None:
            if declared is None:
                raise InputError("species is required: an MLIP-2 file does not store which element each type is "
                                 "(give species=[...] in the order of types 0, 1, ...)", source=path)
            species = declared
        species = list(species)
        zs = [self._atomic_number(s, path) for s in species]
        if len(zs) != self.model.species_count:
            raise InputError(
                f"the potential has species_count = {self.model.species_count} but "
                f"{len(zs)} species were given ({list(species)})", source=path)
        if len(set(zs)) != len(zs):
            raise InputError(f"species {[chemical_symbols[z] for z in zs]} name an element twice", source=path)
        if declared is not None and [chemical_symbols[z] for z in zs] != list(declared):
            raise InputError(
                f"species order {' '.join(chemical_symbols[z] for z in zs)} does not match the order this "
                f"potential was fitted with: {' '.join(declared)} (types 0, 1, ...)", source=path)
        self.min_pair_fraction = float(min_pair_fraction)
        self.min_pair_A = self.min_pair_fraction * self.model.min_dist_A
        self.species_numbers = np.array(zs)
        self._type_of = {z: k for k, z in enumerate(zs)}
        self._type_lut = np.full(len(chemical_symbols), -1, dtype=np.int64)
        self._type_lut[zs] = np.arange(len(zs))
        self.tables = build_tables(self.model)
        if backend in ("auto", "c"):
            from incipient.potentials import mtp_ckernel

            if mtp_ckernel.available():
                try:
                    mtp_ckernel.kernel_for(self.tables)  # built once here, not in the first evaluation
                    backend = "c"
                except ValueError as exc:  # tables beyond the C kernel's 16-bit moment indices
                    if backend == "c":
                        raise InputError(f"backend='c': {exc}", source=path) from None
                    backend = "numba"
            elif backend == "c":
                raise RuntimeError("backend='c': the C MTP kernel is not built (pip install -e . with a C compiler)")
            else:
                backend = "numba"
        self.backend = backend

    @staticmethod
    def _atomic_number(s, path) -> int:
        if isinstance(s, str):
            if s not in atomic_numbers or s == "X":
                raise InputError(f"unknown element {s!r} in the species list", source=path)
            return atomic_numbers[s]
        z = int(s)
        if not 1 <= z < len(chemical_symbols):
            raise InputError(f"unknown atomic number {z} in the species list", source=path)
        return z

    @property
    def species(self) -> tuple[str, ...]:
        """Chemical symbols of MTP types 0, 1, ... as used by this calculator."""
        return tuple(chemical_symbols[z] for z in self.species_numbers)

    def todict(self) -> dict:
        """Provenance (ASE's calculator record): potential file, SHA-256, species, backend."""
        return {"potential": str(self.model.path), "sha256": self.sha256, "species": list(self.species),
                "backend": self.backend, "min_pair_fraction": self.min_pair_fraction}

    def types_of(self, numbers) -> np.ndarray:
        numbers = np.asarray(numbers)
        if numbers.dtype.kind in "iu" and numbers.ndim == 1 and numbers.size:
            try:
                types = self._type_lut[numbers]
            except IndexError:
                types = None
            if types is not None and types.min() >= 0 and numbers.min() >= 0:
                return types
        try:
            return np.array([self._type_of[int(z)] for z in numbers], dtype=np.int64)
        except KeyError as exc:
            z = exc.args[0]
            name = chemical_symbols[z] if 0 <= z < len(chemical_symbols) else f"Z={z}"
            raise InputError(
                f"no MTP type for element {name}; "
                f"the potential covers {list(self.species)}", source=self.model.path
            ) from None

    def check_geometry(self, positions, cell, pbc) -> None:
        """InputError unless positions and cell are finite and periodic directions span a volume."""
        positions = np.asarray(positions, dtype=float)
        if positions.ndim != 2 or positions.shape[1] != 3:
            raise InputError(f"positions must have shape (N, 3), got {positions.shape}")
        if positions.shape[0] == 0:
            raise InputError("the structure holds no atoms")
        finite = np.isfinite(positions).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise InputError(f"atom {int(bad[0])} has a non-finite position {positions[bad[0]].tolist()}"
                             + (f" ({bad.size} atoms in all)" if bad.size > 1 else ""))
        cell = np.asarray(cell, dtype=float)
        if cell.shape != (3, 3) or not np.isfinite(cell).all():
            raise InputError(f"the cell is not a finite 3x3 matrix: {cell.tolist()}")
        pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
        if pbc.any():
            lengths = np.linalg.norm(cell, axis=1)
            if np.any(lengths[pbc] <= 1e-6):
                raise InputError(f"periodic cell vector {int(np.flatnonzero(pbc & (lengths <= 1e-6))[0])} has zero length "
                                 f"(cell lengths {lengths.round(6).tolist()} A)")
        if pbc.all():
            vol = abs(float(np.linalg.det(cell)))
            if vol <= 1e-9 * float(np.prod(lengths)):
                raise InputError(f"the periodic cell is degenerate (volume {vol:.3g} A^3 for lengths "
                                 f"{lengths.round(4).tolist()} A)")

    def _check_pairs(self, offsets, nbr, vecs, numbers=None) -> None:
        """RunError when two atoms are closer than ``min_pair_A`` or coincide (O(pairs), on the built list)."""
        if vecs.shape[0] == 0:
            return
        p, d2 = closest_pair(vecs)
        if d2 < max(self.min_pair_A, COINCIDENT_A) ** 2:
            self._pair_error(offsets, nbr, p, d2, numbers)

    def evaluate(self, positions, cell, pbc, numbers, *, virials: bool = True):
        """Raw evaluation: dict with energy, energies, forces and (optionally) virials (N, 3, 3).

        Raises InputError for a non-finite or degenerate geometry and RunError for atoms closer
        than ``min_pair_A`` or a non-finite result (see the module docstring).
        """
        types = self.types_of(numbers)
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        cell = np.asarray(cell, dtype=np.float64)
        pbc3 = np.asarray(pbc, dtype=bool)
        if pbc3.shape != (3,):
            pbc3 = np.broadcast_to(pbc3, (3,))
        if pbc3.all() and positions.ndim == 2 and positions.shape[1] == 3 and positions.shape[0] > 0 \
                and cell.shape == (3, 3):
            # fast path: checks, neighbour list and closest pair in one compiled call
            n = positions.shape[0]
            st, _, offsets, nbr, vecs, at, d2 = periodic_batch_neighbor_list(
                positions, cell.reshape(1, 3, 3), np.array([0, n]), self.model.cutoff_A, status=True)
            if st != 0:
                self.check_geometry(positions, cell, pbc)  # raises the detailed message
                neighbor_list(positions, cell, pbc, self.model.cutoff_A)
                raise InputError("the geometry cannot be evaluated (non-finite or degenerate cell)")
            self._check_closest(offsets, nbr, at, d2, numbers)
        else:
            self.check_geometry(positions, cell, pbc)
            offsets, nbr, vecs = neighbor_list(positions, cell, pbc, self.model.cutoff_A)
            self._check_pairs(offsets, nbr, vecs, numbers)
        E, F, W = self._evaluate_lists(offsets, nbr, vecs, types, virials)
        energy = float(E.sum())
        if not (np.isfinite(energy) and np.isfinite(F).all()):
            raise RunError(f"the MTP {self.model.path} gave a non-finite energy or forces "
                           f"(E = {energy}); the structure or the potential file is unusable")
        out = {"energies": E, "energy": energy, "forces": F}
        if virials:
            out["virials"] = W
        return out

    def _check_closest(self, offsets, nbr, at, d2, numbers) -> None:
        if at >= 0 and d2 < max(self.min_pair_A, COINCIDENT_A) ** 2:
            self._pair_error(offsets, nbr, at, d2, numbers)

    def _pair_error(self, offsets, nbr, p, d2, numbers, where=None):
        i = int(np.searchsorted(offsets, p, side="right") - 1)
        j = int(nbr[p])
        prefix = ""
        if where is not None:  # batch: (structure index, first atom of each structure)
            b = int(np.searchsorted(where[1], i, side="right") - 1)
            prefix = f"structure {b}: "
            i, j = i - int(where[1][b]), j - int(where[1][b])
            numbers = numbers[where[1][b]:]
        names = ("", "") if numbers is None else tuple(f" ({chemical_symbols[int(numbers[k])]})" for k in (i, j))
        raise RunError(
            f"{prefix}atoms {i}{names[0]} and {j}{names[1]} are {np.sqrt(d2):.3g} A apart, below {self.min_pair_fraction:g} x "
            f"min_dist = {self.min_pair_A:.3g} A of the potential {self.model.path}: the MTP is not "
            "defined there (overlapping or coincident atoms?)")

    def _evaluate_lists(self, offsets, nbr, vecs, types, virials: bool):
        """(E (N,), F (N, 3), W (N, 3, 3) or None) from a CSR neighbour list, by the chosen backend."""
        if self.repulsive and self.backend != "numpy":
            close = repulsion.close_pairs(vecs, self.model.min_dist_A)
            if close.size:  # MLIP-3's RBChebyshev_repuls below min_dist (module repulsion)
                from incipient.potentials.mtp_kernel import forces_and_virials

                E, G = self._site_energies_and_gradients(
                    offsets, nbr, repulsion.clamped_vectors(vecs, close, self.model.min_dist_A), types)
                centre = np.searchsorted(offsets, close, side="right") - 1
                E, G = repulsion.correct(E, G, centre, vecs, close, self.model.min_dist_A)
                F, W = forces_and_virials(offsets, nbr, vecs, G, len(types), virials)
                return E, F, (W if virials else None)
        t = self.tables
        if self.backend == "c":
            import numba

            from incipient.potentials import mtp_ckernel

            E, _, F, W = mtp_ckernel.kernel_for(t).run(offsets, nbr, vecs, types, numba.get_num_threads(), virials)
            return E, F, W
        if self.backend == "numba":
            import numba

            from incipient.potentials.mtp_kernel import forces_and_virials

            E, G = self._site_energies_and_gradients(offsets, nbr, vecs, types)
            F, W = forces_and_virials(offsets, nbr, vecs, G, len(types), virials)
            return E, F, (W if virials else None)
        from incipient.potentials.mtp_numpy import evaluate

        centre = np.repeat(np.arange(len(types)), np.diff(offsets))
        E, G = evaluate(t, types, centre, nbr, vecs, repulsive=self.repulsive)
        F = np.zeros((len(types), 3))
        np.add.at(F, centre, G)
        np.add.at(F, nbr, -G)
        W = None
        if virials:
            W = np.zeros((len(types), 3, 3))
            np.add.at(W, nbr, vecs[:, :, None] * G[:, None, :])
        return E, F, W

    def _site_energies_and_gradients(self, offsets, nbr, vecs, types):
        """Site energies E (N,) eV and pair gradients G (P, 3) eV/A by the C or numba kernel."""
        import numba

        if self.backend == "c":
            from incipient.potentials import mtp_ckernel

            return mtp_ckernel.site_energies_and_gradients(self.tables, offsets, nbr, vecs, types,
                                                           numba.get_num_threads())
        from incipient.potentials.mtp_kernel import BLOCK, site_energies_and_gradients

        t = self.tables
        # a block of BLOCK atoms is the unit of parallel work: one thread when there are
        # fewer than two blocks per thread
        threads = numba.get_num_threads()
        if -(-len(types) // BLOCK) < 2 * threads:
            numba.set_num_threads(1)
        try:
            return site_energies_and_gradients(
                offsets, nbr, vecs, types, t.radial_coeffs, t.min_dist, t.max_dist, t.scaling,
                t.mono_parent, t.mono_dir, t.mono_pow, t.mono_lower, t.basic_mu, t.basic_mono,
                t.times, t.times_mult, t.n_moments, t.mapping, t.moment_coeffs, t.species_coeffs,
                t.mb_ptr, t.mb_idx, t.pull_ptr, t.pull_i3, t.pull_oth, t.pull_mult,
                np.argsort(np.diff(offsets), kind="stable"), numba.get_num_threads(),
            )
        finally:
            numba.set_num_threads(threads)

    def evaluate_batch(self, structures, *, virials: bool = True) -> list[dict]:
        """Evaluate many structures in one kernel call; one result dict per structure.

        ``structures``: ASE ``Atoms`` objects or ``(positions, cell, pbc, numbers)`` tuples, of
        any sizes (many small cells: NEB images, phonopy displacements, training sets). Their
        neighbour lists are concatenated (one compiled call when all are fully periodic) and
        evaluated together, so the kernel's 16-atom blocks are filled across structures: for
        1-atom cells this is many times faster than one call per cell. Each dict has ``energy``,
        ``energies``, ``forces`` and, with ``virials``, ``virials`` (N, 3, 3) eV and, for fully
        periodic cells, ``stress`` (6,) and ``stresses`` (N, 6) eV/A^3 (ASE convention, as
        :meth:`calculate`). Results equal one-by-one evaluation to rounding (1e-12 relative; the
        kernel may sum a cell's pairs in another order when it shares a block). Errors name the
        structure (``structure 3: ...``).
        """
        items = []
        for s in structures:
            if hasattr(s, "get_positions"):
                items.append((s.positions, s.cell.array, s.pbc, s.numbers))
            else:
                pos, cell, pbc, numbers = s
                items.append((pos, cell, pbc, numbers))
        if not items:
            return []
        sizes = np.array([len(np.asarray(it[0]).reshape(-1, 3)) for it in items], dtype=np.int64)
        ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        numbers = np.concatenate([np.asarray(it[3]).reshape(-1) for it in items]).astype(np.int64)
        types = self.types_of(numbers)
        positions = np.concatenate([np.asarray(it[0], dtype=np.float64).reshape(-1, 3) for it in items])
        cells = np.stack([np.asarray(it[1], dtype=np.float64).reshape(3, 3) for it in items])
        pbcs = np.stack([np.broadcast_to(np.asarray(it[2], dtype=bool), (3,)) for it in items])
        periodic = pbcs.all(axis=1)
        for b in np.flatnonzero(sizes == 0):
            raise InputError(f"structure {int(b)}: the structure holds no atoms")
        if periodic.all():
            st, bad, offsets, nbr, vecs, at, d2 = periodic_batch_neighbor_list(
                positions, cells, ptr, self.model.cutoff_A, status=True)
            if st != 0:
                sl = slice(ptr[bad], ptr[bad + 1])
                try:
                    self.check_geometry(positions[sl], cells[bad], pbcs[bad])
                    neighbor_list(positions[sl], cells[bad], pbcs[bad], self.model.cutoff_A)
                    raise InputError("the geometry cannot be evaluated (non-finite or degenerate cell)")
                except InputError as exc:
                    raise InputError(f"structure {int(bad)}: {exc}") from None
        else:
            offs, nbrs, vecl = [np.zeros(1, dtype=np.int64)], [], []
            for b in range(len(items)):
                sl = slice(ptr[b], ptr[b + 1])
                try:
                    self.check_geometry(positions[sl], cells[b], pbcs[b])
                    o, nb_, v = neighbor_list(positions[sl], cells[b], pbcs[b], self.model.cutoff_A)
                except InputError as exc:
                    raise InputError(f"structure {b}: {exc}") from None
                offs.append(o[1:] + offs[-1][-1])
                nbrs.append(nb_ + ptr[b])
                vecl.append(v)
            offsets = np.concatenate(offs)
            nbr = np.ascontiguousarray(np.concatenate(nbrs), dtype=np.int64)
            vecs = np.ascontiguousarray(np.concatenate(vecl).reshape(-1, 3), dtype=np.float64)
            at, d2 = closest_pair(vecs)
        if at >= 0 and d2 < max(self.min_pair_A, COINCIDENT_A) ** 2:
            self._pair_error(offsets, nbr, at, d2, numbers, (None, ptr))
        E, F, W = self._evaluate_lists(offsets, nbr, vecs, types, virials)
        energies = np.add.reduceat(E, ptr[:-1]) if E.size else np.zeros(len(items))
        bad = ~(np.isfinite(energies) & np.isfinite(np.add.reduceat(np.abs(F).sum(axis=1), ptr[:-1])))
        if bad.any():
            b = int(np.flatnonzero(bad)[0])
            raise RunError(f"structure {b}: the MTP {self.model.path} gave a non-finite energy or forces "
                           f"(E = {energies[b]}); the structure or the potential file is unusable")
        if virials:
            Wsum = np.add.reduceat(W, ptr[:-1], axis=0)
            vol = np.abs(np.linalg.det(cells))
            with np.errstate(divide="ignore", invalid="ignore"):
                stress = _voigt(Wsum) / vol[:, None]
                stresses = _voigt(W) / np.repeat(vol, sizes)[:, None]
        out = []
        for b in range(len(items)):
            a0, a1 = ptr[b], ptr[b + 1]
            r = {"energy": float(energies[b]), "energies": E[a0:a1], "forces": F[a0:a1]}
            if virials:
                r["virials"] = W[a0:a1]
                if periodic[b]:
                    r["stress"] = stress[b]
                    r["stresses"] = stresses[a0:a1]
            out.append(r)
        return out

    def _clone(self) -> MTP:
        """A calculator sharing this one's model and tables (no file read), with its own results."""
        c = object.__new__(type(self))
        Calculator.__init__(c)
        for k in ("model", "sha256", "min_pair_fraction", "min_pair_A", "species_numbers", "_type_of", "_type_lut",
                  "tables", "backend", "repulsive"):
            setattr(c, k, getattr(self, k))
        return c

    def calculate_batch(self, images) -> None:
        """Evaluate ASE ``images`` in one batch and store each image's results in its calculator.

        Afterwards ``image.get_forces()``, ``get_potential_energy()``, ``get_stress()`` etc.
        return the stored results without recomputing (ASE's usual caching: until the image
        changes). An image whose calculator is ``None`` or this calculator gets its own
        calculator sharing this one's model (so NEB images, phonopy displacements or a training
        set can keep one calculator each); an image with another ``MTP`` of the same potential
        and species keeps it; any other calculator is an InputError.
        """
        images = list(images)
        calcs = []
        for k, img in enumerate(images):
            c = img.calc
            if c is None or c is self:
                c = self._clone()
            elif not (isinstance(c, MTP) and c.sha256 == self.sha256 and c.species == self.species):
                raise InputError(f"image {k} has another calculator ({type(c).__name__}); calculate_batch fills "
                                 "only MTP calculators of the same potential")
            calcs.append(c)
        if len({id(c) for c in calcs}) != len(calcs):
            raise InputError("calculate_batch: two images share one calculator (each image needs its own results)")
        results = self.evaluate_batch(images, virials=True)
        for img, c, res in zip(images, calcs, results, strict=True):
            c.atoms = img.copy()
            c.results = {"energy": res["energy"], "free_energy": res["energy"], "energies": res["energies"],
                         "forces": res["forces"], "virials": res["virials"]}
            if img.cell.rank == 3 and img.pbc.all():
                c.results["stress"] = res["stress"]
                c.results["stresses"] = res["stresses"]
            img.calc = c

    def check_state(self, atoms, tol=1e-15):
        """ASE's change detection (same properties), by exact comparison instead of ``isclose``.

        Stricter than ASE's tolerance of 1e-15 (a change below it also recomputes) and about
        20 times cheaper, which matters for small cells (ASE's takes ~150 us per call).
        """
        a0 = self.atoms
        if a0 is None:
            return list(all_changes)
        ignored = self.ignored_changes
        changes = []
        if "cell" not in ignored and not _same(a0.cell.array, atoms.cell.array):
            changes.append("cell")
        if "pbc" not in ignored and not _same(a0.pbc, atoms.pbc):
            changes.append("pbc")
        arr0, arr1 = a0.arrays, atoms.arrays
        for prop in all_changes:
            if prop in ("cell", "pbc") or prop in ignored:
                continue
            x, y = arr0.get(prop), arr1.get(prop)
            if x is None and y is None:
                continue
            if x is None or y is None or not _same(x, y):
                changes.append(prop)
        return changes

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        # what Calculator.calculate does, less its check of the (unused) working directory
        if atoms is not None:
            self.atoms = atoms.copy()
        a = self.atoms
        cell = a.cell.array
        res = self.evaluate(a.positions, cell, a.pbc, a.numbers, virials=True)
        # a fully periodic cell that evaluated has three non-zero cell vectors (checked)
        want_stress = bool(a.pbc.all())
        self.results["energy"] = res["energy"]
        self.results["free_energy"] = res["energy"]
        self.results["energies"] = res["energies"]
        self.results["forces"] = res["forces"]
        self.results["virials"] = res["virials"]
        if want_stress:
            vol = abs(_det3(cell))
            self.results["stresses"] = _voigt(res["virials"]) / vol
            self.results["stress"] = _voigt(res["virials"].sum(axis=0)) / vol
