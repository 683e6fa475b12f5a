"""Wigner thermal conductivity (particle-like kappa_p + coherence kappa_c) from mode data.

Own code for the assembly step only: it takes phonon frequencies, the velocity operator and total
linewidths (3ph from phono3py, 4ph from :mod:`incipient.transport.fourphonon`, isotopes, ...,
combined by Matthiessen's rule) and returns kappa_p and kappa_c, so that any mix of scattering
channels can be fed into the Wigner formula (phono3py only accepts its own 3ph linewidths).
The velocity operator itself is computed by phono3py's ``VelocityMatrix`` (wrapped, not copied);
irreducible meshes come from spglib.

Formulas (Simoncelli, Marzari, Mauri, Nat. Phys. 15, 809 (2019); paper eqs. 4-5), with
Gamma_s = 1/tau_s the full linewidth (angular units) and C_s the mode heat capacity::

    kappa^{ab} = 1/(V N_q) sum_q sum_{s,s'} C_{ss'} Re[v^a_{ss'} v^b_{s's}] L_{ss'}
    C_{ss'}   = (w_s + w_s')/4 (C_s/w_s + C_s'/w_s')                (C_ss = C_s)
    L_{ss'}   = g/((w_s - w_s')^2 + g^2),   g = (Gamma_s + Gamma_s')/2   (L_ss = tau_s)

The s = s' terms give kappa_p (eq. 4), all s != s' terms kappa_c (eq. 5, which is the same
expression written with n(n+1) instead of C). As in phono3py's SMM19 variant, pairs inside a
degenerate subspace (s != s', w_s = w_s') are counted in kappa_c. The velocity operator is
v_{ss'} = <e_s|dD/dq|e_s'>/(2 sqrt(w_s w_s')) in THz*Angstrom (= 100 m/s), Hermitian, with
degenerate subspaces rotated as phono3py does. For irreducible q-points each mode tensor is
averaged over the point group, R K R^T, and weighted by the star size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.results import Result

__all__ = [
    "IrreducibleMesh",
    "WignerKappa",
    "combine_scattering_rates",
    "irreducible_mesh",
    "mode_heat_capacity_J_K",
    "point_group_cartesian",
    "velocity_operator",
    "wigner_kappa",
]

_HBAR_JS = 1.054571817e-34
_KB_J_K = 1.380649e-23
# C [J/K] * v^2 [(THz A)^2 = 1e4 m^2/s^2] * L [ps = 1e-12 s] / V [A^3 = 1e-30 m^3] -> W/(m K)
_KAPPA_UNIT = 1e4 * 1e-12 / 1e-30


@dataclass(frozen=True)
class IrreducibleMesh(Result):
    """A Gamma-centred q-point mesh and its irreducible part (spglib).

    mesh: (3,) ints. qpoints_frac: (N_q, 3) all mesh points in reduced coordinates, spglib order
    (index = a0 + n0*(a1 + n1*a2) for addresses a mod mesh). grid_address: (N_q, 3) ints.
    ir_index: (N_ir,) indices of irreducible points into qpoints_frac. weights: (N_ir,) star sizes
    (sum = N_q). mapping: (N_q,) index of the irreducible representative of every point.
    """

    mesh: np.ndarray
    qpoints_frac: np.ndarray
    grid_address: np.ndarray
    ir_index: np.ndarray
    weights: np.ndarray
    mapping: np.ndarray

    @property
    def n_q(self) -> int:
        return int(np.prod(self.mesh))

    def index_of(self, address: np.ndarray) -> np.ndarray:
        """Grid index of integer addresses (..., 3) (taken modulo the mesh)."""
        a = np.mod(np.asarray(address, dtype=np.int64), self.mesh)
        return a[..., 0] + self.mesh[0] * (a[..., 1] + self.mesh[1] * a[..., 2])

    def plot(self):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 3))
        ax.bar(np.arange(len(self.weights)), self.weights)
        ax.set_xlabel("irreducible q index")
        ax.set_ylabel("star size")
        return fig


def _cell_tuple(structure):
    """(lattice rows, scaled positions, numbers) from ase.Atoms or PhonopyAtoms."""
    if hasattr(structure, "get_scaled_positions"):
        return (np.asarray(structure.cell[:], float), structure.get_scaled_positions(),
                structure.get_atomic_numbers())
    return (np.asarray(structure.cell, float), np.asarray(structure.scaled_positions),
            np.asarray(structure.numbers))


def irreducible_mesh(structure, mesh, *, symprec: float = 1e-5, use_symmetry: bool = True) -> IrreducibleMesh:
    """Gamma-centred mesh with spglib's irreducible points (time reversal included).

    ``structure``: ase.Atoms or PhonopyAtoms of the primitive cell. ``use_symmetry=False`` makes
    every point its own representative (for tests).
    """
    import spglib

    mesh = np.asarray(mesh, dtype=np.int64).reshape(3)
    if (mesh < 1).any():
        raise ValueError(f"mesh must be 3 positive integers, got {mesh.tolist()}")
    cell = _cell_tuple(structure)
    mapping, grid = spglib.get_ir_reciprocal_mesh(mesh.tolist(), cell, is_shift=[0, 0, 0],
                                                  symprec=symprec)
    grid = np.asarray(grid, dtype=np.int64)
    a = np.mod(grid, mesh)
    idx = a[:, 0] + mesh[0] * (a[:, 1] + mesh[1] * a[:, 2])
    if not np.array_equal(idx, np.arange(len(grid))):
        raise RuntimeError("spglib grid ordering differs from a0 + n0*(a1 + n1*a2)")
    mapping = np.asarray(mapping, dtype=np.int64)
    if not use_symmetry:
        mapping = np.arange(len(grid))
    ir_index, weights = np.unique(mapping, return_counts=True)
    return IrreducibleMesh(mesh=mesh, qpoints_frac=grid / mesh, grid_address=grid,
                           ir_index=ir_index, weights=weights, mapping=mapping)


def point_group_cartesian(structure, *, symprec: float = 1e-5) -> np.ndarray:
    """Point-group rotations in Cartesian coordinates, (n_rot, 3, 3), from spglib."""
    import spglib

    lattice, pos, num = _cell_tuple(structure)
    sym = spglib.get_symmetry((lattice, pos, num), symprec=symprec)
    rots = np.unique(sym["rotations"], axis=0)
    A = lattice.T  # columns are lattice vectors
    return np.einsum("ij,rjk,kl->ril", A, rots, np.linalg.inv(A))


def velocity_operator(phonon, qpoints_frac, *, gv_delta_q: float | None = None):
    """Frequencies (THz) and velocity operator (THz*Angstrom) at q-points, via phono3py.

    ``phonon``: a phonopy.Phonopy with force constants (or a Phono3py whose ``dynamical_matrix``
    is initialised). Returns (frequencies_THz (n_q, n_b), v (n_q, 3, n_b, n_b) complex).
    """
    import spglib
    from phono3py.phonon.velocity_matrix import VelocityMatrix

    dynmat = phonon.dynamical_matrix
    if dynmat is None:
        raise ValueError("phonon object has no dynamical matrix: produce or set force constants first")
    prim = phonon.primitive
    lattice, pos, num = _cell_tuple(prim)
    rots = np.unique(spglib.get_symmetry((lattice, pos, num))["rotations"], axis=0)
    A = lattice.T
    rots_cart = np.einsum("ij,rjk,kl->ril", A, rots, np.linalg.inv(A))
    # reciprocal-space operations r^T act on reduced q; their Cartesian form is (A r A^-1)^T
    vm = VelocityMatrix(dynmat, q_length=gv_delta_q, frequency_factor_to_THz=phonon.unit_conversion_factor,
                        rotations_cartesian=rots_cart.transpose(0, 2, 1),
                        reciprocal_operations=rots.transpose(0, 2, 1).copy())
    q = np.atleast_2d(np.asarray(qpoints_frac, dtype=float))
    vm.run(q)  # degenerate subspaces rotated along the (1, 2, 3) direction, as in phono3py
    freqs = []
    for qq in q:
        dynmat.run(qq)
        ev = np.linalg.eigvalsh(dynmat.dynamical_matrix)
        freqs.append(np.sign(ev) * np.sqrt(np.abs(ev)) * phonon.unit_conversion_factor)
    return np.asarray(freqs), np.asarray(vm.velocity_matrices)


def mode_heat_capacity_J_K(frequencies_THz: np.ndarray, temperature_K: float,
                           cutoff_frequency_THz: float = 1e-3) -> np.ndarray:
    """Mode heat capacity C = kB x^2 e^x/(e^x-1)^2, x = hbar w/(kB T), in J/K (0 below cutoff)."""
    f = np.asarray(frequencies_THz, float)
    if temperature_K <= 0:
        return np.zeros_like(f)
    w = 2 * np.pi * 1e12 * np.where(f > cutoff_frequency_THz, f, 1.0)
    x = _HBAR_JS * w / (_KB_J_K * temperature_K)
    with np.errstate(over="ignore"):
        ex = np.exp(-x)
        c = _KB_J_K * x**2 * ex / (1 - ex) ** 2
    return np.where(f > cutoff_frequency_THz, np.nan_to_num(c), 0.0)


def combine_scattering_rates(*rates_per_ps) -> np.ndarray:
    """Matthiessen's rule: total 1/tau as the sum of the given rate arrays (None entries skipped)."""
    arrs = [np.asarray(r, float) for r in rates_per_ps if r is not None]
    if not arrs:
        raise ValueError("no scattering rates given")
    out = np.zeros(np.broadcast_shapes(*[a.shape for a in arrs]))
    for a in arrs:
        if (a < 0).any():
            raise ValueError("scattering rates must be non-negative")
        out = out + a
    return out


