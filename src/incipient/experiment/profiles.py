"""Sections and site-to-site line profiles of a MEM density along the mobile ion's paths (Figure 1b,c).

Own code on ``scipy.ndimage.map_coordinates`` (periodic trilinear interpolation).

For any crystal, :func:`mobile_paths` takes the paths from the site graph of the mobile species
in the CIF's structure (``incipient.analysis.sites.find_sites``): from the first site, the
shortest hop of every pathway class; :func:`channel_profiles` samples the density along them
and :func:`plot_plane_section` draws the plane through the site spanned by the two shortest.
Besides the straight lines, :func:`bottleneck` gives the density-ridge value: the highest
density level at which the two sites are still connected through the 3D map.

The normalised profile is rho(path) / rho_peak, where rho_peak is the largest density within
0.5 A of the starting site (an anharmonic maximum need not sit on the refined position);
``min_to_peak`` is the smallest normalised value along the path (the channel density).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.results import Result


def interpolate(density: np.ndarray, frac: np.ndarray, order: int = 1) -> np.ndarray:
    """Density at fractional points ``frac`` (P, 3) (grid point i at x = i/n, periodic)."""
    from scipy.ndimage import map_coordinates

    frac = np.atleast_2d(frac)
    coords = (frac % 1.0).T * np.array(density.shape)[:, None]
    return map_coordinates(density, coords, order=order, mode="grid-wrap")


def line_profile(density, lattice, start_frac, end_frac, n_points: int = 201):
    """(distance_A (n,), rho (n,)) along the straight segment between two fractional points."""
    start = np.asarray(start_frac, float)
    end = np.asarray(end_frac, float)
    t = np.linspace(0.0, 1.0, n_points)
    pts = start[None, :] + t[:, None] * (end - start)[None, :]
    length = float(np.linalg.norm((end - start) @ np.asarray(lattice)))
    return t * length, interpolate(density, pts)


def local_peak(density, lattice, frac, radius_A: float = 0.5) -> float:
    """Largest grid density within ``radius_A`` of a fractional position (periodic)."""
    n = np.array(density.shape)
    lattice = np.asarray(lattice)
    span = np.ceil(radius_A / (np.linalg.norm(lattice, axis=1) / n)).astype(int)
    centre = np.rint(np.asarray(frac) * n).astype(int)
    ranges = [np.arange(c - s, c + s + 1) for c, s in zip(centre, span, strict=True)]
    I, J, K = np.meshgrid(*ranges, indexing="ij")
    d = (np.stack([I, J, K], -1) / n - np.asarray(frac)) @ lattice
    inside = np.linalg.norm(d, axis=-1) <= radius_A
    return float(density[I[inside] % n[0], J[inside] % n[1], K[inside] % n[2]].max())


def bottleneck(density, start_frac, end_frac, n_bisect: int = 14) -> float:
    """Largest t such that rho >= t connects the two points (face-connected voxels).

    The percolation ("density-ridge") value of the best 3D path between two sites, found by
    bisection on ``scipy.ndimage.label`` of the thresholded grid, rolled so that the midpoint
    of the segment sits at the centre of the array (paths crossing the far cell faces are not
    considered).
    """
    from scipy.ndimage import label

    n = np.array(density.shape)
    start = np.asarray(start_frac, float)
    end = np.asarray(end_frac, float)
    mid = np.rint(0.5 * (start + end) * n).astype(int)
    shift = n // 2 - mid
    rho = np.roll(density, tuple(shift), axis=(0, 1, 2))
    i0 = tuple((np.rint(start * n).astype(int) + shift) % n)
    i1 = tuple((np.rint(end * n).astype(int) + shift) % n)
    lo, hi = 0.0, float(min(rho[i0], rho[i1]))
    for _ in range(n_bisect):
        t = 0.5 * (lo + hi)
        lab, _ = label(rho >= t)
        if lab[i0] != 0 and lab[i0] == lab[i1]:
            lo = t
        else:
            hi = t
    return lo


# ----------------------------------------------------------------------------- any crystal
def mobile_paths(structure, species: str, pathway_names=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fractional (start, end) of the shortest hop of each pathway class from the first ``species``
    site of ``structure`` (ASE Atoms in the CIF's cell), named as the site graph names them."""
    from incipient.analysis.sites import find_sites

    graph = find_sites(structure, species, pathway_names=pathway_names)
    inv = np.linalg.inv(graph.cell_A)
    start_site = int(np.argmin(np.linalg.norm(graph.positions_A - graph.positions_A.mean(axis=0), axis=1)))
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    lengths = np.linalg.norm(graph.edge_vectors_A, axis=1)
    for k in np.argsort(lengths, kind="stable"):
        name = graph.edge_classes[k]
        if name in out or name == "other":
            continue
        i, j = graph.edges[k]
        if start_site not in (i, j):
            continue
        v = graph.edge_vectors_A[k] if i == start_site else -graph.edge_vectors_A[k]
        s0 = graph.positions_A[start_site] @ inv
        out[name] = (s0, s0 + v @ inv)
    if not out:
        raise ValueError(f"no {species}-{species} paths found from the first {species} site")
    return out


