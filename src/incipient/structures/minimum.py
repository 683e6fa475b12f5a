"""Find the true minimum of a crystal: relax from rattled, symmetry-broken starts.

A relaxation keeps every symmetry the forces keep: started from a symmetric structure it can end on
a saddle point of the potential (zero forces by symmetry, negative curvature along a
symmetry-breaking mode). :func:`find_minimum` therefore

1. relaxes the given structure as it is (positions and, by default, the cell: ASE's
   ``FrechetCellFilter`` with FIRE), the *symmetric* relaxation;
2. relaxes ``n_starts`` copies of that result with random Gaussian displacements (``rattle_A``,
   standard deviation per Cartesian component, one amplitude per start, cycled; numpy
   ``default_rng(seed + k)``), optionally in a supercell (``repeat``);
3. keeps the lowest end point (energy per atom) and reports the drop below the symmetric
   relaxation, the space groups of both (spglib at ``symprec``) and of every start, and
4. optionally (``gamma_modes``, default on up to 96 atoms) the frequencies at Gamma of the
   symmetric relaxation from a central-difference Hessian (``2 * 3N`` force calls, step 0.01 A);
   imaginary frequencies are reported as negative numbers (THz).

The symmetric structure is called a *saddle* when some start ends lower by more than
``saddle_tol_meV_atom`` (default 0.1 meV/atom) or when it has imaginary Gamma modes beyond the
acoustic noise (``imaginary_tol_THz``, default 0.3 THz); a warning is logged and kept in
``MinimumResult.warnings``. The minimum keeps the atom order of the input (one-to-one with the
symmetric structure), so a site graph built on the symmetric structure applies to it.

Everything is generic (any ASE calculator, any crystal); nothing is material-specific.
"""

from __future__ import annotations

import logging
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from incipient.results import Result

log = logging.getLogger(__name__)

DEFAULT_RATTLE_A = (0.05, 0.1, 0.2, 0.15)
DEFAULT_STARTS = 8


@contextmanager
def single_thread_blas():
    """Limit BLAS to one thread inside (threadpoolctl, when installed).

    The cell filter solves 3x3 problems every step; a multi-threaded OpenBLAS on a loaded machine
    makes each of them milliseconds (measured: 6x slower relaxations of a 24-atom cell).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def spacegroup(atoms: Atoms, symprec: float = 0.01) -> str:
    """International symbol and number (spglib), e.g. ``"Cmcm (63)"``; ``"?"`` if spglib fails."""
    import spglib

    cell = (atoms.cell.array, atoms.get_scaled_positions(wrap=True), atoms.numbers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            sg = spglib.get_spacegroup(cell, symprec=symprec)
        except Exception:  # noqa: BLE001 - spglib's error type differs between versions
            sg = None
    return sg or "?"


def relax_structure(atoms: Atoms, calculator, *, relax_cell: bool = True, fmax_eV_A: float = 1e-3,
                    max_steps: int = 3000) -> tuple[Atoms, bool, int]:
    """(relaxed copy, converged, steps): FIRE on positions (and cell, ``FrechetCellFilter``)."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    a = atoms.copy()
    a.calc = calculator
    target = FrechetCellFilter(a) if relax_cell else a
    with single_thread_blas(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="logm result may be inaccurate")
        opt = FIRE(target, logfile=None)
        converged = bool(opt.run(fmax=fmax_eV_A, steps=max_steps))
    return a, converged, int(opt.nsteps)


def gamma_frequencies_THz(atoms: Atoms, calculator, *, step_A: float = 0.01) -> np.ndarray:
    """Frequencies (THz, ascending; imaginary ones negative) at Gamma of the cell ``atoms``.

    Central-difference Hessian of the energy (2 x 3N force calls), symmetrised, mass-weighted.
    """
    from incipient.units import sqrt_eV_A2_amu_to_THz

    a = atoms.copy()
    a.calc = calculator
    n = len(a)
    pos0 = a.positions.copy()
    h = np.zeros((3 * n, 3 * n))
    for i in range(n):
        for c in range(3):
            col = []
            for s in (+1, -1):
                p = pos0.copy()
                p[i, c] += s * step_A
                a.positions = p
                col.append(a.get_forces().ravel())
            h[:, 3 * i + c] = -(col[0] - col[1]) / (2 * step_A)
    a.positions = pos0
    h = 0.5 * (h + h.T)
    m = np.repeat(a.get_masses(), 3)
    d = h / np.sqrt(np.outer(m, m))
    w2 = np.linalg.eigvalsh(d)  # eV / (A^2 amu)
    return np.sign(w2) * np.sqrt(np.abs(w2)) * sqrt_eV_A2_amu_to_THz


