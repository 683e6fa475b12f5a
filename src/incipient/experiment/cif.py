"""Read a refined single-crystal model and its reflection list from a (Jana2020) CIF.

Wraps ``gemmi.cif`` for the CIF syntax and ``gemmi.Op`` for the symmetry-operation strings;
the rest (collecting the Jana anharmonic loops, expanding sites with the CIF's own operations,
building an ASE ``Atoms``) is own code because no library reads Jana's ``_jana_atom_site_ADP_C_*``
Gram-Charlier tensors.

Quirks of published Jana2020 files handled here (all seen in the built-in system's CIFs):

* ``200K.cif`` has no ``data_`` header (a block named after the file is prepended);
* ``100K.cif`` repeats the ``_Jana_m40_file`` text field (read with gemmi's duplicate check off);
* all five files state ``_diffrn_ambient_temperature 293``; the temperature is taken from a
  ``<T>K`` file name when there is one (``CifModel.temperature_K``) and the CIF value otherwise;
* the model is written in a non-standard origin (coordinates such as z = 1.25); the sixteen
  operations as written are used, never a re-derived standard setting.

Truncated files: a loop cut inside a row (values not a multiple of the columns) is refused by
gemmi; a reflection loop cut at a row boundary is caught when the CIF declares
``_reflns_number_total`` (the number of reflections in the ``_refln_`` list) and the loop holds
fewer. Both raise :class:`~incipient.errors.FileFormatError`. A file cut at a row boundary that
declares no total cannot be told from a short list.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from incipient.errors import FileFormatError

log = logging.getLogger(__name__)

_C_ORDER = ("111", "112", "113", "122", "123", "133", "222", "223", "233", "333")
_U_TAGS = ("U_11", "U_22", "U_33", "U_12", "U_13", "U_23")


@dataclass(frozen=True)
class AtomSite:
    """One refined site of the asymmetric unit.

    ``fract`` (3,) fractional coordinates as written; ``U_aniso_A2`` (3, 3) CIF U^ij in A^2
    (w.r.t. the reciprocal-length-normalised axes); ``C_jana`` (10,) third-order Gram-Charlier
    coefficients as written by Jana (order 111,112,113,122,123,133,222,223,233,333; dimensionless,
    scaled by 10^3, see :func:`incipient.experiment.structure_factors.third_order_tensor`), or
    ``None`` for a harmonic site.
    """

    label: str
    element: str
    fract: np.ndarray
    occupancy: float
    U_aniso_A2: np.ndarray
    C_jana: np.ndarray | None = None


@dataclass(frozen=True)
class CifModel:
    """Refined structure model read from a CIF (cell in A and degrees, operations as written)."""

    path: str
    cell: tuple[float, float, float, float, float, float]
    symops: tuple[str, ...]
    sites: tuple[AtomSite, ...]
    dispersion: dict[str, tuple[float, float]] = field(default_factory=dict)  # element -> (f', f'')
    wavelength_A: float = float("nan")
    temperature_K: float = float("nan")
    space_group: str = ""

    @property
    def lattice(self) -> np.ndarray:
        """(3, 3) A, rows a, b, c (ASE convention)."""
        from ase.geometry import cellpar_to_cell

        return np.asarray(cellpar_to_cell(list(self.cell)))

    @property
    def volume_A3(self) -> float:
        return float(abs(np.linalg.det(self.lattice)))

    def operations(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The symmetry operations as (R (3, 3) int, t (3,) float) acting on fractional columns."""
        return [parse_symop(s) for s in self.symops]

    def is_centrosymmetric(self) -> bool:
        """True when the inversion -x,-y,-z (up to a lattice translation) is among the operations."""
        for rot, tr in self.operations():
            if np.array_equal(rot, -np.eye(3, dtype=int)) and np.allclose(tr - np.round(tr), 0.0):
                return True
        return False


