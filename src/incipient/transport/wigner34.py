"""Wigner conductivity with three- and four-phonon scattering (kappa_p + kappa_c, 3ph vs 3+4ph).

Glue over the pieces: phono3py gives the 3ph and isotope linewidths on its irreducible mesh,
``fourphonon.four_phonon_rates`` the (exact or sampled) 4ph rates on the same mesh, and
``wigner_assembly.wigner_kappa`` assembles eqs. 4-5 from frequencies, the velocity operator and
the Matthiessen sum of the rates. The sampling error of the 4ph rates is carried to kappa by
replicas (rates redrawn within their standard errors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from incipient.results import Result


@dataclass(frozen=True)
class Wigner34Result(Result):
    """kappa tensors' diagonals (x, y, z) in W/m/K per temperature, 3ph and 3+4ph.

    temperatures_K (nT,); kappa_p_3ph, kappa_c_3ph, kappa_p_34ph, kappa_c_34ph (nT, 3);
    kappa_p_34ph_err, kappa_c_34ph_err (nT, 3): 4ph sampling error (replicas);
    mesh, n_samples (q-pairs per q-point, 0 = exact), scalebroad; n_dropped_modes: modes with
    imaginary or near-zero frequency left out; wall_3ph_s, wall_4ph_s.
    """

    temperatures_K: np.ndarray
    kappa_p_3ph: np.ndarray
    kappa_c_3ph: np.ndarray
    kappa_p_34ph: np.ndarray
    kappa_c_34ph: np.ndarray
    kappa_p_34ph_err: np.ndarray
    kappa_c_34ph_err: np.ndarray
    mesh: tuple
    n_samples: int
    scalebroad: float
    n_dropped_modes: int
    wall_3ph_s: float
    wall_4ph_s: float

    def alpha(self, which: str = "34ph") -> np.ndarray:
        """T exponent of kappa_p + kappa_c per direction (log-log least squares)."""
        k = (self.kappa_p_34ph + self.kappa_c_34ph) if which == "34ph" else (self.kappa_p_3ph + self.kappa_c_3ph)
        lt = np.log(self.temperatures_K)
        return np.array([np.polyfit(lt, np.log(k[:, i]), 1)[0] for i in range(3)])

    def plot(self):
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
        T = self.temperatures_K
        a3, a34 = self.alpha("3ph"), self.alpha("34ph")
        for i, ax in enumerate(axes):
            ax.plot(T, self.kappa_p_3ph[:, i] + self.kappa_c_3ph[:, i], "o-", label=f"3ph + c (T^{a3[i]:.2f})")
            ax.errorbar(T, self.kappa_p_34ph[:, i] + self.kappa_c_34ph[:, i],
                        yerr=np.hypot(self.kappa_p_34ph_err[:, i], self.kappa_c_34ph_err[:, i]), fmt="s-",
                        label=f"3+4ph + c (T^{a34[i]:.2f})")
            ax.plot(T, self.kappa_c_34ph[:, i], "s:", color="C1", alpha=0.6, label="kappa_c (3+4ph)")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("T (K)")
            ax.set_title("xyz"[i])
            ax.legend(fontsize=7)
        axes[0].set_ylabel("kappa (W/m/K)")
        fig.suptitle(f"Wigner kappa, mesh {list(self.mesh)}, 4ph q-pairs/q {self.n_samples or 'all'} (Figure 4d-f)")
        fig.tight_layout()
        return fig


def wigner_3ph_4ph(primitive, fc2, fc3, fc4, *, supercell_matrix=(3, 3, 3), mesh=(4, 4, 4),
                   temperatures_K=(300.0, 600.0), n_samples: int | None = 100, scalebroad: float = 1.0,
                   rng: int = 0, symprec: float = 1e-3, n_replicas: int = 8) -> Wigner34Result:
    """kappa_p and kappa_c with 3ph (+isotope) and with 3+4ph rates, on the same mesh.

    primitive : ase.Atoms (masses set); fc2 : array (phonopy order, ``supercell_matrix``) or file;
    fc3 : ShengBTE file / ``ShengBTEFC3``; fc4 : ShengBTE file / ``ShengBTEFC4``.
    n_samples : q-pairs sampled per irreducible q-point for 4ph (None: the exact sum).
    """
    import time

    from incipient.lattice.fc3_convert import shengbte_fc3_to_phono3py
    from incipient.lattice.phonons import make_phono3py, make_phonopy
    from incipient.lattice.phonopy_io import read_fc2
    from incipient.lattice.shengbte import (
        ShengBTEFC3,
        ShengBTEFC4,
        read_shengbte_fc3,
        read_shengbte_fc4,
    )
    from incipient.transport.fourphonon import four_phonon_rates, mesh_phonons
    from incipient.transport.wigner_assembly import (
        point_group_cartesian,
        velocity_operator,
        wigner_kappa,
    )

    fc2 = read_fc2(fc2) if not isinstance(fc2, np.ndarray) else fc2
    fc3 = fc3 if isinstance(fc3, ShengBTEFC3) else read_shengbte_fc3(fc3)
    fc4 = fc4 if isinstance(fc4, ShengBTEFC4) else read_shengbte_fc4(fc4)
    T = [float(t) for t in temperatures_K]
    t0 = time.perf_counter()
    ph3 = make_phono3py(primitive, supercell_matrix, symprec=symprec, fc2=fc2)
    ph3.fc3 = shengbte_fc3_to_phono3py(fc3, ph3).fc3
    ph3.mesh_numbers = list(mesh)
    ph3.init_phph_interaction()
    ph3.run_thermal_conductivity(temperatures=T, transport_type="SMM19", is_isotope=True)
    tc = ph3.thermal_conductivity
    wall3 = time.perf_counter() - t0
    q, w = tc.qpoints, tc.grid_weights
    g3 = 4 * np.pi * np.asarray(tc.gamma[0])  # (nT, nq, nb) 1/ps
    giso = 4 * np.pi * np.asarray(tc.gamma_isotope[0])
    f, v = velocity_operator(ph3, q)
    rots = point_group_cartesian(ph3.primitive, symprec=symprec)
    vol = ph3.primitive.volume
    t1 = time.perf_counter()
    ph = make_phonopy(primitive, supercell_matrix, fc2, symprec=symprec)
    mp = mesh_phonons(ph, list(mesh), imaginary="drop", symprec=symprec)
    r4 = four_phonon_rates(mp, fc4, T, smearing="adaptive", scalebroad=scalebroad, n_samples=n_samples, rng=rng)
    wall4 = time.perf_counter() - t1
    grid = mp.grid
    rep = grid.mapping[grid.index_of(np.rint(np.asarray(q) * np.asarray(mesh)).astype(int))]
    pos = {int(i): k for k, i in enumerate(grid.ir_index)}
    kk = np.array([pos[int(r)] for r in rep])
    valid = f > 0.05
    g4 = np.where(valid[None], r4.rates_per_ps[:, kk], 0.0)
    e4 = np.where(valid[None], r4.rates_stderr_per_ps[:, kk], 0.0)
    k3 = wigner_kappa(f, v, g3 + giso[None], T, vol, weights=w, rotations_cartesian=rots)
    k34 = wigner_kappa(f, v, g3 + giso[None] + g4, T, vol, weights=w, rotations_cartesian=rots)
    gen = np.random.default_rng(rng + 1)
    reps = []
    for _ in range(n_replicas if n_samples else 0):
        kr = wigner_kappa(f, v, g3 + giso[None] + np.maximum(g4 + e4 * gen.standard_normal(g4.shape), 0), T, vol,
                          weights=w, rotations_cartesian=rots)
        reps.append(np.stack([np.einsum("tii->ti", kr.kappa_p), np.einsum("tii->ti", kr.kappa_c)]))
    err = np.std(reps, axis=0) if reps else np.zeros((2, len(T), 3))
    d = lambda a: np.einsum("tii->ti", np.asarray(a))  # noqa: E731
    return Wigner34Result(temperatures_K=np.array(T), kappa_p_3ph=d(k3.kappa_p), kappa_c_3ph=d(k3.kappa_c),
                          kappa_p_34ph=d(k34.kappa_p), kappa_c_34ph=d(k34.kappa_c), kappa_p_34ph_err=err[0],
                          kappa_c_34ph_err=err[1], mesh=tuple(int(m) for m in mesh), n_samples=int(n_samples or 0),
                          scalebroad=float(scalebroad), n_dropped_modes=int((~valid).sum()), wall_3ph_s=wall3, wall_4ph_s=wall4)
