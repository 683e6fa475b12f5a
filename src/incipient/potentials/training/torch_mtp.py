"""Differentiable MTP energies, forces and stresses in torch (CPU) for fitting; parity with the C kernel.

Own code on torch's autograd (torch is imported inside the functions: it is the optional
``train`` dependency). Everything that does not depend on the parameters is computed once per
data set: neighbour pairs (incipient's cell list), Chebyshev polynomials times the cutoff
function and their r-derivatives, grouped in chunks of configurations. An evaluation then
computes, for the parameters (species, moment and radial coefficients):

* radial functions R_mu(r) = sum_k c[t_i, t_j, mu, k] Q_k(r) and R'_mu per pair;
* basic moments M_b(i) = sum_j R_mu_b(r_ij) u^a_b (monomials of the unit vector, recomputed
  per chunk and degree), then the products ``alpha_index_times`` depth by depth;
* site energies E_i = xi[t_i] + theta . V_i[mapping];
* forces and virials explicitly from the moment adjoints dE_i/dM_b (a reverse sweep over the
  products, written as differentiable tensor operations), so the loss gradient is a single
  backward pass, not a double one.

:func:`evaluate_model` checks against :class:`incipient.potentials.MTP` (tests: 1e-8).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.errors import InputError


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise ImportError("MTP training needs torch (pip install 'incipient[train]')") from exc
    return torch


@dataclass
class Structure:
    """Parameter-independent tables of one MTP structure, as torch tensors."""

    species_count: int
    radial_funcs_count: int
    radial_basis_size: int
    min_dist: float
    max_dist: float
    scaling: float
    n_basic: int
    n_moments: int
    n_scalar: int
    basic_mu: object
    basic_mono: object
    basic_deg: object
    mono_deg_blocks: list
    mono_parent: object
    mono_dir: object
    mono_pow: object
    mono_lower: object
    n_mono: int
    mono_deg: object
    depth_entries: list  # per depth d >= 1: (i1, i2, mult, i3) tensors
    mapping: object


def structure_of(model, dtype=None) -> Structure:
    """Tables of ``model`` (an :class:`MTPModel`) for :func:`evaluate`."""
    torch = _torch()
    from incipient.potentials.mtp_tables import build_tables

    dtype = dtype or torch.float64
    t = build_tables(model)
    n_basic = int(model.alpha_index_basic.shape[0])
    times = t.times
    if times.size and times[:, :2].min() < 0:
        raise InputError(f"{model.path}: negative moment index in alpha_index_times")
    depth = np.zeros(t.n_moments, dtype=np.int64)
    for (i1, i2, i3) in times:
        depth[i3] = max(depth[i3], 1 + max(depth[i1], depth[i2]))
    if np.any(depth[:n_basic] != 0) or (t.n_moments > n_basic and np.any(depth[n_basic:] == 0)):
        raise InputError(f"{model.path}: moments 0..{n_basic - 1} must be the basic ones and every later moment a product")
    entries = []
    for d in range(1, int(depth.max(initial=0)) + 1):
        sel = depth[times[:, 2]] == d
        entries.append((torch.as_tensor(times[sel, 0]), torch.as_tensor(times[sel, 1]),
                        torch.as_tensor(t.times_mult[sel], dtype=dtype), torch.as_tensor(times[sel, 2])))
    pw = t.mono_pow
    deg = pw.sum(axis=1)
    blocks = [(int(np.searchsorted(deg, d)), int(np.searchsorted(deg, d, side="right"))) for d in range(1, int(deg.max()) + 1)]
    return Structure(
        species_count=model.species_count, radial_funcs_count=model.radial_funcs_count,
        radial_basis_size=model.radial_basis_size, min_dist=float(model.min_dist_A), max_dist=float(model.max_dist_A),
        scaling=float(model.scaling), n_basic=n_basic, n_moments=int(t.n_moments), n_scalar=int(t.mapping.size),
        basic_mu=torch.as_tensor(t.basic_mu), basic_mono=torch.as_tensor(t.basic_mono),
        basic_deg=torch.as_tensor(deg[t.basic_mono], dtype=dtype),
        mono_deg_blocks=blocks, mono_parent=torch.as_tensor(t.mono_parent), mono_dir=torch.as_tensor(t.mono_dir),
        mono_pow=torch.as_tensor(pw, dtype=dtype), mono_lower=torch.as_tensor(np.maximum(t.mono_lower, 0)),
        n_mono=int(pw.shape[0]), mono_deg=torch.as_tensor(deg, dtype=dtype), depth_entries=entries,
        mapping=torch.as_tensor(t.mapping),
    )


@dataclass
class Chunk:
    """Neighbours (padded to K per atom) and labels of a group of configurations, as torch tensors.

    Pair slots are (atom, k) with k < K; empty slots have Q = dQ = 0 and contribute nothing.
    """

    n_configs: int
    n_atoms: int
    K: int
    config_of_atom: object  # (Na,)
    types: object  # (Na,)
    jp: object  # (Na*K,) neighbour atom of each slot (chunk-local; the atom itself when empty)
    ip: object  # (Na*K,) centre atom of each slot
    tp: object  # (Na*K,) type pair t_i * S + t_j
    cp: object  # (Na*K,) configuration of the slot
    r: object  # (Na*K,)
    u: object  # (Na*K, 3)
    vec: object  # (Na*K, 3)
    Q: object  # (Na*K, nb) Chebyshev x cutoff function
    dQ: object  # (Na*K, nb) d/dr
    natoms: object  # (Nc,)
    volume: object  # (Nc,) A^3 (nan when not periodic)
    energy: object  # (Nc,) eV
    forces: object  # (Na, 3) eV/A
    stress: object  # (Nc, 3, 3) eV/A^3, ASE sign
    has_energy: object
    has_forces: object
    has_stress: object
    index: np.ndarray  # configuration numbers in the data set
    feats: object = None  # cached (Na, K, n_mono, 5): mono, deg*mono / r, d mono/du_xyz / r


def chebyshev(r: np.ndarray, min_dist: float, max_dist: float, nb: int, scaling: float):
    """Q_k(r) = T_k(s(r)) * scaling * (max_dist - r)^2 and dQ_k/dr, each (P, nb) (numpy)."""
    s = (2.0 * r - (min_dist + max_dist)) / (max_dist - min_dist)
    ds = 2.0 / (max_dist - min_dist)
    T = np.zeros((r.size, nb))
    dT = np.zeros((r.size, nb))
    T[:, 0] = 1.0
    if nb > 1:
        T[:, 1] = s
        dT[:, 1] = ds
    for k in range(2, nb):
        T[:, k] = 2.0 * s * T[:, k - 1] - T[:, k - 2]
        dT[:, k] = 2.0 * (ds * T[:, k - 1] + s * dT[:, k - 1]) - dT[:, k - 2]
    inside = r < max_dist
    sm = np.where(inside, scaling * (max_dist - r) ** 2, 0.0)
    dsm = np.where(inside, -2.0 * scaling * (max_dist - r), 0.0)
    return T * sm[:, None], dT * sm[:, None] + T * dsm[:, None]


def neighbours(atoms, cutoff: float):
    """(centre, neighbour, vectors) of all pairs within ``cutoff`` (incipient's cell list)."""
    from incipient.potentials.neighbors import neighbor_list

    offsets, nbr, vecs = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    return np.repeat(np.arange(len(atoms)), np.diff(offsets)), np.asarray(nbr), np.asarray(vecs)


def prepare(configs, type_lists, st: Structure, *, max_slots: int = 40000, dtype=None, labels=None,
            cache_bytes: float = 1.0e9, pairs=None, numbers=None) -> list[Chunk]:
    """Chunks of ``configs`` (ASE Atoms) with per-atom MTP types ``type_lists``.

    ``labels``: list of dicts with ``energy``, ``forces``, ``stress`` (or ``None`` entries);
    without labels the chunks carry NaNs. A chunk holds at most ``max_slots`` pair slots
    (atoms x K). Monomial features are cached while their total stays below ``cache_bytes``.
    ``pairs``: precomputed :func:`neighbours` per configuration; ``numbers``: the configuration
    numbers used in error messages (default 0, 1, ...).
    """
    torch = _torch()
    dtype = dtype or torch.float64
    S = st.species_count
    per = []
    for k, (atoms, types) in enumerate(zip(configs, type_lists, strict=True)):
        centre, nbr, vecs = pairs[k] if pairs is not None else neighbours(atoms, st.max_dist)
        r = np.linalg.norm(vecs, axis=1)
        if r.size and r.min() <= 1e-8:
            raise InputError(f"configuration {k if numbers is None else numbers[k]}: two atoms coincide")
        counts = np.bincount(centre, minlength=len(atoms))
        lab = labels[k] if labels is not None else {}
        per.append((atoms, np.asarray(types, dtype=np.int64), centre, nbr, vecs, r, int(counts.max(initial=0)), lab))
    chunks = []
    used = 0.0
    start = 0
    while start < len(per):
        stop, natoms, K = start, 0, 1
        while stop < len(per):
            n2, K2 = natoms + len(per[stop][0]), max(K, per[stop][6])
            if stop > start and n2 * K2 > max_slots:
                break
            natoms, K = n2, K2
            stop += 1
        group = per[start:stop]
        Na = natoms
        jp = np.repeat(np.arange(Na), K)
        cp = np.zeros(Na * K, dtype=np.int64)
        tp = np.zeros(Na * K, dtype=np.int64)
        r = np.ones(Na * K)
        vec = np.zeros((Na * K, 3))
        u = np.zeros((Na * K, 3))
        u[:, 0] = 1.0
        live = np.zeros(Na * K, dtype=bool)
        cfg, typ, Fl = [], [], []
        nat, vol, en, sts, he, hf, hs = [], [], [], [], [], [], []
        a0 = 0
        for c, (atoms, types, centre, nbr, vecs, rr, _, lab) in enumerate(group):
            n = len(atoms)
            order = np.argsort(centre, kind="stable")
            centre, nbr, vecs, rr = centre[order], nbr[order], vecs[order], rr[order]
            first = np.concatenate([[0], np.cumsum(np.bincount(centre, minlength=n))])
            slot = (centre + a0) * K + (np.arange(centre.size) - first[centre])
            jp[slot] = nbr + a0
            tp[slot] = types[centre] * S + types[nbr]
            r[slot] = rr
            vec[slot] = vecs
            u[slot] = vecs / rr[:, None]
            live[slot] = True
            cp[a0 * K:(a0 + n) * K] = c
            cfg.append(np.full(n, c))
            typ.append(types)
            f = lab.get("forces")
            Fl.append(np.full((n, 3), np.nan) if f is None else np.asarray(f, float).reshape(n, 3))
            hf.append(f is not None)
            nat.append(n)
            periodic = bool(np.all(atoms.pbc))
            vol.append(atoms.get_volume() if periodic else np.nan)
            e = lab.get("energy")
            en.append(np.nan if e is None else float(e))
            he.append(e is not None)
            s = lab.get("stress")
            if s is not None:
                s = np.asarray(s, float)
                if s.shape == (6,):
                    xx, yy, zz, yz, xz, xy = s
                    s = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
            sts.append(np.full((3, 3), np.nan) if s is None else s)
            hs.append(s is not None and periodic)
            a0 += n
        Q, dQ = chebyshev(r, st.min_dist, st.max_dist, st.radial_basis_size, st.scaling)
        Q[~live] = 0.0
        dQ[~live] = 0.0
        T = lambda x, dt=dtype: torch.as_tensor(np.ascontiguousarray(x), dtype=dt)  # noqa: E731
        I = lambda x: torch.as_tensor(np.ascontiguousarray(x), dtype=torch.int64)  # noqa: E731, E741
        ch = Chunk(
            n_configs=len(group), n_atoms=Na, K=K, config_of_atom=I(np.concatenate(cfg)),
            types=I(np.concatenate(typ)), jp=I(jp), ip=I(np.repeat(np.arange(Na), K)), tp=I(tp), cp=I(cp),
            r=T(r), u=T(u), vec=T(vec), Q=T(Q), dQ=T(dQ),
            natoms=T(nat), volume=T(vol), energy=T(en), forces=T(np.concatenate(Fl).reshape(-1, 3)),
            stress=T(np.array(sts).reshape(-1, 3, 3)), has_energy=torch.as_tensor(he), has_forces=torch.as_tensor(hf),
            has_stress=torch.as_tensor(hs), index=np.arange(start, stop),
        )
        need = Na * K * st.n_mono * 5 * 8
        if used + need <= cache_bytes:
            ch.feats = features(ch, st)
            used += need
        chunks.append(ch)
        start = stop
    return chunks


def features(ch: Chunk, st: Structure):
    """Per slot and monomial (Na, K, n_mono, 5): u^a, deg(a) u^a / r, and d u^a / du_xyz / r."""
    torch = _torch()
    with torch.no_grad():
        u = ch.u
        P = u.shape[0]
        mono = torch.empty((P, st.n_mono), dtype=u.dtype)
        mono[:, 0] = 1.0
        for s, e in st.mono_deg_blocks:
            mono[:, s:e] = mono[:, st.mono_parent[s:e]] * u[:, st.mono_dir[s:e]]
        rinv = (1.0 / ch.r)[:, None]
        low = mono[:, st.mono_lower]  # (P, n_mono, 3)
        f = torch.stack([mono, mono * st.mono_deg * rinv] + [low[:, :, c] * st.mono_pow[:, c] * rinv for c in range(3)],
                        dim=-1)
    return f.reshape(ch.n_atoms, ch.K, st.n_mono, 5).contiguous()


def _moments(Mi, st: Structure):
    """All moments V (n_moments, Na) from the basic ones (n_basic, Na); rows are contiguous."""
    torch = _torch()
    V = torch.cat([Mi, Mi.new_zeros((st.n_moments - st.n_basic, Mi.shape[1]))], dim=0)
    for i1, i2, mult, i3 in st.depth_entries:
        V = V.index_add(0, i3, V[i1] * V[i2] * mult[:, None])
    return V


def _adjoints(V, seed, st: Structure):
    """dE_i/dV (..., n_moments, Na) for energy seeds ``seed`` (..., n_scalar) on the mapped moments."""
    Na = V.shape[1]
    lead = seed.shape[:-1]
    A = V.new_zeros(lead + V.shape).index_add(-2, st.mapping, seed[..., :, None].expand(lead + (seed.shape[-1], Na)))
    for i1, i2, mult, i3 in reversed(st.depth_entries):
        a = A[..., i3, :] * mult[:, None]
        A = A.index_add(-2, i1, a * V[i2]).index_add(-2, i2, a * V[i1])
    return A


def evaluate(chunk: Chunk, st: Structure, params: dict, *, forces: bool = True, seeds=None):
    """Energies per configuration (Nc,), forces (Na, 3), virials (Nc, 3, 3) and site energies.

    ``params``: torch tensors ``species_coeffs`` (S,), ``moment_coeffs`` (n_scalar,),
    ``radial_coeffs`` (S, S, nf, nb). ``seeds`` (n_alpha, n_scalar) instead of the moment
    coefficients gives the forces/virials of each seed (linear in the seed) for the
    least-squares design matrix, plus ``basis`` (Nc, n_scalar): the basis summed per config.
    """
    torch = _torch()
    Na, K, nf, nm = chunk.n_atoms, chunk.K, st.radial_funcs_count, st.n_mono
    c = params["radial_coeffs"].reshape(st.species_count**2, nf, st.radial_basis_size)
    ct = c[chunk.tp]  # (Na*K, nf, nb)
    R = torch.einsum("pk,pfk->pf", chunk.Q, ct).reshape(Na, K, nf)
    feats = chunk.feats if chunk.feats is not None else features(chunk, st)
    mono = feats[..., 0]  # (Na, K, n_mono)
    M = torch.bmm(R.transpose(1, 2), mono)  # (Na, nf, n_mono)
    Mi = M.reshape(Na, nf * nm)[:, st.basic_mu * nm + st.basic_mono].T.contiguous()
    V = _moments(Mi, st)
    B = V[st.mapping].T
    out = {}
    if seeds is None:
        Ei = params["species_coeffs"][chunk.types] + B @ params["moment_coeffs"]
        out["site_energies"] = Ei
        out["energy"] = Ei.new_zeros(chunk.n_configs).index_add(0, chunk.config_of_atom, Ei)
        seed = params["moment_coeffs"]
    else:
        out["basis"] = B.new_zeros((chunk.n_configs, st.n_scalar)).index_add(0, chunk.config_of_atom, B)
        seed = seeds
    if not forces:
        return out
    dR = torch.einsum("pk,pfk->pf", chunk.dQ, ct).reshape(Na, K, nf)
    A = _adjoints(V, seed, st)[..., : st.n_basic, :].transpose(-1, -2)  # (..., Na, n_basic)
    lead = A.shape[:-2]
    Ad = A.new_zeros(lead + (Na, nf * nm)).index_add(-1, st.basic_mu * nm + st.basic_mono, A).reshape(lead + (Na, nf, nm))
    Y0 = torch.matmul(R, Ad)  # (..., Na, K, n_mono)
    Y1 = torch.matmul(dR, Ad)
    # g = u (Y1.mono - Y0.deg mono / r) + Y0 . grad mono / r
    t0 = torch.einsum("...akm,akmq->...akq", Y0, feats[..., 1:])  # (..., Na, K, 4)
    t1 = torch.einsum("...akm,akm->...ak", Y1, mono)
    u = chunk.u.reshape(Na, K, 3)
    g = (u * (t1 - t0[..., 0])[..., None] + t0[..., 1:]).reshape(lead + (Na * K, 3))
    F = g.new_zeros(lead + (Na, 3)).index_add(-2, chunk.ip, g).index_add(-2, chunk.jp, -g)
    W = chunk.vec[:, :, None] * g[..., :, None, :]  # (..., Na*K, 3, 3)
    out["forces"] = F
    out["virial"] = W.new_zeros(lead + (chunk.n_configs, 3, 3)).index_add(-3, chunk.cp, W)
    return out


def params_of(model, dtype=None, requires_grad: bool = False) -> dict:
    """torch parameter tensors of an :class:`MTPModel`."""
    torch = _torch()
    dtype = dtype or torch.float64
    return {
        k: torch.tensor(np.asarray(getattr(model, k), dtype=float), dtype=dtype, requires_grad=requires_grad)
        for k in ("species_coeffs", "moment_coeffs", "radial_coeffs")
    }


def evaluate_model(model, atoms_list, species) -> list[dict]:
    """Energy (eV), forces (eV/A) and stress (6,) eV/A^3 (ASE convention) of each structure (float64)."""
    torch = _torch()
    st = structure_of(model)
    z = {s: k for k, s in enumerate(species)}
    types = [np.array([z[s] for s in a.get_chemical_symbols()]) for a in atoms_list]
    chunks = prepare(atoms_list, types, st)
    p = params_of(model)
    out = []
    with torch.no_grad():
        for ch in chunks:
            res = evaluate(ch, st, p)
            for c in range(ch.n_configs):
                sel = (ch.config_of_atom == c).numpy()
                W = res["virial"][c].numpy()
                Ws = 0.5 * (W + W.T) / float(ch.volume[c])
                out.append({"energy": float(res["energy"][c]), "forces": res["forces"].numpy()[sel],
                            "stress": np.array([Ws[0, 0], Ws[1, 1], Ws[2, 2], Ws[1, 2], Ws[0, 2], Ws[0, 1]])})
    return out
