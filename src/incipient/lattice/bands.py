"""Phonon dispersion of any crystal along ASE's high-symmetry path of its primitive cell, in THz, and its figure.

ASE chooses the path (``Cell.bandpath``: Bravais lattice, special points and their order, for
any cell setting) and phonopy gives the frequencies (``run_qpoints``); own code only joins the
two and draws the figure. q points are reduced coordinates of the phonopy primitive cell's
reciprocal lattice; the x axis is the Cartesian path length in 1/A (2 pi included, ASE's
``get_linear_kpoint_axis``). Imaginary modes are negative frequencies (phonopy's convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.results import Result

__all__ = ["Dispersion", "phonon_dispersion", "plot_dispersion"]


@dataclass(frozen=True, eq=False)
class Dispersion(Result):
    """Phonon frequencies along a path of special points.

    path : ASE path string ("GXWKGLUWLK,UX"; a comma is a jump). qpoints : (n, 3) reduced
    coordinates of the primitive reciprocal lattice. x_inv_A : (n,) path length (1/A).
    frequencies_THz : (n, n_bands). label_x_inv_A, labels : special-point ticks ("K|U" at a jump).
    """

    path: str
    qpoints: np.ndarray
    x_inv_A: np.ndarray
    frequencies_THz: np.ndarray
    label_x_inv_A: np.ndarray
    labels: tuple

    @property
    def min_frequency_THz(self) -> float:
        return float(np.min(self.frequencies_THz))

    def plot(self, ax=None, *, title: str | None = None, color: str = "C0"):
        """Dispersion figure (THz vs path, special points labelled); returns the Figure."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(6.4, 3.6), constrained_layout=True)
        else:
            fig = ax.figure
        x, f = np.asarray(self.x_inv_A, float), np.asarray(self.frequencies_THz, float)
        # a jump (two special points at the same x) breaks the lines
        jump = np.flatnonzero(np.diff(x) <= 1e-12)
        xs, fs = np.insert(x, jump + 1, np.nan), np.insert(f, jump + 1, np.nan, axis=0)
        ax.plot(xs, fs, color=color, lw=0.9)
        for xl in self.label_x_inv_A:
            ax.axvline(xl, color="0.6", lw=0.5)
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_xticks(self.label_x_inv_A, [_pretty(lab) for lab in self.labels])
        ax.set_xlim(x[0], x[-1])
        ax.set_ylabel("frequency (THz)")
        ax.set_xlabel("wave vector")
        if title:
            ax.set_title(title, fontsize=9)
        return fig


def _pretty(label: str) -> str:
    return "|".join("Γ" if p == "G" else p for p in label.split("|"))


def phonon_dispersion(phonon, *, path: str | None = None, npoints: int = 200, special_points=None) -> Dispersion:
    """Frequencies of a Phonopy (or Phono3py: its fc2) object along a band path of its primitive cell.

    path : ASE path string (default: ASE's standard path for the lattice of the primitive cell).
    special_points : {label: reduced q} to add or override labels (reduced coordinates of the
    primitive reciprocal lattice). npoints : total number of q points.
    """
    from ase.cell import Cell

    from incipient.lattice.phonons import as_phonopy

    ph = as_phonopy(phonon)
    if ph.force_constants is None:
        raise ValueError("the phonon object has no force constants")
    cell = Cell(np.asarray(ph.primitive.cell, dtype=float))
    bp = cell.bandpath(path, npoints=npoints, special_points=special_points)
    x, X, labels = bp.get_linear_kpoint_axis()
    ticks, names = [], []
    for xl, lab in zip(X, labels, strict=True):
        if ticks and abs(xl - ticks[-1]) < 1e-12:
            names[-1] = f"{names[-1]}|{lab}"
        else:
            ticks.append(float(xl))
            names.append(lab)
    q = np.asarray(bp.kpts, dtype=float)
    ph.run_qpoints(q)
    f = np.asarray(ph.qpoints.frequencies, dtype=float)
    return Dispersion(path=bp.path, qpoints=q, x_inv_A=np.asarray(x, float), frequencies_THz=f,
                      label_x_inv_A=np.asarray(ticks), labels=tuple(names))


def plot_dispersion(phonon, *, path: str | None = None, npoints: int = 200, ax=None, title: str | None = None):
    """Matplotlib figure of the phonon dispersion of ``phonon`` (Phonopy/Phono3py or a Dispersion)."""
    d = phonon if isinstance(phonon, Dispersion) else phonon_dispersion(phonon, path=path, npoints=npoints)
    return d.plot(ax=ax, title=title)
