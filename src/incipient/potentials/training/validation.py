"""Validate a (trained) potential against an oracle: parity of E/F/stress, per-species errors, lattice, phonon DOS.

Own code for the error statistics, the DOS histogram and the figure; relaxation wraps ASE
(``incipient.structures.relax``: FrechetCellFilter + FIRE) and the harmonic phonons wrap phonopy
(finite displacements, ``incipient.lattice.phonons.make_phonopy``). The figure is of the kind of a
paper's MLIP validation figure: energy and force parity, errors per species, the phonon DOS of the
two potentials and their lattice constants.

Definitions (potential minus oracle, over the given configurations):

* energy: per atom, ``dE_k = (E_pot,k - E_orc,k) / N_k``; RMSE = sqrt(<dE^2>), MAE = <|dE|>, meV/atom;
* forces: per Cartesian component of every atom, RMSE and MAE in meV/A, also per species;
* stress: the six Voigt components (ASE order and sign) of periodic configurations, GPa;
* lattice: both potentials relax ``structure`` (positions and cell) from the same start; the
  lengths a, b, c (A) and angles are compared;
* DOS: for each relaxed cell, phonopy force constants from displacements of
  ``displacement_A`` in ``supercell``, frequencies on a Gamma-centred ``dos_mesh`` (no symmetry
  reduction), Gaussian smearing ``dos_sigma_THz``, normalised to 3 x (atoms in ``structure``)
  states. Imaginary frequencies are plotted and stored as negative numbers (phonopy's
  convention); modes below -``imaginary_tol_THz`` are counted as imaginary and reported in
  ``notes``. A 0 K harmonic DOS of a structure at a saddle point (e.g. an ion in a double well)
  is not meaningful beyond showing that instability.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from incipient.errors import InputError
from incipient.results import Result, atomic_write_text

log = logging.getLogger(__name__)

__all__ = ["PotentialValidation", "validate_potential"]


@dataclass(frozen=True)
class PotentialValidation(Result):
    """Errors of a potential against an oracle (see the module docstring for the definitions).

    Per-configuration and per-atom arrays (potential = the validated one, oracle = reference):
    n_atoms (n_conf,); energy_oracle_eV_atom, energy_potential_eV_atom (n_conf,);
    force_oracle_eV_A, force_potential_eV_A (n_atoms_total, 3); force_species (n_atoms_total,)
    int, index into ``species``; stress_oracle_GPa, stress_potential_GPa (n_periodic, 6), Voigt.
    Lattice (empty arrays without a structure): lattice_oracle_A, lattice_potential_A (3,) a, b, c;
    angles_oracle_deg, angles_potential_deg (3,). DOS: dos_frequency_THz (n_bins,),
    dos_oracle_states_THz, dos_potential_states_THz (n_bins,) states per THz per cell;
    min_frequency_*_THz (lowest mode on the mesh, negative = imaginary); n_imaginary_* (modes
    below -imaginary_tol_THz on the mesh). notes: plain-language findings (imaginary modes,
    unconverged relaxations, missing labels); imaginary_tol_THz: the threshold used.
    """

    species: tuple
    potential_name: str
    oracle_name: str
    n_atoms: np.ndarray
    energy_oracle_eV_atom: np.ndarray
    energy_potential_eV_atom: np.ndarray
    force_oracle_eV_A: np.ndarray
    force_potential_eV_A: np.ndarray
    force_species: np.ndarray
    stress_oracle_GPa: np.ndarray
    stress_potential_GPa: np.ndarray
    energy_rmse_meV_atom: float
    energy_mae_meV_atom: float
    force_rmse_meV_A: float
    force_mae_meV_A: float
    force_rmse_per_species_meV_A: np.ndarray
    force_mae_per_species_meV_A: np.ndarray
    stress_rmse_GPa: float
    stress_mae_GPa: float
    lattice_oracle_A: np.ndarray
    lattice_potential_A: np.ndarray
    angles_oracle_deg: np.ndarray
    angles_potential_deg: np.ndarray
    dos_frequency_THz: np.ndarray
    dos_oracle_states_THz: np.ndarray
    dos_potential_states_THz: np.ndarray
    min_frequency_oracle_THz: float
    min_frequency_potential_THz: float
    n_imaginary_oracle: int
    n_imaginary_potential: int
    n_modes_mesh: int
    supercell: tuple
    dos_mesh: tuple
    notes: tuple = ()
    imaginary_tol_THz: float = 0.05

    @property
    def n_configurations(self) -> int:
        return int(self.n_atoms.size)

    @property
    def has_structure(self) -> bool:
        return self.lattice_oracle_A.size == 3

    def summary(self) -> str:
        """The headline numbers in a few lines."""
        out = [f"{self.potential_name} vs {self.oracle_name}: {self.n_configurations} configurations, "
               f"{self.force_species.size} atoms",
               f"  energy RMSE {self.energy_rmse_meV_atom:.3f} meV/atom (MAE {self.energy_mae_meV_atom:.3f})",
               f"  force  RMSE {self.force_rmse_meV_A:.2f} meV/A (MAE {self.force_mae_meV_A:.2f}); per species: "
               + ", ".join(f"{s} {v:.2f}" for s, v in zip(self.species, self.force_rmse_per_species_meV_A,
                                                          strict=True))]
        if self.stress_oracle_GPa.size:
            out.append(f"  stress RMSE {self.stress_rmse_GPa:.4f} GPa (MAE {self.stress_mae_GPa:.4f})")
        if self.has_structure:
            out.append("  lattice (A)  oracle " + " ".join(f"{x:.4f}" for x in self.lattice_oracle_A)
                       + "  potential " + " ".join(f"{x:.4f}" for x in self.lattice_potential_A))
            out.append(f"  lowest mode (THz): oracle {self.min_frequency_oracle_THz:.3f}, potential "
                       f"{self.min_frequency_potential_THz:.3f}; imaginary modes on the mesh: oracle "
                       f"{self.n_imaginary_oracle}/{self.n_modes_mesh}, potential "
                       f"{self.n_imaginary_potential}/{self.n_modes_mesh}")
        out += [f"  note: {n}" for n in self.notes]
        return "\n".join(out)

    # -- npz round trip (arrays as arrays; the rest as JSON metadata) --------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write to ``path`` (``.npz``; atomic): arrays natively, scalars and strings as JSON."""
        path = Path(path)
        arrays, meta = {}, {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                arrays[f.name] = v
            else:
                meta[f.name] = list(v) if isinstance(v, tuple) else v
        buf = io.BytesIO()
        np.savez(buf, __meta__=np.str_(json.dumps({"type": type(self).__name__, "fields": meta})), **arrays)
        atomic_write_text(path, buf.getvalue())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> PotentialValidation:
        path = Path(path)
        try:
            z = np.load(path, allow_pickle=False)
            meta = json.loads(str(z["__meta__"]))
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"cannot read a saved {cls.__name__} ({exc})", source=path) from None
        if meta.get("type") != cls.__name__:
            raise InputError(f"holds a {meta.get('type')!r}, not a {cls.__name__}", source=path)
        kw = {k: z[k] for k in z.files if k != "__meta__"}
        for k, v in meta["fields"].items():
            kw[k] = tuple(v) if isinstance(v, list) else v
        return cls(**kw)

    # -- figure ---------------------------------------------------------------------------------
    def plot(self, path: str | os.PathLike | None = None, *, dpi: int = 300):
        """Multi-panel figure: E parity, F parity by species, per-species force errors, stress
        parity, and with a structure the phonon DOS overlay and the lattice-constant table.
        Returns the figure (and writes it to ``path`` when given)."""
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        rc = {"font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8.5, "legend.fontsize": 7,
              "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.linewidth": 0.7, "xtick.direction": "in",
              "ytick.direction": "in", "xtick.top": True, "ytick.right": True, "savefig.dpi": dpi}
        colours = plt.get_cmap("tab10").colors
        c_orc, c_pot = "0.15", "#d62728"
        with plt.rc_context(rc):
            if self.has_structure:
                fig, axes = plt.subplots(2, 3, figsize=(7.2, 4.9))
                axes = axes.ravel()
            else:
                fig, axes = plt.subplots(1, 4, figsize=(7.2, 2.2))
            ax_e, ax_f, ax_s, ax_st = axes[:4]

            def parity(ax, x, y, label, unit, scale, *, c=None, rmse=None, mae=None, what=""):
                lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
                pad = 0.05 * (hi - lo or 1.0)
                lo, hi = lo - pad, hi + pad
                ax.plot([lo, hi], [lo, hi], color="0.55", lw=0.7, ls="--", zorder=1)
                if c is None:
                    ax.scatter(x, y, s=7, color=colours[0], alpha=0.7, lw=0, rasterized=True, zorder=2)
                else:
                    for k, sp in enumerate(self.species):
                        m = c == k
                        if m.any():
                            ax.scatter(x[m], y[m], s=3, color=colours[k % 10], alpha=0.45, lw=0, rasterized=True,
                                       label=sp, zorder=2 + k)
                    leg = ax.legend(loc="lower right", markerscale=2.5, handletextpad=0.2, borderpad=0.3,
                                    frameon=False)
                    for h in leg.legend_handles:
                        h.set_alpha(1)
                ax.set_xlim(lo, hi)
                ax.set_ylim(lo, hi)
                ax.set_aspect("equal", adjustable="box")
                ax.xaxis.set_major_locator(MaxNLocator(4))
                ax.yaxis.set_major_locator(MaxNLocator(4))
                ax.set_xlabel(f"{label} oracle ({unit})")
                ax.set_ylabel(f"{label} potential ({unit})")
                ax.text(0.04, 0.96, f"RMSE {rmse * scale:.3g} {what}\nMAE {mae * scale:.3g} {what}",
                        transform=ax.transAxes, va="top", ha="left", fontsize=7)

            parity(ax_e, self.energy_oracle_eV_atom, self.energy_potential_eV_atom, "E", "eV/atom", 1.0,
                   rmse=self.energy_rmse_meV_atom, mae=self.energy_mae_meV_atom, what="meV/atom")
            ax_e.set_title("Energy per atom")
            spc = np.repeat(self.force_species, 3)
            parity(ax_f, self.force_oracle_eV_A.ravel(), self.force_potential_eV_A.ravel(), "F", "eV/Å", 1.0,
                   c=spc, rmse=self.force_rmse_meV_A, mae=self.force_mae_meV_A, what="meV/Å")
            ax_f.set_title("Force components")

            idx = np.arange(len(self.species))
            w = 0.38
            ax_s.bar(idx - w / 2, self.force_rmse_per_species_meV_A, w, color=[colours[k % 10] for k in idx],
                     edgecolor="0.1", lw=0.5, label="RMSE")
            ax_s.bar(idx + w / 2, self.force_mae_per_species_meV_A, w, color=[colours[k % 10] for k in idx],
                     edgecolor="0.1", lw=0.5, hatch="////", alpha=0.55, label="MAE")
            top = float(np.nanmax(self.force_rmse_per_species_meV_A, initial=0))
            top = top if top > 1e-9 else 1.0  # identical potentials: a readable empty axis
            for k in idx:
                if not np.isfinite(self.force_rmse_per_species_meV_A[k]):
                    continue
                ax_s.text(k - w / 2, self.force_rmse_per_species_meV_A[k] + 0.02 * top,
                          f"{self.force_rmse_per_species_meV_A[k]:.3g}", ha="center", va="bottom", fontsize=6.5)
            ax_s.set_xticks(idx, self.species)
            ax_s.set_ylim(0, 1.18 * top)
            ax_s.set_ylabel("force error (meV/Å)")
            ax_s.set_title("Force error per species")
            ax_s.legend(frameon=False, loc="upper left")

            if self.stress_oracle_GPa.size:
                parity(ax_st, self.stress_oracle_GPa.ravel(), self.stress_potential_GPa.ravel(), "σ", "GPa", 1.0,
                       rmse=self.stress_rmse_GPa, mae=self.stress_mae_GPa, what="GPa")
            else:
                ax_st.text(0.5, 0.5, "no stress labels", ha="center", va="center", transform=ax_st.transAxes)
                ax_st.set_xticks([])
                ax_st.set_yticks([])
            ax_st.set_title("Stress components")

            if self.has_structure:
                ax_d, ax_t = axes[4], axes[5]
                f = self.dos_frequency_THz
                top_d = 1.3 * float(max(self.dos_oracle_states_THz.max(), self.dos_potential_states_THz.max()))
                ax_d.fill_between(f, self.dos_oracle_states_THz, color=c_orc, alpha=0.18, lw=0)
                ax_d.plot(f, self.dos_oracle_states_THz, color=c_orc, lw=1.0, label="oracle")
                ax_d.plot(f, self.dos_potential_states_THz, color=c_pot, lw=1.0, ls="--", label="potential")
                if min(self.n_imaginary_oracle, 1) + min(self.n_imaginary_potential, 1):
                    ax_d.axvspan(f.min(), 0, color="#9ecae1", alpha=0.25, lw=0)
                    ax_d.text(0.5 * f.min(), 0.97 * top_d, "imag.\n(< 0)", va="top", ha="center",
                              fontsize=6.5, color="#3182bd")
                ax_d.axvline(0, color="0.5", lw=0.5)
                ax_d.set_xlim(f.min(), f.max())
                ax_d.set_ylim(0, top_d)
                ax_d.set_xlabel("frequency (THz)")
                ax_d.set_ylabel("DOS (states/THz/cell)")
                ax_d.set_title("Phonon DOS (relaxed cells)")
                ax_d.legend(frameon=False, loc="upper right")

                ax_t.axis("off")
                rows = []
                for k, name in enumerate("abc"):
                    o, p = self.lattice_oracle_A[k], self.lattice_potential_A[k]
                    rows.append([f"{name} (Å)", f"{o:.4f}", f"{p:.4f}", f"{100 * (p - o) / o:+.2f}"])
                for k, name in enumerate(("α", "β", "γ")):
                    o, p = self.angles_oracle_deg[k], self.angles_potential_deg[k]
                    if abs(o - 90) > 1e-3 or abs(p - 90) > 1e-3:
                        rows.append([f"{name} (°)", f"{o:.3f}", f"{p:.3f}", f"{100 * (p - o) / o:+.2f}"])
                rows.append(["min ν (THz)", f"{self.min_frequency_oracle_THz:.2f}",
                             f"{self.min_frequency_potential_THz:.2f}", ""])
                rows.append(["imaginary", f"{100 * self.n_imaginary_oracle / self.n_modes_mesh:.1f}%",
                             f"{100 * self.n_imaginary_potential / self.n_modes_mesh:.1f}%", ""])
                tab = ax_t.table(cellText=rows, colLabels=["", "oracle", "potential", "Δ (%)"],
                                 loc="upper center", cellLoc="center", colLoc="center",
                                 colWidths=[0.31, 0.25, 0.25, 0.19], bbox=[0.0, 0.3, 1.0, 0.68])
                tab.auto_set_font_size(False)
                tab.set_fontsize(6.8)
                for (r, _c), cell in tab.get_celld().items():
                    cell.set_linewidth(0.4)
                    if r == 0:
                        cell.set_facecolor("0.92")
                ax_t.set_title("Relaxed lattice, stability")
                m = "x".join(str(int(x)) for x in self.dos_mesh)
                s = "x".join(str(int(x)) for x in self.supercell)
                import textwrap

                caption = "\n".join(textwrap.wrap(f"oracle: {self.oracle_name}", 42)
                                    + textwrap.wrap(f"potential: {self.potential_name}", 42)
                                    + textwrap.wrap(f"{s} supercell, {m} q-mesh; imag. modes: share below "
                                                    f"{-self.imaginary_tol_THz:g} THz", 42))
                ax_t.text(0.5, 0.22, caption, transform=ax_t.transAxes, ha="center", va="top", fontsize=6.5,
                          color="0.3")

            for k, ax in enumerate(axes):
                ax.set_title(f"({chr(97 + k)})  {ax.get_title()}", loc="left")
                ax.set_title("")
            if self.has_structure:
                fig.subplots_adjust(left=0.08, right=0.985, bottom=0.085, top=0.95, wspace=0.42, hspace=0.42)
            else:
                fig.subplots_adjust(left=0.07, right=0.99, bottom=0.2, top=0.88, wspace=0.45)
            if path is not None:
                fig.savefig(path, dpi=dpi, bbox_inches="tight")
        return fig


