"""Site graph of a mobile ion in any crystal: sites, neighbour edges and pathway classes found by symmetry.

Own code on top of spglib (point-group operations), ASE (``neighbor_list``, ``find_mic``) and
scipy (``cKDTree`` site lookup, ``connected_components`` for the clustering). Sites are the
positions of the mobile species in a reference structure, optionally plus the empty tetrahedral
interstitials of the anion sublattice (centres of anion tetrahedra from a periodic Delaunay
tessellation whose centre-to-anion distances are all within ``tet_tolerance`` of the median
cation-anion bond; the anion is, unless given, the element nearest to the mobile ions).

Edges: every site pair (periodic images included, also a site and its own image) closer than
``cutoff_A`` (default 1.6 x the shortest site-site distance); the edge vector is the vector
between the two images.

Pathway classes (the rule): two edge vectors v1, v2 are linked when a rotation R of a point
group G maps one onto the other, either sense, within a tolerance: ``|R v1 - s v2| <= tol`` for
some R in G and s = +-1 (so their lengths agree within tol and their directions are equivalent);
the classes are the connected sets of links (single linkage). G and tol depend on ``symmetry``:

* ``"crystal"``: G = point group of the reference structure (``spglib.get_symmetry`` at
  ``symprec``, rotations converted to Cartesian), tol = ``tol_A`` (default 0.05 A): exact
  symmetry equivalence;
* ``"lattice"`` (fallback where the symmetry is broken: an MD frame, a vacancy cell): G = point
  group of the lattice alone (the holohedry of the cell), tol = ``fallback_tol_A`` (default
  0.5 A, of the order of thermal displacements; inequivalent classes of an ideal crystal are
  usually Angstroms apart in this metric);
* an ASE Atoms (its crystal point group, e.g. the ideal structure of an MD run or of a vacancy
  cell) or a (K, 3, 3) array of Cartesian rotations: G as given, tol = ``fallback_tol_A``;
* ``"none"``: plain length shells, linked when the lengths agree within ``tol_A``;
* ``"auto"`` (default): ``"crystal"`` when the reference has more point-group operations than
  identity and inversion, or as many as its lattice (a triclinic crystal); else ``"lattice"``
  when the lattice has more; else ``"none"``.

Classes are ordered by their shortest edge (ties: the class with a member most along x, then y,
then z first). Names: ``pathway_names`` maps a name to a Cartesian direction (either sense).
For each (class, name) the angle is the smallest angle between the direction and a member vector
of the class, sign-insensitive; pairs within ``name_tol_deg`` (default 20 deg) are assigned
greedily by increasing angle (ties: shorter class first), each name and class used once. The
remaining classes are named ``"P1", "P2", ...`` in order of length (``shell_summary`` and
``pathway_summary`` state the lengths). A move between two sites that are not neighbours
(farther apart than the cutoff) is ``"other"``.

For the built-in Cmcm system (x, y, z = a, b, c) the names x = [1, 0, 0], z = [0, 0, 1], MID = [1, 0, 1]
give per Cu 1 x neighbour at 2.61 A (across the double chain), 2 z neighbours at 3.03 A (c/2,
along the chain) and 2 MID neighbours at 4.00 A (the diagonal in the (010) plane): the same
classes, edge by edge, as the former fixed angle rule (tested).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from incipient.results import Result

OTHER = "other"
SYMMETRY_MODES = ("auto", "crystal", "lattice", "none")


def minimum_image(v: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Minimum-image version of vectors ``v`` (..., 3) for the cell (rows are lattice vectors).

    ASE's ``find_mic`` (exact for any cell shape, all directions periodic).
    """
    from ase.geometry import find_mic

    v = np.asarray(v, dtype=float)
    out, _ = find_mic(v.reshape(-1, 3), np.asarray(cell, dtype=float), pbc=True)
    return out.reshape(v.shape)