@dataclass(frozen=True)
class WignerKappa(Result):
    """Wigner conductivity, all W/(m K).

    temperatures_K: (n_T,). kappa_p, kappa_c: (n_T, 3, 3) particle-like (eq. 4) and coherence
    (eq. 5) tensors. mode_kappa_p: (n_T, n_q, n_b, 3) diagonal (xx, yy, zz) contribution of each
    mode (already multiplied by its q weight, divided by V N_q, so sums give kappa_p).
    mode_kappa_c: (n_T, n_q, n_b, 3) coherence contribution split evenly between s and s'.
    frequencies_THz: (n_q, n_b).
    """

    temperatures_K: np.ndarray
    kappa_p: np.ndarray
    kappa_c: np.ndarray
    mode_kappa_p: np.ndarray
    mode_kappa_c: np.ndarray
    frequencies_THz: np.ndarray

    @property
    def kappa(self) -> np.ndarray:
        return self.kappa_p + self.kappa_c

    def plot(self):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        T = self.temperatures_K
        for i, (lab, c) in enumerate(zip("xyz", ("C0", "C1", "C2"), strict=True)):
            ax.plot(T, self.kappa_p[:, i, i], "--", color=c, label=f"$\\kappa_p^{{{lab}}}$")
            ax.plot(T, self.kappa[:, i, i], "-", color=c, label=f"$\\kappa_p+\\kappa_c$ ({lab})")
        ax.set_xlabel("T (K)")
        ax.set_ylabel("$\\kappa$ (W m$^{-1}$ K$^{-1}$)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


def wigner_kappa(frequencies_THz, velocity_operator_THzA, scattering_rate_per_ps, temperatures_K,
                 volume_A3: float, *, weights=None, rotations_cartesian=None,
                 cutoff_frequency_THz: float = 1e-3) -> WignerKappa:
    """kappa_p and kappa_c (W/mK) from frequencies, velocity operator and total linewidths.

    frequencies_THz: (n_q, n_b) ordinary frequencies. velocity_operator_THzA: (n_q, 3, n_b, n_b).
    scattering_rate_per_ps: 1/tau = full linewidth Gamma (rad/ps), shape (n_q, n_b) or
    (n_T, n_q, n_b); phono3py's ``gamma`` (THz, half width) converts as 4 pi gamma.
    weights: (n_q,) star sizes of irreducible points (default 1 each); N_q = sum(weights).
    rotations_cartesian: (n_rot, 3, 3) point group to average each q tensor over (use with
    irreducible points). Modes below ``cutoff_frequency_THz`` are left out.
    """
    f = np.asarray(frequencies_THz, float)
    v = np.asarray(velocity_operator_THzA)
    T = np.atleast_1d(np.asarray(temperatures_K, float))
    if f.ndim != 2:
        raise ValueError(f"frequencies_THz must be (n_q, n_b), got shape {f.shape}")
    nq, nb = f.shape
    if v.shape != (nq, 3, nb, nb):
        raise ValueError(f"velocity_operator_THzA must be {(nq, 3, nb, nb)}, got {v.shape}")
    G = np.asarray(scattering_rate_per_ps, float)
    if G.shape == (nq, nb):
        G = np.broadcast_to(G, (len(T), nq, nb))
    if G.shape != (len(T), nq, nb):
        raise ValueError(f"scattering_rate_per_ps must be {(nq, nb)} or {(len(T), nq, nb)}, got {G.shape}")
    if not np.isfinite(G).all() or (G < 0).any():
        raise ValueError("scattering_rate_per_ps must be finite and non-negative")
    if volume_A3 <= 0:
        raise ValueError(f"volume_A3 must be positive, got {volume_A3}")
    w = np.ones(nq) if weights is None else np.asarray(weights, float)
    if w.shape != (nq,):
        raise ValueError(f"weights must have shape ({nq},), got {w.shape}")
    rots = np.eye(3)[None] if rotations_cartesian is None else np.asarray(rotations_cartesian, float)
    n_total = w.sum()
    valid = f > cutoff_frequency_THz
    om = 2 * np.pi * f  # rad/ps
    kp = np.zeros((len(T), 3, 3))
    kc = np.zeros((len(T), 3, 3))
    mkp = np.zeros((len(T), nq, nb, 3))
    mkc = np.zeros((len(T), nq, nb, 3))
    pair_ok = valid[:, :, None] & valid[:, None, :]
    for it, temp in enumerate(T):
        C = mode_heat_capacity_J_K(f, temp, cutoff_frequency_THz)
        with np.errstate(divide="ignore", invalid="ignore"):
            c_over_w = np.where(valid, C / np.where(valid, om, 1.0), 0.0)
            Cm = 0.25 * (om[:, :, None] + om[:, None, :]) * (c_over_w[:, :, None] + c_over_w[:, None, :])
            g = 0.5 * (G[it][:, :, None] + G[it][:, None, :])
            dw = om[:, :, None] - om[:, None, :]
            L = np.where(pair_ok & (g > 0), g / (dw**2 + g**2), 0.0)
        weight = Cm * L  # (q, s, s')
        for iq in range(nq):
            K = np.einsum("st,ast,bst->stab", weight[iq], v[iq], v[iq].conj()).real
            K = np.einsum("rai,stij,rbj->stab", rots, K, rots) / len(rots)
            K *= w[iq] * _KAPPA_UNIT / (volume_A3 * n_total)
            diag = np.einsum("ssab->sab", K)
            off = K.copy()
            off[np.arange(nb), np.arange(nb)] = 0.0
            kp[it] += diag.sum(axis=0)
            kc[it] += off.sum(axis=(0, 1))
            mkp[it, iq] = np.einsum("saa->sa", diag)
            offd = np.einsum("staa->sta", off)
            mkc[it, iq] = 0.5 * (offd.sum(axis=1) + offd.sum(axis=0))
    return WignerKappa(temperatures_K=T, kappa_p=kp, kappa_c=kc, mode_kappa_p=mkp, mode_kappa_c=mkc,
                       frequencies_THz=f)