@dataclass(frozen=True)
class MinimumResult(Result):
    """Outcome of :func:`find_minimum`.

    n_atoms : atoms of the symmetric cell; repeat : supercell of the rattled starts;
    energy_symmetric_eV_per_atom, energy_minimum_eV_per_atom : symmetric relaxation and lowest
    end point; drop_meV_per_atom : symmetric - minimum (>= 0 when a start went lower);
    spacegroup_symmetric, spacegroup_minimum : spglib at ``symprec``;
    start_rattle_A, start_drops_meV_per_atom, start_spacegroups, start_converged : per start;
    gamma_THz : Gamma frequencies of the symmetric relaxation (negative = imaginary; empty when
    not computed); n_imaginary_gamma : those below -imaginary_tol_THz;
    is_saddle : the symmetric relaxation is not a minimum (module docstring);
    converged : the symmetric relaxation and the chosen start reached fmax;
    cell_minimum_A, positions_minimum_A, cell_symmetric_A, positions_symmetric_A, numbers : the
    two structures (same atom order; see ``minimum_atoms()`` / ``symmetric_atoms()``);
    wall_s : seconds; warnings : the saddle warning, unconverged relaxations.
    """

    n_atoms: int
    repeat: tuple
    energy_symmetric_eV_per_atom: float
    energy_minimum_eV_per_atom: float
    drop_meV_per_atom: float
    spacegroup_symmetric: str
    spacegroup_minimum: str
    symprec: float
    start_rattle_A: tuple
    start_drops_meV_per_atom: tuple
    start_spacegroups: tuple
    start_converged: tuple
    gamma_THz: np.ndarray
    n_imaginary_gamma: int
    is_saddle: bool
    converged: bool
    fmax_eV_A: float
    relax_cell: bool
    cell_minimum_A: np.ndarray
    positions_minimum_A: np.ndarray
    cell_symmetric_A: np.ndarray
    positions_symmetric_A: np.ndarray
    numbers: np.ndarray
    wall_s: float
    warnings: tuple = ()

    def minimum_atoms(self) -> Atoms:
        """The lowest structure found (atoms in the input order, repeated by ``repeat``)."""
        return Atoms(numbers=self.numbers, positions=self.positions_minimum_A, cell=self.cell_minimum_A, pbc=True)

    def symmetric_atoms(self) -> Atoms:
        """The symmetric relaxation, repeated by ``repeat`` (same order as ``minimum_atoms``)."""
        return Atoms(numbers=self.numbers, positions=self.positions_symmetric_A, cell=self.cell_symmetric_A, pbc=True)

    def summary(self) -> str:
        txt = (f"symmetric relaxation {self.spacegroup_symmetric} {self.energy_symmetric_eV_per_atom:.5f} eV/atom; "
               f"lowest of {len(self.start_drops_meV_per_atom)} rattled starts {self.spacegroup_minimum} "
               f"{self.drop_meV_per_atom:.3f} meV/atom lower")
        if self.gamma_THz.size:
            txt += f"; {self.n_imaginary_gamma} imaginary Gamma modes (lowest {self.gamma_THz[0]:.2f} THz)"
        return txt + ("; the symmetric structure is a SADDLE POINT of the potential" if self.is_saddle else "")