@dataclass(frozen=True)
class Reflections:
    """Reflection list of a CIF: ``hkl`` (N, 3) int, F^2 (electrons^2, on the scale of the data).

    ``F2_calc`` includes the refined scale and extinction (as Jana writes it), ``F2_meas`` and
    ``F2_sigma`` are the measured intensities and their standard uncertainties, ``observed``
    (N,) bool is the status flag ('o' True, '<' False). ``weight_a``, ``weight_b`` are the
    refinement weighting w = 1/[s^2 + (a P)^2 + b P], P = (F2_meas + 2 F2_calc)/3, parsed from
    ``_refine_ls_weighting_details`` (0 when absent); ``goodness_of_fit`` the refinement's
    ``_refine_ls_goodness_of_fit_ref`` (NaN when absent).
    """

    hkl: np.ndarray
    F2_calc: np.ndarray
    F2_meas: np.ndarray
    F2_sigma: np.ndarray
    observed: np.ndarray
    weight_a: float = 0.0
    weight_b: float = 0.0
    goodness_of_fit: float = float("nan")

    def sigma_refinement(self) -> np.ndarray:
        """sigma(F^2) of the refinement weights: sqrt(s^2 + (a P)^2 + b P) (N,)."""
        calc = np.where(np.isfinite(self.F2_calc), self.F2_calc, self.F2_meas)
        P = (np.maximum(self.F2_meas, 0.0) + 2.0 * calc) / 3.0
        return np.sqrt(self.F2_sigma**2 + (self.weight_a * P) ** 2 + self.weight_b * np.maximum(P, 0.0))

    def __len__(self) -> int:
        return int(self.hkl.shape[0])


def parse_symop(text: str) -> tuple[np.ndarray, np.ndarray]:
    """``'-x+1/2,y,-z'`` -> (R (3, 3) int, t (3,) float) with x' = R x + t (via ``gemmi.Op``)."""
    import gemmi

    try:
        op = gemmi.Op(text.replace(" ", ""))
    except Exception as exc:  # gemmi raises RuntimeError with its own message
        raise ValueError(f"cannot parse symmetry operation {text!r}: {exc}") from exc
    rot = np.asarray(op.rot, dtype=int) // op.DEN
    tr = np.asarray(op.tran, dtype=float) / op.DEN
    return rot, tr


def _read_document(path: Path):
    from gemmi import cif

    if not path.is_file():
        raise FileNotFoundError(f"CIF not found: {path}")
    text = path.read_text(errors="replace")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    if not first.lower().startswith(("data_", "global_")):
        log.info("%s has no data_ header; reading it as block data_%s", path, path.stem)
        text = f"data_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}\n" + text
    try:
        return cif.read_string(text, 0)
    except Exception as exc:
        hint = " (file truncated inside a loop?)" if "number of values in loop" in str(exc) else ""
        raise FileFormatError(f"not a readable CIF{hint}: {exc}", source=path) from exc


def _find_block(doc, tag: str, path: Path):
    for block in doc:
        if block.find_value(tag) is not None or block.find_loop(tag).get_loop() is not None:
            return block
    raise ValueError(f"{path}: no data block holds {tag}")


def _num(value: str) -> float:
    from gemmi import cif

    if value in ("?", "."):
        return float("nan")
    return float(cif.as_number(value))


def _loop_columns(block, first_tag: str):
    """Return {tag_lower: [str values]} for the loop that holds ``first_tag`` (or None)."""
    loop = block.find_loop(first_tag).get_loop()
    if loop is None:
        return None
    cols: dict[str, list[str]] = {t.lower(): [] for t in loop.tags}
    for i in range(loop.length()):
        for j, t in enumerate(loop.tags):
            cols[t.lower()].append(loop[i, j])
    return cols


def _temperature_from(path: Path, block) -> float:
    match = re.search(r"(\d+(?:\.\d+)?)\s*K", path.stem)
    if match:
        return float(match.group(1))
    for tag in ("_diffrn_ambient_temperature", "_cell_measurement_temperature"):
        val = block.find_value(tag)
        if val is not None and val not in ("?", "."):
            return _num(val)
    return float("nan")


