"""Cation site graph of a reference structure: sites, neighbour edges and pathway classes.

Own code; periodic neighbour search by ASE's ``neighbor_list``, site lookup by scipy's cKDTree.
Sites are the positions of the mobile species (e.g. Cu, the centres of the occupied CuI4
tetrahedra) in a reference frame, optionally plus the empty tetrahedral interstitials of the
anion sublattice (centres of anion tetrahedra found by a periodic Delaunay tessellation whose
centre-to-anion distances are all within ``tet_tolerance`` of the cation-anion bond length).

Pathway rule (documented in docs/migration.md): a site pair closer than ``cutoff_A`` (default
1.6 x the shortest site-site distance, which in CsCu2I3 takes the x, z and diagonal
neighbours of a double chain and nothing from the next chain) is an edge. The minimum-image
vector v between the two sites is classified

* ``"x"``   if the angle between v and the x axis (a) is <= ``angle_tol_deg`` (either sense);
* ``"z"``   likewise for the z axis (c, along the edge-sharing chain);
* ``"MID"`` if v lies within ``angle_tol_deg`` of the plane normal to ``mid_plane_normal``
  (default y, i.e. the (010) plane of Figure 1a) but is neither x nor z: the intermediate
  pathway between x and z;
* ``"other"`` otherwise, and for any pair that is not an edge (a long jump).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.results import Result

PATHWAY_CLASSES = ("x", "z", "MID", "other")


def classify_vector(v, *, angle_tol_deg: float = 25.0, mid_plane_normal=(0.0, 1.0, 0.0)) -> str:
    """Pathway class of one site-to-site vector (see the module docstring), ignoring the cutoff."""
    v = np.asarray(v, dtype=float)
    norm = np.linalg.norm(v)
    if norm == 0:
        raise ValueError("zero site-to-site vector cannot be classified")
    u = v / norm
    cos_tol = np.cos(np.radians(angle_tol_deg))
    if abs(u[0]) >= cos_tol:
        return "x"
    if abs(u[2]) >= cos_tol:
        return "z"
    n = np.asarray(mid_plane_normal, dtype=float)
    n = n / np.linalg.norm(n)
    if abs(u @ n) <= np.sin(np.radians(angle_tol_deg)):
        return "MID"
    return "other"


def minimum_image(v: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Minimum-image version of vectors ``v`` (..., 3) for the cell (rows are lattice vectors).

    Exact for the near-orthogonal cells used here (fractional rounding, then a check of the 27
    neighbouring images).
    """
    cell = np.asarray(cell, dtype=float)
    frac = np.asarray(v, dtype=float) @ np.linalg.inv(cell)
    frac -= np.round(frac)
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], float)
    cand = (frac[..., None, :] + shifts) @ cell  # (..., 27, 3)
    best = np.argmin((cand**2).sum(axis=-1), axis=-1)
    return np.take_along_axis(cand, best[..., None, None], axis=-2)[..., 0, :]