def point_group(atoms, *, symprec: float = 0.01, lattice_only: bool = False) -> np.ndarray:
    """Cartesian point-group rotations (K, 3, 3) of ``atoms`` (spglib), or of its lattice alone.

    spglib's rotations act on fractional coordinates; with the cell A (rows are lattice vectors)
    the Cartesian rotation is A^T R A^-T. Duplicates (one per translation in a supercell) removed.
    """
    import spglib

    cell = np.asarray(atoms.cell.array, dtype=float)
    if lattice_only:
        spg_cell = (cell, np.zeros((1, 3)), [1])
    else:
        spg_cell = (cell, atoms.get_scaled_positions(wrap=True), atoms.numbers)
    spglib_error = getattr(getattr(spglib, "error", None), "SpglibError", RuntimeError)
    try:
        with warnings.catch_warnings():  # spglib >= 2.5 warns about its old None-on-error mode
            warnings.simplefilter("ignore", DeprecationWarning)
            sym = spglib.get_symmetry(spg_cell, symprec=symprec)
    except spglib_error:  # where spglib's new error handling is on
        sym = None
    if sym is None:
        return np.eye(3)[None]
    rot = np.asarray(sym["rotations"], dtype=float)
    cart = np.einsum("ij,kjl,lm->kim", cell.T, rot, np.linalg.inv(cell.T))
    _, first = np.unique(np.round(cart, 6).reshape(len(cart), 9), axis=0, return_index=True)
    return cart[np.sort(first)]


def _canonical_sign(v: np.ndarray) -> np.ndarray:
    """Each row of v times +-1 so that its first component with |c| > 1e-6 is positive."""
    big = np.abs(v) > 1e-6
    first = np.argmax(big, axis=1)
    s = np.sign(v[np.arange(len(v)), first])
    s[s == 0] = 1.0
    return v * s[:, None]