def read_cif_model(path: str | Path) -> CifModel:
    """Read cell, symmetry operations (as written), sites, U^ij, Jana C^ijk and f', f''.

    Raises FileNotFoundError for a missing file and ValueError naming the file and the
    missing or malformed tag otherwise.
    """
    path = Path(path)
    doc = _read_document(path)
    block = _find_block(doc, "_atom_site_fract_x", path)

    cell = []
    for tag in ("a", "b", "c"):
        val = block.find_value(f"_cell_length_{tag}")
        if val is None:
            raise ValueError(f"{path}: missing _cell_length_{tag}")
        cell.append(_num(val))
    for tag in ("alpha", "beta", "gamma"):
        val = block.find_value(f"_cell_angle_{tag}")
        cell.append(90.0 if val is None else _num(val))

    ops = None
    for tag in ("_space_group_symop_operation_xyz", "_symmetry_equiv_pos_as_xyz"):
        cols = _loop_columns(block, tag)
        if cols is not None:
            ops = tuple(s.strip() for s in cols[tag])
            break
    if not ops:
        raise ValueError(f"{path}: no symmetry-operation loop (_space_group_symop_operation_xyz)")
    for s in ops:
        parse_symop(s)

    cols = _loop_columns(block, "_atom_site_fract_x")
    need = ("_atom_site_label", "_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z")
    for tag in need:
        if tag not in cols:
            raise ValueError(f"{path}: atom-site loop lacks {tag}; it has {sorted(cols)}")
    n = len(cols["_atom_site_label"])
    types = cols.get("_atom_site_type_symbol", cols["_atom_site_label"])
    occ = cols.get("_atom_site_occupancy", ["1"] * n)
    uiso = cols.get("_atom_site_u_iso_or_equiv", ["nan"] * n)

    aniso = _loop_columns(block, "_atom_site_aniso_label") or {}
    U_by_label = {}
    if aniso:
        for i, lab in enumerate(aniso["_atom_site_aniso_label"]):
            u = [_num(aniso.get(f"_atom_site_aniso_{t.lower()}", ["0"] * (i + 1))[i]) for t in _U_TAGS]
            U_by_label[lab] = np.array(
                [[u[0], u[3], u[4]], [u[3], u[1], u[5]], [u[4], u[5], u[2]]], dtype=float
            )

    C_by_label = {}
    ccols = _loop_columns(block, "_jana_atom_site_adp_c_label")
    if ccols is not None:
        for i, lab in enumerate(ccols["_jana_atom_site_adp_c_label"]):
            if lab in ("?", "."):
                continue
            vals = []
            for o in _C_ORDER:
                key = f"_jana_atom_site_adp_c_{o}"
                if key not in ccols:
                    raise ValueError(f"{path}: Jana C loop lacks {key}")
                vals.append(_num(ccols[key][i]))
            C_by_label[lab] = np.nan_to_num(np.array(vals, dtype=float))
    dcols = _loop_columns(block, "_jana_atom_site_adp_d_label")
    if dcols is not None and any(v not in ("?", ".") for v in dcols["_jana_atom_site_adp_d_label"]):
        raise ValueError(f"{path}: fourth-order (Jana D) ADPs are present; only order <= 3 is supported")

    sites = []
    for i in range(n):
        lab = cols["_atom_site_label"][i]
        el = re.match(r"[A-Za-z]+", types[i]).group(0)
        el = el[0].upper() + el[1:].lower()
        frac = np.array([_num(cols[f"_atom_site_fract_{c}"][i]) for c in "xyz"])
        if not np.all(np.isfinite(frac)):
            raise ValueError(f"{path}: site {lab} has undetermined coordinates {frac}")
        if lab in U_by_label:
            U = U_by_label[lab]
        else:
            u = _num(uiso[i])
            if not np.isfinite(u):
                raise ValueError(f"{path}: site {lab} has neither U_aniso nor U_iso")
            U = _uiso_to_cif_uij(u, cell)
        o = _num(occ[i])
        sites.append(AtomSite(lab, el, frac, 1.0 if not np.isfinite(o) else o, U, C_by_label.get(lab)))

    disp = {}
    tcols = _loop_columns(block, "_atom_type_symbol")
    if tcols is not None and "_atom_type_scat_dispersion_real" in tcols:
        for i, sym in enumerate(tcols["_atom_type_symbol"]):
            re_ = _num(tcols["_atom_type_scat_dispersion_real"][i])
            im_ = _num(tcols.get("_atom_type_scat_dispersion_imag", ["0"] * (i + 1))[i])
            disp[sym[0].upper() + sym[1:].lower()] = (float(np.nan_to_num(re_)), float(np.nan_to_num(im_)))

    wl = block.find_value("_diffrn_radiation_wavelength")
    sg = block.find_value("_symmetry_space_group_name_H-M") or block.find_value(
        "_space_group_name_H-M_alt"
    )
    from gemmi import cif as _cif

    return CifModel(
        path=str(path),
        cell=tuple(float(x) for x in cell),
        symops=ops,
        sites=tuple(sites),
        dispersion=disp,
        wavelength_A=_num(wl) if wl is not None else float("nan"),
        temperature_K=_temperature_from(path, block),
        space_group=_cif.as_string(sg) if sg else "",
    )


