"""Reciprocal-space paths in r.l.u. of a reference cell: supercell commensurability and default S(Q,w) paths.

Own code (a few lines of integer arithmetic; the Brillouin-zone special points are ASE's). A periodic MD supercell with lattice vectors
``A_sup`` (rows) only carries density waves with ``Q . a_sup_i / (2 pi)`` integer, so S(Q,w)
from MD exists only on that grid: for an ``n1 x n2 x n3`` supercell of the reference cell the
allowed Q are the multiples of (1/n1, 1/n2, 1/n3) r.l.u. (the paper's 10x10x10 cell gives a
0.1 r.l.u. grid). Q is given in reciprocal-lattice units h of ``reference_cell`` and
``Q_cart = 2 pi h @ inv(reference_cell).T`` (1/A).

Paths are arguments, never built in: a system file holds its paths under ``[sqw_paths]``, and
:func:`default_sqw_paths` derives straight segments from any cell when it has none: from
Gamma (or a Bragg point G) to the zone-boundary special points of ASE's ``bandpath`` that the
MD supercell can resolve with at least three Q points. :func:`special_point_paths` gives the
same segments without the MD supercell (for harmonic S(Q,E) maps, which need none), and
:func:`commensurate_points` the Q points an MD supercell resolves on any segment.
"""

from __future__ import annotations

import logging
from math import gcd

import numpy as np

__all__ = ["SqwPaths", "check_commensurate", "commensurate_path", "commensurate_points", "default_sqw_paths",
           "format_rlu", "path_distance", "rlu_to_cartesian", "special_point_paths", "special_points_rlu",
           "supercell_integers"]

log = logging.getLogger(__name__)

def rlu_to_cartesian(q_rlu, reference_cell) -> np.ndarray:
    """Q in r.l.u. of ``reference_cell`` (rows = lattice vectors, A) -> Cartesian 1/A (with 2 pi)."""
    q = np.atleast_2d(np.asarray(q_rlu, dtype=float))
    return 2.0 * np.pi * q @ np.linalg.inv(np.asarray(reference_cell, dtype=float)).T


def supercell_integers(q_cart, cell) -> np.ndarray:
    """``Q . a_i / (2 pi)`` for the lattice vectors a_i of ``cell``; integers when commensurate."""
    return np.atleast_2d(q_cart) @ np.asarray(cell, dtype=float).T / (2.0 * np.pi)


def check_commensurate(q_rlu, reference_cell, cell, *, tol: float = 1e-6) -> np.ndarray:
    """Return the integer supercell coordinates of Q; raise ValueError naming any Q not allowed."""
    q_rlu = np.atleast_2d(np.asarray(q_rlu, dtype=float))
    m = supercell_integers(rlu_to_cartesian(q_rlu, reference_cell), cell)
    bad = np.flatnonzero(np.any(np.abs(m - np.round(m)) > tol, axis=1))
    if bad.size:
        rep = np.linalg.solve(np.asarray(reference_cell, float).T, np.asarray(cell, float).T).T
        steps = 1.0 / np.abs(np.diag(rep)) if np.allclose(rep, np.diag(np.diag(rep))) else None
        hint = (f"the supercell allows Q on a grid of {np.round(steps, 6).tolist()} r.l.u."
                if steps is not None else "the supercell allows only Q with integer Q.a_sup/2pi")
        raise ValueError(
            f"{bad.size} of {len(q_rlu)} Q-points are not commensurate with the MD supercell "
            f"(first: {q_rlu[bad[0]].tolist()} r.l.u.); {hint}. Use commensurate_path().")
    return np.round(m).astype(np.int64)