def find_minimum(atoms: Atoms, calculator, *, n_starts: int = DEFAULT_STARTS, rattle_A=DEFAULT_RATTLE_A, seed: int = 0,
                 repeat=(1, 1, 1), relax_cell: bool = True, fmax_eV_A: float = 1e-3, max_steps: int = 3000,
                 symprec: float = 0.01, gamma_modes: bool | None = None, saddle_tol_meV_atom: float = 0.1,
                 imaginary_tol_THz: float = 0.3, relax_symmetric: bool = True) -> tuple[Atoms, MinimumResult]:
    """The lowest structure among rattled relaxations of ``atoms``, and the report (module docstring).

    calculator : an ASE calculator (reused for every relaxation) or a zero-argument factory.
    n_starts : rattled starts; rattle_A : amplitude (A) or amplitudes cycled over the starts.
    repeat : supercell (of the symmetric relaxation) in which the starts are made; the returned
        structures are in that supercell.
    relax_symmetric : False if ``atoms`` is already relaxed (then it is only evaluated).
    gamma_modes : compute Gamma frequencies of the symmetric relaxation (None: when <= 96 atoms).
    Returns (minimum Atoms without calculator, MinimumResult).
    """
    if isinstance(calculator, type) or (callable(calculator) and not hasattr(calculator, "get_potential_energy")
                                        and not hasattr(calculator, "calculate")):
        calculator = calculator()  # a factory
    if n_starts < 1:
        raise ValueError(f"n_starts must be >= 1, got {n_starts}")
    amps = np.atleast_1d(np.asarray(rattle_A, dtype=float))
    if amps.size == 0 or np.any(amps <= 0) or not np.all(np.isfinite(amps)):
        raise ValueError(f"rattle_A must be positive amplitudes, got {rattle_A!r}")
    repeat = tuple(int(r) for r in np.broadcast_to(np.asarray(repeat), (3,)))
    if min(repeat) < 1:
        raise ValueError(f"repeat must be three positive integers, got {repeat}")
    t0 = time.perf_counter()
    found: list[str] = []
    if relax_symmetric:
        sym, sym_conv, _ = relax_structure(atoms, calculator, relax_cell=relax_cell, fmax_eV_A=fmax_eV_A,
                                           max_steps=max_steps)
        if not sym_conv:
            found.append(f"the symmetric relaxation did not reach fmax {fmax_eV_A} eV/A in {max_steps} steps")
    else:
        sym, sym_conv = atoms.copy(), True
    sym.calc = calculator
    e_sym = float(sym.get_potential_energy()) / len(sym)
    if gamma_modes is None:
        gamma_modes = len(sym) <= 96
    with single_thread_blas():
        freqs = gamma_frequencies_THz(sym, calculator) if gamma_modes else np.zeros(0)
    n_imag = int(np.sum(freqs < -abs(imaginary_tol_THz)))
    big = sym.repeat(repeat)
    starts = []
    for k in range(n_starts):
        amp = float(amps[k % amps.size])
        a = big.copy()
        a.positions += np.random.default_rng(seed + k).normal(0.0, amp, a.positions.shape)
        m, conv, _ = relax_structure(a, calculator, relax_cell=relax_cell, fmax_eV_A=fmax_eV_A, max_steps=max_steps)
        e = float(m.get_potential_energy()) / len(m)
        starts.append((amp, e, spacegroup(m, symprec), conv, m))
    best = min(starts, key=lambda s: s[1])
    drop = 1000.0 * (e_sym - best[1])
    is_saddle = bool(drop > saddle_tol_meV_atom or n_imag > 0)
    sg_sym = spacegroup(sym, symprec)
    if not best[3]:
        found.append(f"the lowest rattled relaxation did not reach fmax {fmax_eV_A} eV/A in {max_steps} steps")
    if is_saddle:
        why = [f"a rattled start relaxed {drop:.2f} meV/atom lower ({best[2]})"] if drop > saddle_tol_meV_atom else []
        if n_imag:
            why.append(f"{n_imag} imaginary Gamma modes down to {freqs[0]:.2f} THz")
        found.append(f"the symmetric relaxation ({sg_sym}) is a saddle point of the potential, not a minimum: "
                     + "; ".join(why))
    for w in found:
        log.warning("%s", w)
    minimum = best[4].copy()
    minimum.calc = None
    return minimum, MinimumResult(
        n_atoms=len(sym), repeat=repeat, energy_symmetric_eV_per_atom=e_sym, energy_minimum_eV_per_atom=best[1],
        drop_meV_per_atom=float(drop), spacegroup_symmetric=sg_sym, spacegroup_minimum=best[2],
        symprec=float(symprec), start_rattle_A=tuple(s[0] for s in starts),
        start_drops_meV_per_atom=tuple(1000.0 * (e_sym - s[1]) for s in starts),
        start_spacegroups=tuple(s[2] for s in starts), start_converged=tuple(s[3] for s in starts),
        gamma_THz=np.asarray(freqs), n_imaginary_gamma=n_imag, is_saddle=is_saddle,
        converged=bool(sym_conv and best[3]), fmax_eV_A=float(fmax_eV_A), relax_cell=bool(relax_cell),
        cell_minimum_A=minimum.cell.array.copy(), positions_minimum_A=minimum.positions.copy(),
        cell_symmetric_A=big.cell.array.copy(), positions_symmetric_A=big.positions.copy(),
        numbers=big.numbers.copy(), wall_s=time.perf_counter() - t0, warnings=tuple(found))