@dataclass(frozen=True)
class ChannelProfile(Result):
    """Normalised density profiles between neighbouring sites of the mobile ion at one temperature.

    ``paths`` names (P,); ``distance_A`` (P, n); ``profile`` (P, n) rho / rho_peak; ``min_to_peak``
    (P,); ``peak_e_A3`` the peak density (e/A^3) at the start site; ``start_frac``/``end_frac``
    (P, 3); ``bottleneck_to_peak`` (P,) the normalised 3D percolation density (see :func:`bottleneck`).
    """

    temperature_K: float
    species: str
    paths: tuple[str, ...]
    distance_A: np.ndarray
    profile: np.ndarray
    min_to_peak: np.ndarray
    peak_e_A3: float
    start_frac: np.ndarray
    end_frac: np.ndarray
    bottleneck_to_peak: np.ndarray

    def plot(self, path: str | None = None):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.2, 3.2))
        for i, name in enumerate(self.paths):
            if path is None or name == path:
                ax.plot(self.distance_A[i], self.profile[i], label=f"{name}: min {100 * self.min_to_peak[i]:.2f} %")
        ax.set_yscale("log")
        ax.set_xlabel("distance along the path (A)")
        ax.set_ylabel(f"rho / rho({self.species} peak)")
        ax.set_title(f"{self.temperature_K:.0f} K")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


def channel_profiles(density, lattice, paths: dict, species: str, temperature_K: float,
                     n_points: int = 201) -> ChannelProfile:
    """Profiles of ``density`` along ``paths`` ({name: (start_frac, end_frac)}, all from one site)."""
    names = tuple(paths)
    start = np.array([paths[k][0] for k in names])
    end = np.array([paths[k][1] for k in names])
    peak = local_peak(density, lattice, start[0])
    dist, prof = [], []
    for s0, e0 in zip(start, end, strict=True):
        d, rho = line_profile(density, lattice, s0, e0, n_points)
        dist.append(d)
        prof.append(rho / peak)
    prof = np.array(prof)
    ridge = np.array([bottleneck(density, s0, e0) / peak for s0, e0 in zip(start, end, strict=True)])
    return ChannelProfile(float(temperature_K), species, names, np.array(dist), prof, prof.min(axis=1), float(peak),
                          start, end, ridge)


def plot_plane_section(density, lattice, paths: dict, species: str, title: str = "", vmin: float = 1e-4,
                       n_pixels: int = 160):
    """Normalised density (log scale) on the plane through the start site spanned by the two
    shortest paths (one path: the plane containing it and the lattice vector most normal to it),
    with every path drawn as an arrow."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    lattice = np.asarray(lattice, dtype=float)
    names = list(paths)
    s0 = np.asarray(paths[names[0]][0], dtype=float)
    vecs = {n: (np.asarray(paths[n][1]) - np.asarray(paths[n][0])) @ lattice for n in names}
    order = sorted(names, key=lambda n: np.linalg.norm(vecs[n]))
    u = vecs[order[0]] / np.linalg.norm(vecs[order[0]])
    second = [vecs[n] for n in order[1:] if np.linalg.norm(np.cross(u, vecs[n])) > 0.2 * np.linalg.norm(vecs[n])]
    w = second[0] if second else min(lattice, key=lambda a: abs(a @ u) / np.linalg.norm(a))
    v = w - (w @ u) * u
    v /= np.linalg.norm(v)
    half = 1.3 * max(np.linalg.norm(x) for x in vecs.values())
    t = np.linspace(-half, half, n_pixels)
    origin = s0 @ lattice
    pts = origin + t[:, None, None] * u + t[None, :, None] * v
    img = interpolate(density, pts.reshape(-1, 3) @ np.linalg.inv(lattice)).reshape(n_pixels, n_pixels)
    peak = local_peak(density, lattice, s0)
    fig, ax = plt.subplots(figsize=(4.8, 4.0))
    im = ax.imshow(np.maximum(img / peak, vmin).T, origin="lower", extent=[-half, half, -half, half],
                   norm=LogNorm(vmin=vmin, vmax=1.0), cmap="viridis")
    fig.colorbar(im, ax=ax, label=f"rho / rho({species} peak)")
    for k, n in enumerate(names):
        d = vecs[n]
        ax.annotate("", xy=(d @ u, d @ v), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": f"C{k + 1}", "lw": 1.2})
        ax.annotate(n, (d @ u, d @ v), color=f"C{k + 1}", fontsize=8)
    ax.set_xlabel(f"along {order[0]} (A)")
    ax.set_ylabel("in-plane normal (A)")
    ax.set_title(title or f"plane through {species}")
    fig.tight_layout()
    return fig


def plot_profiles(profiles, path: str):
    """Overlay the normalised ``path`` profiles of several temperatures (Figure 1c)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    cmap = plt.get_cmap("plasma")
    for n, prof in enumerate(sorted(profiles, key=lambda p: p.temperature_K)):
        if path not in prof.paths:
            continue
        i = prof.paths.index(path)
        ax.plot(prof.distance_A[i], prof.profile[i], color=cmap(n / max(1, len(profiles))), label=f"{prof.temperature_K:.0f} K")
    ax.set_yscale("log")
    ax.set_xlabel(f"distance along {path} (A)")
    ax.set_ylabel(f"rho / rho({profiles[0].species} peak)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