def commensurate_path(start_rlu, end_rlu, reference_cell, cell) -> np.ndarray:
    """All Q on the segment start -> end (inclusive) that the supercell ``cell`` allows, (n, 3) r.l.u.

    Both end points must be commensurate; the spacing is the finest the supercell allows along
    the segment (e.g. 1/n2 r.l.u. along b* for an n1 x n2 x n3 supercell).
    """
    ends = check_commensurate([start_rlu, end_rlu], reference_cell, cell)
    d = ends[1] - ends[0]
    n = gcd(*(abs(int(x)) for x in d))
    if n == 0:
        return np.atleast_2d(np.asarray(start_rlu, dtype=float))
    m = ends[0][None, :] + np.arange(n + 1)[:, None] * (d // n)[None, :]
    # back to r.l.u.: h = m @ inv(cell).T ... via Q_cart = 2 pi m inv(cell).T
    q_cart = 2.0 * np.pi * m @ np.linalg.inv(np.asarray(cell, float)).T
    return q_cart @ np.asarray(reference_cell, float).T / (2.0 * np.pi)


def commensurate_points(start_rlu, end_rlu, reference_cell, cell, *, tol: float = 1e-6) -> np.ndarray:
    """All Q on the segment start -> end (inclusive) that the supercell ``cell`` allows, (n, 3)
    r.l.u., in order from ``start``; the end points need not be allowed (n may be 0).

    Q(t) = start + t (end - start), 0 <= t <= 1, is allowed when every ``Q . a_sup_i / (2 pi)``
    is an integer. With both ends allowed this is :func:`commensurate_path`.
    """
    start = np.asarray(start_rlu, dtype=float).reshape(3)
    end = np.asarray(end_rlu, dtype=float).reshape(3)
    m0 = supercell_integers(rlu_to_cartesian(start, reference_cell), cell)[0]
    dm = supercell_integers(rlu_to_cartesian(end - start, reference_cell), cell)[0]
    i = int(np.argmax(np.abs(dm)))
    if abs(dm[i]) < tol:  # a point, not a segment
        ok = np.all(np.abs(m0 - np.round(m0)) <= tol)
        return start[None, :] if ok else np.zeros((0, 3))
    # t at which component i is an integer, then keep those where every component is
    lo, hi = sorted((m0[i], m0[i] + dm[i]))
    t = (np.arange(np.ceil(lo - tol), np.floor(hi + tol) + 1) - m0[i]) / dm[i]
    t = np.sort(np.clip(t, 0.0, 1.0))
    m = m0[None, :] + t[:, None] * dm[None, :]
    keep = np.all(np.abs(m - np.round(m)) <= tol, axis=1)
    return start[None, :] + t[keep, None] * (end - start)[None, :]


def path_distance(q_rlu, reference_cell) -> np.ndarray:
    """Cumulative Cartesian distance (1/A) along a list of Q points (x axis of dispersion maps)."""
    qc = rlu_to_cartesian(q_rlu, reference_cell)
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(qc, axis=0), axis=1))])


# ----------------------------------------------------------------------------- default paths
class SqwPaths(dict):
    """``{name: (start_rlu, end_rlu)}`` with ``notes``: one line per special point left out, and why."""

    def __init__(self, paths=(), notes=()):
        super().__init__(paths)
        self.notes = list(notes)


def _cell_array(cell) -> np.ndarray:
    c = np.asarray(cell.cell if hasattr(cell, "cell") else cell, dtype=float)
    if c.shape != (3, 3) or abs(np.linalg.det(c)) < 1e-12:
        raise ValueError(f"expected a 3x3 cell with non-zero volume, got shape {c.shape}")
    return c


def _zone_cell(reference_cell, primitive_cell) -> np.ndarray | None:
    """The cell whose Brillouin zone is meant: ``primitive_cell``, or the primitive cell found from
    an ase.Atoms ``reference_cell`` (phonopy), or None (use the reference cell's own zone)."""
    if primitive_cell is not None:
        return _cell_array(primitive_cell)
    if hasattr(reference_cell, "get_scaled_positions"):
        from incipient.system import find_primitive

        return _cell_array(find_primitive(reference_cell)[0].cell)
    return None


def special_points_rlu(reference_cell, primitive_cell=None) -> dict[str, np.ndarray]:
    """ASE's Brillouin-zone special points in r.l.u. of ``reference_cell``, in ASE's path order.

    The zone is that of ``primitive_cell`` when given (the true zone of a centred lattice whose
    ``reference_cell`` is conventional), else of ``reference_cell``. ``reference_cell`` may be an
    ase.Atoms: then the primitive cell is found with phonopy when ``primitive_cell`` is None.
    """
    from ase.cell import Cell

    ref = _cell_array(reference_cell)
    bz = _zone_cell(reference_cell, primitive_cell)
    bz = ref if bz is None else bz
    bp = Cell(bz).bandpath(npoints=0)
    labels = []
    for lab in _split_labels(bp.path) + list(bp.special_points):
        if lab not in labels:
            labels.append(lab)
    conv = np.linalg.inv(bz).T @ ref.T  # k (r.l.u. of bz) -> h (r.l.u. of ref)
    return {k: np.asarray(bp.special_points[k], float) @ conv for k in labels}


def _split_labels(path: str) -> list[str]:
    """'GXSYGZ,X1A1' -> ['G', 'X', 'S', 'Y', 'G', 'Z', 'X1', 'A1'] (ASE's label syntax)."""
    out = []
    for ch in path:
        if ch == ",":
            continue
        if ch.isdigit() and out:
            out[-1] += ch
        else:
            out.append(ch)
    return out


def format_rlu(v) -> str:
    """A Q point as ``(0,0.5,-0.25)`` (integers without decimals, else 4 significant digits)."""
    return "(" + ",".join(f"{x:.4g}" if abs(x - round(x)) > 1e-9 else str(int(round(x))) for x in v) + ")"


