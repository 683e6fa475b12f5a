"""Stage ``spectra``: VACF phonon DOS and S(Q,w) from the MD (with the harmonic modes of the fc2).

S(Q,w) from MD exists only on the Q points the MD supercell resolves; a path with fewer than
three of them gets no MD map. With the force_constants stage's phonopy_params, such a path (and,
when the MD cell resolves no default path at all, the paths to the first special points of the
primitive zone) still gets the harmonic S(Q,E) map of the effective fc2 on a dense path, with
the MD's few Q points and their DHO energies overlaid, and a note saying how many there are.
"""

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


def _paths(ctx: StageContext, unit_cell, md_cell, harmonic: bool = False) -> tuple[dict, list[str]]:
    """The system's S(Q,w) paths, else paths from Gamma to the zone-boundary special points of its
    primitive cell that the MD supercell resolves; with notes on what was left out. When it
    resolves none and ``harmonic`` (an fc2 to draw the harmonic map with), the paths to the first
    special points whether the MD resolves them or not."""
    from incipient.spectra.paths import default_sqw_paths, special_point_paths

    if ctx.system.sqw_paths:
        return dict(ctx.system.sqw_paths), []
    out = default_sqw_paths(unit_cell, md_cell, n_paths=MAX_PATHS)
    if out or not harmonic:
        return dict(out), list(out.notes)
    return dict(special_point_paths(unit_cell, n_paths=MAX_PATHS)), list(out.notes)