def _name(calc) -> str:
    return getattr(calc, "name", None) or type(calc).__name__


def _labels(atoms, oracle_calc, relabel: bool):
    """(energy, forces, stress or None) of ``atoms`` from its stored results, else from the oracle."""
    from ase.stress import full_3x3_to_voigt_6_stress

    res = dict(getattr(atoms.calc, "results", {}) or {}) if atoms.calc is not None else {}
    if relabel or "energy" not in res or "forces" not in res:
        if oracle_calc is None:
            return None
        a = atoms.copy()
        a.calc = oracle_calc
        e, f = float(a.get_potential_energy()), np.array(a.get_forces())
        s = np.array(a.get_stress()) if np.all(a.pbc) else None
        return e, f, s
    s = res.get("stress")
    if s is not None:
        s = np.asarray(s, dtype=float)
        if s.shape == (3, 3):
            s = full_3x3_to_voigt_6_stress(s)
    return float(res["energy"]), np.array(res["forces"], dtype=float), s if np.all(atoms.pbc) else None


def _rmse_mae(d: np.ndarray) -> tuple[float, float]:
    if d.size == 0:
        return float("nan"), float("nan")
    return float(np.sqrt(np.mean(d ** 2))), float(np.mean(np.abs(d)))


def _phonon_frequencies(atoms, calc, supercell, mesh, displacement_A):
    """Frequencies (n_q, 3n) THz and weights on a Gamma-centred mesh (no symmetry) of ``atoms`` with ``calc``."""
    from incipient.lattice.phonons import make_phonopy, set_displacement_forces

    ph = make_phonopy(atoms, supercell)
    ph.generate_displacements(distance=displacement_A)
    set_displacement_forces(ph, calc)
    ph.produce_force_constants()
    ph.run_mesh(mesh, is_mesh_symmetry=False, is_gamma_center=True)
    return np.asarray(ph.mesh.frequencies), np.asarray(ph.mesh.weights, dtype=float)


