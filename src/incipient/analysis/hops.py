"""Hop detection between sites of a mobile ion: site assignment, residence criterion, pathway statistics.

Own code (scipy cKDTree for the periodic nearest-site lookup, a numba kernel for the per-ion
commitment loop). Rule, documented in docs/migration.md:

1. core regions: an ion is *in* site s when it is within ``r_core_A`` of s (default 0.4 x the
   shortest site-site distance, so cores never overlap); outside every core it keeps its last
   site (a vibration that leaves the core and comes back is no hop);
2. residence criterion: entering another core counts as a hop only if the ion then stays
   assigned to that new site (i.e. enters no other core) for at least ``min_residence_fs``;
   shorter visits are rattling excursions and are merged into the current site. A visit still
   running at the end of the trajectory and shorter than the criterion is not counted;
3. each hop is classified by the pathway class of its site pair (``SiteGraph.classify``: the
   classes the site graph found, named by ``pathway_names`` or "P1", "P2", ... by length, and
   "other" for a move between sites that are not neighbours); the hop time is the entry into
   the new core.

Rates are hops per ion per ps with Poisson errors; the mean residence time is the total observed
ion-time divided by the number of hops (the censoring-robust estimate of an exponential waiting
time), compared with a given phonon period; the return fraction is the share of consecutive hop
pairs of one ion whose second hop goes back to the site the first one left (1 for a two-site
rattler-hopper, 1/2 for an unbiased walk on a chain, ~1/z for uncorrelated 3D hopping).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from incipient.analysis.sites import OTHER, SiteGraph, find_sites, minimum_image, nearest_sites
from incipient.results import Result


@njit(cache=True)
def _commit_sites(raw, min_frames):  # pragma: no cover - compiled
    """raw (N, T) site index or -1 (outside all cores) -> committed site (N, T) (-1: never in a core)."""
    n_ion, n_t = raw.shape
    out = np.empty_like(raw)
    for n in range(n_ion):
        first = -1
        for t in range(n_t):
            if raw[n, t] >= 0:
                first = raw[n, t]
                break
        if first < 0:
            for t in range(n_t):
                out[n, t] = -1
            continue
        # forward fill: the ion keeps its last core until it enters another one
        filled = np.empty(n_t, dtype=raw.dtype)
        cur = first
        for t in range(n_t):
            if raw[n, t] >= 0:
                cur = raw[n, t]
            filled[t] = cur
        current = filled[0]
        t = 0
        while t < n_t:
            s = filled[t]
            t_end = t
            while t_end < n_t and filled[t_end] == s:
                t_end += 1
            if s != current and (t_end - t) >= min_frames:
                current = s
            for k in range(t, t_end):
                out[n, k] = current
            t = t_end
    return out


@dataclass(frozen=True)
class HopResult(Result):
    """Hops of one species between sites.

    hop_ion (H,) atom index; hop_time_ps (H,) time of entry into the new site, ps;
    hop_from, hop_to (H,) site indices; hop_class (H,) pathway class; hop_vector_A (H, 3)
    minimum-image site-to-site vector, Angstrom.
    rate_per_ion_ps, rate_err_per_ion_ps : all hops per ion per ps and Poisson error.
    rates_by_class_per_ion_ps, rate_errs_by_class_per_ion_ps : dict class -> value (1/ps), one
    entry per pathway class of the site graph (in its order) and "other".
    mean_residence_time_ps : ion-time / hops (inf without hops); residence_times_ps (R,)
    completed intervals between two hops of one ion.
    phonon_period_ps, residence_over_phonon_period : comparison (nan if no period given).
    return_fraction : consecutive hop pairs returning to the previous site (nan if none);
    n_hop_pairs : number of such pairs. sites_visited_mean : distinct sites per ion.
    """

    species: str
    n_ions: int
    n_sites: int
    duration_ps: float
    timestep_fs: float
    r_core_A: float
    min_residence_fs: float
    hop_ion: np.ndarray
    hop_time_ps: np.ndarray
    hop_from: np.ndarray
    hop_to: np.ndarray
    hop_class: tuple
    hop_vector_A: np.ndarray
    rate_per_ion_ps: float
    rate_err_per_ion_ps: float
    rates_by_class_per_ion_ps: dict
    rate_errs_by_class_per_ion_ps: dict
    mean_residence_time_ps: float
    residence_times_ps: np.ndarray
    phonon_period_ps: float
    residence_over_phonon_period: float
    return_fraction: float
    n_hop_pairs: int
    sites_visited_mean: float

    @property
    def n_hops(self) -> int:
        return int(self.hop_ion.size)

    def summary(self) -> dict:
        """Scalars only, for JSON reports."""
        return {
            "species": self.species, "n_ions": self.n_ions, "n_sites": self.n_sites,
            "duration_ps": self.duration_ps, "n_hops": self.n_hops,
            "r_core_A": self.r_core_A, "min_residence_fs": self.min_residence_fs,
            "rate_per_ion_ps": self.rate_per_ion_ps, "rate_err_per_ion_ps": self.rate_err_per_ion_ps,
            "rates_by_class_per_ion_ps": dict(self.rates_by_class_per_ion_ps),
            "rate_errs_by_class_per_ion_ps": dict(self.rate_errs_by_class_per_ion_ps),
            "hops_by_class": {c: int(sum(1 for h in self.hop_class if h == c))
                              for c in self.rates_by_class_per_ion_ps},
            "mean_residence_time_ps": self.mean_residence_time_ps,
            "phonon_period_ps": self.phonon_period_ps,
            "residence_over_phonon_period": self.residence_over_phonon_period,
            "return_fraction": self.return_fraction, "n_hop_pairs": self.n_hop_pairs,
            "sites_visited_mean": self.sites_visited_mean,
        }

    def plot(self):
        """Hop rate per pathway class and the residence-time histogram; returns the Figure."""
        import matplotlib.pyplot as plt

        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.4))
        cls = list(self.rates_by_class_per_ion_ps)
        cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        a1.bar(cls, [self.rates_by_class_per_ion_ps[c] for c in cls],
               yerr=[self.rate_errs_by_class_per_ion_ps[c] for c in cls],
               color=["0.6" if c == OTHER else cycle[k % len(cycle)] for k, c in enumerate(cls)], capsize=3)
        a1.set_ylabel("hops per ion per ps")
        a1.set_title(f"{self.species}: {self.n_hops} hops, return fraction "
                     f"{self.return_fraction:.2f}", fontsize=9)
        if self.residence_times_ps.size:
            a2.hist(self.residence_times_ps, bins=30, color="0.5")
        a2.axvline(self.mean_residence_time_ps, color="k", ls="--", label=r"mean $\tau$")
        if np.isfinite(self.phonon_period_ps):
            a2.axvline(self.phonon_period_ps, color="tab:red", ls=":", label="phonon period")
        a2.set_xlabel("residence time (ps)")
        a2.set_ylabel("count")
        a2.legend(frameon=False, fontsize=8)
        fig.tight_layout()
        return fig


def assign_sites(positions: np.ndarray, graph: SiteGraph, r_core_A: float,
                 min_residence_frames: int) -> np.ndarray:
    """Committed site of every ion in every frame: (T, N) int (see the module rules)."""
    idx, dist = nearest_sites(positions, graph.positions_A, graph.cell_A)
    raw = np.where(dist <= r_core_A, idx, -1).astype(np.int64)
    return _commit_sites(np.ascontiguousarray(raw.T), int(min_residence_frames)).T


def detect_hops(frames_or_path, species: str, timestep_fs: float | None = None, *,
                sites: SiteGraph | None = None, reference=None, pathway_names=None,
                r_core_A: float | None = None, min_residence_fs: float = 100.0,
                phonon_period_ps: float | None = None) -> HopResult:
    """Hops of ``species`` between sites, classified by pathway (see module docstring).

    sites : a ``SiteGraph`` of ``species``; default built by ``find_sites(reference, species,
        pathway_names=pathway_names)`` from ``reference`` (ASE Atoms; best the ideal structure)
        or, if that is None too, from the first frame of the trajectory (then the classes come
        from the fallback rule of ``incipient.analysis.sites``).
    r_core_A : core radius, default 0.4 x the shortest site-site distance.
    min_residence_fs : residence criterion separating hops from rattling excursions.
    phonon_period_ps : optional period (e.g. 1/f of the Cu-dominated ~4 meV optical mode,
        ~1 ps) to compare the mean residence time with.
    """
    from incipient.md.trajectory import read_trajectory

    traj = read_trajectory(frames_or_path, timestep_fs=timestep_fs)
    if sites is None:
        sites = find_sites(traj.atoms(0) if reference is None else reference, species,
                           pathway_names=pathway_names)
    elif sites.species != species:
        raise ValueError(f"the site graph is of {sites.species!r}, not of {species!r}")
    elif pathway_names is not None:
        raise ValueError("pathway_names is for the site graph built here; give it to find_sites "
                         "when passing sites=")
    idx = traj.indices_of(species)
    d_nn = sites.nearest_distance_A
    r_core = 0.4 * d_nn if r_core_A is None else float(r_core_A)
    if not 0 < r_core < 0.5 * d_nn:
        raise ValueError(f"r_core_A={r_core} must be in (0, {0.5 * d_nn:.3f}) A (half the shortest "
                         "site-site distance) so that core regions do not overlap")
    if min_residence_fs < 0:
        raise ValueError(f"min_residence_fs must be >= 0, got {min_residence_fs}")
    min_frames = max(1, int(np.ceil(min_residence_fs / traj.dt_fs)))
    committed = assign_sites(traj.positions[:, idx], sites, r_core, min_frames)
    n_t, n_ion = committed.shape
    dt_ps = traj.dt_fs / 1000.0
    duration = (n_t - 1) * dt_ps  # observed time per ion

    change = (committed[1:] != committed[:-1]) & (committed[:-1] >= 0)
    t_idx, ion_idx = np.nonzero(change)
    order = np.lexsort((t_idx, ion_idx))  # by ion, then time
    t_idx, ion_idx = t_idx[order] + 1, ion_idx[order]
    frm = committed[t_idx - 1, ion_idx]
    to = committed[t_idx, ion_idx]
    classes = tuple(sites.classify(int(a), int(b)) for a, b in zip(frm, to, strict=True))
    vecs = np.array([sites.positions_A[b] - sites.positions_A[a] for a, b in zip(frm, to, strict=True)]).reshape(-1, 3)
    if vecs.size:
        vecs = minimum_image(vecs, sites.cell_A)
    times = t_idx * dt_ps

    n_h = len(t_idx)
    exposure = n_ion * duration
    names = (*sites.class_names, OTHER)
    counts = {c: sum(1 for h in classes if h == c) for c in names}
    rates = {c: counts[c] / exposure for c in names}
    errs = {c: float(np.sqrt(counts[c])) / exposure for c in names}
    same_ion = ion_idx[1:] == ion_idx[:-1]
    res = np.diff(times)[same_ion]
    returns = (to[1:] == frm[:-1])[same_ion]
    tau = exposure / n_h if n_h else np.inf
    period = np.nan if phonon_period_ps is None else float(phonon_period_ps)
    visited = [np.unique(committed[:, n][committed[:, n] >= 0]).size for n in range(n_ion)]
    from incipient.analysis.msd import _species_name

    return HopResult(
        species=_species_name(traj, species), n_ions=int(n_ion), n_sites=sites.n_sites,
        duration_ps=float(duration), timestep_fs=float(traj.dt_fs), r_core_A=float(r_core),
        min_residence_fs=float(min_residence_fs), hop_ion=idx[ion_idx], hop_time_ps=times,
        hop_from=frm, hop_to=to, hop_class=classes, hop_vector_A=vecs,
        rate_per_ion_ps=float(n_h / exposure), rate_err_per_ion_ps=float(np.sqrt(n_h) / exposure),
        rates_by_class_per_ion_ps=rates, rate_errs_by_class_per_ion_ps=errs,
        mean_residence_time_ps=float(tau), residence_times_ps=res,
        phonon_period_ps=period, residence_over_phonon_period=float(tau / period),
        return_fraction=float(returns.mean()) if returns.size else float("nan"),
        n_hop_pairs=int(returns.size), sites_visited_mean=float(np.mean(visited)))
