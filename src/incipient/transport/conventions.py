"""kappa_p and kappa_c in each velocity-operator convention from the same linewidths, with the symmetry of each tensor.

Own code (a thin layer over :mod:`incipient.transport.wigner_assembly`): the linewidths
(3ph, 3+4ph, ... on phono3py's irreducible q-points) do not depend on the velocity operator's
convention, so the Wigner sum (eqs. 4-5) is assembled once per convention, twice:

* on the irreducible q-points with the point-group average (``kappa_p_W_mK``, ``kappa_c_W_mK``:
  what :func:`~incipient.transport.wigner34.wigner_3ph_4ph` reports; symmetric by construction);
* on the full mesh (linewidths unfolded from the irreducible points) with NO symmetry operation
  (``kappa_p_full_W_mK``, ``kappa_c_full_W_mK``: what a code that sums the whole mesh reports).

The symmetry-forbidden part of the full-mesh coherence tensor is ``asym_c_W_mK``: the largest
element of K - <R K R^T>_R over the crystal's point group (orthorhombic: the largest off-diagonal
element), taken over the pairs of modes with different frequencies. Those are the pairs that the
lattice-phase gauge term, (w' - w) x (position operator), changes; the crystal convention gives
them exactly covariant (zero to rounding), the lattice-phase conventions of ShengBTE-derived
Wigner add-ons do not (docs/kappa.md, "Velocity-operator conventions"). Pairs inside a degenerate
subspace are left out of that measure because their split between kappa_p and kappa_c depends on
the basis chosen in the subspace (phono3py's, rotated along (1, 2, 3)) in every convention: in a
cubic crystal it makes the full-mesh kappa_c anisotropic by several per cent even in the crystal
convention. Linewidths are averaged over degenerate modes first (phono3py's 3ph ones differ by
up to ~1 % between degenerate partners).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from incipient.results import Result

__all__ = ["ConventionsResult", "compare_velocity_conventions", "conventions_from_wigner34"]

#: relative frequency difference below which two modes count as degenerate (as in fourphonon)
DEGENERATE_TOL_THZ = 1e-4

_LABEL = {"crystal": "crystal (correct)", "lattice_phase": "lattice phase",
          "lattice_phase_real": "lattice phase, Re"}


@dataclass(frozen=True)
class ConventionsResult(Result):
    """Full-mesh Wigner tensors per velocity convention and scattering channel (W/m/K).

    conventions (nc,), channels (nch,) e.g. ("3ph", "3+4ph"), temperatures_K (nT,);
    kappa_p_W_mK, kappa_c_W_mK (nc, nch, nT, 3, 3): irreducible points + point-group average;
    kappa_p_full_W_mK, kappa_c_full_W_mK (same shape): full-mesh sums, no symmetrisation;
    alpha (nc, nch, 3): T exponent of kappa_p + kappa_c per direction (xx, yy, zz; NaN with < 2 T);
    asym_c_W_mK (nc, nch, nT): largest symmetry-forbidden element of the full-mesh kappa_c from
    pairs of modes with different frequencies (see the module docstring);
    mesh, n_q_full, n_q_irreducible, n_point_group; info: wall times.
    """

    conventions: tuple
    channels: tuple
    temperatures_K: np.ndarray
    kappa_p_W_mK: np.ndarray
    kappa_c_W_mK: np.ndarray
    kappa_p_full_W_mK: np.ndarray
    kappa_c_full_W_mK: np.ndarray
    alpha: np.ndarray
    asym_c_W_mK: np.ndarray
    mesh: tuple
    n_q_full: int
    n_q_irreducible: int
    n_point_group: int
    info: dict = field(default_factory=dict)

    def __post_init__(self):  # JSON gives lists back
        for name in ("conventions", "channels", "mesh"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def _index(self, convention: str, channel: str) -> tuple[int, int]:
        if convention not in self.conventions:
            raise ValueError(f"convention {convention!r} not computed (have {', '.join(self.conventions)})")
        if channel not in self.channels:
            raise ValueError(f"channel {channel!r} not computed (have {', '.join(self.channels)})")
        return list(self.conventions).index(convention), list(self.channels).index(channel)

    def diagonal(self, convention: str, channel: str) -> dict[str, np.ndarray]:
        """kappa_p, kappa_c (nT, 3) diagonals (xx, yy, zz) in W/m/K."""
        c, h = self._index(convention, channel)
        d = lambda k: np.einsum("tii->ti", k)  # noqa: E731
        return {"kappa_p_W_mK": d(self.kappa_p_W_mK[c, h]), "kappa_c_W_mK": d(self.kappa_c_W_mK[c, h])}

    def average_W_mK(self, convention: str, channel: str) -> np.ndarray:
        """(nT,) direction average (xx + yy + zz)/3 of kappa_p + kappa_c."""
        c, h = self._index(convention, channel)
        return np.einsum("tii->t", self.kappa_p_W_mK[c, h] + self.kappa_c_W_mK[c, h]) / 3

    def table_rows(self, channel: str | None = None) -> tuple[list[str], list[list[str]]]:
        """Header and rows (strings) of one table: every convention x temperature, for ``channel``
        (default: the last, e.g. 3+4ph): kappa_p and kappa_c diagonals, the symmetry-forbidden
        part of kappa_c, and the T exponents of kappa_p + kappa_c."""
        ch = channel or self.channels[-1]
        head = ["convention", "T (K)", "kappa_p xx", "kappa_p yy", "kappa_p zz", "kappa_c xx", "kappa_c yy",
                "kappa_c zz", "kappa_c sym.-forbidden", "average p+c", "alpha x / y / z (p+c)"]
        out = []
        for conv in self.conventions:
            c, h = self._index(conv, ch)
            d = self.diagonal(conv, ch)
            avg = self.average_W_mK(conv, ch)
            for t, T in enumerate(self.temperatures_K):
                al = " / ".join(f"{a:+.2f}" for a in self.alpha[c, h]) if t == 0 else ""
                out.append([_LABEL.get(conv, conv), f"{T:g}", *(f"{x:.4f}" for x in d["kappa_p_W_mK"][t]),
                            *(f"{x:.4f}" for x in d["kappa_c_W_mK"][t]), f"{self.asym_c_W_mK[c, h, t]:.1e}",
                            f"{avg[t]:.3f}", al])
        return head, out

    def table(self) -> str:
        """Plain-text tables, one per channel."""
        blocks = []
        for ch in self.channels:
            head, rows = self.table_rows(ch)
            w = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
            lines = ["  ".join(x.rjust(w[i]) for i, x in enumerate(r)) for r in [head, *rows]]
            blocks.append(f"{ch} (W/m/K; {self.n_q_irreducible} irreducible q-points of {list(self.mesh)} with the point "
                          f"group; sym.-forbidden: from the {self.n_q_full}-point full-mesh sum)\n"
                          + "\n".join(lines))
        return "\n\n".join(blocks)

    def plot(self):
        """kappa_p + kappa_c (solid) and kappa_c (dashed) vs T per direction, one colour per
        convention, for the last channel; log-log with the exponents in the legend."""
        import matplotlib.pyplot as plt

        from incipient.transport.fits import log_temperature_axes

        ch = self.channels[-1]
        T = self.temperatures_K
        fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
        for i, ax in enumerate(axes):
            for k, conv in enumerate(self.conventions):
                c, h = self._index(conv, ch)
                d = self.diagonal(conv, ch)
                col = f"C{k}"
                lab = _LABEL.get(conv, conv)
                ax.plot(T, d["kappa_p_W_mK"][:, i] + d["kappa_c_W_mK"][:, i], "o-", color=col,
                        label=f"{lab}: $\\kappa_p+\\kappa_c$ ($T^{{{self.alpha[c, h, i]:+.2f}}}$)")
                ax.plot(T, d["kappa_c_W_mK"][:, i], "^--", color=col, alpha=0.7,
                        label=f"{lab}: $\\kappa_c$" if i == 0 else None)
            d0 = self.diagonal(self.conventions[0], ch)
            ax.plot(T, d0["kappa_p_W_mK"][:, i], "k:", label="$\\kappa_p$ (all conventions)" if i == 0 else None)
            log_temperature_axes(ax, T)
            ax.set_title("xyz"[i])
            tot = [ln for ln in ax.get_lines() if "T^" in str(ln.get_label())]
            ax.legend(tot, [ln.get_label() for ln in tot], fontsize=7, loc="best")
        axes[0].set_ylabel("$\\kappa$ (W m$^{-1}$ K$^{-1}$)")
        rest = [ln for ln in axes[0].get_lines() if "T^" not in str(ln.get_label())
                and not str(ln.get_label()).startswith("_")]
        fig.legend(rest, [ln.get_label() for ln in rest], loc="lower center", ncol=len(rest), fontsize=8, frameon=False)
        fig.suptitle(f"Wigner kappa ({ch}) in each velocity-operator convention, mesh "
                     f"{'x'.join(str(m) for m in self.mesh)}, the same linewidths")
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        return fig


def compare_velocity_conventions(phonon, qpoints_frac, weights, rates_per_ps: dict, temperatures_K, mesh, *,
                                 conventions=None, symprec: float = 1e-3) -> ConventionsResult:
    """kappa_p and kappa_c on the full mesh in each velocity convention from the same linewidths.

    phonon : phonopy.Phonopy (or Phono3py) with the fc2 the linewidths were computed with.
    qpoints_frac : (nq, 3) phono3py's irreducible q-points of ``mesh`` (reduced coordinates),
    weights (nq,) their star sizes. rates_per_ps : {channel: (nT, nq, nb) full linewidths 1/tau in
    rad/ps on those points (0 for modes left out)}. conventions : default all of
    :data:`~incipient.transport.wigner_assembly.VELOCITY_CONVENTIONS`.
    Raises ValueError when the q-points are not one per star of ``mesh`` or shapes disagree.
    """
    import time

    from incipient.transport.fits import power_law_alpha
    from incipient.transport.fourphonon import _degenerate_average
    from incipient.transport.wigner_assembly import (
        VELOCITY_CONVENTIONS,
        irreducible_mesh,
        point_group_cartesian,
        velocity_operator,
        wigner_kappa,
    )

    t_all = time.perf_counter()
    convs = tuple(conventions or VELOCITY_CONVENTIONS)
    bad = [c for c in convs if c not in VELOCITY_CONVENTIONS]
    if bad:
        raise ValueError(f"unknown velocity conventions {bad}; use {', '.join(VELOCITY_CONVENTIONS)}")
    T = np.atleast_1d(np.asarray(temperatures_K, float))
    mesh = tuple(int(m) for m in mesh)
    q = np.atleast_2d(np.asarray(qpoints_frac, float))
    w = np.asarray(weights, float)
    prim = phonon.primitive
    grid = irreducible_mesh(prim, mesh, symprec=symprec)
    rep = grid.mapping[grid.index_of(np.rint(q * np.asarray(mesh)).astype(int))]
    pos = {int(r): k for k, r in enumerate(rep)}
    if len(pos) != len(q) or set(pos) != {int(i) for i in grid.ir_index}:
        raise ValueError(f"the {len(q)} q-points are not one per star of the {mesh} mesh "
                         f"({len(grid.ir_index)} stars at symprec {symprec:g})")
    if abs(w.sum() - grid.n_q) > 1e-6:
        raise ValueError(f"weights sum to {w.sum():g}, not the {grid.n_q} points of the mesh")
    full_k = np.array([pos[int(m)] for m in grid.mapping])
    chans = tuple(rates_per_ps)
    rots = point_group_cartesian(prim, symprec=symprec)
    vol = prim.volume
    f_ir, _ = velocity_operator(phonon, q)
    G = {}
    for ch in chans:
        g = np.asarray(rates_per_ps[ch], float)
        if g.ndim != 3 or g.shape[:2] != (len(T), len(q)) or g.shape[2] != f_ir.shape[1]:
            raise ValueError(f"rates_per_ps[{ch!r}] must be (n_T={len(T)}, n_q={len(q)}, n_b={f_ir.shape[1]}), "
                             f"got {g.shape}")
        G[ch] = np.stack([[_degenerate_average(f_ir[k], g[t, k]) for k in range(len(q))] for t in range(len(T))])
    nc, nh = len(convs), len(chans)
    kp, kc, kpf, kcf = (np.zeros((nc, nh, len(T), 3, 3)) for _ in range(4))
    asym = np.zeros((nc, nh, len(T)))

    def forbidden(K):
        sym = np.einsum("rai,...ij,rbj->...ab", rots, K, rots) / len(rots)
        return np.abs(K - sym).max(axis=(-2, -1))

    walls = {}
    for c, conv in enumerate(convs):
        t0 = time.perf_counter()
        f, v = velocity_operator(phonon, q, velocity_convention=conv)
        ff, vf = velocity_operator(phonon, grid.qpoints_frac, velocity_convention=conv)
        same = np.abs(ff[:, :, None] - ff[:, None, :]) < DEGENERATE_TOL_THZ * np.maximum(1.0, np.abs(ff))[:, :, None]
        v_nd = np.where(same[:, None] & ~np.eye(ff.shape[1], dtype=bool)[None, None], 0.0, vf)
        for h, ch in enumerate(chans):
            k = wigner_kappa(f, v, G[ch], T, vol, weights=w, rotations_cartesian=rots)
            kp[c, h], kc[c, h] = k.kappa_p, k.kappa_c
            k = wigner_kappa(ff, vf, G[ch][:, full_k], T, vol)
            kpf[c, h], kcf[c, h] = k.kappa_p, k.kappa_c
            asym[c, h] = forbidden(wigner_kappa(ff, v_nd, G[ch][:, full_k], T, vol).kappa_c)
        walls[conv] = time.perf_counter() - t0
    alpha = np.array([[power_law_alpha(T, np.einsum("tii->ti", kp[c, h] + kc[c, h])) for h in range(nh)]
                      for c in range(nc)])
    return ConventionsResult(conventions=convs, channels=chans, temperatures_K=T, kappa_p_W_mK=kp, kappa_c_W_mK=kc,
                             kappa_p_full_W_mK=kpf, kappa_c_full_W_mK=kcf, alpha=alpha, asym_c_W_mK=asym,
                             mesh=mesh, n_q_full=int(grid.n_q), n_q_irreducible=len(q), n_point_group=len(rots),
                             info={"wall_s_per_convention": walls, "wall_s": time.perf_counter() - t_all})


def conventions_from_wigner34(result, primitive, fc2, *, supercell_matrix, conventions=None,
                              symprec: float = 1e-3) -> ConventionsResult:
    """:func:`compare_velocity_conventions` with the 3ph and 3+4ph linewidths of a
    :class:`~incipient.transport.wigner34.Wigner34Result` (which must hold its q-points)."""
    from incipient.lattice.phonons import make_phonopy
    from incipient.lattice.phonopy_io import read_fc2

    if getattr(result, "qpoints_frac", None) is None:
        raise ValueError("this wigner34 result has no q-points (made by an older version): rerun wigner_3ph_4ph")
    fc2 = read_fc2(fc2) if not isinstance(fc2, np.ndarray) else fc2
    ph = make_phonopy(primitive, supercell_matrix, fc2, symprec=symprec)
    return compare_velocity_conventions(ph, result.qpoints_frac, result.weights,
                                        {"3ph": result.rates_3ph_per_ps, "3+4ph": result.rates_34ph_per_ps},
                                        result.temperatures_K, result.mesh, conventions=conventions, symprec=symprec)