def _dos(freqs, weights, grid, sigma):
    f = freqs.ravel()
    w = np.repeat(weights, freqs.shape[1]) / weights.sum()
    g = np.exp(-0.5 * ((grid[:, None] - f[None, :]) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    return g @ w  # integrates to 3 n_atoms (modes per cell): each q point has 3n modes


def validate_potential(potential_calc, oracle_calc, configurations, *, species, structure=None,
                       supercell=(2, 2, 2), dos_mesh=(8, 8, 8), dos_sigma_THz: float = 0.1,
                       displacement_A: float = 0.01, relax_fmax_eV_A: float = 1e-3, relax_steps: int = 2000,
                       relabel: bool = False, imaginary_tol_THz: float = 0.05, potential_name: str | None = None,
                       oracle_name: str | None = None, progress: bool = True) -> PotentialValidation:
    """Compare ``potential_calc`` with ``oracle_calc`` (both ASE calculators) on ``configurations``.

    Parameters
    ----------
    configurations : ASE Atoms; each keeps its oracle labels (a SinglePointCalculator with
        energy and forces, stress for periodic cells) or is labelled here by ``oracle_calc``
        (always with ``relabel=True``). ``oracle_calc`` may be None when every configuration is
        labelled (then ``structure`` must be None).
    species : chemical symbols of the per-species statistics (every atom must be one of them).
    structure : optional ASE Atoms relaxed by both potentials (lattice constants) whose relaxed
        cells give the phonon DOS (phonopy, ``supercell`` repeat, ``dos_mesh``).
    dos_sigma_THz, displacement_A, relax_fmax_eV_A, relax_steps : DOS smearing, phonopy
        displacement, relaxation force tolerance and step limit.
    imaginary_tol_THz : modes below minus this on the mesh count as imaginary.
    progress : a tqdm bar over the configurations.
    """
    from tqdm.auto import tqdm

    species = tuple(species)
    confs = list(configurations)
    if not confs:
        raise InputError("validate_potential: no configurations given")
    if structure is not None and oracle_calc is None:
        raise InputError("validate_potential: a structure needs the oracle calculator (relaxation and phonons)")
    sp_index = {s: k for k, s in enumerate(species)}
    notes = []
    n_at, e_o, e_p, f_o, f_p, f_s, s_o, s_p = [], [], [], [], [], [], [], []
    unlabelled = 0
    for k, atoms in enumerate(tqdm(confs, disable=not progress, desc="validate", unit="conf")):
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(species))
        if unknown:
            raise InputError(f"configuration {k} contains {', '.join(unknown)}, not in species {list(species)}")
        lab = _labels(atoms, oracle_calc, relabel)
        if lab is None:
            unlabelled += 1
            continue
        e, f, s = lab
        a = atoms.copy()
        a.calc = potential_calc
        ep, fp = float(a.get_potential_energy()), np.array(a.get_forces())
        n = len(a)
        n_at.append(n)
        e_o.append(e / n)
        e_p.append(ep / n)
        f_o.append(f)
        f_p.append(fp)
        f_s.append([sp_index[x] for x in a.get_chemical_symbols()])
        if s is not None:
            from incipient.units import eV_A3_to_GPa

            s_o.append(np.asarray(s) * eV_A3_to_GPa)
            s_p.append(np.array(a.get_stress()) * eV_A3_to_GPa)
    if unlabelled:
        if not n_at:
            raise InputError("validate_potential: no configuration carries energy and forces and no oracle was given")
        notes.append(f"{unlabelled} configurations without labels skipped")
    f_o, f_p = np.concatenate(f_o), np.concatenate(f_p)
    f_s = np.concatenate([np.asarray(x, dtype=np.int64) for x in f_s])
    e_o, e_p = np.array(e_o), np.array(e_p)
    s_o = np.array(s_o).reshape(-1, 6)
    s_p = np.array(s_p).reshape(-1, 6)
    e_rmse, e_mae = _rmse_mae(1e3 * (e_p - e_o))
    df = 1e3 * (f_p - f_o)
    f_rmse, f_mae = _rmse_mae(df)
    per = np.array([_rmse_mae(df[f_s == k]) for k in range(len(species))]).reshape(-1, 2)
    st_rmse, st_mae = _rmse_mae(s_p - s_o)

    empty = np.zeros(0)
    lat_o = lat_p = ang_o = ang_p = empty
    grid = dos_o = dos_p = empty
    fmin_o = fmin_p = float("nan")
    n_im_o = n_im_p = n_modes = 0
    if structure is not None:
        from incipient.structures.relax import relax

        relaxed = {}
        for who, calc in (("oracle", oracle_calc), ("potential", potential_calc)):
            r_atoms, rr = relax(structure, calc, fmax_eV_A=relax_fmax_eV_A, max_steps=relax_steps)
            if not rr.converged:
                notes.append(f"{who}: relaxation not converged in {rr.steps} steps (max force "
                             f"{rr.max_force_eV_A:.2g} eV/A)")
            notes += [f"{who}: {w}" for w in rr.warnings]
            r_atoms.calc = None
            relaxed[who] = r_atoms
        lat_o, lat_p = (np.array(relaxed[w].cell.lengths()) for w in ("oracle", "potential"))
        ang_o, ang_p = (np.array(relaxed[w].cell.angles()) for w in ("oracle", "potential"))
        fr_o, w_o = _phonon_frequencies(relaxed["oracle"], oracle_calc, supercell, dos_mesh, displacement_A)
        fr_p, w_p = _phonon_frequencies(relaxed["potential"], potential_calc, supercell, dos_mesh, displacement_A)
        lo = min(fr_o.min(), fr_p.min(), 0.0) - 4 * dos_sigma_THz
        hi = max(fr_o.max(), fr_p.max()) + 4 * dos_sigma_THz
        grid = np.linspace(lo, hi, 801)
        dos_o, dos_p = _dos(fr_o, w_o, grid, dos_sigma_THz), _dos(fr_p, w_p, grid, dos_sigma_THz)
        fmin_o, fmin_p = float(fr_o.min()), float(fr_p.min())
        n_modes = int(fr_o.size)
        n_im_o, n_im_p = int((fr_o < -imaginary_tol_THz).sum()), int((fr_p < -imaginary_tol_THz).sum())
        for who, n_im, fmin in (("oracle", n_im_o, fmin_o), ("potential", n_im_p, fmin_p)):
            if n_im:
                notes.append(f"{who}: {n_im} of {n_modes} modes on the {'x'.join(map(str, dos_mesh))} mesh are "
                             f"imaginary (lowest {fmin:.2f} THz, plotted as negative): the relaxed structure is "
                             "not a minimum of this potential at 0 K")
    res = PotentialValidation(
        species=species, potential_name=potential_name or _name(potential_calc),
        oracle_name=oracle_name or (_name(oracle_calc) if oracle_calc is not None else "oracle"),
        n_atoms=np.array(n_at, dtype=np.int64), energy_oracle_eV_atom=e_o, energy_potential_eV_atom=e_p,
        force_oracle_eV_A=f_o, force_potential_eV_A=f_p, force_species=f_s, stress_oracle_GPa=s_o,
        stress_potential_GPa=s_p, energy_rmse_meV_atom=e_rmse, energy_mae_meV_atom=e_mae,
        force_rmse_meV_A=f_rmse, force_mae_meV_A=f_mae, force_rmse_per_species_meV_A=per[:, 0],
        force_mae_per_species_meV_A=per[:, 1], stress_rmse_GPa=st_rmse, stress_mae_GPa=st_mae,
        lattice_oracle_A=lat_o, lattice_potential_A=lat_p, angles_oracle_deg=ang_o, angles_potential_deg=ang_p,
        dos_frequency_THz=grid, dos_oracle_states_THz=dos_o, dos_potential_states_THz=dos_p,
        min_frequency_oracle_THz=fmin_o, min_frequency_potential_THz=fmin_p, n_imaginary_oracle=n_im_o,
        n_imaginary_potential=n_im_p, n_modes_mesh=n_modes, supercell=tuple(int(x) for x in np.ravel(supercell)),
        dos_mesh=tuple(int(x) for x in dos_mesh), notes=tuple(notes), imaginary_tol_THz=float(imaginary_tol_THz),
    )
    for n in notes:
        log.warning("%s", n)
    return res
