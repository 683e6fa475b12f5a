"""Read ShengBTE CONTROL files (Fortran namelists) into an ASE primitive cell and a settings dict.

Own code: neither ASE nor phonopy reads ShengBTE CONTROL files, and the subset ShengBTE uses
(``&allocations``, ``&crystal``, ``&parameters``, ``&flags``; one ``key = value`` per line,
``lattvec(:,i)``/``positions(:,i)``/``born(:,:,i)``-style array sections) is small enough that a
dedicated parser is clearer than pulling in a namelist library. Keys are case-insensitive and
returned in lower case.

``lattvec(:,i)`` is the i-th primitive lattice vector in units of ``lfactor`` nm, so the ASE cell
in Angstrom is ``10 * lfactor * lattvec``. ``positions(:,i)`` are fractional coordinates and
``types`` 1-based indices into ``elements``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["parse_shengbte_namelists", "read_shengbte_control"]

_ASSIGN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(\(([^)]*)\))?\s*=\s*(.*?)\s*,?\s*$")


def _convert(token: str) -> Any:
    tok = token.strip()
    low = tok.lower()
    if low in (".true.", ".t.", "t", "true"):
        return True
    if low in (".false.", ".f.", "f", "false"):
        return False
    if len(tok) >= 2 and tok[0] == tok[-1] and tok[0] in "'\"":
        return tok[1:-1]
    try:
        return int(tok)
    except ValueError:
        pass
    try:
        return float(tok.replace("d", "e").replace("D", "e"))
    except ValueError:
        return tok  # e.g. the placeholder "AA" in a template CONTROL file


def _split_values(text: str) -> list[str]:
    # split on commas/whitespace outside quotes
    return [t for t in re.findall(r"'[^']*'|\"[^\"]*\"|[^,\s]+", text) if t]


def parse_shengbte_namelists(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Parse a CONTROL file -> {namelist: {key: value}}.

    Scalars stay scalars, lists stay lists; indexed keys such as ``lattvec(:,2)`` are stored as
    ``{"lattvec": {(":", 2): [...]}}`` (index tuple with ints where numeric).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such CONTROL file")
    out: dict[str, dict[str, Any]] = {}
    current: str | None = None
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("!", 1)[0].strip()
        if not line:
            continue
        if line.startswith("&"):
            if current is not None:
                raise ValueError(f"{path}, line {lineno}: namelist &{current} not closed with '/'")
            current = line[1:].strip().lower()
            out.setdefault(current, {})
            continue
        if line == "/":
            if current is None:
                raise ValueError(f"{path}, line {lineno}: '/' outside a namelist")
            current = None
            continue
        if current is None:
            raise ValueError(f"{path}, line {lineno}: assignment outside a namelist: {raw.strip()!r}")
        m = _ASSIGN.match(line)
        if m is None:
            raise ValueError(f"{path}, line {lineno}: cannot parse {raw.strip()!r} as 'key = value'")
        key, index, values = m.group(1).lower(), m.group(3), m.group(4)
        vals = [_convert(t) for t in _split_values(values)]
        if not vals:
            raise ValueError(f"{path}, line {lineno}: no value given for {key!r}")
        value: Any = vals[0] if len(vals) == 1 else vals
        if index is None:
            out[current][key] = value
        else:
            idx = tuple(_convert(t) if t.strip() != ":" else ":" for t in index.split(","))
            out[current].setdefault(key, {})[idx] = vals
    if current is not None:
        raise ValueError(f"{path}: namelist &{current} not closed with '/' at end of file")
    return out


def _column_array(path: Path, nl: dict, key: str, n: int) -> np.ndarray:
    entries = nl.get(key)
    if not isinstance(entries, dict):
        raise ValueError(f"{path}: &crystal has no {key}(:,i) entries")
    arr = np.empty((n, 3))
    for i in range(1, n + 1):
        vec = entries.get((":", i))
        if vec is None or len(vec) != 3:
            raise ValueError(f"{path}: {key}(:,{i}) missing or not 3 numbers")
        arr[i - 1] = [float(v) for v in vec]
    return arr


def read_shengbte_control(path: str | os.PathLike):
    """Read a ShengBTE CONTROL file -> (primitive ase.Atoms, settings dict).

    The Atoms carry the CONTROL masses (amu) per site. ``settings`` is the flat union of the
    ``&allocations``, ``&parameters`` and ``&flags`` namelists (lower-case keys) plus
    ``scell`` (3 ints), ``lfactor_nm``, ``elements`` and the parsed namelists under ``namelists``.
    Temperatures: ``settings["temperatures_K"]`` holds ``[T]`` or the ``T_min..T_max`` range.
    """
    from ase import Atoms

    path = Path(path)
    nls = parse_shengbte_namelists(path)
    for name in ("allocations", "crystal"):
        if name not in nls:
            raise ValueError(f"{path}: missing namelist &{name}")
    alloc, crystal = nls["allocations"], nls["crystal"]
    try:
        natoms = int(alloc["natoms"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: &allocations needs an integer natoms") from exc
    elements = crystal.get("elements")
    elements = [elements] if isinstance(elements, str) else list(elements or [])
    if not elements:
        raise ValueError(f"{path}: &crystal has no elements")
    lfactor = float(crystal.get("lfactor", 1.0))
    lattvec = _column_array(path, crystal, "lattvec", 3)
    positions = _column_array(path, crystal, "positions", natoms)
    types = crystal.get("types")
    types = [types] if isinstance(types, int) else list(types or [])
    if len(types) != natoms or not all(isinstance(t, int) and 1 <= t <= len(elements) for t in types):
        raise ValueError(f"{path}: types must be {natoms} integers in 1..{len(elements)}, got {types}")
    symbols = [elements[t - 1] for t in types]
    atoms = Atoms(symbols=symbols, scaled_positions=positions, cell=lattvec * lfactor * 10.0, pbc=True)
    masses = crystal.get("masses")
    if masses is not None:
        masses = [masses] if not isinstance(masses, list) else masses
        if len(masses) != len(elements):
            raise ValueError(f"{path}: {len(masses)} masses for {len(elements)} elements")
        atoms.set_masses([float(masses[t - 1]) for t in types])
    settings: dict[str, Any] = {}
    for name in ("allocations", "parameters", "flags"):
        settings.update(nls.get(name, {}))
    scell = crystal.get("scell")
    if scell is not None:
        scell = [scell] if isinstance(scell, int) else scell
        if len(scell) != 3 or not all(isinstance(s, int) and s > 0 for s in scell):
            raise ValueError(f"{path}: scell must be 3 positive integers, got {scell}")
        settings["scell"] = tuple(scell)
    settings["lfactor_nm"] = lfactor
    settings["elements"] = elements
    params = nls.get("parameters", {})
    if "t" in params:
        settings["temperatures_K"] = [float(params["t"])]
    elif "t_min" in params and "t_max" in params:
        step = float(params.get("t_step", 1.0))
        settings["temperatures_K"] = list(
            np.arange(float(params["t_min"]), float(params["t_max"]) + 0.5 * step, step)
        )
    settings["namelists"] = nls
    return atoms, settings