def _candidates(reference_cell, primitive_cell, bragg_rlu) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, start, end) from ``bragg_rlu`` to each zone-boundary special point, axis-aligned
    points first (then ASE's order); r.l.u. of ``reference_cell``."""
    ref = _cell_array(reference_cell)
    g = np.asarray(bragg_rlu, dtype=float).reshape(3)
    bz = _zone_cell(reference_cell, primitive_cell)
    pts = special_points_rlu(ref, bz)
    if bz is not None:
        k = g @ np.linalg.inv(ref).T @ bz.T
        if np.abs(k - np.rint(k)).max() > 1e-6:
            raise ValueError(f"bragg_rlu {format_rlu(g)} is not a reciprocal-lattice vector of the primitive lattice "
                             f"(reduced coordinates {np.round(k, 4).tolist()})")
    start_name = "G" if not g.any() else format_rlu(g)
    candidates = []
    for idx, (lab, h) in enumerate(pts.items()):
        if lab == "G" or np.abs(h).max() < 1e-9:
            continue
        nnz = int(np.sum(np.abs(h) > 1e-9))
        candidates.append((nnz, idx, lab, h))
    candidates.sort(key=lambda c: (c[0], c[1]))
    return [(f"{start_name}-{lab}", g, g + h) for _, _, lab, h in candidates]


def _segment(start, end) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return tuple(float(x) + 0.0 for x in start), tuple(float(round(x, 12)) + 0.0 for x in end)


def special_point_paths(reference_cell, n_paths: int = 3, *, primitive_cell=None,
                        bragg_rlu=(0.0, 0.0, 0.0)) -> SqwPaths:
    """Straight paths from ``bragg_rlu`` to the zone-boundary special points, with no MD supercell.

    The segments of :func:`default_sqw_paths` in the same order (axis-aligned special points
    first) but without its commensurability requirement: for maps that need no MD supercell,
    such as the harmonic S(Q,E) of force constants, when the MD cell resolves too few Q points.
    Arguments as for :func:`default_sqw_paths`; returns up to ``n_paths`` paths
    ``{"G-X": (start, end), ...}`` (r.l.u. tuples), with no notes.
    """
    return SqwPaths({name: _segment(g, end) for name, g, end in
                     _candidates(reference_cell, primitive_cell, bragg_rlu)[:n_paths]})


def default_sqw_paths(reference_cell, supercell_cell, n_paths: int = 3, *, primitive_cell=None,
                      bragg_rlu=(0.0, 0.0, 0.0), min_points: int = 3) -> SqwPaths:
    """Straight S(Q,w) paths from ``bragg_rlu`` to zone-boundary special points the MD supercell resolves.

    reference_cell : the cell whose r.l.u. the paths use (the study cell; rows, A; or ase.Atoms,
        whose primitive cell then defines the zone). supercell_cell : the MD supercell (rows, A).
    primitive_cell : the cell whose Brillouin zone gives the special points (default: found from
        an Atoms ``reference_cell``, else ``reference_cell`` itself).
    bragg_rlu : start point G (r.l.u. of ``reference_cell``), a reciprocal-lattice vector of the
        zone's lattice; Gamma by default. A strong Bragg reflection shows the acoustic branches.
    Returns up to ``n_paths`` paths ``{"G-X": (start, end), ...}`` (r.l.u. tuples), axis-aligned
    special points first, each with >= ``min_points`` commensurate Q points
    (:func:`commensurate_path`). ``.notes`` says why each other special point was left out.
    """
    ref = _cell_array(reference_cell)
    sup = _cell_array(supercell_cell)
    candidates = _candidates(reference_cell, primitive_cell, bragg_rlu)
    rep = np.linalg.solve(ref.T, sup.T).T  # supercell rows in units of the reference rows
    grid = (f" (it allows Q on a {format_rlu(1.0 / np.abs(np.diag(rep)))} r.l.u. grid)"
            if np.allclose(rep, np.diag(np.diag(rep)), atol=1e-6) else "")
    notes: list[str] = []
    out = {}
    for name, g, end in candidates:
        if len(out) >= n_paths:
            break
        try:
            q = commensurate_path(g, end, ref, sup)
        except ValueError:
            notes.append(f"{name}: end point {format_rlu(end)} r.l.u. is not commensurate with the MD supercell{grid}")
            continue
        if len(q) < min_points:
            notes.append(f"{name}: the MD supercell allows only {len(q)} Q points on {format_rlu(g)} -> {format_rlu(end)} "
                         f"(at least {min_points} needed)")
            continue
        out[name] = _segment(g, end)
    if not out:
        notes.append("no special point gives a path with enough commensurate Q points: use a larger MD supercell")
    for n in notes:
        log.info("S(Q,w) path %s", n)
    return SqwPaths(out, notes)
