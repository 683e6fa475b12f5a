r"""Four-phonon scattering rates from ShengBTE-format fourth-order force constants.

Own code: phono3py has no four-phonon scattering and FourPhonon (Fortran) only feeds the
particle-like BTE. This module computes the RTA four-phonon rates 1/tau_4ph of every mode on an
irreducible q mesh, exactly or by Monte Carlo sampling of the phase space, from

* phonons on a Gamma-centred mesh (frequencies, eigenvectors, group velocities from a
  ``phonopy.Phonopy``; see :func:`mesh_phonons`),
* an fc4 in ShengBTE/FourPhonon form (:class:`incipient.lattice.shengbte.ShengBTEFC4`).

The rates add to 3ph and isotope rates (Matthiessen) and go into
:func:`incipient.transport.wigner_assembly.wigner_kappa` for kappa_p and kappa_c.

Formulas (Feng & Ruan, PRB 93, 045202 (2016); Han et al., CPC 270, 108179 (2022)), derived here
from Fermi's golden rule with H4 = (1/4!) sum Phi u u u u and linearised in the occupation of the
scattered mode lambda = (q, s)::

    1/tau_lambda = sum_{l1 l2 l3} [ 1/2 G++ + 1/2 G+- + 1/6 G-- ]
    G_{++} = pi hbar^2/(8 N^2) |V(l, l1, l2, -l3)|^2  [n1 n2 (n3+1) - (n1+1)(n2+1) n3]
             delta(w + w1 + w2 - w3) / (w w1 w2 w3)                 q + q1 + q2 = q3 + G
    G_{+-} = pi hbar^2/(8 N^2) |V(l, l1, -l2, -l3)|^2 [n1 (n2+1)(n3+1) - (n1+1) n2 n3]
             delta(w + w1 - w2 - w3) / (w w1 w2 w3)                 q + q1 = q2 + q3 + G
    G_{--} = pi hbar^2/(8 N^2) |V(l, -l1, -l2, -l3)|^2 [(n1+1)(n2+1)(n3+1) - n1 n2 n3]
             delta(w - w1 - w2 - w3) / (w w1 w2 w3)                 q = q1 + q2 + q3 + G
    V(l, l1, l2, l3) = sum_{quartets} Phi_{abcd}(0i, R2 j, R3 k, R4 l) e^l_{ia} e^l1_{jb} e^l2_{kc}
             e^l3_{ld} exp(i (q1.R2 + q2.R3 + q3.R4)) / sqrt(m_i m_j m_k m_l)

with N the number of q-points (the sums over l1, l2 run over N^2 q-pairs; l3 is fixed by
momentum), -l the time-reversed mode (e(-q) = e(q)*), eigenvectors in the lattice-vector phase
convention (phonopy's e_i times exp(i q.tau_i)), and w in rad/s. The 1/2, 1/2, 1/6 remove double
counting of identical final states. The same golden-rule derivation gives ShengBTE's 3ph prefactor
pi hbar/(4N). Dimensional check: [V] = eV/(A^4 amu^2) = [w^4/eV], so hbar^2 |V|^2/(w^4) * delta
has units (hbar w)^2/eV^2 * 1/w^4 * w^... = 1/s. Classical limit n = kT/(hbar w): every bracket
becomes (kT/hbar)^2 w/(w1 w2 w3) (e.g. ++: n1 n2 - n1 n3 - n2 n3 - n3 -> (kT/hbar)^2 (w3-w1-w2)
/(w1 w2 w3)), so 1/tau_4ph ~ T^2 (tested).

Implementation. With slot wavevectors (a, b, c) = (q1, +-q2, +-q3) every process class has
a + b + c = -q (mod G) and uses the same |V(l, a, b, c)|^2, which is symmetric in the three slots.
For one q-pair (a, b) the code contracts the fc4 once with the scattered eigenvector, Fourier
transforms it to (a, b, c) (kernel ``build_reciprocal_fc4``) and contracts it with the three slot
eigenvector matrices (BLAS), giving |V|^2 for all bands at once; then all seven role assignments
of the three slots (three ++, three +-, one --) are evaluated, each weighted 1/6 (the average of
the formulas above over the 6 orderings of the slots, which leaves the exact sum unchanged).
Exact mode sums each unordered slot triple once with its multiplicity. Sampled mode (the
Monte Carlo idea of Guo et al., npj Comput. Mater. 10, 31 (2024), applied to q-pairs: each
sample carries the exact band sum of its q-pair) is stratified by default: the contributions of
single triples are heavy-tailed (coincident triples q + q1 -> q + q1 with exact energy
conservation, zone-boundary triples whose adaptive widths fall to the floor, low-frequency
partners), so uniform sampling misses the few dominating triples and its spread between q-pairs
understates the error by factors of 10-100 (docs/fourphonon.md). The stratified sampler ranks
the triples by a cheap proxy (:func:`pair_proxy` over a lower bound of the smearing width,
coincident triples first), sums the top half of the budget exactly and samples the rest in
strata of equal proxy mass with per-stratum variances (:func:`stratify`,
:func:`four_phonon_rates`). ``sampler="uniform"`` keeps the old scheme (M ordered q-pairs out
of N^2, mean and finite-population-corrected standard error).

Per q-pair the work is: the reciprocal fc4 X[J, K, b0, L] (numba; only the 3x3x3 blocks of
the atom triples present in the fc4 are touched), three GEMMs without transposing copies
(X -> [J, K, b0, jc] -> [ja, K, b0, jc] -> V[ja, jb, b0, jc]; 3 n_b^5 multiply-adds, optionally
in complex64), and one numba pass over the band triples that evaluates the widths from
velocities projected once per mesh point, finds the scattered bands within the cut-off by
bisection and computes the Bose bracket once per process.

Energy conservation: Gaussian smearing, fixed width (phono3py form exp(-x^2/2s^2)/(sqrt(2pi)s),
``sigma_THz``) or adaptive (ShengBTE form exp(-x^2/s^2)/(sqrt(pi)s) with
s = scalebroad*sqrt(sum_i (g.G_i/n_i)^2/6), g the velocity difference along a free wavevector;
with two free wavevectors we sum the three pairwise slot differences times 2/3, which is
symmetric in the slots and equals ShengBTE's form for the two free directions on average).
Processes beyond ``cutoff_sigmas`` widths are dropped. Modes below ``cutoff_frequency_THz`` take
no part (acoustic modes at Gamma; imaginary modes are dropped or taken as |w|).
Rates of degenerate modes are averaged.

``smearing="fourphonon"`` reproduces what the FourPhonon code (github.com/FourPhonon/FourPhonon,
Src/processes.f90 RTA_plusplus/RTA_plusminus/RTA_minusminus and their _sample versions,
Src/config.f90 base_sigma; read for comparison, nothing copied) actually does, which differs
from the formulas above only in energy conservation:

* width s = scalebroad*sqrt(max_i (g.G_i/n_i)^2 / 2) (FourPhonon's base_sigma: the maximum over
  the three directions, divided by 2; the ShengBTE sum/6 form is commented out there), with g
  the velocity difference of one pair: for ++ the emitted phonon and the second absorbed one,
  for +- the two emitted ones, for -- the second and third emitted ones. FourPhonon's loops
  pick the pair by mesh index order; here the pair is averaged over the orderings (same sum on
  average, symmetric in the slots);
* processes only within ONE width (|w + ...| <= s; FourPhonon's 3ph uses 2 widths; our default
  ``cutoff_sigmas`` is 3): a Gaussian keeps erf(1) = 84% of its weight;
* processes with any partner at or below 1.25 rad/ps (0.199 THz) are dropped (FourPhonon 1.2).
FourPhonon's replacement of widths <= 0.001 rad/ps by 1/sqrt(pi) rad/ps is not copied (the
``sigma_min_THz`` floor applies). Prefactor pi hbar^2/(8 N^2) with N = number of mesh points
(hbarp^2*pi/8*3.37617087e9/nptk^2 in FourPhonon, the same number in its units), mass scaling
1/sqrt(m m m m) (amu), fc4 in eV/A^4, w in rad/ps, 1/2, 1/2, 1/6 counting (its ii <= jj,
ss >= jj, ii <= jj <= ss loops) and the total 1/tau = ++ + +- + -- (RTA_driver_4ph) agree with
this module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from incipient.results import Result
from incipient.transport.fits import fit_power_law, power_law_alpha
from incipient.transport.wigner_assembly import IrreducibleMesh, irreducible_mesh
from incipient.units import THz_to_meV_2018, bose_einstein
from incipient.units import amu_kg_2018 as _AMU_KG
from incipient.units import eV_J_2018 as _EV_J
from incipient.units import hbar_Js_2018 as _HBAR_JS
from incipient.units import kB_eV_K_2018 as _KB_EV

__all__ = [
    "FourPhononRates",
    "KappaComparison",
    "MeshPhonons",
    "compare_kappa_3ph_34ph",
    "four_phonon_rates",
    "fourphonon_prefactor",
    "mesh_phonons",
    "pair_proxy",
    "power_law_exponent",
    "stratify",
]

_HBAR_EVS = _HBAR_JS / _EV_J


def fourphonon_prefactor() -> float:
    """pi hbar^2/8 with V in eV/(A^4 amu^2), w in rad/ps, delta in ps -> 1/tau in 1/ps."""
    V_si = _EV_J / (1e-40 * _AMU_KG**2)  # eV/(A^4 amu^2) in J/(m^4 kg^2)
    # w^-4 (rad/ps -> rad/s: 1e-48) * delta (ps -> s: 1e-12) * (1/s -> 1/ps: 1e-12)
    return np.pi * _HBAR_JS**2 / 8.0 * V_si**2 * 1e-48 * 1e-12 * 1e-12


@dataclass(frozen=True)
class MeshPhonons(Result):
    """Harmonic phonons on every point of a Gamma-centred mesh (order of ``grid.qpoints_frac``).

    frequencies_THz: (N_q, n_b) used frequencies (|w| for imaginary modes if imaginary="abs").
    eigvecs_scaled: (N_q, n_b, n_b) complex, e_{s}(q) component J = 3*atom + alpha, lattice phase
    convention, divided by sqrt(mass_amu). velocities_A_ps: (N_q, n_b, 3) group velocities.
    valid: (N_q, n_b) bool, modes that scatter. lattice_A: (3, 3) rows a1..a3.
    volume_A3: primitive-cell volume. n_imaginary: number of modes with w^2 < 0 on the mesh.
    """

    grid: IrreducibleMesh
    frequencies_THz: np.ndarray
    eigvecs_scaled: np.ndarray
    velocities_A_ps: np.ndarray
    valid: np.ndarray
    lattice_A: np.ndarray
    volume_A3: float
    n_imaginary: int = 0

    def plot(self):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 3))
        ax.hist(self.frequencies_THz.ravel(), bins=60)
        ax.set_xlabel("frequency (THz)")
        ax.set_ylabel("modes")
        return fig


def mesh_phonons(phonon, mesh, *, imaginary: str = "abs", cutoff_frequency_THz: float = 0.05,
                 use_symmetry: bool = True, symprec: float = 1e-5) -> MeshPhonons:
    """Phonons of a ``phonopy.Phonopy`` (force constants set) on a Gamma-centred ``mesh``.

    imaginary: "abs" uses |w| of modes with w^2 < 0, "drop" removes them from scattering.
    """
    if imaginary not in ("abs", "drop"):
        raise ValueError(f"imaginary must be 'abs' or 'drop', got {imaginary!r}")
    prim = phonon.primitive
    grid = irreducible_mesh(prim, mesh, symprec=symprec, use_symmetry=use_symmetry)
    q = grid.qpoints_frac
    phonon.run_qpoints(q, with_eigenvectors=True, with_group_velocities=True)
    res = phonon.qpoints
    f = np.asarray(res.frequencies, float)
    ev = np.asarray(res.eigenvectors)  # (N_q, 3n, n_b): columns are modes
    gv = np.asarray(res.group_velocities, float)
    masses = np.asarray(prim.masses, float)
    frac = np.asarray(prim.scaled_positions, float)
    nat = len(masses)
    phase = np.exp(2j * np.pi * (q @ frac.T))  # (N_q, nat): exp(i q.tau)
    fac = np.repeat(1.0 / np.sqrt(masses), 3)[None, :] * np.repeat(phase, 3, axis=1)
    es = np.transpose(ev, (0, 2, 1)) * fac[:, None, :]  # (N_q, n_b, 3 nat)
    n_imag = int((f < -cutoff_frequency_THz).sum())
    valid = np.abs(f) > cutoff_frequency_THz if imaginary == "abs" else f > cutoff_frequency_THz
    if imaginary == "abs":
        f = np.abs(f)
    lattice = np.asarray(prim.cell, float)
    if es.shape[1] != 3 * nat:
        raise ValueError("eigenvector shape does not match the primitive cell")
    return MeshPhonons(grid=grid, frequencies_THz=f, eigvecs_scaled=np.ascontiguousarray(es),
                       velocities_A_ps=gv, valid=valid, lattice_A=lattice,
                       volume_A3=float(abs(np.linalg.det(lattice))), n_imaginary=n_imag)


@dataclass(frozen=True)
class FourPhononRates(Result):
    """Four-phonon RTA scattering rates on the irreducible q-points.

    temperatures_K: (n_T,). mesh: (3,). qpoints_frac: (n_ir, 3), weights: (n_ir,) star sizes.
    frequencies_THz: (n_ir, n_b). rates_per_ps: (n_T, n_ir, n_b) 1/tau_4ph in 1/ps (= full
    linewidth Gamma in rad/ps). rates_stderr_per_ps: same shape, one standard error of the
    sampling (0 for the exact sum). rates_by_class_per_ps: (n_T, 3, n_ir, n_b) for ++, +-, --.
    n_pairs_sampled: q-pairs evaluated per q-point; n_pairs_total: N_q^2.
    smearing: "adaptive", "fixed" or "fourphonon"; scalebroad, sigma_THz: its parameter. wall_time_s.
    """

    temperatures_K: np.ndarray
    mesh: np.ndarray
    qpoints_frac: np.ndarray
    weights: np.ndarray
    frequencies_THz: np.ndarray
    rates_per_ps: np.ndarray
    rates_stderr_per_ps: np.ndarray
    rates_by_class_per_ps: np.ndarray
    n_pairs_sampled: int
    n_pairs_total: int
    smearing: str
    scalebroad: float
    sigma_THz: float
    wall_time_s: float
    info: dict = field(default_factory=dict)

    def plot(self, temperature_index: int = 0):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        f = self.frequencies_THz.ravel()
        r = self.rates_per_ps[temperature_index].ravel()
        ok = r > 0
        ax.loglog(f[ok], 1.0 / r[ok], ".", ms=3, label="4ph")
        ax.set_xlabel("frequency (THz)")
        ax.set_ylabel("$\\tau_{4ph}$ (ps)")
        ax.set_title(f"T = {self.temperatures_K[temperature_index]:g} K")
        fig.tight_layout()
        return fig


def _prepare_fc4(fc4, lattice_A: np.ndarray):
    """Quartet arrays: atom indices (n,4), integer cells (n,3,3), phi (n,3,3,3,3)."""
    atoms = np.asarray(fc4.atoms, dtype=np.int64)
    phi = np.asarray(fc4.phi_eV_A4, float)
    if atoms.ndim != 2 or atoms.shape[1] != 4 or phi.shape != (len(atoms), 3, 3, 3, 3):
        raise ValueError(f"fc4 arrays have wrong shapes: atoms {atoms.shape}, phi {phi.shape}")
    inv = np.linalg.inv(lattice_A)
    cells = []
    for name in ("R2_A", "R3_A", "R4_A"):
        n = np.asarray(getattr(fc4, name), float) @ inv
        if np.abs(n - np.rint(n)).max() > 1e-4:
            raise ValueError(f"fc4 {name} is not a lattice vector of the primitive cell")
        cells.append(np.rint(n).astype(np.int64))
    return atoms, np.stack(cells, axis=1), phi


def _bose(w_radps: np.ndarray, T: float, valid: np.ndarray) -> np.ndarray:
    x = _HBAR_EVS * 1e12 * np.where(valid, w_radps, 1.0) / (_KB_EV * T)
    return np.where(valid, bose_einstein(x), 0.0)


def _canonical_pairs(grid: IrreducibleMesh, iq0: int):
    """Each unordered slot triple {a, b, c} with a+b+c = -q0 once: (a, b) arrays and multiplicity."""
    nq = grid.n_q
    addr = grid.grid_address
    a = np.repeat(np.arange(nq), nq)
    b = np.tile(np.arange(nq), nq)
    c = grid.index_of(-addr[iq0][None, :] - addr[a] - addr[b])
    keep = (a <= b) & (b <= c)
    a, b, c = a[keep], b[keep], c[keep]
    mult = np.where((a == b) & (b == c), 1, np.where((a == b) | (b == c), 3, 6))
    return a, b, mult.astype(float)


def _canonical_triples(grid: IrreducibleMesh, iq0: int):
    """(a, b, c, multiplicity) of :func:`_canonical_pairs` (its numpy twin), from the numba kernel
    ``canonical_triples``: the same triples in the same order, ~50x faster at 13^3."""
    from incipient.transport import fourphonon_kernels as K

    nq = grid.n_q
    size = nq * (nq + 1) // 2
    a = np.empty(size, np.int64)
    b = np.empty(size, np.int64)
    c = np.empty(size, np.int64)
    mult = np.empty(size)
    addr = np.ascontiguousarray(grid.grid_address, dtype=np.int64)
    m = K.canonical_triples(addr[iq0].copy(), addr, np.asarray(grid.mesh, np.int64), a, b, c, mult)
    return a[:m].copy(), b[:m].copy(), c[:m].copy(), mult[:m].copy()


_WIDTH_TABLE_CACHE: dict = {}


def _pair_width_table(vproj: np.ndarray, partner: np.ndarray, use_max: bool) -> np.ndarray:
    """``fourphonon_kernels.pair_width2_table`` of these velocities, cached for the last input
    (q-point groups of one mesh evaluated one after the other in a worker share it)."""
    import hashlib

    from incipient.transport import fourphonon_kernels as K

    key = (hashlib.sha1(vproj.tobytes()).hexdigest(), hashlib.sha1(partner.tobytes()).hexdigest(),
           vproj.shape, bool(use_max))
    if key not in _WIDTH_TABLE_CACHE:
        _WIDTH_TABLE_CACHE.clear()
        nq = vproj.shape[0]
        table = np.empty((nq, nq, 2))
        K.pair_width2_table(vproj, partner, bool(use_max), table)
        _WIDTH_TABLE_CACHE[key] = table
    return _WIDTH_TABLE_CACHE[key]


def _degenerate_average(f: np.ndarray, x: np.ndarray, tol: float = 1e-4) -> np.ndarray:
    """Average x[..., s] over bands with equal frequency (f: (n_b,), sorted)."""
    out = x.copy()
    s = 0
    nb = len(f)
    while s < nb:
        e = s + 1
        while e < nb and abs(f[e] - f[s]) < tol * max(1.0, abs(f[s])):
            e += 1
        if e - s > 1:
            out[..., s:e] = x[..., s:e].mean(axis=-1, keepdims=True)
        s = e
    return out


def draw_from_strata(order: np.ndarray, bounds: np.ndarray, n_h: np.ndarray, gen) -> tuple[np.ndarray, np.ndarray]:
    """Items drawn without replacement from each stratum of :func:`stratify` (all of a stratum
    whose allocation covers it): (indices into the ranked items, their stratum labels)."""
    sizes = np.diff(bounds)
    picks, labs = [], []
    for h in range(len(sizes)):
        if n_h[h] == 0:
            continue
        members = order[bounds[h]:bounds[h + 1]]
        if n_h[h] < sizes[h]:
            members = members[np.sort(gen.choice(sizes[h], size=int(n_h[h]), replace=False))]
        picks.append(members)
        labs.append(np.full(len(members), h))
    return np.concatenate(picks), np.concatenate(labs)


SAMPLERS = ("stratified", "uniform")


def pair_proxy(w_radps: np.ndarray, bose: np.ndarray, partner: np.ndarray, a, b, c) -> np.ndarray:
    """Cheap proxy of a slot triple's contribution to the 4ph rates (the stratification variable).

    Per mesh point x: u(x) = sum_j 1/w_j and v(x) = sum_j (n_j + 1/2)/w_j over the partner modes
    (n at one temperature). The rates carry 1/(w1 w2 w3) times a Bose bracket that is a sum of
    products of two occupations, so proxy = v_a v_b u_c + v_a u_b v_c + u_a v_b v_c. It is large
    for triples with a low-frequency partner (near Gamma), where the per-pair contributions are
    heavy-tailed; it is exactly 0 only if a slot has no partner mode (then the triple contributes
    exactly 0). |V|^2 and energy conservation are left out here; with adaptive widths
    :func:`four_phonon_rates` divides by a lower bound of the triple's smearing width
    (``fourphonon_kernels.triple_width_bound``), since 1/width bounds the delta function: at
    points with vanishing group velocities (zone boundary, TRIM points) the widths fall to the
    floor and a few symmetric triples carry a large part of a rate. The proxy only sorts and
    allocates; the estimate and its error come from the evaluated triples.
    """
    wv = np.where(partner, w_radps, 1.0)
    u = np.where(partner, 1.0 / wv, 0.0).sum(axis=1)
    v = np.where(partner, (bose + 0.5) / wv, 0.0).sum(axis=1)
    return v[a] * v[b] * u[c] + v[a] * u[b] * v[c] + u[a] * v[b] * v[c]


def stratify(proxy: np.ndarray, n_samples: int, *, forced=None, head_fraction: float = 0.5,
             min_per_stratum: int = 16, max_strata: int = 12):
    """Strata and their sample sizes for the stratified sampler (see :func:`four_phonon_rates`).

    proxy: (N,) non-negative, one per population unit. forced: optional (N,) bool, units ranked
    ahead of all others (the "coincident" triples of :func:`four_phonon_rates`). Units are
    ranked forced first, then by decreasing proxy. The first ``head_fraction * n_samples`` of
    them form the head stratum and are enumerated (summed exactly). The rest of the budget goes
    to up to ``max_strata`` strata of equal proxy mass over the remaining units (forced ones
    counted with the largest proxy), in proportion to their proxy mass (Neyman's allocation if
    the spread within a stratum is proportional to its mean proxy), capped at the stratum size
    with the surplus handed on, and at least ``min(size, 2)`` per stratum (a variance estimate
    for every sampled stratum). Units with proxy 0 that are not forced contribute exactly 0 and
    form a last stratum with 0 samples. Returns (order, bounds, n_h): stratum h is
    ``order[bounds[h]:bounds[h+1]]`` and gets ``n_h[h]`` samples (= its size: enumerated).
    """
    proxy = np.asarray(proxy, float)
    N = len(proxy)
    forced = np.zeros(N, bool) if forced is None else np.asarray(forced, bool)
    M = int(n_samples)
    eff = np.where(forced, max(float(proxy.max(initial=0.0)), 1e-300), proxy)
    order = np.lexsort((-eff, ~forced)).astype(np.int64)  # forced first, then by proxy
    ps = eff[order]
    n_pos = int((ps > 0).sum())  # forced units have eff > 0
    head = min(n_pos, int(head_fraction * M))
    if n_pos - head <= M - head:  # everything fits: enumerate all units that can contribute
        head = n_pos
    bounds = [0, head] if head else [0]
    n = [head] if head else []
    budget = M - head
    rest = ps[head:n_pos]
    if len(rest) and budget > 0:
        H = int(np.clip(budget // max(int(min_per_stratum), 1), 1, max_strata))
        cum = np.cumsum(rest)
        edges = np.searchsorted(cum, cum[-1] * np.arange(1, H) / H, side="right") + 1
        rb = np.unique(np.concatenate([[0], np.clip(edges, 1, len(rest)), [len(rest)]]))
        sizes = np.diff(rb)
        mass = np.add.reduceat(rest, rb[:-1])
        nr = np.zeros(len(sizes), dtype=np.int64)
        free = np.ones(len(sizes), dtype=bool)
        while free.any():  # cap at the stratum size, hand the surplus on
            share = budget * mass[free] / mass[free].sum()
            cap = share >= sizes[free]
            if not cap.any():
                break
            idx = np.flatnonzero(free)[cap]
            nr[idx] = sizes[idx]
            budget -= int(sizes[idx].sum())
            free[idx] = False
        if free.any():
            idx = np.flatnonzero(free)
            share = budget * mass[idx] / mass[idx].sum()
            base = np.floor(share).astype(np.int64)
            extra = budget - int(base.sum())
            base[np.argsort(-(share - base), kind="stable")[:extra]] += 1
            nr[idx] = np.minimum(base, sizes[idx])
            # every sampled stratum needs 2 samples for its variance: take them from the largest
            for h in idx:
                while nr[h] < min(2, sizes[h]):
                    donor = idx[np.argmax(np.where(nr[idx] > 2, nr[idx], -1))]
                    if nr[donor] <= 2:
                        break
                    nr[donor] -= 1
                    nr[h] += 1
        bounds += list(head + rb[1:])
        n += list(nr)
    elif len(rest):
        bounds.append(n_pos)
        n.append(0)
    if n_pos < N:
        bounds.append(N)
        n.append(0)
    return order, np.asarray(bounds, dtype=np.int64), np.asarray(n, dtype=np.int64)


def four_phonon_rates(phonons: MeshPhonons, fc4, temperatures_K, *, smearing: str = "adaptive",
                      scalebroad: float = 1.0, sigma_THz: float | None = None,
                      cutoff_sigmas: float | None = None, n_samples: int | None = None, rng=None,
                      q_indices=None, sigma_min_THz: float = 1e-3, n_threads: int | None = None,
                      single_precision: bool = False, min_partner_frequency_THz: float | None = None,
                      sampler: str = "stratified", max_strata: int = 12, min_per_stratum: int = 16,
                      head_fraction: float = 0.5, tail_inflation: bool = True, progress: bool = False) -> FourPhononRates:
    """RTA four-phonon rates of the irreducible modes (see the module docstring).

    phonons: :func:`mesh_phonons` output. fc4: ShengBTEFC4 (R*_A, atoms, phi_eV_A4).
    smearing: "adaptive" (ShengBTE form, ``scalebroad``, symmetrised over the slots), "fixed"
    (``sigma_THz``) or "fourphonon" (FourPhonon's own conventions, see the module docstring).
    cutoff_sigmas: processes further than this many widths from energy conservation are dropped
    (default 3; 1 for "fourphonon", as in FourPhonon). min_partner_frequency_THz: processes with
    a partner phonon at or below this frequency are dropped (default 0; 1.25 rad/ps = 0.199 THz
    for "fourphonon", as in FourPhonon 1.2).
    n_samples: q-pairs evaluated per irreducible q-point (None or >= N_q^2: exact sum; the
    stratified sampler also sums exactly when n_samples reaches the number of distinct slot
    triples, about N_q^2/6, which costs no more).
    sampler: how the n_samples q-pairs are chosen (docs/fourphonon.md has the calibration):

    * "stratified" (default): the population is the set of distinct slot triples {a, b, c}
      (a + b + c = -q, each with its multiplicity 1, 3 or 6: the value of a q-pair is symmetric
      in the slots, so this is the ordered-pair sum without duplicates). Triples are ranked
      coincident ones first (a slot at -q: q + q1 -> q + q1, energy exactly conserved), then by
      :func:`pair_proxy` divided by a lower bound of their smearing width (large for
      low-frequency partners and for zone-boundary triples whose widths fall to the floor: the
      heavy tail). The top ``head_fraction`` of the budget is summed exactly; the rest is
      spread over up to ``max_strata`` strata of equal proxy mass (about ``min_per_stratum``
      samples each), in proportion to their mass, without replacement (:func:`stratify`). The
      estimate is the stratified sum, its error the per-stratum spread (finite-population
      corrected) summed over the strata. ``tail_inflation``: each stratum's variance is raised
      by one standard error of the variance estimate itself (from the sample's fourth moment),
      small for well-behaved strata and large where one or two triples dominate a stratum.
      The errors are honest (rms z ~ 0.7-1) when the budget is at least a few per cent of the
      distinct triples; with far fewer (e.g. 25 of 715) the dominating triples cannot all be
      summed and the errors are again too small (calibration in docs/fourphonon.md);
    * "uniform": the previous sampler, M ordered q-pairs uniformly without replacement out of
      N_q^2, mean and plain standard error. Its errors are too small for low-frequency modes
      (heavy tails; see the docs); kept for comparison.

    Both report errors per mode and q-point, independent between q-points (each q-point draws
    its own sample), so independent calls with different ``rng`` can be combined as batches.
    rng: numpy Generator or seed for sampling. q_indices: subset of irreducible points (indices
    into ``phonons.grid.ir_index``), default all. n_threads: numba threads (default: 1 for
    cells up to 4 atoms, where thread start-up costs more than the work; all otherwise).
    single_precision: build the reciprocal fc4 and run the three eigenvector contractions (the
    GEMMs, most of the time) in complex64; the smearing and Bose sums stay in float64. Changes
    the rates by ~1e-7 relative (tested to 1e-5), far below any sampling error; ~1.5x faster.
    """
    import numba

    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    nb = phonons.frequencies_THz.shape[1]
    if n_threads is None:
        n_threads = 1 if nb <= 12 else numba.config.NUMBA_NUM_THREADS
    old_threads = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        return _four_phonon_rates(phonons, fc4, temperatures_K, smearing, scalebroad, sigma_THz,
                                  cutoff_sigmas, n_samples, rng, q_indices, sigma_min_THz, progress,
                                  single_precision, min_partner_frequency_THz, sampler, int(max_strata),
                                  int(min_per_stratum), bool(tail_inflation), float(head_fraction))
    finally:
        numba.set_num_threads(old_threads)


def _stratified_estimate(vals: np.ndarray, labels: np.ndarray, sizes: np.ndarray, n_h: np.ndarray,
                         tail_inflation: bool):
    """Stratified total and its variance from per-unit values.

    vals: (n_eval, n_T, 3, n_b) values of the evaluated units (multiplicity included); labels:
    their stratum; sizes, n_h: stratum sizes and sample sizes. Returns (total (n_T, 3, n_b),
    variance of the class sum (n_T, n_b)).
    """
    total = np.zeros(vals.shape[1:])
    var = np.zeros((vals.shape[1], vals.shape[3]))
    for h in range(len(sizes)):
        m = int(n_h[h])
        if m == 0:
            continue
        y = vals[labels == h]
        Nh = float(sizes[h])
        total += Nh * y.mean(axis=0)
        if m >= Nh:
            continue  # enumerated: exact
        t = y.sum(axis=2)  # (m, n_T, n_b) class sum
        d = t - t.mean(axis=0)
        s2 = (d * d).sum(axis=0) / (m - 1)
        if tail_inflation:
            # one standard error of s2 (var(s2) ~ (m4 - s2^2)/m, m4 the 4th central moment)
            m4 = (d**4).mean(axis=0)
            s2 = s2 + np.sqrt(np.maximum(m4 - s2 * s2, 0.0) / m)
        var += Nh * Nh * (1.0 - m / Nh) * s2 / m
    return total, var


def _four_phonon_rates(phonons, fc4, temperatures_K, smearing, scalebroad, sigma_THz, cutoff_sigmas,
                       n_samples, rng, q_indices, sigma_min_THz, progress,
                       single_precision=False, min_partner_frequency_THz=None, sampler="stratified",
                       max_strata=12, min_per_stratum=16, tail_inflation=True,
                       head_fraction=0.5) -> FourPhononRates:
    from incipient.transport import fourphonon_kernels as K

    t_start = time.perf_counter()
    T = np.atleast_1d(np.asarray(temperatures_K, float))
    if (T <= 0).any():
        raise ValueError(f"temperatures_K must be positive, got {T.tolist()}")
    if smearing not in ("adaptive", "fixed", "fourphonon"):
        raise ValueError(f"smearing must be 'adaptive', 'fixed' or 'fourphonon', got {smearing!r}")
    if smearing == "fixed" and (sigma_THz is None or sigma_THz <= 0):
        raise ValueError("smearing='fixed' needs a positive sigma_THz")
    if smearing != "fixed" and scalebroad <= 0:
        raise ValueError(f"scalebroad must be positive, got {scalebroad}")
    if n_samples is not None and int(n_samples) < 2:
        raise ValueError(f"n_samples must be at least 2 (or None for the exact sum), got {n_samples}")
    grid = phonons.grid
    nq = grid.n_q
    nb = phonons.frequencies_THz.shape[1]
    atoms, cells, phi = _prepare_fc4(fc4, phonons.lattice_A)
    if atoms.max() >= nb // 3:
        raise ValueError(f"fc4 refers to atom {atoms.max()} but the cell has {nb // 3} atoms")
    nquart = len(atoms)
    # quartets sorted by the scattered-slot atoms (j, k, l): X is built block by block
    qorder = np.lexsort((atoms[:, 3], atoms[:, 2], atoms[:, 1]))
    atoms, cells, phi = atoms[qorder], cells[qorder], phi[qorder]
    blocks = np.ascontiguousarray(np.unique(3 * atoms[:, 1:], axis=0).astype(np.int64))
    # phase table exp(2 pi i q.R) for the distinct cells R (rows: mesh points)
    uniq, inv = np.unique(cells.reshape(-1, 3), axis=0, return_inverse=True)
    rix = np.ascontiguousarray(inv.reshape(nquart, 3).astype(np.int64))
    cdt = np.complex64 if single_precision else np.complex128
    ptab = np.ascontiguousarray(np.exp(2j * np.pi * grid.qpoints_frac @ uniq.T), dtype=cdt)  # (N_q, n_R)
    jj, kk, ll = (np.ascontiguousarray(3 * atoms[:, i]) for i in (1, 2, 3))
    phi_i = phi.reshape(nquart, 3, 27)
    w = 2 * np.pi * phonons.frequencies_THz  # rad/ps
    E = np.ascontiguousarray(phonons.eigvecs_scaled, dtype=cdt)  # (N_q, n_b, 3n)
    valid = np.ascontiguousarray(phonons.valid)
    recip = 2 * np.pi * np.linalg.inv(phonons.lattice_A).T  # rows G_i (rad/A)
    gmat = recip / grid.mesh[:, None]
    # velocities projected on the mesh steps G_i/n_i (adaptive widths), once for all q
    vproj = np.ascontiguousarray(phonons.velocities_A_ps @ gmat.T)  # (N_q, n_b, 3)
    fp_mode = smearing == "fourphonon"
    mode = {"fixed": K.MODE_FIXED, "adaptive": K.MODE_ADAPTIVE, "fourphonon": K.MODE_FOURPHONON}[smearing]
    if cutoff_sigmas is None:
        cutoff_sigmas = 1.0 if fp_mode else 3.0
    if min_partner_frequency_THz is None:
        min_partner_frequency_THz = 1.25 / (2 * np.pi) if fp_mode else 0.0
    # partners: valid modes above min_partner_frequency_THz (the scattered mode only needs valid)
    partner = np.ascontiguousarray(valid & (phonons.frequencies_THz > min_partner_frequency_THz))
    sigma_fixed = 2 * np.pi * (sigma_THz or 0.0)
    sigma_min = 2 * np.pi * sigma_min_THz
    bose = np.stack([_bose(w, t, valid) for t in T])  # (n_T, N_q, n_b)
    bose_q = np.ascontiguousarray(bose.transpose(1, 0, 2))  # (N_q, n_T, n_b)
    bose_proxy = bose[int(np.argsort(T)[len(T) // 2])]  # proxy at the median temperature
    signs = K.PATTERN_SIGNS
    pclass = K.PATTERN_CLASS
    pref = fourphonon_prefactor()

    ir_all = grid.ir_index
    sel = np.arange(len(ir_all)) if q_indices is None else np.asarray(q_indices, dtype=np.int64)
    exact_all = n_samples is None or n_samples >= nq * nq
    gen = np.random.default_rng(rng)
    rates = np.zeros((len(T), 3, len(sel), nb))
    stderr = np.zeros((len(T), len(sel), nb))
    # work buffers, reused for every q-pair: X[J, K, b0, L] -> Y[J, K, b0, jc] -> Z[ja, K, b0, jc]
    # -> V[ja, jb, b0, jc] (three GEMMs, no transposing copies)
    X = np.zeros((nb, nb, nb, nb), dtype=cdt)  # zero outside the fc4 blocks, kept so
    Y = np.empty_like(X)
    Z = np.empty_like(X)
    V = np.empty_like(X)
    out_ja = np.zeros((nb, len(T), 3, nb))
    n_pairs_used = 0
    n_eval = np.zeros(len(sel), dtype=np.int64)
    n_enum = np.zeros(len(sel), dtype=np.int64)
    n_strata = np.zeros(len(sel), dtype=np.int64)
    exact_q = np.zeros(len(sel), dtype=bool)
    width_table = None
    for k, iir in enumerate(sel):
        iq0 = int(ir_all[iir])
        order = np.argsort(w[iq0], kind="stable")
        unsort = np.argsort(order)
        w0s = np.ascontiguousarray(w[iq0][order])
        valid0s = np.ascontiguousarray(valid[iq0][order])
        e0 = phonons.eigvecs_scaled[iq0][order]  # (n_b0, 3n), scattered bands sorted by frequency
        # Tq[n, beta gamma delta, b0] = sum_a phi[n, a, bcd] e0[b0, 3 i_n + a]
        e0q = e0[:, 3 * atoms[:, 0][:, None] + np.arange(3)[None, :]]  # (n_b0, n, 3)
        Tq = np.ascontiguousarray(np.einsum("bna,nak->nkb", e0q, phi_i), dtype=cdt)
        labels = sizes = n_h = None
        exact = exact_all
        if not exact and sampler == "stratified":
            ca, cb, cc, cmult = _canonical_triples(grid, iq0)
            if n_samples >= len(ca):
                exact = True
        if exact:
            pa, pb, _, mult = _canonical_triples(grid, iq0)
        elif sampler == "uniform":
            flat = gen.choice(nq * nq, size=int(n_samples), replace=False)
            pa, pb = flat // nq, flat % nq
            mult = np.ones(len(pa))
        else:
            proxy = cmult * pair_proxy(w, bose_proxy, partner, ca, cb, cc)
            if mode != K.MODE_FIXED:  # x 1/(smallest possible width): vanishing widths at zero velocities
                smin = np.empty(len(ca))
                if width_table is None:  # once per call: N_q^2 pair minima, then 3 look-ups per triple
                    width_table = _pair_width_table(vproj, partner, mode == K.MODE_FOURPHONON)
                K.triple_width_bound_table(width_table, ca, cb, cc, signs, mode, scalebroad, sigma_min, smin)
                proxy = proxy / smin
            # coincident triples: a slot at -q, the other two summing to 0 (q + q1 -> q + q1: energy
            # exactly conserved, the "diagonal" |V|^2); they dominate the rates of some modes and
            # are ranked first (forcing the +q slots too was tried: worse, docs/fourphonon.md)
            iqm = int(grid.index_of(-grid.grid_address[iq0]))
            coinc = (ca == iqm) | (cb == iqm) | (cc == iqm)
            porder, bounds, n_h = stratify(proxy, int(n_samples), forced=coinc, head_fraction=head_fraction,
                                           min_per_stratum=min_per_stratum, max_strata=max_strata)
            sizes = np.diff(bounds)
            pick, labels = draw_from_strata(porder, bounds, n_h, gen)
            pa, pb, mult = ca[pick], cb[pick], cmult[pick]
            n_enum[k] = int(sum(n_h[h] for h in range(len(sizes)) if 0 < n_h[h] == sizes[h]))
            n_strata[k] = int((n_h > 0).sum())
        exact_q[k] = exact
        pc = grid.index_of(-grid.grid_address[iq0][None, :] - grid.grid_address[pa]
                           - grid.grid_address[pb])
        n_pairs_used = len(pa)
        n_eval[k] = len(pa)
        acc = np.zeros((len(T), 3, nb))
        acc2 = np.zeros((len(T), nb))
        keep_vals = (not exact) and sampler == "stratified"
        vals = np.zeros((len(pa), len(T), 3, nb)) if keep_vals else None
        for i, (ia, ib, ic, m) in enumerate(zip(pa, pb, pc, mult, strict=True)):
            K.build_reciprocal_fc4(Tq, ptab[ia], ptab[ib], ptab[ic], rix, jj, kk, ll, blocks, X)
            # V[ja, jb, b0, jc] = sum_{JKL} X[J, K, b0, L] Ea[ja, J] Eb[jb, K] Ec[jc, L]
            np.matmul(X.reshape(-1, nb), E[ic].T, out=Y.reshape(-1, nb))
            np.matmul(E[ia], Y.reshape(nb, -1), out=Z.reshape(nb, -1))
            np.matmul(E[ib][None], Z.reshape(nb, nb, -1), out=V.reshape(nb, nb, -1))
            K.accumulate_pair(V, w0s, valid0s, w[ia], w[ib], w[ic], partner[ia], partner[ib], partner[ic],
                              bose_q[ia], bose_q[ib], bose_q[ic], vproj[ia], vproj[ib], vproj[ic],
                              signs, pclass, mode, sigma_fixed, scalebroad, sigma_min,
                              cutoff_sigmas, out_ja)
            out = out_ja.sum(axis=0)  # (n_T, 3, n_b0), sorted scattered bands
            if keep_vals:
                vals[i] = m * out
                continue
            acc += m * out
            if not exact:
                tot = out.sum(axis=1)
                acc2 += tot * tot
        if keep_vals:
            total, var = _stratified_estimate(vals, labels, sizes, n_h, tail_inflation)
            rates[:, :, k] = pref * total[:, :, unsort] / (nq * nq)
            stderr[:, k] = pref * np.sqrt(var[:, unsort]) / (nq * nq)
        elif exact:
            acc = acc[:, :, unsort]
            rates[:, :, k] = pref * acc / (nq * nq)
        else:
            acc = acc[:, :, unsort]
            acc2 = acc2[:, unsort]
            M = len(pa)
            mean = acc / M
            var = np.maximum(acc2 / M - mean.sum(axis=1) ** 2, 0.0) * M / max(M - 1, 1)
            fpc = 1.0 - M / (nq * nq)
            rates[:, :, k] = pref * mean
            stderr[:, k] = pref * np.sqrt(var / M * fpc)
        f0 = phonons.frequencies_THz[iq0]
        rates[:, :, k] = _degenerate_average(f0, rates[:, :, k])
        stderr[:, k] = _degenerate_average(f0, stderr[:, k])
        rates[:, :, k] *= valid[iq0]
        stderr[:, k] *= valid[iq0]
        if progress:
            print(f"[4ph] q {k + 1}/{len(sel)} pairs {len(pa)} "
                  f"{time.perf_counter() - t_start:.1f} s", flush=True)
    return FourPhononRates(
        temperatures_K=T, mesh=grid.mesh.copy(), qpoints_frac=grid.qpoints_frac[ir_all[sel]],
        weights=grid.weights[sel], frequencies_THz=phonons.frequencies_THz[ir_all[sel]],
        rates_per_ps=rates.sum(axis=1), rates_stderr_per_ps=stderr,
        rates_by_class_per_ps=rates, n_pairs_sampled=int(n_pairs_used), n_pairs_total=nq * nq,
        smearing=smearing, scalebroad=float(scalebroad), sigma_THz=float(sigma_THz or 0.0),
        wall_time_s=time.perf_counter() - t_start,
        info={"n_quartets": nquart, "cutoff_sigmas": cutoff_sigmas, "exact": bool(exact_q.all()),
              "min_partner_frequency_THz": float(min_partner_frequency_THz),
              "single_precision": bool(single_precision), "sampler": "exact" if exact_all else sampler,
              "tail_inflation": bool(tail_inflation and sampler == "stratified"),
              "n_pairs_evaluated": n_eval.tolist(), "n_pairs_enumerated": n_enum.tolist(),
              "n_strata": n_strata.tolist(), "exact_q": exact_q.tolist()},
    )


def power_law_exponent(temperatures_K, kappa) -> tuple[float, float]:
    """Least-squares fit kappa = c T^alpha in log-log (:func:`incipient.transport.fits.fit_power_law`); returns (alpha, c)."""
    T = np.asarray(temperatures_K, float)
    k = np.asarray(kappa, float)
    if T.shape != k.shape or len(T) < 2 or (T <= 0).any() or (k <= 0).any():
        raise ValueError("power_law_exponent needs >= 2 positive (T, kappa) pairs of equal length")
    f = fit_power_law(T, k)
    return float(f.alpha), float(f.prefactor)


@dataclass(frozen=True)
class KappaComparison(Result):
    """3ph vs 3+4ph Wigner conductivity (paper Fig. 4a,b,d-f).

    temperatures_K: (n_T,). kappa_3ph, kappa_34ph: (n_T, 3) kappa_p + kappa_c (xx, yy, zz), W/mK;
    kappa_p_3ph, kappa_p_34ph, kappa_c_3ph, kappa_c_34ph: (n_T, 3) the parts. alpha_3ph,
    alpha_34ph: (3,) exponents of kappa ~ T^alpha. frequencies_THz: (n_modes,) all irreducible
    modes; tau_3ph_ps, tau_34ph_ps: (n_T, n_modes) lifetimes 1/Gamma (inf where Gamma = 0).
    wigner_limit_ps: 3 n_atoms / w_max (tau above: particle-like).
    """

    temperatures_K: np.ndarray
    kappa_3ph: np.ndarray
    kappa_34ph: np.ndarray
    kappa_p_3ph: np.ndarray
    kappa_p_34ph: np.ndarray
    kappa_c_3ph: np.ndarray
    kappa_c_34ph: np.ndarray
    alpha_3ph: np.ndarray
    alpha_34ph: np.ndarray
    frequencies_THz: np.ndarray
    tau_3ph_ps: np.ndarray
    tau_34ph_ps: np.ndarray
    wigner_limit_ps: float

    def plot(self):
        import matplotlib.pyplot as plt

        T = self.temperatures_K
        fig, axes = plt.subplots(1, 5, figsize=(17, 3.4))
        f = self.frequencies_THz
        meV = f * THz_to_meV_2018
        for ax, it in zip(axes[:2], (0, len(T) - 1), strict=True):
            ax.semilogy(meV, self.tau_3ph_ps[it], "*", ms=3, color="C0", label="3ph")
            ax.semilogy(meV, self.tau_34ph_ps[it], "o", ms=2, mfc="none", color="C4", label="3+4ph")
            e = np.linspace(max(meV.min(), 0.05), meV.max(), 100)
            ax.semilogy(e, 1.0 / (2 * np.pi * e / THz_to_meV_2018), "g-", label="Ioffe-Regel $1/\\omega$")
            ax.axhline(self.wigner_limit_ps, color="k", ls="--", label="Wigner limit")
            ax.set_xlabel("energy (meV)")
            ax.set_ylabel("lifetime (ps)")
            ax.set_title(f"{T[it]:g} K")
            ax.legend(fontsize=6)
        for i, ax in enumerate(axes[2:]):
            for k, a, lab, c in ((self.kappa_3ph, self.alpha_3ph, "$\\kappa_{3ph}+\\kappa_c$", "C0"),
                                 (self.kappa_34ph, self.alpha_34ph, "$\\kappa_{3+4ph}+\\kappa_c$", "C4")):
                ax.plot(T, k[:, i], "o", color=c, label=f"{lab}: $T^{{{a[i]:.2f}}}$")
                al, cc = power_law_exponent(T, k[:, i])
                tt = np.linspace(T.min(), T.max(), 50)
                ax.plot(tt, cc * tt**al, "-", color=c)
            ax.set_xlabel("T (K)")
            ax.set_ylabel(f"$\\kappa_{{{'xyz'[i]}}}$ (W m$^{{-1}}$ K$^{{-1}}$)")
            ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


def compare_kappa_3ph_34ph(k3, k34, rates3_per_ps, rates34_per_ps, n_atoms: int) -> KappaComparison:
    """Collect two WignerKappa results (3ph and 3+4ph rates, same modes) into a KappaComparison.

    rates*_per_ps: (n_T, n_q, n_b) total linewidths used for k3 / k34.
    """
    T = np.asarray(k3.temperatures_K, float)
    if not np.array_equal(T, np.asarray(k34.temperatures_K, float)):
        raise ValueError("the two WignerKappa results have different temperatures")

    def diag(a):
        return np.einsum("tii->ti", np.asarray(a))

    tot3, tot34 = diag(k3.kappa_p + k3.kappa_c), diag(k34.kappa_p + k34.kappa_c)
    a3, a34 = power_law_alpha(T, tot3), power_law_alpha(T, tot34)
    f = np.asarray(k3.frequencies_THz, float)
    with np.errstate(divide="ignore"):
        tau3 = 1.0 / np.asarray(rates3_per_ps, float).reshape(len(T), -1)
        tau34 = 1.0 / np.asarray(rates34_per_ps, float).reshape(len(T), -1)
    wmax = 2 * np.pi * f.max()
    return KappaComparison(
        temperatures_K=T, kappa_3ph=tot3, kappa_34ph=tot34, kappa_p_3ph=diag(k3.kappa_p),
        kappa_p_34ph=diag(k34.kappa_p), kappa_c_3ph=diag(k3.kappa_c), kappa_c_34ph=diag(k34.kappa_c),
        alpha_3ph=a3, alpha_34ph=a34, frequencies_THz=f.ravel(), tau_3ph_ps=tau3, tau_34ph_ps=tau34,
        wigner_limit_ps=float(3 * n_atoms / wmax))
