"""Write MLIP-2 ``.mtp`` files (trained, or untrained templates) that MLIP-2, motep and incipient read.

Own code. The layout is MLIP-2's (``version = 1.1.0``, Chebyshev radial basis, tab-indented
radial block, brace lists). Numbers are written with 17 significant digits, so a read back
gives the same doubles and the same energies bit for bit. The species order, which the
format itself does not store, goes into a ``# species: A B C`` comment line (read by
:func:`incipient.potentials.mtp_file.read_mtp`, skipped by motep); ``species_comment=False``
leaves it out for readers that accept no comment lines (MLIP-2's own parser reads key by key).
Files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from incipient.errors import InputError, OutputError


def _num(x: float) -> str:
    return f"{float(x):.16e}"


def _list(values) -> str:
    return "{" + ", ".join(_num(v) for v in np.asarray(values, dtype=float).ravel()) + "}"


def _int_rows(rows) -> str:
    rows = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    return "{" + ", ".join("{" + ", ".join(str(int(v)) for v in r) + "}" for r in rows) + "}"


def format_mtp(model, *, species=None, untrained: bool = False, species_comment: bool = True) -> str:
    """The text of an MLIP-2 ``.mtp`` file for ``model`` (an :class:`MTPModel`).

    ``untrained=True`` writes a template as MLIP-2's ``untrained_mtps/NN.mtp`` are (no scaling,
    no coefficients). ``species`` (symbols of types 0, 1, ...; default ``model.species``) is
    stored in a ``# species:`` comment.
    """
    species = model.species if species is None else tuple(species)
    if species is not None:
        from ase.data import atomic_numbers

        bad = [s for s in species if s not in atomic_numbers or s == "X"]
        if bad:
            raise InputError(f"unknown element {bad[0]!r} in the species list")
        if len(species) != model.species_count:
            raise InputError(f"{len(species)} species {list(species)} for species_count = {model.species_count}")
    S = model.species_count
    out = ["MTP", "version = 1.1.0", f"potential_name = {model.potential_name or 'MTP1m'}"]
    if species is not None and species_comment:
        out.append("# species: " + " ".join(species))
    if not untrained:
        out.append(f"scaling = {_num(model.scaling)}")
    out += [
        f"species_count = {S}",
        "potential_tag = ",
        f"radial_basis_type = {model.radial_basis_type}",
        f"\tmin_dist = {_num(model.min_dist_A)}",
        f"\tmax_dist = {_num(model.max_dist_A)}",
        f"\tradial_basis_size = {int(model.radial_basis_size)}",
        f"\tradial_funcs_count = {int(model.radial_funcs_count)}",
    ]
    if not untrained:
        rc = np.asarray(model.radial_coeffs, dtype=float)
        if rc.shape != (S, S, model.radial_funcs_count, model.radial_basis_size) or not np.isfinite(rc).all():
            raise InputError(f"radial_coeffs must be finite with shape {(S, S, model.radial_funcs_count, model.radial_basis_size)}")
        out.append("\tradial_coeffs")
        for a in range(S):
            for b in range(S):
                out.append(f"\t\t{a}-{b}")
                out.extend(f"\t\t\t{_list(rc[a, b, mu])}" for mu in range(model.radial_funcs_count))
    mapping = np.asarray(model.alpha_moment_mapping, dtype=np.int64)
    out += [
        f"alpha_moments_count = {int(model.alpha_moments_count)}",
        f"alpha_index_basic_count = {len(model.alpha_index_basic)}",
        f"alpha_index_basic = {_int_rows(model.alpha_index_basic)}",
        f"alpha_index_times_count = {len(model.alpha_index_times)}",
        f"alpha_index_times = {_int_rows(model.alpha_index_times)}",
        f"alpha_scalar_moments = {mapping.size}",
        "alpha_moment_mapping = {" + ", ".join(str(int(v)) for v in mapping) + "}",
    ]
    if not untrained:
        for name in ("species_coeffs", "moment_coeffs"):
            v = np.asarray(getattr(model, name), dtype=float)
            if not np.isfinite(v).all():
                raise InputError(f"{name} holds a non-finite number")
            out.append(f"{name} = {_list(v)}")
    return "\n".join(out) + "\n"


def write_mtp(model, path, *, species=None, untrained: bool = False, species_comment: bool = True) -> Path:
    """Write ``model`` to ``path`` atomically as an MLIP-2 ``.mtp`` file; returns the path."""
    from incipient.results import atomic_write_text, check_output_file

    path = check_output_file(path, "MTP file")
    text = format_mtp(model, species=species, untrained=untrained, species_comment=species_comment)
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the MTP file ({exc.strerror or exc})") from exc
    return path
