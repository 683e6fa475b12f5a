"""Migration barriers by climbing-image nudged elastic band, from the true minimum, along several paths.

Wraps ASE (``ase.mep.NEB``, improved tangent, climbing image; ``ase.optimize`` FIRE/BFGS;
``ase.utils.forcecurve.fit_images`` for the spline of the profile) and works with any ASE
calculator. The rules (docs/migration.md):

**Endpoints.** Where every site of the mobile ion is occupied, an ion can only move into an empty
neighbouring site: the vacancy hop. The ion on site j is removed and the ion on the neighbouring
site i moves into j; initial and final states are the structures with the vacancy on j and on i,
each relaxed (positions, cell fixed). The pair of each pathway class is the shortest edge of that
class joining two occupied sites in ``find_sites``'s graph (classes found by symmetry; see
``incipient.analysis.sites``). The graph can be built on a ``reference`` structure (same atoms in
the same order, e.g. the symmetric relaxation) while the endpoints are built from ``atoms`` (e.g.
the lower-symmetry true minimum of ``incipient.structures.minimum.find_minimum``); a class whose
edges are inequivalent in ``atoms`` is split into its variants (``hop_variants``), and the class
value is the highest variant barrier, each from its lower end state.

**Starting paths** (``start_paths``), one band each:

* ``"idpp"`` / ``"linear"``: ASE's IDPP or linear interpolation (the hopping ion on the straight
  line; site symmetry can pin a band there even where the line is a higher-order saddle);
* ``"tetrahedra"``: the hopping ion through the empty anion tetrahedra that connect the two site
  polyhedra by shared faces (:func:`face_sharing_routes`): site i -> centre of the shared face ->
  centre of the empty tetrahedron -> ... -> site j, up to ``max_via`` tetrahedra, the
  ``max_routes`` shortest routes;
* ``"escape"``: added automatically for every converged band whose climbing image is a
  higher-order saddle (below), the band pushed off it along the extra unstable mode.

**Band.** ``n_images`` intermediate images (default 9); first a plain NEB to ``max(fmax, 0.1)``,
then the climbing image to ``fmax`` (default 0.02 eV/A). An interior image lower than both
neighbours by more than ``minimum_tol_eV`` marks an intermediate minimum: it is relaxed and the
band is split there into two climbing-image bands (``split_depth`` levels), giving each
sub-barrier.

**Checks.** A band is *invalid* (never reported as the barrier) when (a) an image falls below the
lower endpoint by more than ``below_tol_eV`` (0.01 eV: the endpoints are not minima, or the band
found another state), (b) two atoms come closer than the *distance guard* (the band is stopped at
once), or (c) the calculator fails. The guard is ``min_distance_fraction`` (default 0.8) x the
``min_dist`` of the MTP's radial basis for an incipient MTP (1.40 A for the built-in potential:
far below min_dist an MTP is unphysical, e.g. two Cu at 1.33 A gain 5-10 eV), else the user's
``min_distance_A`` (no guard when neither is given). Higher-order saddles: at the climbing image
the 3 x 3 Hessian block of the hopping ion (other atoms fixed, central differences) is computed;
by eigenvalue interlacing, two negative eigenvalues there prove that the full Hessian has at
least two, so the band sits on a higher-order saddle (``saddle_negative_modes``).

**Choice.** The reported barrier of a hop is the lowest among its valid, converged bands
(``BarrierResult.barrier_eV`` = highest image - initial state); the other bands are kept in
``candidates``. A reported band that still ends on a proven higher-order saddle is an upper bound
(noted in ``MigrationBarriers.notes``); a hop without a valid converged band is nan, with the
reasons in ``notes``. Cell size: :func:`neb_supercell` gives the smallest diagonal repeat with at
least ``min_atoms`` (144) atoms and 10 A widths; ``size_check=True`` repeats the work on the cell
doubled along its narrowest direction with the winning kind of start and reports the change.

Other mechanisms: :func:`frenkel_barriers` (the mobile ion from its site into an empty
face-sharing tetrahedron of the perfect crystal), :func:`exchange_barrier` (two neighbouring ions
swap concertedly, ring starts in the planes of largest clearance) and
:func:`constrained_hop_scan` (the straight hop with the hopping ion held in planes perpendicular
to it, the rest relaxed: a drag profile, an upper bound along the line).
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from incipient.results import Result

log = logging.getLogger(__name__)

OPTIMIZERS = ("FIRE", "BFGS")
START_KINDS = ("idpp", "linear", "tetrahedra")
DEFAULT_STARTS = ("idpp", "tetrahedra")
MIN_DISTANCE_FRACTION = 0.8
NEB_MIN_ATOMS = 144
NEB_MIN_WIDTH_A = 10.0


# ----------------------------------------------------------------------------- calculators, guard
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


def min_distance_limit(calculator, *, fraction: float = MIN_DISTANCE_FRACTION,
                       min_distance_A: float | None = None) -> float | None:
    """The distance guard (A): ``min_distance_A`` if given, else ``fraction`` x the radial-basis
    ``min_dist`` of an incipient MTP, else None (no guard)."""
    if min_distance_A is not None:
        if not (np.isfinite(min_distance_A) and min_distance_A >= 0):
            raise ValueError(f"min_distance_A must be a number >= 0, got {min_distance_A!r}")
        return float(min_distance_A) or None
    from incipient.potentials.calculator import MTP

    calc = _calculator(calculator)
    if isinstance(calc, MTP) and fraction > 0:
        return float(fraction) * float(calc.model.min_dist_A)
    return None


def min_pair_distance(atoms, cutoff_A: float) -> float:
    """Smallest interatomic distance below ``cutoff_A`` (periodic), ``inf`` if there is none."""
    pos = np.ascontiguousarray(atoms.positions, dtype=np.float64)
    if atoms.pbc.all():
        from vesin import NeighborList

        d = NeighborList(cutoff=float(cutoff_A), full_list=False).compute(
            points=pos, box=np.ascontiguousarray(atoms.cell.array, dtype=np.float64), periodic=True,
            quantities="d")
    else:
        from ase.neighborlist import neighbor_list

        d = neighbor_list("d", atoms, float(cutoff_A))
    d = np.asarray(d)
    return float(d.min()) if d.size else float("inf")


# ----------------------------------------------------------------------------- endpoints
def _mic_vector(atoms, i: int, j: int) -> np.ndarray:
    return atoms.get_distance(i, j, mic=True, vector=True)


def vacancy_hop_endpoints(atoms, i_from: int, i_to: int):
    """(initial, final, k) for atom ``i_from`` hopping into the site of atom ``i_to`` (removed).

    Both are new Atoms without ``i_to``; in ``final`` the hopping atom (index k) sits on
    ``i_to``'s site (nearest periodic image of it).
    """
    n = len(atoms)
    if not (0 <= i_from < n and 0 <= i_to < n) or i_from == i_to:
        raise ValueError(f"need two different atom indices in 0..{n - 1}, got {i_from}, {i_to}")
    vec = _mic_vector(atoms, i_from, i_to)
    initial = atoms.copy()
    initial.calc = None
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
    initial.calc = None
    final = initial.copy()
    final.positions[i_from] = np.asarray(target_A, dtype=float)
    return initial, final, i_from


def _class_edges(graph, name: str) -> list[int]:
    return [int(k) for k in graph.edges_of_class(name)
            if graph.edges[k, 0] != graph.edges[k, 1] and np.all(graph.occupant[graph.edges[k]] >= 0)]


def _graph_and_names(atoms, species, pathways, reference, site_kwargs):
    from incipient.analysis.sites import find_sites

    ref = atoms if reference is None else reference
    if len(ref) != len(atoms) or list(ref.numbers) != list(atoms.numbers):
        raise ValueError("reference must hold the same atoms as atoms, in the same order")
    graph = find_sites(ref, species, **site_kwargs)
    names = graph.class_names if pathways is None else ((pathways,) if isinstance(pathways, str) else tuple(pathways))
    for name in names:
        if name not in graph.class_names:
            found = ", ".join(f"{r['class']} ({r['length_A']:.2f} A)" for r in graph.pathway_summary())
            raise ValueError(f"no pathway class {name!r} in the {species} site graph; classes found: {found}")
    return graph, names


def _no_edge(name, species):
    return ValueError(f"class {name!r} has no edge between two occupied {species} sites "
                      "(it joins interstitials, or a site and its own image: use a supercell)")


def pathway_endpoints(atoms, species: str, pathways=None, *, reference=None, **site_kwargs):
    """Vacancy-hop endpoints for each pathway class: dict name -> (initial, final, index, vector).

    The site graph is built from ``reference`` (default ``atoms``; it must hold the same atoms in
    the same order) with ``find_sites(reference, species, **site_kwargs)``; the shortest edge of
    each class joining two occupied sites (not a site and its own periodic image) gives the pair,
    and the endpoints are built from ``atoms``. pathways : class names; None: every class that
    has such an edge, by length. Raises ValueError for a named class not in the graph or without
    such an edge.
    """
    graph, names = _graph_and_names(atoms, species, pathways, reference, site_kwargs)
    out = {}
    for name in names:
        e = _class_edges(graph, name)
        if not e:
            if pathways is None:
                continue
            raise _no_edge(name, species)
        i, j = graph.edges[e[0]]
        a, b = int(graph.occupant[i]), int(graph.occupant[j])
        initial, final, k = vacancy_hop_endpoints(atoms, a, b)
        out[name] = (initial, final, k, _mic_vector(atoms, a, b))
    if not out:
        raise ValueError(f"no vacancy hop between two {species} sites in the site graph "
                         f"(shells: {graph.shell_summary()})")
    return out


def hop_variants(atoms, species: str, pathways=None, *, reference=None, max_variants: int = 4,
                 variant_symprec: float = 0.01, **site_kwargs) -> dict:
    """Symmetry-inequivalent vacancy hops of each pathway class: name -> list of
    (label, initial, final, index, vector).

    Classes come from the graph of ``reference`` (as in ``pathway_endpoints``). Where ``atoms``
    has lower symmetry than ``reference`` (a symmetry-broken minimum), the edges of one class are
    grouped by the site graph of ``atoms`` itself (``find_sites(..., symmetry="crystal",
    symprec=variant_symprec)``); one hop per group, at most ``max_variants``, shortest in
    ``atoms`` first. Labels: the class name when it has one variant, else "name:1", "name:2", ...
    """
    from incipient.analysis.sites import find_sites, minimum_image

    graph, names = _graph_and_names(atoms, species, pathways, reference, site_kwargs)
    own = None
    if reference is not None:
        own = find_sites(atoms, species, cutoff_A=graph.cutoff_A * 1.3, symmetry="crystal", symprec=variant_symprec)
        own_pairs = own._pair_edges
    out = {}
    for name in names:
        edges = _class_edges(graph, name)
        if not edges:
            if pathways is None:
                continue
            raise _no_edge(name, species)
        groups: dict = {}
        for e in edges:
            i, j = (int(x) for x in graph.edges[e])
            key = 0
            if own is not None:
                cand = own_pairs.get((min(i, j), max(i, j)), [])
                a, b = int(graph.occupant[i]), int(graph.occupant[j])
                v = minimum_image(atoms.positions[b] - atoms.positions[a], atoms.cell.array)
                v = v if i < j else -v
                if cand:
                    dev = np.linalg.norm(own.edge_vectors_A[cand] - v, axis=1)
                    key = own.edge_classes[cand[int(np.argmin(dev))]] if dev.min() < 1.0 else f"edge{e}"
                else:
                    key = f"edge{e}"
            groups.setdefault(key, e)
        hops = []
        for e in groups.values():
            i, j = graph.edges[e]
            a, b = int(graph.occupant[i]), int(graph.occupant[j])
            hops.append((a, b, _mic_vector(atoms, a, b)))
        hops.sort(key=lambda h: float(np.linalg.norm(h[2])))
        hops = hops[:max_variants]
        rows = []
        for q, (a, b, v) in enumerate(hops):
            initial, final, k = vacancy_hop_endpoints(atoms, a, b)
            rows.append((name if len(hops) == 1 else f"{name}:{q + 1}", initial, final, k, v))
        out[name] = rows
    if not out:
        raise ValueError(f"no vacancy hop between two {species} sites in the site graph "
                         f"(shells: {graph.shell_summary()})")
    return out


def neb_supercell(atoms, *, min_atoms: int = NEB_MIN_ATOMS, min_width_A: float = NEB_MIN_WIDTH_A,
                  max_repeat: int = 8) -> tuple[int, int, int]:
    """Smallest diagonal repeat of ``atoms`` with >= ``min_atoms`` atoms and every perpendicular
    width >= ``min_width_A`` (ties: the widest narrowest direction)."""
    from incipient.system import perpendicular_widths

    w = perpendicular_widths(atoms.cell.array)
    best = None
    for rep in itertools.product(range(1, max_repeat + 1), repeat=3):
        n = len(atoms) * int(np.prod(rep))
        ww = w * np.array(rep)
        if n < min_atoms or ww.min() < min_width_A - 1e-9:
            continue
        key = (n, -ww.min(), rep)
        if best is None or key < best:
            best = key
    if best is None:
        raise ValueError(f"no repeat up to {max_repeat} reaches {min_atoms} atoms and {min_width_A} A")
    return tuple(int(r) for r in best[2])


def _double_narrowest(atoms) -> tuple[int, int, int]:
    from incipient.system import perpendicular_widths

    rep = [1, 1, 1]
    rep[int(np.argmin(perpendicular_widths(atoms.cell.array)))] = 2
    return tuple(rep)


# ----------------------------------------------------------------------------- face-sharing routes
@dataclass(frozen=True)
class Route:
    """A start for the hopping ion: ``waypoints_A`` (m, 3), continuous Cartesian positions from
    the site to the target; ``tetrahedra_A`` (n_via, 4, 3) the empty tetrahedra passed;
    ``length_A`` the polyline length; ``label``."""

    waypoints_A: np.ndarray
    tetrahedra_A: np.ndarray
    length_A: float
    label: str


def _shift_images(cell) -> np.ndarray:
    s = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=float)
    return s @ np.asarray(cell, dtype=float)


def _local_points(atoms, mask, centre, radius):
    """Positions (and atom indices) of the atoms in ``mask`` and their images within ``radius``."""
    pos = atoms.positions[mask]
    idx = np.flatnonzero(mask)
    frac = np.linalg.solve(atoms.cell.array.T, (pos - centre).T).T
    pos = centre + (frac - np.round(frac)) @ atoms.cell.array
    allp = (pos[None, :, :] + _shift_images(atoms.cell.array)[:, None, :]).reshape(-1, 3)
    alli = np.tile(idx, 27)
    keep = np.linalg.norm(allp - centre, axis=1) <= radius
    return allp[keep], alli[keep]


def _inside(tet: np.ndarray, points: np.ndarray, margin: float = 0.02) -> np.ndarray:
    """Which points lie strictly inside tetrahedron ``tet`` (4, 3) (barycentric > margin)."""
    if points.size == 0:
        return np.zeros(0, bool)
    t = (tet[1:] - tet[0]).T
    lam = np.linalg.solve(t, (points - tet[0]).T).T
    lam = np.column_stack([1 - lam.sum(axis=1), lam])
    return np.all(lam > margin, axis=1)


def _other_side(face: np.ndarray, inner: np.ndarray, p: np.ndarray) -> bool:
    n = np.cross(face[1] - face[0], face[2] - face[0])
    return float(np.dot(n, inner - face[0]) * np.dot(n, p - face[0])) < 0


def face_sharing_routes(atoms, i_from: int, target_A, *, anion: str | None = None, max_via: int = 2,
                        max_routes: int = 4, shell_tol: float = 0.25, edge_factor: float = 1.3,
                        max_length_factor: float = 3.0) -> list[Route]:
    """Routes of atom ``i_from`` to the empty position ``target_A`` through empty anion tetrahedra.

    The site polyhedra are the ``anion`` atoms (default: the element nearest to the hopping
    species, ``sites.nearest_other_element``) within (1 + shell_tol) x the nearest anion distance
    of the site and of the target; their faces are those of the convex hull. From a face, an
    empty tetrahedron is the face plus one anion on the other side that is within
    ``edge_factor`` x the longest polyhedron edge of all three, with no atom inside; tetrahedra
    are chained through shared faces until a face of the target polyhedron is reached, with at
    most ``max_via`` tetrahedra. Returns the ``max_routes`` shortest routes (polyline length at
    most ``max_length_factor`` x the hop length), shortest first; [] if there is none.
    """
    from scipy.spatial import ConvexHull

    from incipient.analysis.sites import nearest_other_element

    symbols = np.array(atoms.get_chemical_symbols())
    if anion is None:
        try:
            anion = nearest_other_element(atoms, str(symbols[i_from]))
        except ValueError:  # an element crystal: no anion polyhedra, no routes
            return []
    p0 = atoms.positions[i_from].copy()
    v = np.asarray(target_A, dtype=float) - p0
    frac = np.linalg.solve(atoms.cell.array.T, v)
    v = (frac - np.round(frac)) @ atoms.cell.array
    p1 = p0 + v
    hop = float(np.linalg.norm(v))
    mid = p0 + 0.5 * v
    amask = symbols == anion
    far, _ = _local_points(atoms, amask, p0, 12.0)
    r0 = float(np.sort(np.linalg.norm(far - p0, axis=1))[0])
    radius = 0.5 * hop + 2.5 * r0 * (1 + shell_tol) + 1.0
    A, _ = _local_points(atoms, amask, mid, radius)
    others = np.ones(len(atoms), bool)
    others[i_from] = False
    others &= ~amask
    C, _ = _local_points(atoms, others, mid, radius + 2.0)
    C = C[np.linalg.norm(C - p0, axis=1) > 1e-6]
    dA0 = np.linalg.norm(A - p0, axis=1)
    dA1 = np.linalg.norm(A - p1, axis=1)
    P0 = np.flatnonzero(dA0 <= dA0.min() * (1 + shell_tol))
    P1 = np.flatnonzero(dA1 <= dA1.min() * (1 + shell_tol))
    if len(P0) < 4 or len(P1) < 4:
        return []

    def hull_faces(ids):
        try:
            h = ConvexHull(A[ids])
        except Exception:  # noqa: BLE001 - degenerate (coplanar) coordination
            return set()
        return {frozenset(int(ids[s]) for s in simplex) for simplex in h.simplices}

    faces0, faces1 = hull_faces(P0), hull_faces(P1)
    if not faces0 or not faces1:
        return []
    edges = [np.linalg.norm(A[a] - A[b]) for ids in (P0, P1) for a, b in itertools.combinations(ids, 2)]
    emax = edge_factor * max(edges)
    dAA = np.linalg.norm(A[:, None, :] - A[None, :, :], axis=2)
    adj = (dAA <= emax) & (dAA > 1e-6)
    set1 = set(int(x) for x in P1)

    routes: list[tuple[float, list, list]] = []
    # state: (list of faces passed, list of tetrahedra (frozensets), inner point of the last cell)
    frontier = [([f], [], p0) for f in faces0]
    for depth in range(max_via + 1):
        nxt = []
        for faces, tets, inner in frontier:
            f = faces[-1]
            fa = np.array(sorted(f))
            if f in faces1 and _other_side(A[fa], inner, p1):
                routes.append((faces, tets))
            if depth == max_via:
                continue
            common = np.all(adj[fa], axis=0)
            for a in np.flatnonzero(common):
                a = int(a)
                if a in f or not _other_side(A[fa], inner, A[a]):
                    continue
                t = frozenset(f | {a})
                if t == frozenset(set1) or t in tets:
                    continue
                tet = A[np.array(sorted(t))]
                vol = abs(np.linalg.det(tet[1:] - tet[0])) / 6
                if vol < 1e-3 * emax**3:
                    continue
                if _inside(tet, C).any() or _inside(tet, np.delete(A, sorted(t), axis=0)).any():
                    continue
                centre = tet.mean(axis=0)
                for g in (frozenset(x) for x in itertools.combinations(sorted(t), 3)):
                    if g != f:
                        nxt.append((faces + [g], tets + [t], centre))
        frontier = nxt
    out = []
    seen = set()
    for faces, tets in routes:
        key = tuple(tets)
        if key in seen:
            continue
        seen.add(key)
        pts = [p0]
        for n, f in enumerate(faces):
            pts.append(A[np.array(sorted(f))].mean(axis=0))
            if n < len(tets):
                pts.append(A[np.array(sorted(tets[n]))].mean(axis=0))
        pts.append(p1)
        pts = np.array(pts)
        length = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())
        if length > max_length_factor * hop:
            continue
        tet_xyz = np.array([A[np.array(sorted(t))] for t in tets]).reshape(-1, 4, 3)
        out.append(Route(waypoints_A=pts, tetrahedra_A=tet_xyz, length_A=length,
                         label=f"tetrahedra{len(tets)}" if tets else "face"))
    out.sort(key=lambda r: r.length_A)
    labelled = []
    for n, r in enumerate(out[:max_routes]):
        labelled.append(Route(r.waypoints_A, r.tetrahedra_A, r.length_A, f"{r.label}.{n}"))
    return labelled


def empty_tetrahedra(atoms, i_site: int, *, anion: str | None = None, shell_tol: float = 0.25,
                     edge_factor: float = 1.3) -> list[np.ndarray]:
    """Empty anion tetrahedra (each (4, 3), Cartesian near the site) sharing a face with the
    coordination polyhedron of atom ``i_site`` (the rule of :func:`face_sharing_routes`)."""
    from scipy.spatial import ConvexHull

    from incipient.analysis.sites import nearest_other_element

    symbols = np.array(atoms.get_chemical_symbols())
    if anion is None:
        try:
            anion = nearest_other_element(atoms, str(symbols[i_site]))
        except ValueError:
            return []
    p0 = atoms.positions[i_site].copy()
    amask = symbols == anion
    A, _ = _local_points(atoms, amask, p0, 12.0)
    d = np.linalg.norm(A - p0, axis=1)
    P0 = np.flatnonzero(d <= d.min() * (1 + shell_tol))
    if len(P0) < 4:
        return []
    others = ~amask
    others[i_site] = False
    C, _ = _local_points(atoms, others, p0, 14.0)
    emax = edge_factor * max(np.linalg.norm(A[a] - A[b]) for a, b in itertools.combinations(P0, 2))
    out = []
    for simplex in ConvexHull(A[P0]).simplices:
        fa = P0[simplex]
        for a in range(len(A)):
            if a in P0 or np.any(np.linalg.norm(A[fa] - A[a], axis=1) > emax):
                continue
            if not _other_side(A[fa], p0, A[a]):
                continue
            tet = A[np.append(fa, a)]
            if abs(np.linalg.det(tet[1:] - tet[0])) / 6 < 1e-3 * emax**3:
                continue
            if _inside(tet, C).any() or _inside(tet, np.delete(A, np.append(fa, a), axis=0)).any():
                continue
            out.append(tet)
    return out


# ----------------------------------------------------------------------------- bands
def _continuous_final(initial, final):
    """Final positions moved by lattice vectors so that each atom is at its nearest image."""
    from ase.geometry import find_mic

    d, _ = find_mic(final.positions - initial.positions, initial.cell, initial.pbc)
    return initial.positions + d


def _polyline(points: np.ndarray, t: np.ndarray) -> np.ndarray:
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    s /= s[-1] if s[-1] > 0 else 1.0
    return np.column_stack([np.interp(t, s, points[:, c]) for c in range(points.shape[1])])


def band_from_waypoints(initial, final, k: int, waypoints_A, n_images: int) -> list:
    """Images (initial, n_images intermediates, final): atom ``k`` along the polyline through
    ``waypoints_A`` (its ends replaced by atom k's positions in initial and final) at equal
    arc length; every other atom on the straight line between its two endpoint positions."""
    p_fin = _continuous_final(initial, final)
    w = np.array(waypoints_A, dtype=float)
    w = np.vstack([initial.positions[k], w[1:-1], p_fin[k]])
    t = np.linspace(0.0, 1.0, n_images + 2)
    path = _polyline(w, t)
    images = []
    for n, tt in enumerate(t):
        im = initial.copy() if n < n_images + 1 else final.copy()
        pos = (1 - tt) * initial.positions + tt * p_fin
        pos[k] = path[n]
        im.positions = pos
        images.append(im)
    return images


def _resample(positions: list[np.ndarray], n_images: int) -> list[np.ndarray]:
    """n_images + 2 configurations at equal arc length along a piecewise-linear band."""
    x = np.array([p.ravel() for p in positions])
    return [p.reshape(positions[0].shape) for p in _polyline(x, np.linspace(0.0, 1.0, n_images + 2))]


class _Stop(Exception):
    pass


def _energies(images) -> np.ndarray:
    return np.array([im.get_potential_energy() for im in images])


def _check_guard(images, limit):
    if limit is None:
        return None
    for n, im in enumerate(images):
        d = min_pair_distance(im, limit)
        if d < limit:
            return f"image {n}: two atoms {d:.2f} A apart, below the guard {limit:.2f} A"
    return None


def _attach(images, calculator):
    shared = not _is_factory(calculator)
    for im in images:
        im.calc = calculator if shared else _calculator(calculator)
    return shared


def _optimizer(name):
    from ase.optimize import BFGS, FIRE

    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    return {"FIRE": FIRE, "BFGS": BFGS}[name]


def _relax_atoms(atoms, calculator, fmax, steps, optimizer="BFGS", guard=None):
    """Relax positions in place (cell fixed); returns (converged, steps, guard message)."""
    atoms.calc = _calculator(calculator)
    opt = _optimizer(optimizer)(atoms, logfile=None)
    conv = False
    for conv in opt.irun(fmax=fmax, steps=steps):  # noqa: B007 - the last value is used
        msg = _check_guard([atoms], guard)
        if msg:
            return False, int(opt.nsteps), msg
    return bool(conv), int(opt.nsteps), None


def _run_band(images, calculator, *, climb, fmax, steps, optimizer, method, guard, k_spring=0.1):
    """Optimise a band in place. Returns dict(converged, n_steps, max_force, reason)."""
    from ase.mep import NEB

    from incipient.errors import RunError

    shared = _attach(images[1:-1], calculator)
    band = NEB(images, k=k_spring, climb=False, method=method, allow_shared_calculator=shared)
    reason = _check_guard(images, guard)
    if reason:
        return {"converged": False, "n_steps": 0, "max_force": float("nan"), "reason": reason}
    n_steps = 0
    conv = False
    try:
        stages = [(max(fmax, 0.1), False), (fmax, True)] if climb else [(fmax, False)]
        for target, cl in stages:
            band.climb = cl
            opt = _optimizer(optimizer)(band, logfile=None)
            conv = False
            for conv in opt.irun(fmax=target, steps=max(1, steps - n_steps)):  # noqa: B007
                msg = _check_guard(images[1:-1], guard)
                if msg:
                    raise _Stop(msg)
            n_steps += int(opt.nsteps)
            msg = _check_guard(images[1:-1], guard)
            if msg:
                raise _Stop(msg)
        f = band.get_forces()
        fnow = float(np.sqrt((f**2).sum(axis=1).max()))
    except _Stop as exc:
        return {"converged": False, "n_steps": n_steps, "max_force": float("nan"), "reason": str(exc)}
    except RunError as exc:
        return {"converged": False, "n_steps": n_steps, "max_force": float("nan"), "reason": f"calculator: {exc}"}
    return {"converged": bool(conv) and fnow <= fmax * 1.0001, "n_steps": n_steps, "max_force": fnow, "reason": ""}


def _interior_minimum(e: np.ndarray, tol: float) -> int | None:
    best = None
    for m in range(1, len(e) - 1):
        if e[m] <= e[m - 1] and e[m] <= e[m + 1] and e[:m].max() - e[m] > tol and e[m + 1:].max() - e[m] > tol:
            if best is None or e[m] < e[best]:
                best = m
    return best


def _hopper_hessian(atoms, calculator, k: int, step: float = 0.01) -> np.ndarray:
    """Eigenvalues (eV/A^2) of the 3 x 3 Hessian block of atom k (others fixed), central differences."""
    a = atoms.copy()
    a.calc = _calculator(calculator)
    p0 = a.positions.copy()
    h = np.zeros((3, 3))
    for c in range(3):
        fs = []
        for s in (1, -1):
            p = p0.copy()
            p[k, c] += s * step
            a.positions = p
            fs.append(a.get_forces()[k])
        h[:, c] = -(fs[0] - fs[1]) / (2 * step)
    h = 0.5 * (h + h.T)
    return np.linalg.eigh(h)


@dataclass(frozen=True)
class BarrierResult(Result):
    """Energy profile of one hop along a converged (climbing-image) NEB path.

    path_A : (n,) cumulative image-to-image distance, Angstrom; energies_eV : (n,) relative to
    the initial state, eV; fit_path_A, fit_energies_eV : ASE NEBTools spline through them (with
    an intermediate minimum: the sub-bands joined).
    barrier_eV : max energy - initial; reverse_barrier_eV : max - final; delta_E_eV : final - initial.
    converged : every (sub-)band reached fmax; max_force_eV_A : largest final NEB force;
    n_steps : optimizer steps; climb : climbing image used.
    start : the starting path ("idpp", "linear", "tetrahedra1.0", "escape(idpp)", ...);
    n_images : intermediate images per band; fmax_eV_A : the target.
    valid : no image below the lower endpoint, guard not hit, calculator fine; invalid_reason.
    min_distance_A : smallest interatomic distance over the images; guard_A : the guard (nan: none).
    intermediate_minima_eV : energies of relaxed intermediate minima (relative to initial);
    sub_barriers_eV : forward barrier of each sub-band (from its own start: initial or a minimum);
    saddle_negative_modes : negative eigenvalues of the hopping ion's Hessian block at the
    highest image (>= 2 proves a higher-order saddle; -1: not computed);
    n_atoms : atoms in the cell; wall_s : seconds.
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
    start: str = "idpp"
    n_images: int = 0
    fmax_eV_A: float = float("nan")
    valid: bool = True
    invalid_reason: str = ""
    min_distance_A: float = float("nan")
    guard_A: float = float("nan")
    intermediate_minima_eV: tuple = ()
    sub_barriers_eV: tuple = ()
    saddle_negative_modes: int = -1
    n_atoms: int = 0
    wall_s: float = 0.0

    @property
    def usable(self) -> bool:
        """Valid and converged."""
        return bool(self.valid and self.converged)

    def summary(self) -> dict:
        return {"start": self.start, "barrier_eV": self.barrier_eV, "converged": self.converged,
                "valid": self.valid, "invalid_reason": self.invalid_reason, "max_force_eV_A": self.max_force_eV_A,
                "intermediate_minima_eV": list(self.intermediate_minima_eV),
                "sub_barriers_eV": list(self.sub_barriers_eV), "saddle_negative_modes": self.saddle_negative_modes,
                "n_steps": self.n_steps, "wall_s": self.wall_s}

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


def _profile(images):
    from ase.utils.forcecurve import fit_images

    fit = fit_images(images)
    return np.asarray(fit.path), np.asarray(fit.energies), np.asarray(fit.fit_path), np.asarray(fit.fit_energies)


def _band(images, calculator, k, *, climb, fmax, steps, optimizer, method, guard, minimum_tol_eV,
          split_depth, hessian):
    """Optimise ``images`` (endpoints relaxed, calculators set by _run_band); split at an
    intermediate minimum. Returns a dict describing the joined profile."""
    run = _run_band(images, calculator, climb=climb, fmax=fmax, steps=steps, optimizer=optimizer,
                    method=method, guard=guard)
    out = {"runs": [run], "segments": [images], "minima": [], "hessian": -1}
    if run["reason"]:
        return out
    e = _energies(images)
    m = _interior_minimum(e, minimum_tol_eV) if split_depth > 0 else None
    if m is not None:
        mid = images[m].copy()
        conv, _, msg = _relax_atoms(mid, calculator, fmax / 2, steps, "FIRE", guard)
        if msg:
            run["reason"] = f"intermediate minimum: {msg}"
            return out
        e_mid = mid.get_potential_energy()
        dk = [np.linalg.norm(mid.positions[k] - images[n].positions[k]) for n in (0, -1)]
        if min(dk) > 0.2 and e_mid > min(e[0], e[-1]) + 1e-3:
            n_img = len(images) - 2
            parts = []
            for sl in ([*images[:m], mid], [mid, *images[m + 1:]]):
                pos = _resample([im.positions for im in sl], n_img)
                seg = [sl[0]] + [sl[0].copy() for _ in range(n_img)] + [sl[-1]]
                for im, p in zip(seg[1:-1], pos[1:-1], strict=True):
                    im.positions = p
                parts.append(_band(seg, calculator, k, climb=climb, fmax=fmax, steps=steps, optimizer=optimizer,
                                   method=method, guard=guard, minimum_tol_eV=minimum_tol_eV,
                                   split_depth=split_depth - 1, hessian=hessian))
            joined = {"runs": parts[0]["runs"] + parts[1]["runs"],
                      "extra_steps": run["n_steps"] + parts[0].get("extra_steps", 0) + parts[1].get("extra_steps", 0),
                      "segments": parts[0]["segments"] + parts[1]["segments"],
                      "minima": parts[0]["minima"] + [mid] + parts[1]["minima"],
                      "hessian": max(parts[0]["hessian"], parts[1]["hessian"]), "mid_converged": conv}
            for q, part in enumerate(parts):
                if part.get("escape_vector") is not None and "escape_vector" not in joined:
                    joined["escape_vector"] = part["escape_vector"]
                    joined["escape_segment"] = part["escape_segment"] + (len(parts[0]["segments"]) if q else 0)
            return joined
    if hessian and climb and run["converged"]:
        c = int(np.argmax(e))
        if 0 < c < len(images) - 1:
            w, vec = _hopper_hessian(images[c], calculator, k)
            out["hessian"] = int(np.sum(w < -0.05))
            t = images[c + 1].positions[k] - images[c - 1].positions[k]
            t /= np.linalg.norm(t) or 1.0
            neg = [vec[:, q] for q in range(3) if w[q] < -0.05]
            if len(neg) >= 2:
                out["escape_vector"] = min(neg, key=lambda u: abs(float(np.dot(u, t))))
                out["escape_segment"] = 0
    return out


def _failed(label, res, *, fmax, n_images, start, guard, climb, n_atoms, wall):
    """A band that could not be evaluated (the calculator fails on its start): nan profile."""
    runs = res["runs"]
    reason = "; ".join(r["reason"] for r in runs if r["reason"]) or "the band cannot be evaluated"
    nan = float("nan")
    return BarrierResult(
        label=label, path_A=np.zeros(0), energies_eV=np.zeros(0), fit_path_A=np.zeros(0), fit_energies_eV=np.zeros(0),
        barrier_eV=nan, reverse_barrier_eV=nan, delta_E_eV=nan, converged=False, max_force_eV_A=nan,
        n_steps=int(sum(r["n_steps"] for r in runs)), climb=bool(climb), start=start, n_images=int(n_images),
        fmax_eV_A=float(fmax), valid=False, invalid_reason=reason, guard_A=nan if guard is None else float(guard),
        n_atoms=int(n_atoms), wall_s=float(wall))


def _assemble(label, res, *, k, fmax, n_images, start, guard, below_tol_eV, climb, n_atoms, wall):
    from incipient.errors import RunError

    try:
        return _assemble_profile(label, res, k=k, fmax=fmax, n_images=n_images, start=start, guard=guard,
                                 below_tol_eV=below_tol_eV, climb=climb, n_atoms=n_atoms, wall=wall)
    except RunError as exc:
        if not any(r["reason"] for r in res["runs"]):
            res["runs"][0]["reason"] = f"calculator: {exc}"
        return _failed(label, res, fmax=fmax, n_images=n_images, start=start, guard=guard, climb=climb,
                       n_atoms=n_atoms, wall=wall)


def _assemble_profile(label, res, *, k, fmax, n_images, start, guard, below_tol_eV, climb, n_atoms, wall):
    segs = res["segments"]
    e0 = segs[0][0].get_potential_energy()
    path, energies, fpath, fener = [], [], [], []
    offset = 0.0
    subs = []
    for n, seg in enumerate(segs):
        p, en, fp, fe = _profile(seg)  # energies relative to the segment's first image
        base = seg[0].get_potential_energy() - e0
        cut = 0 if n == 0 else 1
        path.append(p[cut:] + offset)
        energies.append(en[cut:] + base)
        fpath.append(fp + offset)
        fener.append(fe + base)
        offset += p[-1]
        subs.append(float(en.max() - en[0]))
    path, energies = np.concatenate(path), np.concatenate(energies)
    runs = res["runs"]
    reason = "; ".join(r["reason"] for r in runs if r["reason"])
    dmin = float("inf")
    for seg in segs:
        for im in seg:
            dmin = min(dmin, min_pair_distance(im, 2.5))
    valid = not reason
    if valid and energies.min() < min(0.0, energies[-1]) - below_tol_eV:
        valid = False
        reason = (f"an image lies {min(0.0, energies[-1]) - energies.min():.3f} eV below the lower endpoint "
                  "(the endpoints are not minima, or the band found another state)")
    converged = all(r["converged"] for r in runs)
    forces = [r["max_force"] for r in runs]
    return BarrierResult(
        label=label, path_A=path, energies_eV=energies, fit_path_A=np.concatenate(fpath),
        fit_energies_eV=np.concatenate(fener), barrier_eV=float(energies.max()),
        reverse_barrier_eV=float(energies.max() - energies[-1]), delta_E_eV=float(energies[-1]),
        converged=bool(converged and valid), max_force_eV_A=float(np.nanmax(forces)) if np.isfinite(forces).any() else float("nan"),
        n_steps=int(sum(r["n_steps"] for r in runs) + res.get("extra_steps", 0)), climb=bool(climb), start=start, n_images=int(n_images),
        fmax_eV_A=float(fmax), valid=bool(valid), invalid_reason=reason, min_distance_A=dmin,
        guard_A=float("nan") if guard is None else float(guard),
        intermediate_minima_eV=tuple(float(m.get_potential_energy() - e0) for m in res["minima"]),
        sub_barriers_eV=tuple(subs) if len(segs) > 1 else (), saddle_negative_modes=int(res["hessian"]),
        n_atoms=int(n_atoms), wall_s=float(wall))


def neb_barrier(initial, final, calculator, *, n_images: int = 9, climb: bool = True,
                fmax: float = 0.02, steps: int = 2000, optimizer: str = "FIRE",
                relax_endpoints: bool = True, interpolation: str = "idpp",
                method: str = "improvedtangent", label: str = "hop", moving_index: int | None = None,
                waypoints_A=None, start: str | None = None, min_distance_A: float | None = None,
                min_distance_fraction: float = MIN_DISTANCE_FRACTION, below_tol_eV: float = 0.01,
                minimum_tol_eV: float = 0.01, split_depth: int = 1, hessian: bool = True,
                band_A=None, _return_band: bool = False):
    """Climbing-image NEB between ``initial`` and ``final`` (same atoms, same order).

    calculator : an ASE calculator (shared by all images) or a factory returning a new one per
        image (use a factory for calculators that cannot be shared).
    n_images : intermediate images; fmax (eV/A) for the band (endpoints: fmax / 2).
    interpolation : "idpp" or "linear" (minimum image) when no ``waypoints_A`` are given;
    waypoints_A : (m, 3) positions the ion ``moving_index`` passes (band_from_waypoints);
    band_A : (n_images + 2, N, 3) a complete starting band (its interior is used);
    moving_index : the hopping ion (default: the atom that moves most), for the Hessian check.
    min_distance_A / min_distance_fraction : the distance guard (module docstring);
    below_tol_eV, minimum_tol_eV, split_depth, hessian : validity, intermediate minima and the
    higher-order-saddle check (module docstring). method : ASE NEB tangent method.
    """
    from incipient.structures.minimum import single_thread_blas

    with single_thread_blas():
        return _neb_barrier(initial, final, calculator, n_images=n_images, climb=climb, fmax=fmax, steps=steps,
                            optimizer=optimizer, relax_endpoints=relax_endpoints, interpolation=interpolation,
                            method=method, label=label, moving_index=moving_index, waypoints_A=waypoints_A,
                            start=start, min_distance_A=min_distance_A, min_distance_fraction=min_distance_fraction,
                            below_tol_eV=below_tol_eV, minimum_tol_eV=minimum_tol_eV, split_depth=split_depth,
                            hessian=hessian, band_A=band_A, _return_band=_return_band)


def _neb_barrier(initial, final, calculator, *, n_images, climb, fmax, steps, optimizer, relax_endpoints,
                 interpolation, method, label, moving_index, waypoints_A, start, min_distance_A,
                 min_distance_fraction, below_tol_eV, minimum_tol_eV, split_depth, hessian, band_A, _return_band):
    if len(initial) != len(final) or list(initial.numbers) != list(final.numbers):
        raise ValueError("initial and final must hold the same atoms in the same order")
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    if interpolation not in ("idpp", "linear"):
        raise ValueError(f"interpolation must be 'idpp' or 'linear', got {interpolation!r}")
    _optimizer(optimizer)
    t0 = time.perf_counter()
    guard = min_distance_limit(calculator, fraction=min_distance_fraction, min_distance_A=min_distance_A)
    initial, final = initial.copy(), final.copy()
    if moving_index is None:
        moving_index = int(np.argmax(np.linalg.norm(_continuous_final(initial, final) - initial.positions, axis=1)))
    k = int(moving_index)
    msg = None
    if relax_endpoints:
        for a in (initial, final):
            _, _, msg = _relax_atoms(a, calculator, fmax / 2, steps, "BFGS", guard)
            if msg:
                break
    else:
        initial.calc = _calculator(calculator)
        final.calc = _calculator(calculator)
    if band_A is not None:
        band_A = np.asarray(band_A, dtype=float)
        if band_A.shape != (n_images + 2, len(initial), 3):
            raise ValueError(f"band_A must have shape {(n_images + 2, len(initial), 3)}, got {band_A.shape}")
        images = [initial] + [initial.copy() for _ in range(n_images)] + [final]
        for im, p in zip(images[1:-1], band_A[1:-1], strict=True):
            im.positions = p
        final.positions = _continuous_final(initial, final)
        start = start or "band"
    elif waypoints_A is not None:
        images = band_from_waypoints(initial, final, k, waypoints_A, n_images)
        images[0], images[-1] = initial, final
        images[-1].positions = _continuous_final(initial, final)
        start = start or "waypoints"
    else:
        from ase.mep import NEB

        images = [initial] + [initial.copy() for _ in range(n_images)] + [final]
        NEB(images, method=method).interpolate(method=interpolation, mic=True)
        start = start or interpolation
    if msg:
        res = {"runs": [{"converged": False, "n_steps": 0, "max_force": float("nan"), "reason": f"endpoint: {msg}"}],
               "segments": [images], "minima": [], "hessian": -1}
        _attach(images[1:-1], calculator)
    else:
        res = _band(images, calculator, k, climb=climb, fmax=fmax, steps=steps, optimizer=optimizer, method=method,
                    guard=guard, minimum_tol_eV=minimum_tol_eV, split_depth=split_depth, hessian=hessian)
    r = _assemble(label, res, k=k, fmax=fmax, n_images=n_images, start=start, guard=guard,
                  below_tol_eV=below_tol_eV, climb=climb, n_atoms=len(initial), wall=time.perf_counter() - t0)
    if _return_band:
        return r, res, initial, final, k
    return r


def hop_barrier(initial, final, calculator, *, moving_index: int, start_paths=DEFAULT_STARTS,
                label: str = "hop", max_via: int = 2, max_routes: int = 2, anion: str | None = None,
                escape: bool = True, escape_amplitude_A: float = 0.4, **neb_kwargs):
    """Lowest valid CI-NEB path of one hop over several starting paths (module docstring).

    Returns (best BarrierResult or None, list of all BarrierResults). ``start_paths``: any of
    "idpp", "linear", "tetrahedra"; ``escape``: rerun a band whose climbing image is a proven
    higher-order saddle, pushed off along the extra unstable mode. Keywords go to ``neb_barrier``.
    """
    starts = (start_paths,) if isinstance(start_paths, str) else tuple(start_paths)
    bad = [s for s in starts if s not in START_KINDS]
    if bad or not starts:
        raise ValueError(f"start_paths must be a non-empty subset of {START_KINDS}, got {start_paths!r}")
    k = int(moving_index)
    jobs: list[tuple[str, dict]] = []
    for s in starts:
        if s in ("idpp", "linear"):
            jobs.append((s, {"interpolation": s}))
        else:
            target = _continuous_final(initial, final)[k]
            for r in face_sharing_routes(initial, k, target, anion=anion, max_via=max_via, max_routes=max_routes):
                jobs.append((r.label, {"waypoints_A": r.waypoints_A}))
    results = []
    relaxed = None
    for name, kw in jobs:
        kw = {**neb_kwargs, **kw}
        if relaxed is not None:
            kw["relax_endpoints"] = False
        r, res, ini, fin, _ = neb_barrier(initial if relaxed is None else relaxed[0],
                                          final if relaxed is None else relaxed[1], calculator,
                                          moving_index=k, label=label, start=name, _return_band=True, **kw)
        if relaxed is None and not r.invalid_reason.startswith("endpoint"):
            relaxed = (ini, fin)
        results.append(r)
        log.info("%s %s: %.3f eV, %s, %d steps, %.0f s", label, name, r.barrier_eV,
                 "ok" if r.usable else (r.invalid_reason or "not converged"), r.n_steps, r.wall_s)
        vec = res.get("escape_vector")
        if escape and vec is not None and r.valid:
            wp = []
            for q, seg in enumerate(res["segments"]):
                pk = np.array([im.positions[k] for im in seg])
                if q == res["escape_segment"]:
                    env = np.sin(np.pi * np.linspace(0.0, 1.0, len(pk)))
                    pk = pk + escape_amplitude_A * env[:, None] * vec[None, :]
                wp.append(pk if q == 0 else pk[1:])
            wp = np.vstack(wp)
            kw2 = {**neb_kwargs, "relax_endpoints": False}
            r2 = neb_barrier(relaxed[0], relaxed[1], calculator, moving_index=k, label=label,
                             start=f"escape({name})", waypoints_A=wp, **kw2)
            results.append(r2)
    usable = [r for r in results if r.usable]
    best = min(usable, key=lambda r: r.barrier_eV) if usable else None
    return best, results


# ----------------------------------------------------------------------------- all pathways
@dataclass(frozen=True)
class MigrationBarriers(Result):
    """NEB profiles of several pathways (Figure 1f): the lowest valid converged band of each.

    labels : pathway names; barriers_eV : dict name -> barrier (eV; nan when no band was valid
    and converged); paths_A, energies_eV, fit_paths_A, fit_energies_eV : dict name -> (n,) arrays
    as in ``BarrierResult``; converged : dict name -> bool; mode : "vacancy".
    starts : name -> start of the reported band; max_force_eV_A, n_images, fmax_eV_A; valid;
    intermediate_minima_eV, sub_barriers_eV : name -> tuples; saddle_negative_modes;
    candidates : name -> list of every band's summary (``BarrierResult.summary``);
    n_atoms : atoms of the perfect cell; guard_A : the distance guard (nan: none);
    size_check : name -> {"n_atoms", "barrier_eV", "change_eV", "start"} from the doubled cell
    (empty when not run); minimum : the ``MinimumResult`` summary of the structure used, if any;
    wall_s : name -> seconds; notes : free text (e.g. the cell-size warning); classes : pathway
    class -> its labels (variants).
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
    starts: dict = field(default_factory=dict)
    max_force_eV_A: dict = field(default_factory=dict)
    n_images: int = 0
    fmax_eV_A: float = float("nan")
    valid: dict = field(default_factory=dict)
    intermediate_minima_eV: dict = field(default_factory=dict)
    sub_barriers_eV: dict = field(default_factory=dict)
    saddle_negative_modes: dict = field(default_factory=dict)
    candidates: dict = field(default_factory=dict)
    n_atoms: int = 0
    guard_A: float = float("nan")
    size_check: dict = field(default_factory=dict)
    minimum: dict = field(default_factory=dict)
    wall_s: dict = field(default_factory=dict)
    notes: tuple = ()
    classes: dict = field(default_factory=dict)

    def table(self) -> str:
        rows = [f"{'path':6s} {'barrier':>8s} {'start':>16s} {'conv':>5s} {'fmax':>6s}  minima / sub-barriers (eV)"]
        for n in self.labels:
            mins = ", ".join(f"{x:.3f}" for x in self.intermediate_minima_eV.get(n, ()))
            subs = ", ".join(f"{x:.3f}" for x in self.sub_barriers_eV.get(n, ()))
            rows.append(f"{n:6s} {self.barriers_eV[n]:8.3f} {self.starts.get(n, ''):>16s} "
                        f"{'yes' if self.converged[n] else 'NO':>5s} {self.max_force_eV_A.get(n, float('nan')):6.3f}  "
                        f"{mins} / {subs}")
        return "\n".join(rows)

    def plot(self, ax=None):
        """All profiles on one axis against the normalised reaction coordinate."""
        import matplotlib.pyplot as plt

        fig, ax = (plt.subplots(figsize=(4.8, 3.6)) if ax is None else (ax.figure, ax))
        for name in self.labels:
            fp = np.asarray(self.fit_paths_A[name])
            p = np.asarray(self.paths_A[name])
            if p.size == 0 or not np.isfinite(self.barriers_eV[name]):
                continue
            line, = ax.plot(fp / fp[-1], self.fit_energies_eV[name],
                            label=f"{name}: {self.barriers_eV[name]:.2f} eV")
            ax.plot(p / p[-1], self.energies_eV[name], "o", color=line.get_color(), ms=4)
        ax.set_xlabel("reaction coordinate (normalised)")
        ax.set_ylabel("energy (eV)")
        ax.set_title(f"{self.species} {self.mode} hops (CI-NEB)", fontsize=9)
        ax.legend(frameon=False, fontsize=8)
        fig.tight_layout()
        return fig


def _pathway_results(atoms, calculator, *, species, pathways, reference, site_kwargs, start_paths, neb_kwargs,
                     hop_kwargs, max_variants, only=None):
    variants = hop_variants(atoms, species, pathways, reference=reference, max_variants=max_variants, **site_kwargs)
    out, classes = {}, {}
    for name, rows in variants.items():
        classes[name] = [r[0] for r in rows]
        for label, ini, fin, k, _ in rows:
            if only is not None and label not in only:
                continue
            t0 = time.perf_counter()
            starts = start_paths if only is None else only[label]
            best, allr = hop_barrier(ini, fin, calculator, moving_index=k, start_paths=starts, label=label,
                                     **hop_kwargs, **neb_kwargs)
            out[label] = (best, allr, time.perf_counter() - t0)
            log.info("%s: %s", label, "; ".join(
                f"{r.start} {r.barrier_eV:.3f} eV" + ("" if r.usable else f" ({r.invalid_reason or 'not converged'})")
                for r in allr))
    return out, classes


def _start_kind(start: str) -> tuple:
    s = start.removeprefix("escape(").removesuffix(")")
    return ("tetrahedra",) if s.startswith("tetrahedra") or s.startswith("face") else (s,)


def _effective(results) -> float:
    """Highest barrier over the variants, each from its lower endpoint (nan if any is missing)."""
    vals = [max(r.barrier_eV, r.reverse_barrier_eV) if r is not None else float("nan") for r in results]
    return float(max(vals)) if vals and np.all(np.isfinite(vals)) else float("nan")


def migration_barriers(atoms, calculator, *, species: str, pathways=None, pathway_names=None,
                       site_kwargs: dict | None = None, reference=None, start_paths=DEFAULT_STARTS,
                       n_images: int = 9, fmax: float = 0.02, size_check: bool = False,
                       min_atoms: int = NEB_MIN_ATOMS, minimum=None, max_via: int = 2, max_routes: int = 2,
                       escape: bool = True, anion: str | None = None, max_variants: int = 4,
                       **neb_kwargs) -> MigrationBarriers:
    """CI-NEB vacancy-hop barriers of ``species`` for each pathway class, from several start paths.

    atoms : the (super)cell to compute in, ideally the true minimum (``find_minimum``) repeated;
        fewer than ``min_atoms`` atoms (default 144) adds a note (the cell is not enlarged here:
        use ``atoms.repeat(neb_supercell(unit_cell))``).
    reference : same atoms, same order, with the full symmetry (e.g. the symmetric relaxation
        repeated like ``atoms``): the site graph and pathway classes are built on it, and each
        class is split into the variants that are inequivalent in ``atoms`` (``hop_variants``).
    pathways : class names (None: every class, see ``pathway_endpoints``); pathway_names : name
        -> direction for ``find_sites``; site_kwargs : further ``find_sites`` keywords.
    start_paths, max_via, max_routes, escape, anion : the starting paths (``hop_barrier``).
    size_check : repeat every hop with its winning kind of start in the cell doubled along its
        narrowest direction and report the change.
    minimum : optional ``MinimumResult`` (or its dict) of the structure, stored in the result.
    Extra keywords go to ``neb_barrier`` (steps, optimizer, min_distance_A, ...).

    ``labels`` are the hops computed (a class name, or "name:1", "name:2", ... for its variants);
    ``barriers_eV`` holds every label and, for a class with several variants, the class name
    with the highest variant barrier counted from each variant's lower endpoint (the barrier
    that repeated hops of that class must pass).
    """
    from incipient.structures.minimum import single_thread_blas

    kw = dict(site_kwargs or {})
    if pathway_names is not None:
        kw["pathway_names"] = pathway_names
    hop_kwargs = {"max_via": max_via, "max_routes": max_routes, "escape": escape, "anion": anion}
    neb_kwargs = {"n_images": n_images, "fmax": fmax, **neb_kwargs}
    guard = min_distance_limit(calculator, fraction=neb_kwargs.get("min_distance_fraction", MIN_DISTANCE_FRACTION),
                               min_distance_A=neb_kwargs.get("min_distance_A"))
    notes = []
    if len(atoms) < min_atoms:
        notes.append(f"the cell has {len(atoms)} atoms, fewer than the {min_atoms} recommended for vacancy hops")
    common = {"species": species, "site_kwargs": kw, "neb_kwargs": neb_kwargs, "hop_kwargs": hop_kwargs,
              "max_variants": max_variants}
    with single_thread_blas():
        res, classes = _pathway_results(atoms, calculator, pathways=pathways, reference=reference,
                                        start_paths=start_paths, **common)
        size = {}
        if size_check:
            rep = _double_narrowest(atoms)
            big = atoms.repeat(rep)
            big_ref = None if reference is None else reference.repeat(rep)
            only = {lab: _start_kind(b.start) for lab, (b, _, _) in res.items() if b is not None}
            if only:
                big_res, _ = _pathway_results(big, calculator, pathways=tuple(classes), reference=big_ref,
                                              start_paths=start_paths, only=only, **common)
                for lab, (b2, allr, wall) in big_res.items():
                    b1 = res[lab][0]
                    size[lab] = {"n_atoms": len(big), "repeat": list(rep),
                                 "barrier_eV": float("nan") if b2 is None else b2.barrier_eV,
                                 "change_eV": float("nan") if b2 is None else b2.barrier_eV - b1.barrier_eV,
                                 "start": "" if b2 is None else b2.start,
                                 "intermediate_minima_eV": [] if b2 is None else list(b2.intermediate_minima_eV),
                                 "max_force_eV_A": float("nan") if b2 is None else b2.max_force_eV_A,
                                 "candidates": [r.summary() for r in allr], "wall_s": wall}
    nan = float("nan")
    empty = np.zeros(0)

    def pick(name, attr, default):
        best = res[name][0]
        return default if best is None else getattr(best, attr)

    labels = tuple(res)
    for n in labels:
        if res[n][0] is None:
            notes.append(f"{n}: no valid converged band (" + "; ".join(
                f"{r.start}: {r.invalid_reason or 'not converged'}" for r in res[n][1]) + ")")
        elif res[n][0].saddle_negative_modes >= 2:
            notes.append(f"{n}: the reported band ends on a higher-order saddle (an upper bound; the "
                         "escape band found no lower path)")
    barriers = {n: pick(n, "barrier_eV", nan) for n in labels}
    for name, labs in classes.items():
        if len(labs) > 1 and all(lab in res for lab in labs):
            barriers[name] = _effective([res[lab][0] for lab in labs])
    if minimum is not None and not isinstance(minimum, dict):
        minimum = {k: v for k, v in minimum.to_dict().items() if not k.startswith(("cell_", "positions_", "numbers"))}
    return MigrationBarriers(
        species=species, mode="vacancy", labels=labels, barriers_eV=barriers,
        paths_A={n: pick(n, "path_A", empty) for n in labels},
        energies_eV={n: pick(n, "energies_eV", empty) for n in labels},
        fit_paths_A={n: pick(n, "fit_path_A", empty) for n in labels},
        fit_energies_eV={n: pick(n, "fit_energies_eV", empty) for n in labels},
        converged={n: pick(n, "converged", False) for n in labels},
        starts={n: pick(n, "start", "") for n in labels},
        max_force_eV_A={n: pick(n, "max_force_eV_A", nan) for n in labels},
        n_images=int(n_images), fmax_eV_A=float(fmax),
        valid={n: res[n][0] is not None for n in labels},
        intermediate_minima_eV={n: pick(n, "intermediate_minima_eV", ()) for n in labels},
        sub_barriers_eV={n: pick(n, "sub_barriers_eV", ()) for n in labels},
        saddle_negative_modes={n: pick(n, "saddle_negative_modes", -1) for n in labels},
        candidates={n: [r.summary() for r in res[n][1]] for n in labels},
        n_atoms=len(atoms), guard_A=nan if guard is None else float(guard), size_check=size,
        minimum=dict(minimum or {}), wall_s={n: res[n][2] for n in labels}, notes=tuple(notes),
        classes={k: list(v) for k, v in classes.items()})


# ----------------------------------------------------------------------------- other mechanisms
@dataclass(frozen=True)
class FrenkelResult(Result):
    """The mobile ion from its site into each empty face-sharing tetrahedron of the perfect crystal.

    site_index : the ion; n_tetrahedra : empty tetrahedra found; per tetrahedron (arrays):
    stable : the displaced ion stays in the tetrahedron after relaxation (else it returned to a
    site, and formation/barrier are nan); formation_eV : relaxed Frenkel pair - perfect crystal;
    barrier_eV : CI-NEB barrier from the perfect crystal; recombination_eV : barrier back;
    converged, valid; centres_A : (T, 3) tetrahedron centres; n_atoms.
    """

    species: str
    site_index: int
    n_tetrahedra: int
    stable: np.ndarray
    formation_eV: np.ndarray
    barrier_eV: np.ndarray
    recombination_eV: np.ndarray
    converged: np.ndarray
    valid: np.ndarray
    centres_A: np.ndarray
    n_atoms: int


def frenkel_barriers(atoms, calculator, *, species: str, site_index: int | None = None, n_images: int = 9,
                     fmax: float = 0.02, steps: int = 2000, anion: str | None = None,
                     return_distance_A: float = 0.5, **neb_kwargs) -> FrenkelResult:
    """Frenkel-pair formation: the ``species`` ion ``site_index`` (default: the first) moved into
    each empty anion tetrahedron sharing a face with its polyhedron (``empty_tetrahedra``); the
    end state relaxed (stable if the ion stays farther than ``return_distance_A`` from every
    ``species`` site of ``atoms``), then CI-NEB from the perfect crystal through the shared face."""
    from incipient.structures.minimum import single_thread_blas

    symbols = np.array(atoms.get_chemical_symbols())
    if site_index is None:
        idx = np.flatnonzero(symbols == species)
        if idx.size == 0:
            raise ValueError(f"no {species!r} atoms")
        site_index = int(idx[0])
    if symbols[site_index] != species:
        raise ValueError(f"atom {site_index} is {symbols[site_index]}, not {species}")
    guard = min_distance_limit(calculator, fraction=neb_kwargs.get("min_distance_fraction", MIN_DISTANCE_FRACTION),
                               min_distance_A=neb_kwargs.get("min_distance_A"))
    sites = atoms.positions[symbols == species]
    tets = empty_tetrahedra(atoms, site_index, anion=anion)
    rows = []
    with single_thread_blas():
        perfect = atoms.copy()
        _relax_atoms(perfect, calculator, fmax / 2, steps, "BFGS", guard)
        e0 = perfect.get_potential_energy()
        for tet in tets:
            centre = tet.mean(axis=0)
            ini, fin, k = interstitial_hop_endpoints(perfect, site_index, centre)
            conv, _, msg = _relax_atoms(fin, calculator, fmax / 2, steps, "BFGS", guard)
            from incipient.analysis.sites import minimum_image

            d = np.linalg.norm(minimum_image(sites - fin.positions[k], atoms.cell.array), axis=1).min()
            if msg or d < return_distance_A:
                rows.append((False, np.nan, np.nan, np.nan, False, not msg, centre))
                continue
            face = tet[np.argsort(np.linalg.norm(tet - perfect.positions[k], axis=1))[:3]].mean(axis=0)
            wp = np.array([perfect.positions[k], face, fin.positions[k]])
            r = neb_barrier(ini, fin, calculator, n_images=n_images, fmax=fmax, steps=steps, waypoints_A=wp,
                            moving_index=k, relax_endpoints=False, start="frenkel", label="frenkel", **neb_kwargs)
            rows.append((True, float(fin.get_potential_energy() - e0), r.barrier_eV, r.reverse_barrier_eV,
                         r.converged, r.valid, centre))
    col = list(zip(*rows, strict=True)) if rows else [()] * 7
    return FrenkelResult(
        species=species, site_index=int(site_index), n_tetrahedra=len(tets), stable=np.array(col[0], bool),
        formation_eV=np.array(col[1], float), barrier_eV=np.array(col[2], float),
        recombination_eV=np.array(col[3], float), converged=np.array(col[4], bool), valid=np.array(col[5], bool),
        centres_A=np.array(col[6], float).reshape(-1, 3), n_atoms=len(atoms))


def _ring_band(initial, p_fin, i, j, v, axis, n_images):
    """Linear band for every atom but i and j, which turn about their midpoint in the plane of
    v and ``axis`` (a half turn: each ends on the other's site)."""
    mid = initial.positions[i] + 0.5 * v
    half = 0.5 * float(np.linalg.norm(v))
    e = v / np.linalg.norm(v)
    band = []
    for tt in np.linspace(0.0, 1.0, n_images + 2):
        p = (1 - tt) * initial.positions + tt * p_fin
        ang = np.pi * tt
        p[i] = mid - half * np.cos(ang) * e + half * np.sin(ang) * axis
        p[j] = mid + half * np.cos(ang) * e - half * np.sin(ang) * axis
        band.append(p)
    band[0], band[-1] = initial.positions.copy(), p_fin.copy()
    return np.array(band)


def _ring_clearance(initial, band, i, j) -> float:
    """Smallest distance from ions i, j to any other atom along a ring band (minimum image)."""
    from incipient.analysis.sites import minimum_image

    others = np.ones(len(initial), bool)
    others[[i, j]] = False
    d = np.inf
    for p in band[1:-1]:
        for q in (i, j):
            dv = minimum_image(p[others] - p[q], initial.cell.array)
            d = min(d, float(np.linalg.norm(dv, axis=1).min()))
    return d


def exchange_barrier(atoms, calculator, i: int, j: int, *, n_images: int = 9, fmax: float = 0.02,
                     steps: int = 2000, n_planes: int = 2, **neb_kwargs):
    """Concerted exchange of two like ions i and j in the perfect crystal (no vacancy).

    Starts: the two ions turning about their midpoint (a ring exchange) in the ``n_planes``
    planes containing the i-j vector with the largest clearance from the other atoms (planes
    every 15 deg; a straight or IDPP start is degenerate: both ions meet in the middle). Returns
    (best BarrierResult or None, all); bands that bring atoms below the distance guard are invalid.
    """
    from incipient.structures.minimum import single_thread_blas

    if atoms[i].symbol != atoms[j].symbol or i == j:
        raise ValueError("exchange needs two different atoms of one element")
    v = _mic_vector(atoms, i, j)
    ini = atoms.copy()
    ini.calc = None
    guard = min_distance_limit(calculator, fraction=neb_kwargs.get("min_distance_fraction", MIN_DISTANCE_FRACTION),
                               min_distance_A=neb_kwargs.get("min_distance_A"))
    e = v / np.linalg.norm(v)
    u0 = np.cross(e, [1.0, 0, 0] if abs(e[0]) < 0.9 else [0, 1.0, 0])
    u0 /= np.linalg.norm(u0)
    w0 = np.cross(e, u0)
    results = []
    with single_thread_blas():
        _relax_atoms(ini, calculator, fmax / 2, steps, "BFGS", guard)
        fin = ini.copy()
        fin.positions[i], fin.positions[j] = ini.positions[i] + v, ini.positions[i].copy()
        fin.calc = _calculator(calculator)
        p_fin = _continuous_final(ini, fin)
        planes = []
        for phi in np.deg2rad(np.arange(0.0, 180.0, 15.0)):
            axis = np.cos(phi) * u0 + np.sin(phi) * w0
            band = _ring_band(ini, p_fin, i, j, v, axis, n_images)
            planes.append((_ring_clearance(ini, band, i, j), phi, band))
        planes.sort(key=lambda x: -x[0])
        chosen = []
        for c, phi, band in planes:
            if all(abs(((phi - q + np.pi / 2) % np.pi) - np.pi / 2) > np.deg2rad(30) for _, q, _ in chosen):
                chosen.append((c, phi, band))
            if len(chosen) == n_planes:
                break
        for _, phi, band in chosen:
            results.append(neb_barrier(ini, fin, calculator, n_images=n_images, fmax=fmax, steps=steps,
                                       moving_index=i, band_A=band, relax_endpoints=False,
                                       start=f"ring{np.rad2deg(phi):.0f}", label="exchange", **neb_kwargs))
    usable = [r for r in results if r.usable]
    return (min(usable, key=lambda r: r.barrier_eV) if usable else None), results


def constrained_hop_scan(initial, final, calculator, *, moving_index: int, n_points: int = 11,
                         fmax: float = 0.02, steps: int = 2000, min_distance_A: float | None = None,
                         min_distance_fraction: float = MIN_DISTANCE_FRACTION, label: str = "drag") -> BarrierResult:
    """Constrained direct hop (drag): the ion at fractions t of the straight hop, held in the plane
    perpendicular to it (``FixedPlane``), every other atom relaxed except the one farthest from
    the hop (fixed, against a rigid shift of the crystal). The profile's maximum bounds the barrier
    along the straight coordinate from above; ``BarrierResult`` with start "drag"."""
    from ase.constraints import FixAtoms, FixedPlane

    from incipient.structures.minimum import single_thread_blas

    guard = min_distance_limit(calculator, fraction=min_distance_fraction, min_distance_A=min_distance_A)
    t0 = time.perf_counter()
    k = int(moving_index)
    ini = initial.copy()
    with single_thread_blas():
        _relax_atoms(ini, calculator, fmax / 2, steps, "BFGS", guard)
        fin = final.copy()
        _relax_atoms(fin, calculator, fmax / 2, steps, "BFGS", guard)
        p_fin = _continuous_final(ini, fin)
        v = p_fin[k] - ini.positions[k]
        midp = ini.positions[k] + 0.5 * v
        from incipient.analysis.sites import minimum_image

        far = int(np.argmax(np.linalg.norm(minimum_image(ini.positions - midp, ini.cell.array), axis=1)))
        images, conv_all, reason, n_steps = [ini], True, "", 0
        cur = ini.positions.copy()
        for tt in np.linspace(0.0, 1.0, n_points)[1:-1]:
            a = ini.copy()
            a.positions = cur
            a.positions[k] = ini.positions[k] + tt * v
            a.set_constraint([FixedPlane(k, v), FixAtoms([far])])
            conv, ns, msg = _relax_atoms(a, calculator, fmax, steps, "FIRE", guard)
            n_steps += ns
            conv_all &= conv
            if msg:
                reason = msg
                break
            cur = a.positions.copy()
            images.append(a)
        fin.positions = p_fin
        images.append(fin)
        e = _energies(images)
    e = e - e[0]
    path = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff([im.positions[k] for im in images], axis=0), axis=1))])
    fine = np.linspace(0, path[-1], 200)
    return BarrierResult(label=label, path_A=path, energies_eV=e, fit_path_A=fine, fit_energies_eV=np.interp(fine, path, e),
                         barrier_eV=float(e.max()), reverse_barrier_eV=float(e.max() - e[-1]), delta_E_eV=float(e[-1]),
                         converged=bool(conv_all and not reason), max_force_eV_A=float("nan"), n_steps=n_steps,
                         climb=False, start="drag", n_images=n_points - 2, fmax_eV_A=float(fmax), valid=not reason,
                         invalid_reason=reason, guard_A=float("nan") if guard is None else float(guard),
                         n_atoms=len(ini), wall_s=time.perf_counter() - t0)
