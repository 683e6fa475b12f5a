"""Migration barriers by climbing-image nudged elastic band for site-graph hops (Figure 1f).

Wraps ASE (``ase.mep.NEB`` with ``climb=True``, IDPP interpolation, ``ase.optimize`` FIRE/BFGS,
``ase.utils.forcecurve.fit_images`` for the spline of the profile); works with any ASE calculator.

Choice of endpoints (docs/migration.md): when every site of the mobile ion is occupied (as the
CuI4 tetrahedra of CsCu2I3), an ion cannot move to a neighbouring site unless that site is
empty. We use the standard vacancy-mediated hop: the ion on site j is removed, the ion on the
neighbouring site i moves into j; initial and final states are the relaxed structures with the
vacancy on j and on i. For a pair related by symmetry the profile is symmetric. The pair of
each pathway class is the shortest edge of that class joining two occupied sites in
``find_sites``'s graph (classes found by symmetry, named by ``pathway_names`` or "P1", "P2",
... by length; see ``incipient.analysis.sites``). An interstitial variant (one ion moved to a
given empty position, no atom removed) is available through ``interstitial_hop_endpoints``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.results import Result

OPTIMIZERS = ("FIRE", "BFGS")


def _is_factory(calc) -> bool:
    """True for a class or a plain callable returning calculators, False for an instance."""
    if isinstance(calc, type):
        return True
    if hasattr(calc, "get_potential_energy") or hasattr(calc, "calculate"):
        return False
    if callable(calc):
        return True
    raise ValueError(f"calculator must be an ASE calculator or a factory, got {type(calc).__name__}")


def _calculator(calc):
    """A calculator instance from an instance or a zero-argument factory."""
    return calc() if _is_factory(calc) else calc


def _mic_vector(atoms, i: int, j: int) -> np.ndarray:
    return atoms.get_distance(i, j, mic=True, vector=True)


def vacancy_hop_endpoints(atoms, i_from: int, i_to: int):
    """(initial, final) for atom ``i_from`` hopping into the site of atom ``i_to`` (removed).

    Both are new Atoms without ``i_to``; in ``final`` the hopping atom sits on ``i_to``'s
    site (nearest periodic image of it). Returns (initial, final, index of the hopping atom).
    """
    n = len(atoms)
    if not (0 <= i_from < n and 0 <= i_to < n) or i_from == i_to:
        raise ValueError(f"need two different atom indices in 0..{n - 1}, got {i_from}, {i_to}")
    vec = _mic_vector(atoms, i_from, i_to)
    initial = atoms.copy()
    del initial[i_to]
    k = i_from - (1 if i_from > i_to else 0)
    final = initial.copy()
    final.positions[k] = atoms.positions[i_from] + vec
    return initial, final, k


def interstitial_hop_endpoints(atoms, i_from: int, target_A):
    """(initial, final, index) for atom ``i_from`` moving to the empty position ``target_A``."""
    if not 0 <= i_from < len(atoms):
        raise ValueError(f"atom index {i_from} out of range 0..{len(atoms) - 1}")
    initial = atoms.copy()
    final = atoms.copy()
    final.positions[i_from] = np.asarray(target_A, dtype=float)
    return initial, final, i_from


def pathway_endpoints(atoms, species: str, pathways=None, **site_kwargs):
    """Vacancy-hop endpoints for each pathway class: dict name -> (initial, final, index, vector).

    The site graph is built from ``atoms`` (``find_sites(atoms, species, **site_kwargs)``, e.g.
    with ``pathway_names=``); the shortest edge of each class joining two occupied sites (not a
    site and its own periodic image) is used. pathways : class names to compute; None: every
    class of the graph that has such an edge, in order of length. Raises ValueError if a named
    class is not in the graph or has no such edge.
    """
    from incipient.analysis.sites import find_sites

    graph = find_sites(atoms, species, **site_kwargs)
    if pathways is None:
        names = graph.class_names
    else:
        names = (pathways,) if isinstance(pathways, str) else tuple(pathways)
    out = {}
    for name in names:
        if name not in graph.class_names:
            found = ", ".join(f"{r['class']} ({r['length_A']:.2f} A)" for r in graph.pathway_summary())
            raise ValueError(f"no pathway class {name!r} in the {species} site graph; classes found: {found}")
        e = [int(k) for k in graph.edges_of_class(name)
             if graph.edges[k, 0] != graph.edges[k, 1] and np.all(graph.occupant[graph.edges[k]] >= 0)]
        if not e:
            if pathways is None:
                continue
            raise ValueError(f"class {name!r} has no edge between two occupied {species} sites "
                             "(it joins interstitials, or a site and its own image: use a supercell)")
        i, j = graph.edges[e[0]]
        a, b = int(graph.occupant[i]), int(graph.occupant[j])
        initial, final, k = vacancy_hop_endpoints(atoms, a, b)
        out[name] = (initial, final, k, graph.edge_vectors_A[e[0]])
    if not out:
        raise ValueError(f"no vacancy hop between two {species} sites in the site graph "
                         f"(shells: {graph.shell_summary()})")
    return out


@dataclass(frozen=True)
class BarrierResult(Result):
    """Energy profile of one hop along the converged (climbing-image) NEB path.

    path_A : (n,) cumulative image-to-image distance, Angstrom; energies_eV : (n,) relative to
    the initial state, eV; fit_path_A, fit_energies_eV : ASE NEBTools spline through them.
    barrier_eV : max energy - initial; reverse_barrier_eV : max - final; delta_E_eV : final - initial.
    converged : NEB reached fmax; max_force_eV_A : final max NEB force; n_steps : optimizer steps.
    """

    label: str
    path_A: np.ndarray
    energies_eV: np.ndarray
    fit_path_A: np.ndarray
    fit_energies_eV: np.ndarray
    barrier_eV: float
    reverse_barrier_eV: float
    delta_E_eV: float
    converged: bool
    max_force_eV_A: float
    n_steps: int
    climb: bool

    def plot(self, ax=None):
        """Energy profile (images and spline); returns the Figure."""
        import matplotlib.pyplot as plt

        fig, ax = (plt.subplots(figsize=(4.5, 3.4)) if ax is None else (ax.figure, ax))
        line, = ax.plot(self.fit_path_A, self.fit_energies_eV, "-",
                        label=f"{self.label}: {self.barrier_eV:.2f} eV")
        ax.plot(self.path_A, self.energies_eV, "o", color=line.get_color())
        ax.set_xlabel(r"reaction coordinate ($\AA$)")
        ax.set_ylabel("energy (eV)")
        ax.legend(frameon=False, fontsize=8)
        fig.tight_layout()
        return fig


def _relax(atoms, calc, fmax, steps, optimizer):
    from ase.optimize import BFGS, FIRE

    atoms.calc = _calculator(calc)
    opt = {"FIRE": FIRE, "BFGS": BFGS}[optimizer](atoms, logfile=None)
    opt.run(fmax=fmax, steps=steps)
    return atoms


def neb_barrier(initial, final, calculator, *, n_images: int = 5, climb: bool = True,
                fmax: float = 0.05, steps: int = 1000, optimizer: str = "FIRE",
                relax_endpoints: bool = True, interpolation: str = "idpp",
                method: str = "improvedtangent", label: str = "hop") -> BarrierResult:
    """Climbing-image NEB between ``initial`` and ``final`` (same atoms, same order).

    calculator : an ASE calculator (shared by all images) or a factory returning a new one per
        image (use a factory for calculators that cannot be shared).
    n_images : number of intermediate images. fmax in eV/A for endpoints and band.
    method : ASE NEB tangent method; interpolation : "idpp" or "linear" (minimum image).
    """
    from ase.mep import NEB
    from ase.optimize import BFGS, FIRE
    from ase.utils.forcecurve import fit_images

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if len(initial) != len(final) or list(initial.numbers) != list(final.numbers):
        raise ValueError("initial and final must hold the same atoms in the same order")
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    initial, final = initial.copy(), final.copy()
    if relax_endpoints:
        _relax(initial, calculator, fmax / 2, steps, "BFGS")
        _relax(final, calculator, fmax / 2, steps, "BFGS")
    else:
        initial.calc = _calculator(calculator)
        final.calc = _calculator(calculator)
    images = [initial] + [initial.copy() for _ in range(n_images)] + [final]
    shared = not _is_factory(calculator)
    for im in images[1:-1]:
        im.calc = calculator if shared else _calculator(calculator)
    band = NEB(images, climb=climb, method=method, allow_shared_calculator=shared)
    band.interpolate(method=interpolation, mic=True)
    opt = {"FIRE": FIRE, "BFGS": BFGS}[optimizer](band, logfile=None)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    n_steps = int(opt.nsteps)
    fmax_now = float(np.sqrt((band.get_forces() ** 2).sum(axis=1).max()))
    fit = fit_images(images)
    e = np.array([im.get_potential_energy() for im in images])
    e0 = e[0]
    return BarrierResult(
        label=label, path_A=np.asarray(fit.path), energies_eV=e - e0,
        fit_path_A=np.asarray(fit.fit_path), fit_energies_eV=np.asarray(fit.fit_energies) - (fit.energies[0]),
        barrier_eV=float(e.max() - e0), reverse_barrier_eV=float(e.max() - e[-1]),
        delta_E_eV=float(e[-1] - e0), converged=converged, max_force_eV_A=fmax_now,
        n_steps=n_steps, climb=bool(climb))


@dataclass(frozen=True)
class MigrationBarriers(Result):
    """NEB profiles of several pathways (Figure 1f).

    labels : pathway names; barriers_eV : dict name -> barrier (eV); paths_A, energies_eV,
    fit_paths_A, fit_energies_eV : dict name -> (n,) arrays as in ``BarrierResult``;
    converged : dict name -> bool; mode : "vacancy".
    """

    species: str
    mode: str
    labels: tuple
    barriers_eV: dict
    paths_A: dict
    energies_eV: dict
    fit_paths_A: dict
    fit_energies_eV: dict
    converged: dict

    def plot(self, ax=None):
        """All profiles on one axis against the normalised reaction coordinate."""
        import matplotlib.pyplot as plt

        fig, ax = (plt.subplots(figsize=(4.8, 3.6)) if ax is None else (ax.figure, ax))
        for name in self.labels:
            fp = np.asarray(self.fit_paths_A[name])
            p = np.asarray(self.paths_A[name])
            line, = ax.plot(fp / fp[-1], self.fit_energies_eV[name],
                            label=f"{name}: {self.barriers_eV[name]:.2f} eV")
            ax.plot(p / p[-1], self.energies_eV[name], "o", color=line.get_color(), ms=4)
        ax.set_xlabel("reaction coordinate (normalised)")
        ax.set_ylabel("energy (eV)")
        ax.set_title(f"{self.species} {self.mode} hops (CI-NEB)", fontsize=9)
        ax.legend(frameon=False, fontsize=8)
        fig.tight_layout()
        return fig


def migration_barriers(atoms, calculator, *, species: str, pathways=None, pathway_names=None,
                       site_kwargs: dict | None = None, **neb_kwargs) -> MigrationBarriers:
    """CI-NEB vacancy-hop barriers of ``species`` for each pathway class of the site graph.

    atoms : a (super)cell large enough that the vacancy does not see its images (for CsCu2I3
    at least 2x2x2 conventional cells recommended). pathways : class names (None: every class,
    see ``pathway_endpoints``); pathway_names : name -> direction for ``find_sites``;
    site_kwargs : further ``find_sites`` keywords. Extra keywords go to ``neb_barrier``.
    """
    kw = dict(site_kwargs or {})
    if pathway_names is not None:
        kw["pathway_names"] = pathway_names
    ends = pathway_endpoints(atoms, species, pathways, **kw)
    res = {name: neb_barrier(ini, fin, calculator, label=name, **neb_kwargs)
           for name, (ini, fin, _, _) in ends.items()}
    return MigrationBarriers(
        species=species, mode="vacancy", labels=tuple(ends),
        barriers_eV={k: r.barrier_eV for k, r in res.items()},
        paths_A={k: r.path_A for k, r in res.items()},
        energies_eV={k: r.energies_eV for k, r in res.items()},
        fit_paths_A={k: r.fit_path_A for k, r in res.items()},
        fit_energies_eV={k: r.fit_energies_eV for k, r in res.items()},
        converged={k: r.converged for k, r in res.items()})