def _uiso_to_cif_uij(uiso: float, cell) -> np.ndarray:
    """Isotropic U (A^2) as CIF U^ij (equal to Uiso * delta for orthogonal cells)."""
    from ase.geometry import cellpar_to_cell

    lat = np.asarray(cellpar_to_cell(list(cell)))
    rec = np.linalg.inv(lat).T  # rows a*, b*, c*
    astar = np.linalg.norm(rec, axis=1)
    G_star = rec @ rec.T
    return uiso * G_star / np.outer(astar, astar)


_REFLN_ALIASES = {
    "meas": ("_refln_f_squared_meas", "_refln_f_meas"),
    "calc": ("_refln_f_squared_calc", "_refln_f_calc"),
    "sigma": ("_refln_f_squared_sigma", "_refln_f_sigma"),
}


def _declared_reflection_count(block) -> int | None:
    """``_reflns_number_total`` of the reflection block, None when absent or unknown."""
    val = block.find_value("_reflns_number_total")
    if val is None or val in ("?", "."):
        return None
    try:
        count = _num(val)
    except (ValueError, RuntimeError):
        return None
    return int(count) if np.isfinite(count) else None


def read_reflections(path: str | Path) -> Reflections:
    """Read the ``_refln_`` loop: h k l, F^2 calc, F^2 meas, sigma(F^2) and the status flag.

    F (not F^2) columns are accepted and squared (sigma(F^2) = 2 F sigma(F)). A CIF without a
    reflection loop, or one whose loop lacks h/k/l or a measured-intensity column, raises
    ValueError listing the columns that are there.
    """
    path = Path(path)
    doc = _read_document(path)
    block = None
    for b in doc:
        if b.find_loop("_refln_index_h").get_loop() is not None:
            block = b
            break
    if block is None:
        raise FileFormatError("no reflection loop (_refln_index_h ...) in any data block", source=path)
    cols = _loop_columns(block, "_refln_index_h")
    for tag in ("_refln_index_h", "_refln_index_k", "_refln_index_l"):
        if tag not in cols:
            raise FileFormatError(f"reflection loop lacks {tag}; columns: {sorted(cols)}", source=path)
    found = {}
    for key, names in _REFLN_ALIASES.items():
        for name in names:
            if name in cols:
                found[key] = name
                break
    if "meas" not in found or "sigma" not in found:
        raise FileFormatError(
            f"unknown reflection columns {sorted(cols)}; need _refln_F_squared_meas and "
            "_refln_F_squared_sigma (or _refln_F_meas and _refln_F_sigma)", source=path
        )
    n_rows = len(cols["_refln_index_h"])
    declared = _declared_reflection_count(block)
    if declared is not None and n_rows < declared:
        raise FileFormatError(
            f"the reflection loop holds {n_rows} reflections but _reflns_number_total declares {declared} "
            "(file truncated?)", source=path)
    if declared is not None and n_rows > declared:
        log.warning("%s: the reflection loop holds %d reflections, more than _reflns_number_total = %d",
                    path, n_rows, declared)
    hkl = np.array(
        [[int(round(_num(cols[f"_refln_index_{c}"][i]))) for c in "hkl"] for i in range(len(cols["_refln_index_h"]))],
        dtype=int,
    ).reshape(-1, 3)
    meas = np.array([_num(v) for v in cols[found["meas"]]])
    sig = np.array([_num(v) for v in cols[found["sigma"]]])
    calc = (
        np.array([_num(v) for v in cols[found["calc"]]]) if "calc" in found else np.full(len(meas), np.nan)
    )
    if found["meas"] == "_refln_f_meas":
        sig = 2.0 * np.abs(meas) * sig
        meas = np.sign(meas) * meas**2
        calc = calc**2
    status = cols.get("_refln_observed_status", ["o"] * len(meas))
    observed = np.array([s.strip().lower() == "o" for s in status])
    bad = ~np.isfinite(meas) | ~np.isfinite(sig) | (sig <= 0)
    if bad.any():
        log.warning("%s: dropping %d reflections without a finite F^2 or sigma", path, int(bad.sum()))
    keep = ~bad
    if not keep.any():
        raise FileFormatError("the reflection loop holds no usable reflection", source=path)
    wa = wb = 0.0
    details = block.find_value("_refine_ls_weighting_details")
    if details:
        match = re.search(r"\(([0-9.]+)P\)\^2\^\s*\+\s*([0-9.]+)P", details)
        if match:
            wa, wb = float(match.group(1)), float(match.group(2))
        else:
            log.info("%s: weighting scheme %s not parsed; using sigma(F^2) only", path, details)
    gof = block.find_value("_refine_ls_goodness_of_fit_ref")
    gof = _num(gof) if gof is not None else float("nan")
    return Reflections(hkl[keep], calc[keep], meas[keep], sig[keep], observed[keep], wa, wb, gof)


