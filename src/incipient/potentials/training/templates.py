"""Untrained MLIP-2 MTP templates for levels 2-28, generated from the level rules (not shipped files).

Own code. MLIP-2 (Novikov et al. 2021) ships one hand-generated ``untrained_mtps/NN.mtp`` per
level; this module derives the same four structural items from the rules below, array for array:
``alpha_index_basic``, ``alpha_index_times``, ``alpha_moment_mapping`` and
``alpha_moments_count`` (checked identical to MLIP-2's files for every even level 2-28, and to
the built-in level-22 potential in the tests).

The rules (inferred from MLIP-2's templates and checked against all of them):

* basis functions: every contraction to a scalar of a product of at most four moment tensors
  ``M_{mu,nu}`` (radial function ``mu <= 5``, rank ``nu <= 10``, no index contracted within one
  tensor), distinct up to relabelling, of level ``sum(2 + 4 mu + nu) <= level``;
* each is evaluated as a binary tree of pairwise contractions: the top split of the tensors
  into two groups contracts as few indices as possible (only scalars are multiplied without a
  contraction), ties go to the split whose larger part ranks last in the order below, then to
  the lexicographically first contraction pattern; intermediate tensors are shared;
* a tensor's components are the distinct ones among all index tuples in lexicographic order,
  its free indices ordered by (mu, nu) of the tensor they belong to;
* moments are ordered by (tree depth, number of factors, sorted mu's, canonical code) where the
  code is the lexicographically smallest ``[nu_0, e_01, e_02, ..., nu_1, e_12, ...]`` over
  orderings of the factors by mu (``e_ij``: indices contracted between factors i and j); the
  energy's scalar moments (``alpha_moment_mapping``) by (factors, mu's, code).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from functools import cache

import numpy as np

#: the levels MLIP-2 defines (untrained_mtps/02.mtp ... 28.mtp)
LEVELS = tuple(range(2, 29, 2))
MAX_FACTORS = 4
MAX_MU = 5
MAX_NU = 10


def moment_level(mu: int, nu: int) -> int:
    """Level of the moment tensor M_{mu,nu} (MLIP's definition)."""
    return 2 + 4 * mu + nu


@dataclass(frozen=True)
class MTPStructure:
    """The level-dependent part of an MLIP-2 ``.mtp`` file (same meaning as in :class:`MTPModel`)."""

    level: int
    radial_funcs_count: int
    alpha_moments_count: int
    alpha_index_basic: np.ndarray
    alpha_index_times: np.ndarray
    alpha_moment_mapping: np.ndarray

    @property
    def alpha_scalar_moments(self) -> int:
        return int(self.alpha_moment_mapping.size)


# ---------------------------------------------------------------------------------------------
# exponent vectors of symmetric tensor components


@cache
def _exponents(n: int) -> tuple[tuple[int, int, int], ...]:
    """Exponents (ax, ay, az) with ax + ay + az = n in MLIP's order (ax, then ay, descending)."""
    return tuple((ax, ay, n - ax - ay) for ax in range(n, -1, -1) for ay in range(n - ax, -1, -1))


def _multinomial(e) -> int:
    return math.factorial(sum(e)) // (math.factorial(e[0]) * math.factorial(e[1]) * math.factorial(e[2]))


# ---------------------------------------------------------------------------------------------
# basis functions as contraction graphs


def _edge_patterns(nus):
    """All loopless multigraphs on len(nus) nodes with degrees nus: tuples over pairs i < j."""
    k = len(nus)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    out = []

    def rec(p, rem, cur):
        if p == len(pairs):
            if not any(rem):
                out.append(tuple(cur))
            return
        i, j = pairs[p]
        for e in range(min(rem[i], rem[j]) + 1):
            rem[i] -= e
            rem[j] -= e
            cur.append(e)
            rec(p + 1, rem, cur)
            cur.pop()
            rem[i] += e
            rem[j] += e

    rec(0, list(nus), [])
    return out, pairs


def _canonical_graph(types, edges, pairs):
    k = len(types)
    emap = dict(zip(pairs, edges, strict=True))
    best = None
    for perm in itertools.permutations(range(k)):
        t = tuple(types[p] for p in perm)
        e = tuple(emap[tuple(sorted((perm[i], perm[j])))] for i, j in pairs)
        if best is None or (t, e) < best:
            best = (t, e)
    return best


def _basis_graphs(level: int):
    """Distinct scalar contraction graphs (types, {(i, j): count}) of at most four moments."""
    tensors = [(mu, nu) for mu in range(MAX_MU + 1) for nu in range(MAX_NU + 1) if moment_level(mu, nu) <= level]
    out = set()
    for k in range(1, MAX_FACTORS + 1):
        for combo in itertools.combinations_with_replacement(tensors, k):
            if sum(moment_level(*t) for t in combo) > level:
                continue
            if k == 1:
                if combo[0][1] == 0:
                    out.add((combo, ()))
                continue
            patterns, pairs = _edge_patterns([t[1] for t in combo])
            for pat in patterns:
                out.add(_canonical_graph(combo, pat, pairs))
    graphs = []
    for types, pat in sorted(out):
        k = len(types)
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        graphs.append((types, {p: c for p, c in zip(pairs, pat, strict=True) if c}))
    return graphs


def _code(types, edges) -> tuple:
    """Canonical code: min over mu-sorted orderings of [nu_0, e_01, ..., nu_1, e_12, ...]."""
    n = len(types)
    best = None
    for perm in itertools.permutations(range(n)):
        mus = [types[p][0] for p in perm]
        if mus != sorted(mus):
            continue
        out = []
        for i in range(n):
            out.append(types[perm[i]][1])
            for j in range(i + 1, n):
                a, b = perm[i], perm[j]
                out.append(edges.get((min(a, b), max(a, b)), 0))
        code = tuple(out)
        if best is None or code < best:
            best = code
    return best


# ---------------------------------------------------------------------------------------------
# tensor blocks (one basic moment tensor or one pairwise contraction) and their layout


class _Block:
    __slots__ = ("key", "mu", "nu", "left", "right", "C", "order", "groups", "depth", "nodes",
                 "sort_key", "first", "lookup")


class _Builder:
    def __init__(self):
        self.blocks: dict = {}

    def basic(self, t):
        key = ("B",) + tuple(t)
        b = self.blocks.get(key)
        if b is None:
            b = _Block()
            b.key, (b.mu, b.nu), b.left, b.right = key, t, None, None
            b.groups, b.depth, b.nodes = [t[1]], 0, 1
            b.sort_key = (0,)
            self.blocks[key] = b
        return b

    def product(self, left, right, C, order, types, edges):
        key = ("P", left.key, right.key, C, order)
        b = self.blocks.get(key)
        if b is None:
            b = _Block()
            b.key, b.left, b.right, b.C, b.order = key, left, right, C, order
            fl = [left.groups[i] - sum(C[i]) for i in range(len(left.groups))]
            fr = [right.groups[j] - sum(row[j] for row in C) for j in range(len(right.groups))]
            b.groups = [(fl if s == 0 else fr)[g] for s, g in order]
            b.depth = 1 + max(left.depth, right.depth)
            b.nodes = left.nodes + right.nodes
            b.sort_key = (b.depth, b.nodes, tuple(sorted(t[0] for t in types)), _code(types, edges))
            self.blocks[key] = b
        return b


class _Plan:
    __slots__ = ("nodes", "left", "right", "C", "order", "groups", "sig")


class _GraphPlanner:
    """Chooses the contraction tree of one basis function (see the module docstring)."""

    def __init__(self, types, edges):
        self.types = types
        n = len(types)
        self.adj = [[0] * n for _ in range(n)]
        for (i, j), c in edges.items():
            self.adj[i][j] += c
            self.adj[j][i] += c
        self.memo: dict = {}

    def free(self, S):
        return {v: self.types[v][1] - sum(self.adj[v][u] for u in S if u != v) for v in S}

    def sub(self, S):
        nodes = sorted(S)
        idx = {v: k for k, v in enumerate(nodes)}
        types = [self.types[v] for v in nodes]
        edges = {(idx[a], idx[b]): self.adj[a][b] for a in nodes for b in nodes if idx[a] < idx[b] and self.adj[a][b]}
        return types, edges

    def part_key(self, S):
        types, edges = self.sub(S)
        return (len(S), tuple(sorted(t[0] for t in types)), _code(types, edges))

    def splits(self, S):
        key = ("s", S)
        if key not in self.memo:
            nodes = sorted(S)
            out = []
            for r in range(1, len(nodes) // 2 + 1):
                for c in itertools.combinations(nodes, r):
                    S1 = frozenset(c)
                    S2 = S - S1
                    if 2 * r == len(nodes) and min(S1) > min(S2):
                        continue
                    k = sum(self.adj[a][b] for a in S1 for b in S2)
                    if k == 0 and (any(self.free(S1).values()) or any(self.free(S2).values())):
                        continue  # only scalars are multiplied without a contraction
                    if (len(S1) == 1 or self.splits(S1)) and (len(S2) == 1 or self.splits(S2)):
                        out.append((S1, S2, k))
            self.memo[key] = out
        return self.memo[key]

    def plans(self, S):
        """All plans of the node set S with the smallest signature."""
        key = ("p", S)
        if key in self.memo:
            return self.memo[key]
        if len(S) == 1:
            p = _Plan()
            v = next(iter(S))
            p.nodes, p.left, p.right, p.groups, p.sig = [v], None, None, [v], ()
            self.memo[key] = [p]
            return [p]
        cands = self.splits(S)
        kmin = min(k for _, _, k in cands)
        scored = [(max(self.part_key(S1), self.part_key(S2)), S1, S2) for S1, S2, k in cands if k == kmin]
        best = max(s[0] for s in scored)
        options = []
        for sk, S1, S2 in scored:
            if sk != best:
                continue
            for P1 in self.plans(S1):
                for P2 in self.plans(S2):
                    if len(P1.nodes) == 1 and len(P2.nodes) > 1:
                        pairs = [(P1, P2)]
                    elif len(P2.nodes) == 1 and len(P1.nodes) > 1:
                        pairs = [(P2, P1)]
                    else:
                        pairs = [(P1, P2), (P2, P1)]
                    options.extend(self.combine(L, R) for L, R in pairs)
        m = min(q.sig for q in options)
        out = [q for q in options if q.sig == m]
        self.memo[key] = out
        return out

    def combine(self, L, R):
        C = tuple(tuple(self.adj[a][b] for b in R.groups) for a in L.groups)
        S = set(L.nodes) | set(R.nodes)
        fr = self.free(S)
        cand = sorted((self.types[v], s, g, v) for s, P in enumerate((L, R)) for g, v in enumerate(P.groups) if fr[v] > 0)
        p = _Plan()
        p.nodes, p.left, p.right, p.C = L.nodes + R.nodes, L, R, C
        p.order = tuple((s, g) for _, s, g, _ in cand)
        p.groups = [v for *_, v in cand]
        p.sig = L.sig + R.sig + (tuple(x for row in C for x in row),)
        return p

    def realize(self, builder: _Builder, p):
        if p.left is None:
            return builder.basic(self.types[p.nodes[0]])
        left = self.realize(builder, p.left)
        right = self.realize(builder, p.right)
        types, edges = self.sub(frozenset(p.nodes))
        return builder.product(left, right, p.C, p.order, types, edges)


def _components(b: _Block):
    """Components of a product block: list of {(i1, i2): mult} and the lookup tuple -> component."""
    A, B, C = b.left, b.right, b.C
    nA, nB = len(A.groups), len(B.groups)
    cells = [(i, j, C[i][j]) for i in range(nA) for j in range(nB) if C[i][j]]
    choices = list(itertools.product(*[[(e, _multinomial(e)) for e in _exponents(c)] for _, _, c in cells]))
    comps, lookup, seen = [], {}, {}
    zero = (0, 0, 0)
    for vals in itertools.product(*[_exponents(g) for g in b.groups]):
        ea, eb = [zero] * nA, [zero] * nB
        for (s, g), v in zip(b.order, vals, strict=True):
            if s == 0:
                ea[g] = v
            else:
                eb[g] = v
        ent = Counter()
        for ch in choices:
            a, bb, m = list(ea), list(eb), 1
            for (i, j, _), (e, mm) in zip(cells, ch, strict=True):
                a[i] = (a[i][0] + e[0], a[i][1] + e[1], a[i][2] + e[2])
                bb[j] = (bb[j][0] + e[0], bb[j][1] + e[1], bb[j][2] + e[2])
                m *= mm
            ia, ib = A.lookup[tuple(a)], B.lookup[tuple(bb)]
            ent[(min(ia, ib), max(ia, ib))] += m
        sig = tuple(sorted(ent.items()))
        if sig not in seen:
            seen[sig] = len(comps)
            comps.append(sig)
        lookup[vals] = seen[sig]
    return comps, lookup


@cache
def _structure(level: int) -> MTPStructure:
    builder = _Builder()
    scalars = []
    for types, edges in _basis_graphs(level):
        if len(types) == 1:
            scalars.append((builder.basic(types[0]), (1, (types[0][0],), (0,))))
            continue
        planner = _GraphPlanner(types, edges)
        plan = planner.plans(frozenset(range(len(types))))[0]
        block = planner.realize(builder, plan)
        scalars.append((block, (len(types), tuple(sorted(t[0] for t in types)), _code(types, edges))))
    blocks = list(builder.blocks.values())
    basics = sorted((b for b in blocks if b.left is None), key=lambda b: (b.mu, b.nu))
    products = sorted((b for b in blocks if b.left is not None), key=lambda b: b.sort_key)
    basic_rows, times = [], []
    idx = 0
    for b in basics:
        b.first, b.lookup = idx, {}
        for e in _exponents(b.nu):
            b.lookup[(e,)] = idx
            basic_rows.append((b.mu,) + e)
            idx += 1
    for b in products:
        comps, lookup = _components(b)
        b.first = idx
        b.lookup = {k: idx + t for k, t in lookup.items()}
        for t, ent in enumerate(comps):
            times.extend((i1, i2, m, idx + t) for (i1, i2), m in ent)
        idx += len(comps)
    scalars.sort(key=lambda s: s[1])
    mapping = np.array([b.first for b, _ in scalars], dtype=np.int64)
    basic_arr = np.array(basic_rows, dtype=np.int64).reshape(-1, 4)
    times_arr = np.array(times, dtype=np.int64).reshape(-1, 4)
    if times_arr.size:
        times_arr = times_arr[np.lexsort((times_arr[:, 1], times_arr[:, 0], times_arr[:, 3]))]
    for arr in (basic_arr, times_arr, mapping):
        arr.setflags(write=False)
    return MTPStructure(level=level, radial_funcs_count=int(basic_arr[:, 0].max()) + 1, alpha_moments_count=idx,
                        alpha_index_basic=basic_arr, alpha_index_times=times_arr, alpha_moment_mapping=mapping)


def mtp_structure(level: int) -> MTPStructure:
    """The moment/basis structure of MLIP-2's untrained level-``level`` MTP (cached)."""
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or int(level) not in LEVELS:
        from incipient.errors import InputError

        raise InputError(f"MTP level must be one of {', '.join(map(str, LEVELS))} (MLIP-2's levels), got {level!r}")
    return _structure(int(level))


def mtp_template(level: int, *, species_count: int, min_dist_A: float, max_dist_A: float,
                 radial_basis_size: int = 8, species=None, scaling: float = 1.0):
    """An untrained MTP (all coefficients zero) as an :class:`~incipient.potentials.MTPModel`.

    ``scaling`` is the prefactor of the radial cutoff function ``scaling * (max_dist - r)^2``
    (redundant with the radial coefficients; MLIP-2 fixes it).
    """
    from incipient.errors import InputError
    from incipient.potentials.mtp_file import MTPModel

    s = mtp_structure(level)
    if int(species_count) < 1:
        raise InputError(f"species_count must be >= 1, got {species_count}")
    if not (np.isfinite(min_dist_A) and np.isfinite(max_dist_A) and 0 <= min_dist_A < max_dist_A):
        raise InputError(f"cutoffs must satisfy 0 <= min_dist < max_dist, got {min_dist_A}, {max_dist_A}")
    if int(radial_basis_size) < 2:
        raise InputError(f"radial_basis_size must be >= 2, got {radial_basis_size}")
    S, nb = int(species_count), int(radial_basis_size)
    return MTPModel(
        path=f"<untrained level {level}>", version="1.1.0", potential_name="MTP1m", species_count=S,
        scaling=float(scaling), radial_basis_type="RBChebyshev", min_dist_A=float(min_dist_A),
        max_dist_A=float(max_dist_A), radial_basis_size=nb, radial_funcs_count=s.radial_funcs_count,
        radial_coeffs=np.zeros((S, S, s.radial_funcs_count, nb)), alpha_moments_count=s.alpha_moments_count,
        alpha_index_basic=np.array(s.alpha_index_basic), alpha_index_times=np.array(s.alpha_index_times),
        alpha_moment_mapping=np.array(s.alpha_moment_mapping), species_coeffs=np.zeros(S),
        moment_coeffs=np.zeros(s.alpha_scalar_moments), species=None if species is None else tuple(species),
    )


def level_of(model) -> int | None:
    """The MLIP-2 level whose template has exactly this model's structure, or ``None``."""
    for lev in LEVELS:
        s = _structure(lev)
        if (s.alpha_moments_count == model.alpha_moments_count
                and np.array_equal(s.alpha_index_basic, model.alpha_index_basic)
                and np.array_equal(s.alpha_index_times, model.alpha_index_times)
                and np.array_equal(s.alpha_moment_mapping, model.alpha_moment_mapping)):
            return lev
        if s.alpha_moments_count > model.alpha_moments_count:
            break
    return None


def random_mtp(level: int, species, path, seed: int = 0):
    """Write an untrained level-``level`` MTP with random, small (physically sane) coefficients to
    ``path`` (for speed and parity checks: the cost of an evaluation does not depend on the values)."""
    import dataclasses

    import numpy as np

    from incipient.potentials.training.writer import write_mtp

    m = mtp_template(level, species_count=len(species), min_dist_A=1.75, max_dist_A=7.0, radial_basis_size=8,
                     species=species, scaling=0.0766)
    rng = np.random.default_rng(seed + 100 * level)
    m = dataclasses.replace(
        m, radial_coeffs=rng.normal(0.0, 0.12, m.radial_coeffs.shape),
        moment_coeffs=rng.normal(0.0, 1.0, m.moment_coeffs.shape) / np.sqrt(m.moment_coeffs.size),
        species_coeffs=rng.normal(-2.0, 0.5, len(species)))
    return write_mtp(m, path, species=species)