def run(ctx: StageContext) -> SpectraSummary:
    import ase.io

    from incipient.analysis.vdos import vdos
    from incipient.md.trajectory import read_trajectory
    from incipient.spectra.branches import fit_lowest_branch
    from incipient.spectra.paths import commensurate_path, commensurate_points
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
        has_fc2 = fc is not None and bool(fc.phonopy_params)
        paths, why = _paths(ctx, unit_cell, traj.cell, harmonic=has_fc2)
        notes += why
        window = max(20, min(400, traj.n_frames // 3))
        for name, (start, end) in paths.items():
            try:
                q, skipped = commensurate_path(start, end, ref_cell, traj.cell), ""
            except ValueError as exc:
                q, skipped = commensurate_points(start, end, ref_cell, traj.cell), f"path {name} skipped: {exc}"
            if skipped or len(q) < 3:
                if not has_fc2:
                    notes.append(skipped or f"path {name} skipped: the MD supercell allows only {len(q)} Q points on it")
                elif T == t_low:  # too few Q points for an MD map: the harmonic map, the MD's points on it
                    try:
                        if harmonic_ph is None:
                            harmonic_ph = _phonopy(fc)
                        fig, b, note = _harmonic_only(harmonic_ph, traj, q, start, end, ref_cell, float(T), e_top,
                                                      name, window)
                    except Exception as exc:  # optional figure; say why it is missing
                        notes.append(f"path {name}: the MD supercell allows only {len(q)} Q points on it, and the "
                                     f"dense harmonic S(Q,E) along it failed: {exc}")
                        continue
                    tag = _tag(name)
                    notes.append(note)
                    if b is not None:
                        branches.setdefault(name, {})[f"{T:g}K"] = _branch_summary(b)
                    n_fit = 0 if b is None else int(b.fitted.sum())
                    figs.append(figure(ctx, fig, f"sqe_dense_{tag}_T{T:g}K.png",
                                       _dense_caption(name, T) + f". The MD supercell resolves only {_n_points(len(q))} "
                                       "on this path (triangles), too few for an MD S(Q,w) map"
                                       + (f"; red: the MD's DHO E_c at {n_fit} of them (+- fit error)." if n_fit else
                                          "; no MD peak fitted there.")))
                continue
            s = sqw(traj, q, reference_cell=ref_cell, window_size=window, window_step=max(1, window // 4))
            harmonic = None
            if has_fc2:
                try:
                    from incipient.spectra.harmonic import harmonic_sqe

                    if harmonic_ph is None:
                        harmonic_ph = _phonopy(fc)
                    harmonic = harmonic_sqe(harmonic_ph, q, temperature_K=float(T), reference_cell=ref_cell)
                except Exception as exc:  # the overlay is optional; say why it is missing
                    notes.append(f"harmonic S(Q,E) not overlaid on {name}: {exc}")
            tag = _tag(name)
            figs.append(figure(ctx, s.plot(harmonic=harmonic, energy_max_meV=e_top), f"sqw_{tag}_T{T:g}K_seed{seed}.png",
                               f"S(Q,w) from MD along {name} (r.l.u. of the study cell) at {T:g} K, X-ray form factors, "
                               f"{len(q)} Q points" + (" (dots: harmonic modes of the effective fc2)" if harmonic is not None else "")))
            b = fit_lowest_branch(s, temperature_K=float(T), path=name, energy_max_meV=e_top)
            b.save(ctx.path(f"branch_{tag}_T{T:g}K_seed{seed}.npz"))
            ok = b.fitted
            branches.setdefault(name, {})[f"{T:g}K"] = _branch_summary(b)
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
                                       _dense_caption(name, T) + ": the dispersion "
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


def _branch_summary(b) -> BranchFitSummary:
    ok = b.fitted
    return BranchFitSummary(q_rlu=b.q_rlu.tolist(), E_c_meV=b.E_c_meV.tolist(), fwhm_meV=b.fwhm_meV.tolist(),
                            E_c_err_meV=b.E_c_err_meV.tolist(), fwhm_err_meV=b.fwhm_err_meV.tolist(),
                            n_fitted=int(ok.sum()), underdamped_fraction=b.underdamped_fraction)


def _tag(name: str) -> str:
    """A path name as part of a file name."""
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")


def _dense_caption(name: str, T: float) -> str:
    """The first part of the caption of a dense harmonic S(Q,E) figure."""
    return (f"Harmonic S(Q,E) of the effective fc2 along {name} on {N_DENSE} Q points (X-ray form factors, "
            f"Debye-Waller and Bose factors at {T:g} K, modes drawn {DENSE_FWHM_MEV:g} meV wide, white lines; "
            "the paper's IXS resolution is 1.5 meV)")


def _n_points(n: int) -> str:
    return f"{n} Q point" + ("" if n == 1 else "s")


def _harmonic_only(ph, traj, q, start, end, ref_cell, T: float, e_top: float, name: str, window: int):
    """(figure, branch fit or None, note) for a path with too few MD Q points for an MD map: the
    dense harmonic S(Q,E) with the MD's Q points marked and their DHO energies where one fits."""
    from incipient.spectra.branches import fit_lowest_branch
    from incipient.spectra.paths import format_rlu
    from incipient.spectra.sqw import sqw

    b = None
    if len(q):
        s = sqw(traj, q, reference_cell=ref_cell, window_size=window, window_step=max(1, window // 4))
        b = fit_lowest_branch(s, temperature_K=T, path=name, energy_max_meV=e_top)
    fig = _dense_map(ph, start, end, ref_cell, T, e_top, b, name, md_q_rlu=q)
    where = f" ({', '.join(format_rlu(x) for x in q)} r.l.u.)" if len(q) else ""
    note = (f"{name} ({format_rlu(start)} -> {format_rlu(end)}): the MD supercell resolves only {_n_points(len(q))} "
            f"on it{where}, "
            "too few for an MD S(Q,w) map; the harmonic S(Q,E) of the effective fc2 is drawn along it with the "
            "MD's points overlaid")
    return fig, b, note


def _dense_map(ph, start, end, ref_cell, T: float, e_top: float, branch, name: str = "", md_q_rlu=None):
    """Harmonic S(Q,E) on N_DENSE points from ``start`` to ``end`` with the MD branch overlaid
    (``branch`` None: none) and, when given, the MD's Q points marked on the energy axis."""
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
    ok = np.zeros(0, bool) if branch is None else branch.fitted
    if ok.any():
        d = path_distance(np.vstack([start, branch.q_rlu]), ref_cell)[1:]
        ax.errorbar(d[ok], branch.E_c_meV[ok], yerr=branch.E_c_err_meV[ok], fmt="o", color="r", ms=4, capsize=2,
                    label="MD: DHO E_c")
    if md_q_rlu is not None and len(md_q_rlu):
        d = path_distance(np.vstack([start, md_q_rlu]), ref_cell)[1:]
        ax.plot(d, np.zeros(len(d)), "^", color="tab:orange", ms=8, clip_on=False, zorder=5,
                label=f"MD supercell: {_n_points(len(d))}")
    if ok.any() or (md_q_rlu is not None and len(md_q_rlu)):
        ax.legend(fontsize=7, loc="upper left")
    ax.set_title(f"harmonic S(Q,E) along {name}, {T:g} K", fontsize=9)
    fig.tight_layout()  # room for the title above the map
    return fig


def _phonopy(fc: ForceConstantsSummary):
    """The phonopy object (primitive, supercell, fc2) saved by the force_constants stage."""
    import phonopy

    return phonopy.load(fc.phonopy_params, produce_fc=False, log_level=0)
