"""Read MLIP-2 ``.mtp`` and MLIP-3 ``.mtp``/``.almtp`` Moment Tensor Potential files into a validated model.

Own code: the format is a small key = value text format (MLIP-2, Novikov et al. 2021; MLIP-3,
Podryabinkin et al. 2023) with brace lists; no maintained standalone parser exists outside the
fitting packages. Every error is one line naming the file (and the line where there is one).

MLIP-3 files (layout read from MLIP-3's ``MLMTPR::Load``/``Save``, ``AnyBasis::ReadBasis`` and
``CfgSelection::Save``/``Load``; no code taken over):

* the text part is MLIP-2's: ``MTP``, ``version = 1.1.0``, ``potential_name``, optional
  ``scaling`` (written only when it is not 1, so it defaults to 1), ``species_count``,
  ``potential_tag``, ``radial_basis_type`` with its indented ``min_dist``/``max_dist``/
  ``radial_basis_size`` (``min_val``/``max_val``/``basis_size`` and a basis-level ``scaling``,
  which multiplies the global one, are read too), ``radial_funcs_count``, ``radial_coeffs``
  blocks ``a-b``, ``alpha_*`` tables, ``species_coeffs``, ``moment_coeffs``;
* a trained ``.almtp`` goes on with the selection state of active learning, which the energy
  does not need: a line ``#MVS_v1.1``, the selection weights, then ``#`` and the MaxVol matrices
  A and A^-1 as raw doubles (the writing machine's byte order), ``#``, the equation-to-configuration
  links and the selected configurations. The file is read as bytes and only the part before the first
  ``#MVS`` line is decoded (as ASCII); binary data anywhere else is an error naming the line;
* an untrained template (MLIP-3 writes no ``species_count``, an empty ``radial_coeffs`` and no
  coefficients) gives "``FILE`` is an untrained template ...: train it first";
* radial bases: ``RBChebyshev`` is evaluated and trained. ``RBChebyshev_repuls`` (MLIP-3: the
  Chebyshev basis frozen at ``min_dist`` for shorter pairs, plus a fixed pair repulsion
  1e4 (exp(-10 (r - 1)) - exp(-10 (min_dist - 1))) eV per neighbour closer than ``min_dist``) is
  evaluated by the calculator (``MTP``: every backend, the compiled ones through
  ``potentials.repulsion``) and by ``mtp_numpy`` (``repulsive=True``), but not trained, so
  :func:`read_mtp` returns it only when asked with ``radial_bases=READABLE_RADIAL_BASES`` (the
  trainer would fit it as a plain basis). Other bases (``RBShapeev``,
  ``RBTaylor``, ``BChebyshev``, ...), magnetic MTPs (``magnetic_basis_type``) and MLIP-3 forks'
  bases are refused with their name.

Checks beyond the syntax (each an :class:`MTPFormatError`, a
:class:`~incipient.errors.FileFormatError`): every number finite (``1e999``, ``inf`` and ``nan``
are rejected), ``0 <= min_dist < max_dist`` (the cutoff is ``max_dist``), every key and every
``radial_coeffs`` block given once (a repeated key is an error, not "last one wins").

Species: an MLIP file does not say which element each type is. This reader accepts an
optional comment line ``# species: Cs Cu I`` (symbols of types 0, 1, ... in order; other lines
starting with ``#`` are ignored); when present it is stored in ``MTPModel.species`` and the
calculator refuses a different species order. MLIP-3 may label the ``radial_coeffs`` blocks
with its own type numbers (e.g. ``29-29``, ``29-53``, ...) instead of 0, 1, ...; such a
consistent grid is read in file order (type k = the k-th label) and the labels are kept in
``MTPModel.type_labels``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from incipient.errors import FileFormatError

SUPPORTED_RADIAL_BASES = ("RBChebyshev",)
#: radial bases this reader can return when asked (``read_mtp(..., radial_bases=...)``): the
#: calculator evaluates both, the trainer only the first
READABLE_RADIAL_BASES = ("RBChebyshev", "RBChebyshev_repuls")
#: what MLIP-2/MLIP-3 bases this reader knows of but does not evaluate are (for the error message)
_OTHER_BASES = {
    "RBChebyshev_repuls": "MLIP-3's Chebyshev basis frozen below min_dist plus a fixed pair repulsion; "
                          "evaluated by incipient.potentials.MTP (the calculator) but not trained by incipient",
    "RBShapeev": "MLIP's Shapeev polynomial basis",
    "RBTaylor": "MLIP's Taylor (power) basis",
    "BChebyshev": "MLIP's Chebyshev basis without the (max_dist - r)^2 smoothing",
    "BChebyshev_repuls": "MLIP's unsmoothed Chebyshev basis frozen below min_dist",
}
#: the line where MLIP-3's binary selection state (active set) begins
MVS_MARKER = b"#MVS"
#: key aliases of MLIP's radial-basis reader
_ALIASES = {"min_val": "min_dist", "max_val": "max_dist", "basis_size": "radial_basis_size"}
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
    species : chemical symbols of types 0..S-1 from a ``# species: ...`` comment, or ``None``
        (the MLIP-2 format itself does not store them).
    type_labels : MLIP-3's own type numbers of types 0..S-1 when its ``radial_coeffs`` blocks are
        not labelled 0, 1, ... (else ``None``).
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
    species: tuple[str, ...] | None = None
    type_labels: tuple[int, ...] | None = None

    @property
    def cutoff_A(self) -> float:
        return self.max_dist_A


class MTPFormatError(FileFormatError):
    """A malformed ``.mtp`` file; the message names the file and line (a ValueError too)."""


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(_NUMBER, text)]


def _text_part(raw: bytes, path: Path) -> tuple[str, int | None]:
    """The decoded text before MLIP-3's ``#MVS`` selection section, and that section's line (or None)."""
    m = re.search(rb"(?m)^" + re.escape(MVS_MARKER), raw)
    head = raw if m is None else raw[: m.start()]
    tail_line = None if m is None else raw[: m.start()].count(b"\n") + 1
    try:
        return head.decode("ascii"), tail_line
    except UnicodeDecodeError as exc:
        line = head[: exc.start].count(b"\n") + 1
        raise MTPFormatError(
            f"{path}, line {line}: byte 0x{head[exc.start]:02x} is not ASCII text (an MTP file is text; "
            f"MLIP-3's binary selection data may only follow a '#MVS_v1.1' line)") from None


def read_mtp(path: str | Path, *, radial_bases: tuple[str, ...] = SUPPORTED_RADIAL_BASES) -> MTPModel:
    """Read an MLIP-2 ``.mtp`` or MLIP-3 ``.mtp``/``.almtp`` file (version 1.1.0).

    ``radial_bases``: the radial basis types accepted (default: ``RBChebyshev``, the one that is
    evaluated and trained; :data:`READABLE_RADIAL_BASES` adds ``RBChebyshev_repuls``, which the
    calculator evaluates). An MLIP-3 selection state after ``#MVS_v1.1`` is skipped.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileNotFoundError(f"{path}: cannot read MTP file ({exc.strerror})") from exc
    bad = [b for b in radial_bases if b not in READABLE_RADIAL_BASES]
    if bad:
        raise ValueError(f"radial_bases: {bad[0]!r} cannot be read; readable: {', '.join(READABLE_RADIAL_BASES)}")
    text, tail_line = _text_part(raw, path)
    lines = text.splitlines()

    def err(lineno: int, msg: str) -> MTPFormatError:
        return MTPFormatError(f"{path}, line {lineno}: {msg}")

    if not lines or lines[0].strip() != "MTP":
        raise err(1, "not an MLIP MTP file (first line must be 'MTP')")

    values: dict[str, tuple[int, str]] = {}
    radial: dict[tuple[int, int], tuple[int, list[list[float]]]] = {}
    radial_order: list[tuple[int, int]] = []
    radial_line = 0
    species: tuple[str, ...] | None = None
    species_line = 0
    k = 1
    n = len(lines)
    while k < n:
        raw_line = lines[k]
        line = raw_line.strip()
        k += 1
        if not line:
            continue
        if line.startswith("#"):
            m = re.fullmatch(r"#\s*species\s*[:=]\s*(.*)", line, flags=re.IGNORECASE)
            if m:
                if species is not None:
                    raise err(k, f"duplicated species comment (first at line {species_line})")
                species = tuple(m.group(1).replace(",", " ").split())
                species_line = k
            continue
        if line == "radial_coeffs":
            if "radial_funcs_count" not in values:
                raise err(k, "radial_coeffs before radial_funcs_count")
            if radial_line:
                raise err(k, f"duplicated key 'radial_coeffs' (first at line {radial_line}); each key may appear once")
            radial_line = k
            nfunc = int(values["radial_funcs_count"][1])
            while k < n and re.fullmatch(r"\d+-\d+", lines[k].strip()):
                head = k + 1  # 1-based line of the 'a-b' header; its rows follow
                a, b = (int(x) for x in lines[k].strip().split("-"))
                if (a, b) in radial:
                    raise err(head, f"duplicated radial_coeffs block {a}-{b} (first at line {radial[(a, b)][0]})")
                rows = []
                k += 1
                for _ in range(nfunc):
                    if k >= n or "{" not in lines[k]:
                        raise err(k + 1 if k < n else n, f"radial_coeffs block {a}-{b}: expected {nfunc} coefficient rows (file truncated?)")
                    rows.append(_numbers(lines[k]))
                    k += 1
                radial[(a, b)] = (head, rows)
                radial_order.append((a, b))
            continue
        if "=" not in line:
            raise err(k, f"cannot parse {line[:60]!r} (expected 'key = value')")
        key, val = (s.strip() for s in line.split("=", 1))
        key = _ALIASES.get(key, key)
        if key == "scaling" and "radial_basis_type" in values and "radial_funcs_count" not in values:
            key = "basis_scaling"  # MLIP-3: a scaling inside the radial basis multiplies the global one
        if key == "magnetic_basis_type":
            raise err(k, f"magnetic MTP (magnetic_basis_type = {val}) is not supported: incipient evaluates "
                         "non-magnetic MTPs only")
        if key == "radial_basis_type" and val not in radial_bases:
            what = f" ({_OTHER_BASES[val]})" if val in _OTHER_BASES else ""
            raise err(k, f"unknown radial basis {val!r}{what}; supported: {', '.join(radial_bases)}")
        if key in values:
            raise err(k, f"duplicated key {key!r} (first at line {values[key][0]}); each key may appear once")
        values[key] = (k, val)

    if not radial and "species_coeffs" not in values and "moment_coeffs" not in values:
        raise MTPFormatError(f"{path} is an untrained template (no radial_coeffs / moment_coeffs): train it first "
                             "(incipient.potentials.training.train_mtp, or MLIP's 'mlp train')")
    if "scaling" not in values:  # optional in MLIP-2 and MLIP-3 (not written when 1)
        values["scaling"] = (0, "1.0")

    required = [
        "version", "scaling", "species_count", "radial_basis_type", "min_dist", "max_dist",
        "radial_basis_size", "radial_funcs_count", "alpha_moments_count", "alpha_index_basic_count",
        "alpha_index_basic", "alpha_index_times_count", "alpha_index_times", "alpha_scalar_moments",
        "alpha_moment_mapping", "species_coeffs", "moment_coeffs",
    ]
    missing = [r for r in required if r not in values]
    if missing:
        raise err(n, f"missing {', '.join(missing)} (file truncated?)")

    def get_int(key: str, minimum: int = 0) -> int:
        lineno, val = values[key]
        try:
            out = int(val)
        except ValueError:
            raise err(lineno, f"{key} must be an integer, got {val!r}") from None
        if out < minimum:
            raise err(lineno, f"{key} must be >= {minimum}, got {out}")
        return out

    def get_float(key: str) -> float:
        lineno, val = values[key]
        try:
            out = float(val)
        except ValueError:
            raise err(lineno, f"{key} must be a number, got {val!r}") from None
        if not np.isfinite(out):
            raise err(lineno, f"{key} = {val} is not a finite number")
        return out

    def get_list(key: str, count: int, width: int = 1) -> np.ndarray:
        lineno, val = values[key]
        if val.count("{") != val.count("}"):
            raise err(lineno, f"{key}: unbalanced braces (file truncated?)")
        nums = _numbers(val)
        if len(nums) != count * width:
            raise err(lineno, f"{key}: expected {count * width} numbers, found {len(nums)}")
        arr = np.array(nums)
        if not np.all(np.isfinite(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise err(lineno, f"{key}: value {bad + 1} is not a finite number ({arr[bad]})")
        return arr.reshape(count, width) if width > 1 else arr

    rb_type = values["radial_basis_type"][1]  # checked against radial_bases where it was read
    version = values["version"][1]
    if version != "1.1.0":
        raise err(values["version"][0], f"unsupported MTP version {version!r} (expected 1.1.0)")

    S = get_int("species_count", 1)
    nb = get_int("radial_basis_size", 1)
    nf = get_int("radial_funcs_count", 1)
    min_dist, max_dist = get_float("min_dist"), get_float("max_dist")
    if min_dist < 0:
        raise err(values["min_dist"][0], f"min_dist = {min_dist} must be >= 0")
    if max_dist <= min_dist:
        raise err(values["max_dist"][0], f"max_dist = {max_dist} must be larger than min_dist = {min_dist} "
                  "(max_dist is the cutoff radius)")
    scaling = get_float("scaling")
    if "basis_scaling" in values:
        scaling *= get_float("basis_scaling")
    if species is not None:
        from ase.data import atomic_numbers

        unknown = [x for x in species if x not in atomic_numbers or x == "X"]
        if unknown:
            raise err(species_line, f"species comment: unknown element {unknown[0]!r}")
        if len(species) != S:
            raise err(species_line, f"species comment lists {len(species)} elements {list(species)} "
                      f"but species_count = {S}")
        if len(set(species)) != len(species):
            raise err(species_line, f"species comment lists an element twice: {list(species)}")
    type_labels = None
    if radial and set(radial) != {(a, b) for a in range(S) for b in range(S)}:
        # MLIP-3 labels blocks by its own type numbers, row by row: L0-L0, L0-L1, ..., L1-L0, ...
        labels = list(dict.fromkeys(x for key in radial_order for x in key))
        grid = [(la, lb) for la in labels for lb in labels]
        if len(labels) == S and radial_order == grid:
            type_labels = tuple(labels)
            radial = {(labels.index(la), labels.index(lb)): v for (la, lb), v in radial.items()}
    coeffs = np.zeros((S, S, nf, nb))
    for a in range(S):
        for b in range(S):
            if (a, b) not in radial:
                raise err(values["species_count"][0], f"species_count = {S} but radial_coeffs has no block {a}-{b}")
            head, rows = radial[(a, b)]
            for mu, row in enumerate(rows):
                if len(row) != nb:
                    raise err(head + 1 + mu, f"radial_coeffs {a}-{b}: row {mu} has {len(row)} values, expected radial_basis_size = {nb}")
            coeffs[a, b] = rows
            if not np.all(np.isfinite(coeffs[a, b])):
                mu = int(np.flatnonzero(~np.isfinite(coeffs[a, b]).all(axis=1))[0])
                raise err(head + 1 + mu, f"radial_coeffs {a}-{b}: row {mu} holds a non-finite number")
    extra = [key for key in radial if key[0] >= S or key[1] >= S]
    if extra:
        head = radial[extra[0]][0]
        raise err(head, f"radial_coeffs block {extra[0][0]}-{extra[0][1]} exceeds species_count = {S}")

    n_mom = get_int("alpha_moments_count", 1)
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
        species_count=S, scaling=scaling, radial_basis_type=rb_type,
        min_dist_A=min_dist, max_dist_A=max_dist, radial_basis_size=nb,
        radial_funcs_count=nf, radial_coeffs=coeffs, alpha_moments_count=n_mom,
        alpha_index_basic=basic, alpha_index_times=times, alpha_moment_mapping=mapping,
        species_coeffs=species_coeffs, moment_coeffs=moment_coeffs, species=species,
        type_labels=type_labels,
    )
