"""Flat integer/float tables that both MTP backends evaluate (monomials, basic moments, products).

Own code. A basic moment is ``M_{mu,a}(i) = sum_j R_mu(r_ij) * u_x^ax u_y^ay u_z^az`` with the
unit vector ``u = r_ij / |r_ij|``. All monomials up to the highest degree are enumerated once,
each built from a parent monomial times one unit-vector component, so a backend computes them
with one multiplication each and finds d(monomial)/du from the table of lowered monomials.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.potentials.mtp_file import MTPModel


@dataclass(frozen=True)
class MTPTables:
    """Arrays describing one MTP for the evaluation kernels (all contiguous, int64/float64).

    mono_pow : (n_mono, 3) exponents (ax, ay, az) of each monomial, by increasing degree.
    mono_parent, mono_dir : monomial m = monomial[mono_parent[m]] * u[mono_dir[m]] (m >= 1).
    mono_lower : (n_mono, 3) index of the monomial with exponent c lowered by one (-1 if none).
    basic_mu, basic_mono : radial function and monomial of each basic moment.
    times : (n_times, 3) int (i1, i2, i3) and times_mult (n_times,) float: V[i3] += mult V[i1] V[i2],
        ordered by i3 with i1, i2 < i3 (checked).
    mb_ptr, mb_idx : basic moments grouped by monomial: those of monomial m are
        mb_idx[mb_ptr[m]:mb_ptr[m + 1]].
    pull_ptr, pull_i3, pull_oth, pull_mult : the products by input moment k (each product listed
        once per input): entries pull_ptr[k]:pull_ptr[k + 1] say dE/dV[k] += mult dE/dV[i3] V[oth].
    tptr, t_i1, t_i2 : products of target k are tptr[k]:tptr[k + 1], inputs t_i1, t_i2 (C kernel).
    seed : (n_moments,) dE/dV of each moment through the energy sum alone (sum of its coefficients).
    """

    species_count: int
    scaling: float
    min_dist: float
    max_dist: float
    radial_coeffs: np.ndarray
    mono_pow: np.ndarray
    mono_parent: np.ndarray
    mono_dir: np.ndarray
    mono_lower: np.ndarray
    basic_mu: np.ndarray
    basic_mono: np.ndarray
    times: np.ndarray
    times_mult: np.ndarray
    n_moments: int
    mapping: np.ndarray
    moment_coeffs: np.ndarray
    species_coeffs: np.ndarray
    mb_ptr: np.ndarray
    mb_idx: np.ndarray
    pull_ptr: np.ndarray
    pull_i3: np.ndarray
    pull_oth: np.ndarray
    pull_mult: np.ndarray
    tptr: np.ndarray
    t_i1: np.ndarray
    t_i2: np.ndarray
    seed: np.ndarray

    @property
    def n_mono(self) -> int:
        return self.mono_pow.shape[0]

    @property
    def n_basic(self) -> int:
        return self.basic_mu.shape[0]


def build_tables(model: MTPModel) -> MTPTables:
    basic = model.alpha_index_basic
    max_deg = int(basic[:, 1:].sum(axis=1).max()) if basic.size else 0
    monos = [(0, 0, 0)]
    for deg in range(1, max_deg + 1):
        for ax in range(deg, -1, -1):
            for ay in range(deg - ax, -1, -1):
                monos.append((ax, ay, deg - ax - ay))
    index = {m: k for k, m in enumerate(monos)}
    n_mono = len(monos)
    parent = np.zeros(n_mono, dtype=np.int64)
    direc = np.zeros(n_mono, dtype=np.int64)
    lower = -np.ones((n_mono, 3), dtype=np.int64)
    for k, m in enumerate(monos):
        for c in range(3):
            if m[c] > 0:
                low = list(m)
                low[c] -= 1
                lower[k, c] = index[tuple(low)]
        if k > 0:
            c = next(c for c in range(3) if m[c] > 0)
            parent[k] = lower[k, c]
            direc[k] = c
    basic_mono = np.array([index[tuple(int(x) for x in b[1:])] for b in basic], dtype=np.int64)
    t = model.alpha_index_times
    times = np.ascontiguousarray(t[:, [0, 1, 3]], dtype=np.int64)
    mult = np.ascontiguousarray(t[:, 2], dtype=np.float64)
    n_moments = int(model.alpha_moments_count)
    if times.size and (np.any(np.diff(times[:, 2]) < 0) or np.any(times[:, :2].max(axis=1) >= times[:, 2])):
        # the kernels need a topological order; MLIP-2 files list products so, re-sort otherwise
        order = np.lexsort((times[:, 1], times[:, 0], times[:, 2]))
        times, mult = times[order], mult[order]
        if np.any(times[:, :2].max(axis=1) >= times[:, 2]):
            raise ValueError(f"{model.path}: alpha_index_times has a product whose input is not an earlier moment")
    mb_idx = np.argsort(basic_mono, kind="stable").astype(np.int64)
    mb_ptr = np.concatenate([[0], np.cumsum(np.bincount(basic_mono, minlength=n_mono))]).astype(np.int64)
    k = np.concatenate([times[:, 0], times[:, 1]])
    i3 = np.concatenate([times[:, 2], times[:, 2]])
    oth = np.concatenate([times[:, 1], times[:, 0]])
    mk = np.concatenate([mult, mult])
    order = np.lexsort((i3, k))
    seed = np.zeros(n_moments)
    np.add.at(seed, np.asarray(model.alpha_moment_mapping, dtype=np.int64), np.asarray(model.moment_coeffs, dtype=np.float64))
    pull_ptr = np.concatenate([[0], np.cumsum(np.bincount(k, minlength=n_moments))]).astype(np.int64)
    return MTPTables(
        species_count=model.species_count,
        scaling=float(model.scaling),
        min_dist=float(model.min_dist_A),
        max_dist=float(model.max_dist_A),
        radial_coeffs=np.ascontiguousarray(model.radial_coeffs, dtype=np.float64),
        mono_pow=np.array(monos, dtype=np.int64),
        mono_parent=parent,
        mono_dir=direc,
        mono_lower=lower,
        basic_mu=np.ascontiguousarray(basic[:, 0], dtype=np.int64),
        basic_mono=basic_mono,
        times=times,
        times_mult=mult,
        n_moments=n_moments,
        mapping=np.ascontiguousarray(model.alpha_moment_mapping, dtype=np.int64),
        moment_coeffs=np.ascontiguousarray(model.moment_coeffs, dtype=np.float64),
        species_coeffs=np.ascontiguousarray(model.species_coeffs, dtype=np.float64),
        mb_ptr=mb_ptr,
        mb_idx=mb_idx,
        pull_ptr=pull_ptr,
        pull_i3=np.ascontiguousarray(i3[order]),
        pull_oth=np.ascontiguousarray(oth[order]),
        pull_mult=np.ascontiguousarray(mk[order]),
        tptr=np.concatenate([[0], np.cumsum(np.bincount(times[:, 2], minlength=n_moments))]).astype(np.int64),
        t_i1=np.ascontiguousarray(times[:, 0]),
        t_i2=np.ascontiguousarray(times[:, 1]),
        seed=seed,
    )
