"""Single-ion displacement traces and trajectory density projections (Figures 1d,e and 2b).

Own code on numpy (``histogram2d``) and matplotlib: displacements are taken from each ion's
position in frame 0 of the unwrapped trajectory, so the density of all ions of a species folded
onto one origin shows the spherical (rattling) or tentacle-like (hopping) cloud of Figure 1d,
and a time-coloured projection of one ion's path shows Figure 1e.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.results import Result

_AXES = {"x": 0, "y": 1, "z": 2}


def _plane_axes(plane: str) -> tuple[int, int]:
    if len(plane) != 2 or any(c not in _AXES for c in plane) or plane[0] == plane[1]:
        raise ValueError(f"plane must be two different letters of 'xyz', e.g. 'xz', got {plane!r}")
    return _AXES[plane[0]], _AXES[plane[1]]


@dataclass(frozen=True)
class DisplacementTraces(Result):
    """Displacement of selected ions from their frame-0 positions.

    time_ps : (T',) ps (every ``stride``-th frame); displacement_A : (T', n, 3) Angstrom;
    ions : (n,) atom indices; nn_distance_A : nearest site-site distance (dashed line of
    Figure 2b), nan if unknown.
    """

    species: str
    time_ps: np.ndarray
    displacement_A: np.ndarray
    ions: np.ndarray
    nn_distance_A: float

    def plot(self, direction: str = "x"):
        """Displacement along ``direction`` against time (Figure 2b); returns the Figure."""
        import matplotlib.pyplot as plt

        k = _AXES[direction]
        fig, ax = plt.subplots(figsize=(6, 3))
        for n, ion in enumerate(self.ions):
            ax.plot(self.time_ps, self.displacement_A[:, n, k], lw=0.6, label=f"{self.species}{ion}")
        if np.isfinite(self.nn_distance_A):
            for s in (-1, 1):
                ax.axhline(s * self.nn_distance_A, color="0.4", ls="--", lw=0.8)
        ax.set_xlabel("time (ps)")
        ax.set_ylabel(f"displacement {direction} ($\\AA$)")
        ax.legend(frameon=False, fontsize=7)
        fig.tight_layout()
        return fig

    def plot_projection(self, plane: str = "xz", ion: int = 0):
        """Path of one selected ion projected on ``plane``, coloured by time (Figure 1e)."""
        import matplotlib.pyplot as plt

        i, j = _plane_axes(plane)
        fig, ax = plt.subplots(figsize=(4.2, 4))
        sc = ax.scatter(self.displacement_A[:, ion, i], self.displacement_A[:, ion, j],
                        c=self.time_ps, s=2, cmap="viridis")
        fig.colorbar(sc, ax=ax, label="time (ps)")
        return _finish_plane_plot(fig, ax, plane, f"{self.species}{self.ions[ion]}")


def _finish_plane_plot(fig, ax, plane: str, title: str):
    """Axis labels in A for a two-letter plane ("xz"), equal aspect, title; returns the figure."""
    ax.set_xlabel(f"{plane[0]} ($\\AA$)")
    ax.set_ylabel(f"{plane[1]} ($\\AA$)")
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def displacement_traces(frames_or_path, species: str = "Cu", timestep_fs: float | None = None, *,
                        ions=None, n_ions: int = 1, max_points: int = 20000,
                        nn_distance_A: float | None = None) -> DisplacementTraces:
    """Displacement traces of selected ions of ``species``.

    ions : atom indices; default the ``n_ions`` ions with the largest maximum displacement
        (the ones that hop). ``max_points`` bounds the stored frames (uniform stride).
    """
    from incipient.analysis.msd import _species_name
    from incipient.md.trajectory import read_trajectory

    traj = read_trajectory(frames_or_path, timestep_fs=timestep_fs)
    idx = traj.indices_of(species)
    disp = traj.positions[:, idx] - traj.positions[:1, idx]
    if ions is None:
        reach = np.linalg.norm(disp, axis=2).max(axis=0)
        sel = np.argsort(reach)[::-1][: int(n_ions)]
    else:
        ions = np.atleast_1d(np.asarray(ions, dtype=int))
        pos_in = {a: k for k, a in enumerate(idx)}
        bad = [a for a in ions if a not in pos_in]
        if bad:
            raise ValueError(f"atoms {bad} are not {species!r} atoms")
        sel = np.array([pos_in[a] for a in ions])
    stride = max(1, int(np.ceil(traj.n_frames / max_points)))
    return DisplacementTraces(species=_species_name(traj, species),
                              time_ps=np.asarray(traj.time_fs)[::stride] / 1000.0,
                              displacement_A=disp[::stride][:, sel], ions=idx[sel],
                              nn_distance_A=float("nan") if nn_distance_A is None else float(nn_distance_A))


@dataclass(frozen=True)
class DensityProjection(Result):
    """Histogram of displacements of all ions of a species (from their frame-0 positions).

    plane : e.g. "xz"; edges_u_A, edges_v_A : (B+1,) bin edges, Angstrom;
    density : (B, B) probability per bin area (1/A^2), integrates to 1 over the plane.
    """

    species: str
    plane: str
    edges_u_A: np.ndarray
    edges_v_A: np.ndarray
    density: np.ndarray

    def plot(self, ax=None):
        """Log-scale density map (the spherical vs tentacle-like clouds of Figure 1d)."""
        import matplotlib.pyplot as plt
        from matplotlib.colors import LogNorm

        fig, ax = (plt.subplots(figsize=(4.4, 4)) if ax is None else (ax.figure, ax))
        pos = self.density[self.density > 0]
        vmin = pos.min() if pos.size else 1e-6
        im = ax.pcolormesh(self.edges_u_A, self.edges_v_A, self.density.T,
                           norm=LogNorm(vmin=max(vmin, self.density.max() * 1e-5), vmax=self.density.max()),
                           cmap="magma", shading="flat")
        fig.colorbar(im, ax=ax, label=r"density ($\AA^{-2}$)")
        return _finish_plane_plot(fig, ax, self.plane, f"{self.species} displacement density")


def density_projection(frames_or_path, species: str = "Cu", timestep_fs: float | None = None, *,
                       plane: str = "xz", bins: int = 121, extent_A: float = 4.0,
                       ions=None) -> DensityProjection:
    """Density of displacements of ``species`` projected on ``plane`` within +-``extent_A``."""
    from incipient.analysis.msd import _species_name
    from incipient.md.trajectory import read_trajectory

    i, j = _plane_axes(plane)
    if extent_A <= 0 or bins < 2:
        raise ValueError(f"need extent_A > 0 and bins >= 2, got {extent_A}, {bins}")
    traj = read_trajectory(frames_or_path, timestep_fs=timestep_fs)
    idx = traj.indices_of(species) if ions is None else np.atleast_1d(np.asarray(ions, dtype=int))
    disp = traj.positions[:, idx] - traj.positions[:1, idx]
    edges = np.linspace(-extent_A, extent_A, bins + 1)
    h, eu, ev = np.histogram2d(disp[..., i].ravel(), disp[..., j].ravel(), bins=[edges, edges])
    area = (edges[1] - edges[0]) ** 2
    density = h / (disp[..., 0].size * area)
    return DensityProjection(species=_species_name(traj, species), plane=plane, edges_u_A=eu,
                             edges_v_A=ev, density=density)