def cluster_vectors(vectors, rotations=None, *, tol_A: float = 0.05) -> np.ndarray:
    """Class label (0, 1, ... in order of the shortest member) of each vector (N, 3).

    rotations : (K, 3, 3) Cartesian point-group rotations: v1 and v2 are linked when
        |R v1 - s v2| <= tol_A for some R and s = +-1; None: plain length shells, linked when
        the lengths agree within tol_A. Classes are the connected components of the links
        (single linkage; see the module docstring).
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    v = np.asarray(vectors, dtype=float).reshape(-1, 3)
    if v.shape[0] == 0:
        return np.zeros(0, dtype=int)
    if np.any(np.linalg.norm(v, axis=1) < 1e-9):
        raise ValueError("zero vector cannot be classified")
    if not tol_A > 0:
        raise ValueError(f"tol_A must be > 0, got {tol_A}")
    # identical vectors (up to sign and 1e-4 A), as in supercells, are one point
    uniq, inverse = np.unique(np.round(_canonical_sign(v), 4), axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    L = np.linalg.norm(uniq, axis=1)
    order = np.argsort(L, kind="stable")
    # links need |L1 - L2| <= tol_A: classes lie inside length shells (gaps > tol_A split them)
    shell = np.empty(len(L), dtype=int)
    shell[order] = np.concatenate([[0], np.cumsum(np.diff(L[order]) > tol_A)])
    label = shell.copy()
    if rotations is not None:
        rots = np.asarray(rotations, dtype=float).reshape(-1, 3, 3)
        label = np.empty(len(L), dtype=int)
        n_done = 0
        for s in range(shell.max() + 1):
            m = np.flatnonzero(shell == s)
            vm, l2 = uniq[m], L[m] ** 2
            linked = np.eye(len(m), dtype=bool)
            for r in rots:  # |R v1 - s v2|^2 = L1^2 + L2^2 - 2 |R v1 . v2| (best sign)
                dots = np.abs((vm @ r.T) @ vm.T)
                linked |= l2[:, None] + l2[None, :] - 2 * dots <= tol_A**2 + 1e-9
            n_c, comp = connected_components(csr_matrix(linked), directed=False)
            label[m] = comp + n_done
            n_done += n_c
    # order classes by the shortest member, ties by the member most along x, then y, then z
    keys = []
    for k in range(label.max() + 1):
        m = np.flatnonzero(label == k)
        a = np.abs(uniq[m])
        rep = a[np.lexsort((-a[:, 2], -a[:, 1], -a[:, 0]))[0]]
        keys.append((round(float(L[m].min()), 3), *(-np.round(rep, 3))))
    rank = np.empty(len(keys), dtype=int)
    rank[sorted(range(len(keys)), key=lambda k: keys[k])] = np.arange(len(keys))
    return rank[label][inverse]


def assign_pathway_names(vectors, labels, pathway_names: Mapping | None = None, *,
                         name_tol_deg: float = 20.0) -> tuple[str, ...]:
    """Name of each class 0..K-1 of ``labels`` (see the module docstring for the rule)."""
    v = np.asarray(vectors, dtype=float).reshape(-1, 3)
    labels = np.asarray(labels, dtype=int)
    n_cls = int(labels.max()) + 1 if labels.size else 0
    names = _check_names(pathway_names)
    u = v / np.linalg.norm(v, axis=1)[:, None]
    cand = []
    for name, d in names.items():
        cosines = np.abs(u @ (d / np.linalg.norm(d)))
        for k in range(n_cls):
            ang = float(np.degrees(np.arccos(min(1.0, cosines[labels == k].max()))))
            if ang <= name_tol_deg:
                cand.append((ang, k, name))
    out: list[str | None] = [None] * n_cls
    used: set[str] = set()
    for _, k, name in sorted(cand):
        if out[k] is None and name not in used:
            out[k] = name
            used.add(name)
    n = 0
    for k in range(n_cls):
        if out[k] is None:
            n += 1
            while f"P{n}" in names:
                n += 1
            out[k] = f"P{n}"
    return tuple(out)


def _check_names(pathway_names) -> dict[str, np.ndarray]:
    out = {}
    for name, d in (pathway_names or {}).items():
        d = np.asarray(d, dtype=float)
        if not isinstance(name, str) or not name or name == OTHER:
            raise ValueError(f"pathway name {name!r}: need a non-empty string other than {OTHER!r}")
        if d.shape != (3,) or not np.all(np.isfinite(d)) or np.linalg.norm(d) == 0:
            raise ValueError(f"pathway {name!r}: direction must be three finite numbers, not all zero, got {d.tolist()}")
        out[name] = d
    return out


def resolve_symmetry(atoms, symmetry="auto", *, symprec: float = 0.01) -> tuple[str, np.ndarray | None]:
    """(mode, Cartesian rotations or None) for the ``symmetry`` option (see the module docstring)."""
    from ase import Atoms

    if isinstance(symmetry, Atoms):
        return "given", point_group(symmetry, symprec=symprec)
    if not isinstance(symmetry, str):
        rot = np.asarray(symmetry, dtype=float)
        if rot.ndim != 3 or rot.shape[1:] != (3, 3):
            raise ValueError(f"symmetry rotations must have shape (K, 3, 3), got {rot.shape}")
        return "given", rot
    if symmetry not in SYMMETRY_MODES:
        raise ValueError(f"symmetry must be one of {SYMMETRY_MODES}, ASE Atoms or rotations, got {symmetry!r}")
    if symmetry == "none":
        return "none", None
    if symmetry == "lattice":
        return "lattice", point_group(atoms, symprec=symprec, lattice_only=True)
    crystal = point_group(atoms, symprec=symprec)
    if symmetry == "crystal":
        return "crystal", crystal
    lattice = point_group(atoms, symprec=symprec, lattice_only=True)
    if len(crystal) > 2 or len(crystal) >= len(lattice):
        return "crystal", crystal
    if len(lattice) > 2:
        return "lattice", lattice
    return "none", None


@dataclass(frozen=True)
class SiteGraph(Result):
    """Sites of the mobile species in a reference frame, their neighbour edges and pathway classes.

    positions_A : (S, 3) site positions, Angstrom (inside the cell).
    cell_A : (3, 3) cell, rows are lattice vectors, Angstrom.
    occupant : (S,) index of the atom on the site in the reference frame, -1 for interstitials.
    edges : (E, 2) site pairs i <= j (one row per distinct periodic image vector; i == j for a
        site and its own image).
    edge_vectors_A : (E, 3) vector from site i to the neighbouring image of site j, Angstrom.
    edge_classes : (E,) pathway class name of each edge.
    class_names : the classes in order of their shortest edge; class_lengths_A : (K,) those lengths.
    cutoff_A : neighbour cutoff, Angstrom. symmetry : how the classes were found ("crystal",
    "lattice", "none", "given"); point_group_order : number of rotations used (0 for "none");
    tol_A : the tolerance used; name_tol_deg, pathway_names (name -> direction as given): the
    rule of the module docstring.
    """

    species: str
    positions_A: np.ndarray
    cell_A: np.ndarray
    occupant: np.ndarray
    edges: np.ndarray
    edge_vectors_A: np.ndarray
    edge_classes: tuple
    class_names: tuple
    class_lengths_A: np.ndarray
    cutoff_A: float
    symmetry: str
    point_group_order: int
    tol_A: float
    name_tol_deg: float
    pathway_names: dict

    @property
    def n_sites(self) -> int:
        return int(self.positions_A.shape[0])

    @property
    def nearest_distance_A(self) -> float:
        """Shortest site-site distance (shortest edge), Angstrom."""
        return float(np.linalg.norm(self.edge_vectors_A, axis=1).min())

    @cached_property
    def _pair_edges(self) -> dict:
        out: dict = {}
        for e, (i, j) in enumerate(np.asarray(self.edges)):
            out.setdefault((int(i), int(j)), []).append(e)
        return out

    def classify(self, i: int, j: int) -> str:
        """Pathway class of a move from site i to site j ("other" if they are not neighbours).

        The move is the minimum-image vector between the two sites; its class is that of the
        graph edge with this vector.
        """
        if i == j:
            raise ValueError(f"a move from site {i} to itself has no pathway class")
        v = minimum_image(self.positions_A[j] - self.positions_A[i], self.cell_A)
        if np.linalg.norm(v) > self.cutoff_A:
            return OTHER
        a, b, sv = (i, j, v) if i < j else (j, i, -v)
        cand = self._pair_edges.get((int(a), int(b)), [])
        if not cand:
            return OTHER
        dev = np.linalg.norm(np.asarray(self.edge_vectors_A)[cand] - sv, axis=1)
        return self.edge_classes[cand[int(np.argmin(dev))]]

    def edges_of_class(self, name: str) -> np.ndarray:
        """Indices of edges of one pathway class, shortest first."""
        idx = np.flatnonzero(np.array(self.edge_classes) == name)
        return idx[np.argsort(np.linalg.norm(self.edge_vectors_A[idx], axis=1), kind="stable")]

    def shell_summary(self) -> list[dict]:
        """Distinct (class, length) neighbour shells with their multiplicity per site, by length."""
        lengths = np.round(np.linalg.norm(self.edge_vectors_A, axis=1), 2)
        out: dict = {}
        for c, d in zip(self.edge_classes, lengths, strict=True):
            out[(c, d)] = out.get((c, d), 0) + 1
        return [{"class": c, "length_A": float(d), "per_site": 2 * n / self.n_sites}
                for (c, d), n in sorted(out.items(), key=lambda kv: (kv[0][1], self.class_names.index(kv[0][0])))]

    def pathway_summary(self) -> list[dict]:
        """One row per class: name, shortest and longest edge (A), edges per site, unit direction
        of its shortest edge (canonical sign)."""
        rows = []
        vec = np.asarray(self.edge_vectors_A)
        for name in self.class_names:
            e = self.edges_of_class(name)
            L = np.linalg.norm(vec[e], axis=1)
            d = _canonical_sign(vec[e[:1]])[0] / L[0]
            rows.append({"class": name, "length_A": float(L[0]), "max_length_A": float(L[-1]),
                         "per_site": 2 * len(e) / self.n_sites, "direction": np.round(d, 4).tolist()})
        return rows

    def plot(self, plane: str = "xz"):
        """Sites and edges (coloured by class) projected onto ``plane``; returns the Figure."""
        import matplotlib.pyplot as plt

        ax_idx = ["xyz".index(c) for c in plane]
        fig, ax = plt.subplots(figsize=(5.8, 4))
        cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        colors = {c: cycle[k % len(cycle)] for k, c in enumerate(self.class_names)}
        for (i, _), v, c in zip(self.edges, self.edge_vectors_A, self.edge_classes, strict=True):
            p = self.positions_A[i]
            ax.plot([p[ax_idx[0]], p[ax_idx[0]] + v[ax_idx[0]]],
                    [p[ax_idx[1]], p[ax_idx[1]] + v[ax_idx[1]]], color=colors[c], lw=1)
        occ = self.occupant >= 0
        ax.scatter(*self.positions_A[occ][:, ax_idx].T, s=12, c="k", label=f"{self.species} site", zorder=3)
        if (~occ).any():
            ax.scatter(*self.positions_A[~occ][:, ax_idx].T, s=12, facecolors="none",
                       edgecolors="k", label="interstitial", zorder=3)
        for c, L in zip(self.class_names, self.class_lengths_A, strict=True):
            ax.plot([], [], color=colors[c], label=f"{c} ({L:.2f} $\\AA$)")
        ax.set_xlabel(f"{plane[0]} ($\\AA$)")
        ax.set_ylabel(f"{plane[1]} ($\\AA$)")
        ax.set_aspect("equal")
        ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        return fig


def _tetrahedral_interstitials(atoms, anion: str, bond_A: float, tolerance: float) -> np.ndarray:
    """Centres of near-regular anion tetrahedra (periodic Delaunay), wrapped into the cell."""
    from scipy.spatial import Delaunay

    mask = np.array(atoms.get_chemical_symbols()) == anion
    if not mask.any():
        raise ValueError(f"no {anion!r} atoms in the reference frame to build interstitial sites")
    cell = atoms.cell.array
    frac = atoms.get_scaled_positions()[mask]
    pts = ((frac[None, :, :] + _shifts()[:, None, :]).reshape(-1, 3)) @ cell
    tri = Delaunay(pts)
    verts = pts[tri.simplices]  # (M, 4, 3)
    centres = verts.mean(axis=1)
    dist = np.linalg.norm(verts - centres[:, None, :], axis=2)
    good = np.all(np.abs(dist - bond_A) <= tolerance * bond_A, axis=1)
    c_frac = centres[good] @ np.linalg.inv(cell)
    inside = np.all((c_frac >= -1e-9) & (c_frac < 1 - 1e-9), axis=1)
    return c_frac[inside] @ cell


def nearest_other_element(atoms, species: str, r_max_A: float = 6.0) -> str:
    """The element (other than ``species``) most often nearest to a ``species`` atom: the anion
    of the mobile ion's coordination polyhedron (the halide around a Cu in a copper halide, O for Li in Li2O)."""
    from ase.neighborlist import neighbor_list

    symbols = np.array(atoms.get_chemical_symbols())
    i, j, d = neighbor_list("ijd", atoms, r_max_A)
    sel = (symbols[i] == species) & (symbols[j] != species)
    if not sel.any():
        raise ValueError(f"no atom of another element within {r_max_A} A of {species}: give anion=")
    i, j, d = i[sel], j[sel], d[sel]
    order = np.lexsort((d, i))
    first = order[np.concatenate([[True], i[order][1:] != i[order][:-1]])]
    elements, counts = np.unique(symbols[j[first]], return_counts=True)
    return str(elements[np.argmax(counts)])