@dataclass(frozen=True)
class SiteGraph(Result):
    """Sites of the mobile species in a reference frame and their neighbour edges.

    positions_A : (S, 3) site positions, Angstrom (inside the cell).
    cell_A : (3, 3) cell, rows are lattice vectors, Angstrom.
    occupant : (S,) index of the atom on the site in the reference frame, -1 for interstitials.
    edges : (E, 2) site pairs i < j (one row per distinct periodic image vector).
    edge_vectors_A : (E, 3) vector from site i to the neighbouring image of site j, Angstrom.
    edge_classes : (E,) pathway class of each edge ("x", "z", "MID", "other").
    cutoff_A : neighbour cutoff, Angstrom; angle_tol_deg, mid_plane_normal : classification rule.
    """

    species: str
    positions_A: np.ndarray
    cell_A: np.ndarray
    occupant: np.ndarray
    edges: np.ndarray
    edge_vectors_A: np.ndarray
    edge_classes: tuple
    cutoff_A: float
    angle_tol_deg: float
    mid_plane_normal: np.ndarray

    @property
    def n_sites(self) -> int:
        return int(self.positions_A.shape[0])

    @property
    def nearest_distance_A(self) -> float:
        """Shortest site-site distance (shortest edge), Angstrom."""
        return float(np.linalg.norm(self.edge_vectors_A, axis=1).min())

    def classify(self, i: int, j: int) -> str:
        """Pathway class of a move from site i to site j ("other" if they are not neighbours)."""
        v = minimum_image(self.positions_A[j] - self.positions_A[i], self.cell_A)
        if np.linalg.norm(v) > self.cutoff_A:
            return "other"
        return classify_vector(v, angle_tol_deg=self.angle_tol_deg,
                               mid_plane_normal=self.mid_plane_normal)

    def edges_of_class(self, name: str) -> np.ndarray:
        """Indices of edges of one pathway class, shortest first."""
        idx = np.flatnonzero(np.array(self.edge_classes) == name)
        return idx[np.argsort(np.linalg.norm(self.edge_vectors_A[idx], axis=1), kind="stable")]

    def shell_summary(self) -> list[dict]:
        """Distinct (class, length) neighbour shells with their multiplicity per site."""
        lengths = np.round(np.linalg.norm(self.edge_vectors_A, axis=1), 2)
        out = {}
        for c, d in zip(self.edge_classes, lengths, strict=True):
            out[(c, d)] = out.get((c, d), 0) + 1
        return [{"class": c, "length_A": float(d), "per_site": 2 * n / self.n_sites}
                for (c, d), n in sorted(out.items(), key=lambda kv: kv[0][1])]

    def plot(self, plane: str = "xz"):
        """Sites and edges (coloured by class) projected onto ``plane``; returns the Figure."""
        import matplotlib.pyplot as plt

        ax_idx = ["xyz".index(c) for c in plane]
        fig, ax = plt.subplots(figsize=(5.8, 4))
        colors = {"x": "tab:blue", "z": "tab:red", "MID": "tab:green", "other": "0.6"}
        for (i, _), v, c in zip(self.edges, self.edge_vectors_A, self.edge_classes, strict=True):
            p = self.positions_A[i]
            ax.plot([p[ax_idx[0]], p[ax_idx[0]] + v[ax_idx[0]]],
                    [p[ax_idx[1]], p[ax_idx[1]] + v[ax_idx[1]]], color=colors[c], lw=1)
        occ = self.occupant >= 0
        ax.scatter(*self.positions_A[occ][:, ax_idx].T, s=12, c="k", label="cation site", zorder=3)
        if (~occ).any():
            ax.scatter(*self.positions_A[~occ][:, ax_idx].T, s=12, facecolors="none",
                       edgecolors="k", label="interstitial", zorder=3)
        for c, col in colors.items():
            ax.plot([], [], color=col, label=c)
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
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], float)
    pts = ((frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3)) @ cell
    tri = Delaunay(pts)
    verts = pts[tri.simplices]  # (M, 4, 3)
    centres = verts.mean(axis=1)
    dist = np.linalg.norm(verts - centres[:, None, :], axis=2)
    good = np.all(np.abs(dist - bond_A) <= tolerance * bond_A, axis=1)
    c_frac = centres[good] @ np.linalg.inv(cell)
    inside = np.all((c_frac >= -1e-9) & (c_frac < 1 - 1e-9), axis=1)
    return c_frac[inside] @ cell


def find_sites(reference, species: str = "Cu", *, cutoff_A: float | None = None,
               angle_tol_deg: float = 25.0, mid_plane_normal=(0.0, 1.0, 0.0),
               interstitials: bool = False, anion: str = "I", tet_tolerance: float = 0.15,
               merge_A: float = 0.7) -> SiteGraph:
    """Site graph of ``species`` in ``reference`` (ASE Atoms or a Trajectory, frame 0 is used).

    interstitials : also add the centres of empty, near-regular ``anion`` tetrahedra (their
        centre-anion distances within ``tet_tolerance`` of the median cation-anion bond);
        centres within ``merge_A`` of a cation are that cation's (occupied) site.
    """
    from ase import Atoms
    from ase.neighborlist import neighbor_list
    from scipy.spatial import cKDTree

    if not isinstance(reference, Atoms):
        if hasattr(reference, "atoms"):
            reference = reference.atoms(0)
        else:
            raise ValueError(f"reference must be ASE Atoms or a Trajectory, got {type(reference).__name__}")
    atoms = reference.copy()
    atoms.wrap()
    symbols = np.array(atoms.get_chemical_symbols())
    occ_idx = np.flatnonzero(symbols == species)
    if occ_idx.size == 0:
        raise ValueError(f"no {species!r} atoms in the reference structure")
    if not atoms.pbc.all():
        raise ValueError("the reference structure must be periodic in all three directions")
    cell = atoms.cell.array
    pos = atoms.positions[occ_idx]
    occupant = occ_idx.copy()
    if interstitials:
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
    keep = i < j
    i, j, vec = i[keep], j[keep], vec[keep]
    classes = tuple(classify_vector(v, angle_tol_deg=angle_tol_deg, mid_plane_normal=mid_plane_normal)
                    for v in vec)
    return SiteGraph(species=species, positions_A=pos, cell_A=cell, occupant=occupant,
                     edges=np.stack([i, j], axis=1).astype(int), edge_vectors_A=vec,
                     edge_classes=classes, cutoff_A=float(cutoff_A), angle_tol_deg=float(angle_tol_deg),
                     mid_plane_normal=np.asarray(mid_plane_normal, dtype=float))


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