def expand_sites(model: CifModel, tol: float = 1e-4):
    """Apply every operation to every site; drop duplicates (special positions).

    Returns a list of (site_index, frac (3,) in [0, 1), R (3, 3)) where R is the rotation that
    generated the copy (used to rotate ADP tensors).
    """
    out: list[tuple[int, np.ndarray, np.ndarray]] = []
    for i, site in enumerate(model.sites):
        seen: list[np.ndarray] = []
        for rot, tr in model.operations():
            x = (rot @ site.fract + tr) % 1.0
            if any(np.all(np.abs(((x - y) + 0.5) % 1.0 - 0.5) < tol) for y in seen):
                continue
            seen.append(x)
            out.append((i, x, rot))
    return out


def read_structure_from_cif(path: str | Path):
    """Build the full unit cell of a (Jana2020) CIF as an ``ase.Atoms`` with its own operations.

    Sites are expanded with the operations as written and wrapped into [0, 1). Arrays
    ``occupancy`` (site occupancy) and ``labels`` (CIF site label) are attached; sites with
    occupancy below 1 are kept (logged), so the caller decides how to treat disorder.
    ``atoms.info`` holds ``temperature_K``, ``space_group`` and ``source``.
    """
    from ase import Atoms

    model = read_cif_model(path)
    copies = expand_sites(model)
    symbols = [model.sites[i].element for i, _, _ in copies]
    frac = np.array([x for _, x, _ in copies])
    atoms = Atoms(symbols=symbols, scaled_positions=frac, cell=model.lattice, pbc=True)
    occ = np.array([model.sites[i].occupancy for i, _, _ in copies])
    atoms.set_array("occupancy", occ)
    atoms.set_array("labels", np.array([model.sites[i].label for i, _, _ in copies], dtype=str))
    if np.any(occ < 1.0 - 1e-6):
        log.warning("%s: %d atoms on partially occupied sites kept as full atoms", path, int((occ < 1 - 1e-6).sum()))
    atoms.info.update(
        {"temperature_K": model.temperature_K, "space_group": model.space_group, "source": str(path)}
    )
    return atoms
