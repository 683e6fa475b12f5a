"""Stage ``spectra``: VACF phonon DOS and S(Q,w) from the MD (with the harmonic modes of the fc2)."""

from __future__ import annotations

import numpy as np

from incipient.workflows.graph import StageContext
from incipient.workflows.stages._common import figure, md_cell_path
from incipient.workflows.summaries import (
    BranchFitSummary,
    ForceConstantsSummary,
    MobilePeak,
    SpectraSummary,
)

SYSTEM_PARTS = ("structure", "mobile", "sqw_paths")
MAX_PATHS = 3


def supports(system, config) -> str | None:
    return None


def _paths(ctx: StageContext, unit_cell, md_cell) -> tuple[dict, list[str]]:
    """The system's S(Q,w) paths, else paths from Gamma to the zone-boundary special points of its
    primitive cell that the MD supercell resolves; with notes on what was left out."""
    from incipient.spectra.paths import default_sqw_paths

    if ctx.system.sqw_paths:
        return dict(ctx.system.sqw_paths), []
    out = default_sqw_paths(unit_cell, md_cell, n_paths=MAX_PATHS)
    return dict(out), list(out.notes)


def run(ctx: StageContext) -> SpectraSummary:
    import ase.io

    from incipient.analysis.vdos import vdos
    from incipient.md.trajectory import read_trajectory
    from incipient.spectra.branches import fit_lowest_branch
    from incipient.spectra.paths import commensurate_path
    from incipient.spectra.sqw import sqw

    system = ctx.system
    species = ctx.config.migration.species or system.mobile_species
    # r.l.u. of the cell the MD ran in (the study cell, or its relaxed version): the MD supercell
    # is an exact multiple of it, so its Q grid is commensurate in these units
    unit_cell = ase.io.read(md_cell_path(ctx))
    ref_cell = unit_cell.cell.array
    fc = ctx.inputs.get("force_constants")
    figs, dos, notes = [], {}, []
    harmonic_ph = None
    branches = {}
    t_low = min(r.temperature_K for r in ctx.inputs["md"].runs)
    for r in ctx.inputs["md"].runs:
        T, seed = r.temperature_K, r.seed
        traj = read_trajectory(r.trajectory)
        d = vdos(traj)
        d.save(ctx.path(f"vdos_T{T:g}K_seed{seed}.json"))
        figs.append(figure(ctx, d.plot(), f"vdos_T{T:g}K_seed{seed}.png",
                           f"VACF phonon DOS at {T:g} K: total, per species and per direction (Figure 3g-i)."))
        g = d.by_direction.get(species)
        f = d.frequency_meV
        band = f > 1.0
        if g is not None and band.sum() >= 3:
            dos[f"{T:g}K"] = MobilePeak(mobile_peak_meV_xyz=[float(f[band][np.argmax(c[band])]) for c in g])
        e_top = 1.15 * float(f[d.total > 0.01 * d.total.max()].max())  # top of the phonon band, meV
        paths, why = _paths(ctx, unit_cell, traj.cell)
        notes += why
        window = max(20, min(400, traj.n_frames // 3))
        for name, (start, end) in paths.items():
            try:
                q = commensurate_path(start, end, ref_cell, traj.cell)
            except ValueError as exc:
                notes.append(f"path {name} skipped: {exc}")
                continue
            if len(q) < 3:
                notes.append(f"path {name} skipped: the MD supercell allows only {len(q)} Q points on it")
                continue
            s = sqw(traj, q, reference_cell=ref_cell, window_size=window, window_step=max(1, window // 4))
            harmonic = None
            if fc is not None and fc.phonopy_params:
                try:
                    from incipient.spectra.harmonic import harmonic_sqe

                    if harmonic_ph is None:
                        harmonic_ph = _phonopy(fc)
                    harmonic = harmonic_sqe(harmonic_ph, q, temperature_K=float(T), reference_cell=ref_cell)
                except Exception as exc:  # the overlay is optional; say why it is missing
                    notes.append(f"harmonic S(Q,E) not overlaid on {name}: {exc}")
            tag = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")
            figs.append(figure(ctx, s.plot(harmonic=harmonic, energy_max_meV=e_top), f"sqw_{tag}_T{T:g}K_seed{seed}.png",
                               f"S(Q,w) from MD along {name} (r.l.u. of the study cell) at {T:g} K, X-ray form factors, "
                               f"{len(q)} Q points" + (" (dots: harmonic modes of the effective fc2)" if harmonic is not None else "")))
            b = fit_lowest_branch(s, temperature_K=float(T), path=name, energy_max_meV=e_top)
            b.save(ctx.path(f"branch_{tag}_T{T:g}K_seed{seed}.npz"))
            ok = b.fitted
            branches.setdefault(name, {})[f"{T:g}K"] = BranchFitSummary(
                q_rlu=b.q_rlu.tolist(), E_c_meV=b.E_c_meV.tolist(), fwhm_meV=b.fwhm_meV.tolist(),
                E_c_err_meV=b.E_c_err_meV.tolist(), fwhm_err_meV=b.fwhm_err_meV.tolist(),
                n_fitted=int(ok.sum()), underdamped_fraction=b.underdamped_fraction)
            if T == t_low and ok.any():
                figs.append(figure(ctx, b.plot(), f"branch_{tag}_T{T:g}K_seed{seed}.png",
                                   f"Lowest branch along {name} at {T:g} K: DHO fit at each Q (eq. 3), E_c with its "
                                   f"error and the FWHM band; {int(ok.sum())} of {len(ok)} Q points fitted; "
                                   f"{100 * b.underdamped_fraction:.0f} % underdamped (E_c > FWHM/2)."))
            if T == t_low and harmonic is not None:
                try:
                    fig = _dense_map(harmonic_ph, start, end, ref_cell, float(T), e_top, b, name)
                except Exception as exc:  # optional figure; say why it is missing
                    notes.append(f"dense harmonic S(Q,E) along {name} left out: {exc}")
                else:
                    figs.append(figure(ctx, fig, f"sqe_dense_{tag}_T{T:g}K.png",
                                       f"Harmonic S(Q,E) of the effective fc2 along {name} on {N_DENSE} Q points "
                                       f"(X-ray form factors, Debye-Waller and Bose factors at {T:g} K, "
                                       f"modes drawn {DENSE_FWHM_MEV:g} meV wide, white lines; the paper's IXS "
                                       "resolution is 1.5 meV): the dispersion "
                                       f"between the {len(q)} Q points the MD cell allows; red: the MD's DHO E_c "
                                       "there (+- fit error)."))
    notes = list(dict.fromkeys(notes))
    return SpectraSummary(
        figures=figs, dos=dos, notes=notes, branches=branches,
        text="VACF DOS from the NVE runs; S(Q,w) on the Q points the MD supercell allows; the lowest branch "
             "of each map fitted with one DHO per Q (linewidth and persistence: underdamped if E_c > FWHM/2; "
             "the fit errors are scaled by chi^2, MD spectra carry no counting errors)."
             + ("\n" + "\n".join(notes) if notes else ""))


N_DENSE = 41
DENSE_FWHM_MEV = 0.5


def _dense_map(ph, start, end, ref_cell, T: float, e_top: float, branch, name: str = ""):
    """Harmonic S(Q,E) on N_DENSE points from ``start`` to ``end`` with the MD branch overlaid."""
    from incipient.spectra.harmonic import harmonic_sqe
    from incipient.spectra.paths import path_distance

    start, end = np.asarray(start, float), np.asarray(end, float)
    q = start + np.linspace(0.0, 1.0, N_DENSE)[:, None] * (end - start)
    h = harmonic_sqe(ph, q, temperature_K=T, reference_cell=ref_cell, fwhm_meV=DENSE_FWHM_MEV,
                     energy_meV=np.arange(0.0, e_top, 0.05))
    # the energy axis up to the lowest modes carrying most of the intensity on this path (the TA/LA region)
    w = h.intensity_loss / h.intensity_loss.sum()
    order = np.argsort(h.frequencies_meV.ravel())
    e_cum = h.frequencies_meV.ravel()[order][np.searchsorted(np.cumsum(w.ravel()[order]), 0.95)]
    e_show = float(min(e_top, max(10.0, 2.0 * e_cum)))
    fig = h.plot(show_modes=True, energy_max_meV=e_show, vmax_percentile=99.5)
    ax = fig.axes[0]
    ok = branch.fitted
    if ok.any():
        d = path_distance(np.vstack([start, branch.q_rlu]), ref_cell)[1:]
        ax.errorbar(d[ok], branch.E_c_meV[ok], yerr=branch.E_c_err_meV[ok], fmt="o", color="r", ms=4, capsize=2,
                    label="MD: DHO E_c")
        ax.legend(fontsize=7, loc="upper left")
    ax.set_title(f"harmonic S(Q,E) along {name}, {T:g} K", fontsize=9)
    return fig


def _phonopy(fc: ForceConstantsSummary):
    """The phonopy object (primitive, supercell, fc2) saved by the force_constants stage."""
    import phonopy

    return phonopy.load(fc.phonopy_params, produce_fc=False, log_level=0)