def find_sites(reference, species: str, *, pathway_names: Mapping | None = None,
               cutoff_A: float | None = None, symmetry="auto", symprec: float = 0.01,
               tol_A: float = 0.05, fallback_tol_A: float = 0.5, name_tol_deg: float = 20.0,
               interstitials: bool = False, anion: str | None = None, tet_tolerance: float = 0.15,
               merge_A: float = 0.7) -> SiteGraph:
    """Site graph of ``species`` in ``reference`` (ASE Atoms or a Trajectory, frame 0 is used).

    pathway_names : optional name -> Cartesian direction (either sense) of named classes;
        unnamed classes are "P1", "P2", ... by length (module docstring).
    cutoff_A : neighbour cutoff, default 1.6 x the shortest site-site distance.
    symmetry, symprec, tol_A, fallback_tol_A, name_tol_deg : the pathway rule (module
        docstring); ``fallback_tol_A`` is the tolerance of the "lattice" and given-symmetry modes.
    interstitials : also add the centres of empty, near-regular ``anion`` tetrahedra (their
        centre-anion distances within ``tet_tolerance`` of the median cation-anion bond);
        centres within ``merge_A`` of a cation are that cation's (occupied) site. ``anion``
        default: the element nearest to the ``species`` atoms (``nearest_other_element``).
    """
    from ase import Atoms
    from ase.neighborlist import neighbor_list
    from scipy.spatial import cKDTree

    if not isinstance(reference, Atoms):
        if hasattr(reference, "atoms"):
            reference = reference.atoms(0)
        else:
            raise ValueError(f"reference must be ASE Atoms or a Trajectory, got {type(reference).__name__}")
    if not isinstance(species, str) or not species:
        raise ValueError(f"species must be an element symbol, got {species!r}")
    names = _check_names(pathway_names)
    atoms = reference.copy()
    if not atoms.pbc.all() or atoms.cell.rank != 3:
        raise ValueError("the reference structure must be periodic in all three directions")
    atoms.wrap()
    symbols = np.array(atoms.get_chemical_symbols())
    occ_idx = np.flatnonzero(symbols == species)
    if occ_idx.size == 0:
        raise ValueError(f"no {species!r} atoms in the reference structure")
    cell = atoms.cell.array
    pos = atoms.positions[occ_idx]
    occupant = occ_idx.copy()
    if interstitials:
        anion = nearest_other_element(atoms, species) if anion is None else anion
        i, j, d = neighbor_list("ijd", atoms, 4.0)
        sel = (symbols[i] == species) & (symbols[j] == anion)
        if not sel.any():
            raise ValueError(f"no {species}-{anion} bonds shorter than 4 A in the reference")
        bond = float(np.median(np.sort(d[sel])[: 4 * occ_idx.size]))
        cand = _tetrahedral_interstitials(atoms, anion, bond, tet_tolerance)
        if cand.size:
            # drop candidates at cation sites and duplicates
            tree = cKDTree(np.vstack([pos + s @ cell for s in _shifts()]))
            dd, _ = tree.query(cand)
            cand = cand[dd > merge_A]
            keep: list[np.ndarray] = []
            for c in cand:
                if all(np.linalg.norm(minimum_image(c - k, cell)) > merge_A for k in keep):
                    keep.append(c)
            if keep:
                pos = np.vstack([pos, np.array(keep)])
                occupant = np.concatenate([occupant, -np.ones(len(keep), int)])
    sites = Atoms("H" * len(pos), positions=pos, cell=cell, pbc=True)
    if cutoff_A is None:
        images = (pos[None, :, :] + (_shifts() @ cell)[:, None, :]).reshape(-1, 3)
        dd, _ = cKDTree(images).query(pos, k=2)
        cutoff_A = 1.6 * float(dd[:, 1].min())  # k=1 is the site itself
    i, j, vec = neighbor_list("ijD", sites, float(cutoff_A))
    # one row per pair and image vector: i < j, and for a site's own image one of +-v
    keep = (i < j) | ((i == j) & np.all(np.isclose(_canonical_sign(vec), vec), axis=1))
    i, j, vec = i[keep], j[keep], vec[keep]
    if len(vec) == 0:
        raise ValueError(f"no {species} site pairs closer than cutoff_A={cutoff_A:.3f} A")
    mode, rots = resolve_symmetry(atoms, symmetry, symprec=symprec)
    tol = float(fallback_tol_A if mode in ("lattice", "given") else tol_A)
    labels = cluster_vectors(vec, rots, tol_A=tol)
    class_names = assign_pathway_names(vec, labels, names, name_tol_deg=name_tol_deg)
    lengths = np.linalg.norm(vec, axis=1)
    return SiteGraph(species=species, positions_A=pos, cell_A=cell, occupant=occupant,
                     edges=np.stack([i, j], axis=1).astype(int), edge_vectors_A=vec,
                     edge_classes=tuple(class_names[k] for k in labels), class_names=class_names,
                     class_lengths_A=np.array([lengths[labels == k].min() for k in range(len(class_names))]),
                     cutoff_A=float(cutoff_A), symmetry=mode,
                     point_group_order=0 if rots is None else int(len(rots)), tol_A=tol,
                     name_tol_deg=float(name_tol_deg),
                     pathway_names={k: v.tolist() for k, v in names.items()})


def _shifts() -> np.ndarray:
    return np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], float)


def nearest_sites(positions: np.ndarray, sites: np.ndarray, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest site (periodic) and the distance to it, for positions (..., 3)."""
    from scipy.spatial import cKDTree

    cell = np.asarray(cell, dtype=float)
    sites = np.asarray(sites, dtype=float)
    shifts = _shifts()
    images = (sites[None, :, :] + (shifts @ cell)[:, None, :]).reshape(-1, 3)
    tree = cKDTree(images)
    p = np.asarray(positions, dtype=float)
    frac = p @ np.linalg.inv(cell)
    wrapped = (frac - np.floor(frac)) @ cell
    d, k = tree.query(wrapped.reshape(-1, 3), workers=-1)
    return (k % len(sites)).reshape(p.shape[:-1]), d.reshape(p.shape[:-1])
