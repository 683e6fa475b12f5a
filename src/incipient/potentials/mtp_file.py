"""Read MLIP-2 Moment Tensor Potential (``.mtp``) files into a validated, immutable model.

Own code: the format is a small key = value text format (MLIP-2, Novikov et al. 2021) with
brace lists; no maintained standalone parser exists outside the fitting packages. Every error
names the file and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUPPORTED_RADIAL_BASES = ("RBChebyshev",)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


@dataclass(frozen=True)
class MTPModel:
    """A Moment Tensor Potential as stored in an MLIP-2 file.

    Attributes
    ----------
    path : source file.
    species_count : number of species (types 0..species_count-1).
    scaling : prefactor of the radial smoothing ``scaling * (max_dist - r)^2``.
    min_dist_A, max_dist_A : Chebyshev domain and cutoff radius (Angstrom).
    radial_coeffs : (S, S, n_radial_funcs, radial_basis_size); [i, j] for centre type i,
        neighbour type j.
    alpha_index_basic : (n_basic, 4) int (mu, ax, ay, az) of the basic moments.
    alpha_index_times : (n_times, 4) int (i1, i2, mult, i3): M[i3] += mult * M[i1] * M[i2].
    alpha_moment_mapping : (n_scalar,) indices of the moments entering the energy.
    species_coeffs : (S,) eV, constant site energy per type.
    moment_coeffs : (n_scalar,) eV, linear coefficients of the scalar moments.
    alpha_moments_count : total number of moments (basic + contracted).
    """

    path: str
    version: str
    potential_name: str
    species_count: int
    scaling: float
    radial_basis_type: str
    min_dist_A: float
    max_dist_A: float
    radial_basis_size: int
    radial_funcs_count: int
    radial_coeffs: np.ndarray
    alpha_moments_count: int
    alpha_index_basic: np.ndarray
    alpha_index_times: np.ndarray
    alpha_moment_mapping: np.ndarray
    species_coeffs: np.ndarray
    moment_coeffs: np.ndarray

    @property
    def cutoff_A(self) -> float:
        return self.max_dist_A


class MTPFormatError(ValueError):
    """A malformed ``.mtp`` file; the message names the file and line."""


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(_NUMBER, text)]


def read_mtp(path: str | Path) -> MTPModel:
    """Read an MLIP-2 ``.mtp`` file (version 1.1.0, Chebyshev radial basis)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise FileNotFoundError(f"{path}: cannot read MTP file ({exc.strerror})") from exc

    def err(lineno: int, msg: str) -> MTPFormatError:
        return MTPFormatError(f"{path}, line {lineno}: {msg}")

    if not lines or lines[0].strip() != "MTP":
        raise err(1, "not an MLIP-2 MTP file (first line must be 'MTP')")

    values: dict[str, tuple[int, str]] = {}
    radial: dict[tuple[int, int], tuple[int, list[list[float]]]] = {}
    k = 1
    n = len(lines)
    while k < n:
        raw = lines[k]
        line = raw.strip()
        k += 1
        if not line:
            continue
        if line == "radial_coeffs":
            if "radial_funcs_count" not in values:
                raise err(k, "radial_coeffs before radial_funcs_count")
            nfunc = int(values["radial_funcs_count"][1])
            while k < n and re.fullmatch(r"\d+-\d+", lines[k].strip()):
                head = k + 1
                a, b = (int(x) for x in lines[k].strip().split("-"))
                rows = []
                k += 1
                for _ in range(nfunc):
                    if k >= n or "{" not in lines[k]:
                        raise err(k + 1 if k < n else n, f"radial_coeffs block {a}-{b}: expected {nfunc} coefficient rows (file truncated?)")
                    rows.append(_numbers(lines[k]))
                    k += 1
                radial[(a, b)] = (head, rows)
            continue
        if "=" not in line:
            raise err(k, f"cannot parse {line[:60]!r} (expected 'key = value')")
        key, val = (s.strip() for s in line.split("=", 1))
        values[key] = (k, val)

    required = [
        "version", "scaling", "species_count", "radial_basis_type", "min_dist", "max_dist",
        "radial_basis_size", "radial_funcs_count", "alpha_moments_count", "alpha_index_basic_count",
        "alpha_index_basic", "alpha_index_times_count", "alpha_index_times", "alpha_scalar_moments",
        "alpha_moment_mapping", "species_coeffs", "moment_coeffs",
    ]
    missing = [r for r in required if r not in values]
    if missing:
        raise err(n, f"missing {', '.join(missing)} (file truncated?)")

    def get_int(key: str) -> int:
        lineno, val = values[key]
        try:
            return int(val)
        except ValueError:
            raise err(lineno, f"{key} must be an integer, got {val!r}") from None

    def get_float(key: str) -> float:
        lineno, val = values[key]
        try:
            return float(val)
        except ValueError:
            raise err(lineno, f"{key} must be a number, got {val!r}") from None

    def get_list(key: str, count: int, width: int = 1) -> np.ndarray:
        lineno, val = values[key]
        if val.count("{") != val.count("}"):
            raise err(lineno, f"{key}: unbalanced braces (file truncated?)")
        nums = _numbers(val)
        if len(nums) != count * width:
            raise err(lineno, f"{key}: expected {count * width} numbers, found {len(nums)}")
        arr = np.array(nums)
        return arr.reshape(count, width) if width > 1 else arr

    rb_type = values["radial_basis_type"][1]
    if rb_type not in SUPPORTED_RADIAL_BASES:
        raise err(values["radial_basis_type"][0], f"unknown radial basis {rb_type!r}; supported: {', '.join(SUPPORTED_RADIAL_BASES)}")
    version = values["version"][1]
    if version != "1.1.0":
        raise err(values["version"][0], f"unsupported MTP version {version!r} (expected 1.1.0)")

    S = get_int("species_count")
    if S < 1:
        raise err(values["species_count"][0], "species_count must be >= 1")
    nb = get_int("radial_basis_size")
    nf = get_int("radial_funcs_count")
    coeffs = np.zeros((S, S, nf, nb))
    for a in range(S):
        for b in range(S):
            if (a, b) not in radial:
                raise err(values["species_count"][0], f"species_count = {S} but radial_coeffs has no block {a}-{b}")
            head, rows = radial[(a, b)]
            for mu, row in enumerate(rows):
                if len(row) != nb:
                    raise err(head + mu, f"radial_coeffs {a}-{b}: row {mu} has {len(row)} values, expected radial_basis_size = {nb}")
            coeffs[a, b] = rows
    extra = [key for key in radial if key[0] >= S or key[1] >= S]
    if extra:
        head = radial[extra[0]][0] - 1
        raise err(head, f"radial_coeffs block {extra[0][0]}-{extra[0][1]} exceeds species_count = {S}")

    n_mom = get_int("alpha_moments_count")
    n_basic = get_int("alpha_index_basic_count")
    basic = get_list("alpha_index_basic", n_basic, 4).astype(np.int64)
    n_times = get_int("alpha_index_times_count")
    times = get_list("alpha_index_times", n_times, 4).astype(np.int64)
    n_scalar = get_int("alpha_scalar_moments")
    mapping = get_list("alpha_moment_mapping", n_scalar).astype(np.int64)
    species_coeffs = get_list("species_coeffs", S)
    moment_coeffs = get_list("moment_coeffs", n_scalar)

    if basic.size and (basic[:, 0].max() >= nf or basic.min() < 0):
        raise err(values["alpha_index_basic"][0], "alpha_index_basic: radial function index out of range")
    if times.size and (times[:, [0, 1, 3]].max() >= n_mom or times.min() < 0):
        raise err(values["alpha_index_times"][0], "alpha_index_times: moment index out of range")
    if times.size and np.any(times[:, 3] <= np.maximum(times[:, 0], times[:, 1])):
        raise err(values["alpha_index_times"][0], "alpha_index_times: a product must come after its factors")
    if mapping.size and (mapping.max() >= n_mom or mapping.min() < 0):
        raise err(values["alpha_moment_mapping"][0], "alpha_moment_mapping: index out of range")

    return MTPModel(
        path=str(path), version=version, potential_name=values.get("potential_name", (0, ""))[1],
        species_count=S, scaling=get_float("scaling"), radial_basis_type=rb_type,
        min_dist_A=get_float("min_dist"), max_dist_A=get_float("max_dist"), radial_basis_size=nb,
        radial_funcs_count=nf, radial_coeffs=coeffs, alpha_moments_count=n_mom,
        alpha_index_basic=basic, alpha_index_times=times, alpha_moment_mapping=mapping,
        species_coeffs=species_coeffs, moment_coeffs=moment_coeffs,
    )
