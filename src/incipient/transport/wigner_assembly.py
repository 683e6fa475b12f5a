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

Velocity-operator conventions (``velocity_operator(..., velocity_convention=...)``)
-----------------------------------------------------------------------------------
The off-diagonal velocity operator depends on the Fourier phase convention of the dynamical
matrix; its diagonal (the group velocities, hence kappa_p) does not. With tau_i the position of
atom i in the primitive cell, R the lattice vectors and q in phonopy's units (phase
exp(2 pi i q.r), q in 1/Angstrom without the 2 pi; f in THz)::

    crystal (default, phonopy/phono3py):  D^c_ij(q) = sum_R Phi_ij(R) exp(2 pi i q.(R + tau_j - tau_i)) / sqrt(m_i m_j)
    lattice phase (ShengBTE):            D^L_ij(q) = sum_R Phi_ij(R) exp(2 pi i q.R) / sqrt(m_i m_j)
                                         D^L = U D^c U^+,   U = diag_i exp(2 pi i q.tau_i)
    dD^L/dq_a = U (dD^c/dq_a) U^+ + 2 pi i [T_a, D^L],   T_a = diag_i tau_{i,a} (Cartesian, A)

    v_ss' = <e_s| dD/dq |e_s'> / (2 sqrt(f_s f_s'))      (e: eigenvectors of the same D, e^L = U e^c)
    v^L_ss' = v^c_ss' + 2 pi i (f_s'^2 - f_s^2) / (2 sqrt(f_s f_s')) X_ss',   X^a_ss' = <e^c_s| T_a |e^c_s'>

Only D^c is periodic-covariant under the space group (the crystal-momentum representation of
the position operator); D^L is periodic in q (D^L(q+G) = D^L(q)) but its q-derivative picks up
the commutator with the atomic positions. The extra term vanishes for s = s' and inside
degenerate subspaces (f_s = f_s'), so group velocities and kappa_p are the same in every
convention, but it adds (f_s' - f_s) x (position operator) to every off-diagonal element. Its
kappa_c contribution, sum C |df X|^2 g/(df^2 + g^2), grows with the linewidths g (for g << df,
~ g: T for 3ph, T^2 for 4ph), and because T depends on which periodic image of each atom is
placed in the cell it is not covariant under the space-group operations whose translations move
atoms between cells: kappa_c summed over the full mesh is then not point-group symmetric.

* ``"crystal"``: phono3py's ``VelocityMatrix`` (atomic-position phases, complex). Correct.
* ``"lattice_phase"``: the velocity operator of D^L (lattice-vector phases only), full complex
  matrix, eigenvectors of D^L (kappa does not depend on their phases). Isolates the first effect.
* ``"lattice_phase_real"``: as ``"lattice_phase"``, then every off-diagonal element replaced by
  its real part (the ShengBTE-derived Wigner add-ons' choice; the diagonal is real anyway). The
  real part depends on the phases of the eigenvectors, taken here as LAPACK returns them for D^L
  (``numpy.linalg.eigh``; a Fortran code calling ``zheev`` makes a similar, equally arbitrary
  choice), with degenerate subspaces rotated as phono3py does (inside a degenerate subspace LAPACK
  mixes the eigenvectors with complex coefficients, so there the real part changes the operator
  even for one atom per cell). This convention is therefore not even invariant under eigenvector
  phases: it reproduces a code path, not a physical quantity.

In every convention the diagonal is then projected onto the little group of q, as phono3py's
``VelocityMatrix.run`` does (its group velocities are a view of that diagonal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.results import Result

__all__ = [
    "VELOCITY_CONVENTIONS",
    "IrreducibleMesh",
    "WignerKappa",
    "combine_scattering_rates",
    "irreducible_mesh",
    "lattice_phase_dynamical_matrix",
    "mode_heat_capacity_J_K",
    "point_group_cartesian",
    "velocity_operator",
    "wigner_kappa",
]

_HBAR_JS = 1.054571817e-34
_KB_J_K = 1.380649e-23
# C [J/K] * v^2 [(THz A)^2 = 1e4 m^2/s^2] * L [ps = 1e-12 s] / V [A^3 = 1e-30 m^3] -> W/(m K)
_KAPPA_UNIT = 1e4 * 1e-12 / 1e-30

#: accepted values of ``velocity_operator(..., velocity_convention=...)`` (see the module docstring)
VELOCITY_CONVENTIONS = ("crystal", "lattice_phase", "lattice_phase_real")


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


def velocity_operator(phonon, qpoints_frac, *, gv_delta_q: float | None = None,
                      velocity_convention: str = "crystal"):
    """Frequencies (THz) and velocity operator (THz*Angstrom) at q-points.

    ``phonon``: a phonopy.Phonopy with force constants (or a Phono3py whose ``dynamical_matrix``
    is initialised). Returns (frequencies_THz (n_q, n_b), v (n_q, 3, n_b, n_b) complex).
    ``velocity_convention``: ``"crystal"`` (default; phono3py's ``VelocityMatrix``, atomic-position
    Fourier phases, the correct operator), ``"lattice_phase"`` (lattice-vector phases only, as
    ShengBTE builds D(q), differentiated in that gauge) or ``"lattice_phase_real"`` (the same with
    the off-diagonal elements replaced by their real part, as ShengBTE-derived Wigner add-ons do);
    formulas in the module docstring. The diagonal (group velocities) is the same in all three.
    ``gv_delta_q`` (finite-difference q step) is only available for ``"crystal"``.
    """
    if velocity_convention not in VELOCITY_CONVENTIONS:
        raise ValueError(f"velocity_convention must be one of {', '.join(VELOCITY_CONVENTIONS)}, "
                         f"got {velocity_convention!r}")
    if velocity_convention != "crystal":
        if gv_delta_q is not None:
            raise ValueError(f"gv_delta_q (finite differences) is only implemented for the crystal convention, "
                             f"not {velocity_convention!r}")
        return _lattice_phase_velocity_operator(phonon, qpoints_frac,
                                                real_off_diagonal=velocity_convention == "lattice_phase_real")
    from phono3py.phonon.velocity_matrix import VelocityMatrix

    dynmat = phonon.dynamical_matrix
    if dynmat is None:
        raise ValueError("phonon object has no dynamical matrix: produce or set force constants first")
    rots, rots_cart = _point_group_of(phonon.primitive)
    # reciprocal-space operations r^T act on reduced q; their Cartesian form is (A r A^-1)^T
    vm = VelocityMatrix(dynmat, q_length=gv_delta_q, frequency_factor_to_THz=phonon.unit_conversion_factor,
                        rotations_cartesian=rots_cart.transpose(0, 2, 1),
                        reciprocal_operations=rots.transpose(0, 2, 1).copy())
    q = np.atleast_2d(np.asarray(qpoints_frac, dtype=float))
    vm.run(q)  # degenerate subspaces rotated along the (1, 2, 3) direction, as in phono3py
    # (phono3py's run() also projects the diagonal of each matrix onto the little group of q: its
    # group velocities are a view of that diagonal)
    freqs = []
    for qq in q:
        dynmat.run(qq)
        ev = np.linalg.eigvalsh(dynmat.dynamical_matrix)
        freqs.append(np.sign(ev) * np.sqrt(np.abs(ev)) * phonon.unit_conversion_factor)
    return np.asarray(freqs), np.asarray(vm.velocity_matrices)


def _point_group_of(prim):
    """spglib's integer rotations of the primitive cell and their Cartesian form A r A^-1."""
    import spglib

    lattice, pos, num = _cell_tuple(prim)
    rots = np.unique(spglib.get_symmetry((lattice, pos, num))["rotations"], axis=0)
    A = lattice.T
    return rots, np.einsum("ij,rjk,kl->ril", A, rots, np.linalg.inv(A))


def _little_group_projector(q, rots, rots_cart, tol: float = 1e-5):
    """phono3py's ``VelocityMatrix._get_projector``: mean Cartesian rotation of the little group of q."""
    q_bz = q - np.rint(q)
    P = np.zeros((3, 3))
    n = 0
    for r, rc in zip(rots.transpose(0, 2, 1), rots_cart.transpose(0, 2, 1), strict=True):
        if (np.abs(q_bz - r @ q_bz) < tol).all():
            P += rc
            n += 1
    return P / n


def lattice_phase_dynamical_matrix(phonon, q_frac):
    """The dynamical matrix with lattice-vector phases only, and its Cartesian q-derivative.

    D^L = U D^c U^+ and dD^L/dq_a = U dD^c/dq_a U^+ + 2 pi i [T_a, D^L] (module docstring), from
    phonopy's crystal-convention D^c and its analytic derivative. Returns (D^L (n_b, n_b),
    dD^L (3, n_b, n_b)) in THz^2 and THz^2*Angstrom (eigenvalues are f^2). ``q_frac``: reduced
    coordinates.
    """
    DL, dDL = _lattice_phase_dm_raw(phonon, q_frac)
    fac2 = phonon.unit_conversion_factor ** 2
    return DL * fac2, dDL * fac2


def _lattice_phase_dm_raw(phonon, q_frac):
    """D^L and dD^L/dq in phonopy's internal units (for tau = 0 exactly phonopy's D and dD/dq)."""
    from phonopy.harmonic.derivative_dynmat import DerivativeOfDynamicalMatrix

    dynmat = phonon.dynamical_matrix
    if dynmat is None:
        raise ValueError("phonon object has no dynamical matrix: produce or set force constants first")
    q = np.asarray(q_frac, dtype=float).reshape(3)
    prim = dynmat.primitive
    tau_frac = np.asarray(prim.scaled_positions, float)
    tau_cart = tau_frac @ np.asarray(prim.cell, float)
    dynmat.run(q)
    Dc = np.array(dynmat.dynamical_matrix)
    ddm = DerivativeOfDynamicalMatrix(dynmat)
    ddm.run(q)
    dDc = np.array(ddm.d_dynamical_matrix)[:3]
    u = np.repeat(np.exp(2j * np.pi * (tau_frac @ q)), 3)
    DL = u[:, None] * Dc * u.conj()[None, :]
    t = np.repeat(tau_cart, 3, axis=0)  # (n_b, 3): position of the atom of each row
    comm = (t.T[:, :, None] - t.T[:, None, :]) * DL[None]  # [T_a, D^L]
    dDL = u[None, :, None] * dDc * u.conj()[None, None, :] + 2j * np.pi * comm
    return DL, dDL


def _lattice_phase_velocity_operator(phonon, qpoints_frac, *, real_off_diagonal: bool,
                                     cutoff_frequency_THz: float = 1e-4):
    """Velocity operator of D^L in the eigenbasis of D^L (``velocity_operator``'s lattice conventions).

    The same arithmetic as phono3py's ``VelocityMatrix`` (eigenvectors from ``numpy.linalg.eigh``,
    degenerate subspaces rotated to diagonalise dD along the Cartesian (1, 2, 3) direction, modes
    below ``cutoff_frequency_THz`` zeroed, the result made Hermitian, the diagonal (group
    velocities) projected onto the little group of q), applied to D^L; for a cell whose atoms all
    sit at the origin (tau = 0) it returns phono3py's numbers.
    """
    from phonopy.phonon.degeneracy import degenerate_sets

    factor = phonon.unit_conversion_factor
    q = np.atleast_2d(np.asarray(qpoints_frac, dtype=float))
    direction = np.array([1, 2, 3], dtype="double")
    direction /= np.linalg.norm(direction)
    rots, rots_cart = _point_group_of(phonon.primitive)
    freqs, vms = [], []
    for qq in q:
        DL, dDL = _lattice_phase_dm_raw(phonon, qq)
        ev, e = np.linalg.eigh(DL)
        f = np.sqrt(abs(ev)) * np.sign(ev) * factor
        d_dir = np.zeros(DL.shape, dtype="cdouble")
        for j in range(3):
            d_dir += direction[j] * dDL[j]
        rot = np.zeros_like(e)
        for deg in degenerate_sets(f):
            sub = e[:, deg]
            _, w = np.linalg.eigh(sub.T.conj() @ d_dir @ sub)
            rot[:, deg] = sub @ w
        scale = np.zeros_like(f)
        mask = f > cutoff_frequency_THz
        scale[mask] = 1 / np.sqrt(2 * f[mask])
        rot *= scale
        v = np.zeros((3,) + e.shape, dtype="cdouble")
        for a in range(3):
            v[a] = rot.T.conj() @ dDL[a] @ rot
        v = (v + v.transpose(0, 2, 1).conj()) / 2 * factor**2
        gv = np.einsum("aii->ia", v).real @ _little_group_projector(qq, rots, rots_cart).T
        idx = np.arange(v.shape[1])
        v[:, idx, idx] = gv.T  # the diagonal is real (Hermitian matrix)
        if real_off_diagonal:  # the diagonal of a Hermitian matrix is real already
            v = v.real.astype(complex)
        ev_only = np.linalg.eigvalsh(DL)  # returned frequencies: as the crystal path computes them
        freqs.append(np.sign(ev_only) * np.sqrt(np.abs(ev_only)) * factor)
        vms.append(v)
    return np.asarray(freqs), np.asarray(vms)


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
