"""The physical system a study runs on: structure, found primitive cell, potential, mobile ion, data.

One :class:`System` describes one material, as phonopy's ``Phonopy`` describes one phonon
problem, and every stage of a study takes it; no stage knows which material it runs on.

A system is read from a *system file* (TOML, paths relative to the file) or built in Python::

    name = "MyCrystal"
    [structure]
    file = "POSCAR"                 # any ASE-readable file, a Jana2020 CIF or a ShengBTE CONTROL
    transform = [[1,0,0],[0,1,0],[0,0,1]]   # optional: integer supercell matrix to the study cell
    [potential]
    mtp = "pot.mtp"                 # an MLIP-2 file with its species order ...
    species = ["Cs", "Cu", "I"]
    # calculator = "chgnet.model.dynamics:CHGNetCalculator"  # ... or any ASE calculator factory
    # [potential.kwargs]            # keyword arguments of the factory
    [mobile]
    species = "Cu"                  # the migrating ion (required: never guessed)
    charge_e = 1.0                  # its charge for Nernst-Einstein
    [published]                     # optional published data
    fc3 = "FORCE_CONSTANTS_3RD"     # ShengBTE formats, for the cell ``fc_cell``
    fc4 = "FORCE_CONSTANTS_4TH"
    fc_cell = "CONTROL"             # the primitive cell the FC files refer to
    fc_supercell = [3, 3, 3]        # the supercell of fc_cell they were computed in
    cifs = { 100 = "100K.cif" }     # CIFs with measured reflections (MEM), by temperature in K
    [pathways]                      # optional names of hop directions (Cartesian, either sense)
    x = [1, 0, 0]
    [sqw_paths]                     # optional S(Q,w) paths, r.l.u. of the study cell
    "(H,4,0)" = [[0, 4, 0], [1, 4, 0]]
    [reference]                     # optional numbers to compare with: key = {value, unit, note}
    # citation = "..."              # optional top-level: where the reference data come from
    lattice_a_A = { value = 10.04, unit = "A", note = "PBEsol" }

Reference keys are the ones the stages compute (``lattice_a_A``, ``D_x_600K_cm2_s``,
``barrier_MID_eV``, ``kappa_p_x_300K_3p4ph_W_mK``, ... : see each stage); a stage adds a "this
run vs reference" row for every key the system's table holds.

The primitive cell is *found* with phonopy (``primitive_matrix="auto"``, spglib underneath),
never supplied. The study cell is the structure after ``transform``, wrapped, with exactly
orthogonal axes when it is orthogonal to 1e-8, and atoms in a stable order (by element, then
x, y, z) so that supercells and seeds reproduce. Built-in systems are system files under
``incipient/data/<name>/system.toml`` and go through the same path as a user's.
"""

from __future__ import annotations

import hashlib
import importlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from incipient.errors import InputError

_SECTIONS = {"name", "citation", "structure", "potential", "mobile", "published", "pathways", "sqw_paths", "reference"}


@dataclass(frozen=True)
class ReferenceValue:
    """A published number: ``value`` (float, or text such as "< 1e-9"), ``unit`` and ``note``."""

    value: Any
    unit: str = ""
    note: str = ""

    def text(self) -> str:
        v = self.value
        return f"{v:g}" if isinstance(v, float | int) and not isinstance(v, bool) else str(v)


@dataclass(frozen=True)
class PotentialSpec:
    """How to build the potential: an MLIP-2 file (``mtp`` + ``species``) or an ASE calculator
    factory ``"package.module:callable"`` called with ``kwargs``. ``make()`` returns a new
    calculator each call (one per process or cell size)."""

    mtp: Path | None = None
    species: tuple[str, ...] = ()
    factory: str = ""
    kwargs: dict = field(default_factory=dict)

    def __post_init__(self):
        if (self.mtp is None) == (not self.factory):
            raise InputError("give exactly one of potential.mtp and potential.calculator")
        if self.mtp is not None and not self.species:
            raise InputError(f"{self.mtp}: potential.species (the element of each MTP type, in order) is required")
        if self.factory and ":" not in self.factory:
            raise InputError(f"potential.calculator {self.factory!r}: expected 'package.module:callable'")

    @property
    def kind(self) -> str:
        return "mtp" if self.mtp is not None else "calculator"

    def make(self):
        if self.mtp is not None:
            from incipient.potentials import MTP

            return MTP(self.mtp, species=self.species)
        module_name, _, attr = self.factory.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise InputError(f"potential.calculator {self.factory!r}: cannot import {module_name!r} ({exc}); "
                             "install the package (e.g. pip install 'incipient[universal]')") from None
        obj = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise InputError(f"potential.calculator {self.factory!r}: {module_name} has no {attr!r}")
            obj = getattr(obj, part)
        calc = obj(**self.kwargs)
        if not hasattr(calc, "get_potential_energy") and not hasattr(calc, "calculate"):
            raise InputError(f"potential.calculator {self.factory!r} did not return an ASE calculator "
                             f"(got {type(calc).__name__})")
        return calc

    def to_dict(self) -> dict:
        """Provenance: the file with its SHA-256 and species, or the factory with its arguments."""
        if self.mtp is not None:
            return {"kind": "mtp", "file": str(self.mtp), "sha256": file_digest(self.mtp), "species": list(self.species)}
        return {"kind": "calculator", "factory": self.factory, "kwargs": dict(self.kwargs)}

    def to_payload(self) -> dict:
        """Plain arguments that rebuild this spec in another process (``PotentialSpec(**payload)``)."""
        return {"mtp": None if self.mtp is None else str(self.mtp), "species": list(self.species),
                "factory": self.factory, "kwargs": dict(self.kwargs)}

    @classmethod
    def from_payload(cls, payload: dict) -> PotentialSpec:
        p = dict(payload)
        return cls(mtp=None if not p.get("mtp") else Path(p["mtp"]), species=tuple(p.get("species", ())),
                   factory=p.get("factory", ""), kwargs=dict(p.get("kwargs", {})))


@dataclass(frozen=True)
class PublishedData:
    """Optional published data: ShengBTE fc3/fc4 files for ``fc_cell`` computed in ``fc_supercell``,
    and CIFs with measured structure factors by temperature (K)."""

    fc3: Path | None = None
    fc4: Path | None = None
    fc_cell: Atoms | None = None
    fc_cell_file: Path | None = None
    fc_supercell: tuple[int, int, int] | None = None
    cifs: dict = field(default_factory=dict)

    def files(self) -> list[Path]:
        out = [p for p in (self.fc3, self.fc4, self.fc_cell_file) if p is not None]
        return out + [Path(p) for _, p in sorted(self.cifs.items())]


def file_digest(path: str | Path) -> str:
    """SHA-256 (first 16 hex digits) of a file's contents."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _std_cell(atoms: Atoms, transform=None) -> Atoms:
    """The study cell: ``transform`` applied, wrapped, orthogonal axes made exact, stable atom order."""
    from ase.build import make_supercell

    a = atoms.copy()
    if transform is not None:
        t = np.asarray(transform)
        if t.shape != (3, 3) or not np.allclose(t, np.round(t)) or round(abs(np.linalg.det(t))) < 1:
            raise InputError(f"structure.transform must be a 3x3 integer matrix with non-zero determinant, got {transform!r}")
        a = make_supercell(a, np.round(t).astype(int))
    cell = a.cell.array
    off = cell - np.diag(np.diag(cell))
    if np.abs(off).max() < 1e-8 * np.abs(cell).max():
        a.set_cell(np.diag(a.cell.lengths()), scale_atoms=True)
    a.wrap()
    p = a.positions
    order = np.lexsort((p[:, 2], p[:, 1], p[:, 0], a.numbers))
    a = a[order]
    a.calc = None
    return a


def find_primitive(atoms: Atoms, symprec: float = 1e-5) -> tuple[Atoms, np.ndarray]:
    """Primitive cell found by phonopy (``primitive_matrix="auto"``) and the primitive matrix P
    (phonopy's convention: primitive lattice vectors = P.T @ cell rows, i.e. cell_p = (cell.T @ P).T)."""
    from phonopy.structure.cells import get_primitive, guess_primitive_matrix

    from incipient.lattice.phonopy_io import ase_to_phonopy_atoms, phonopy_to_ase_atoms

    unit = ase_to_phonopy_atoms(atoms)
    pmat = np.asarray(guess_primitive_matrix(unit, symprec=symprec), dtype=float)
    prim = phonopy_to_ase_atoms(get_primitive(unit, pmat, symprec=symprec))
    return prim, pmat


def perpendicular_widths(cell) -> np.ndarray:
    """Distances between opposite faces of a cell (rows are lattice vectors), Angstrom."""
    cell = np.asarray(cell, dtype=float)
    vol = abs(np.linalg.det(cell))
    return np.array([vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)])


def repeat_for_width(cell, min_width_A: float) -> tuple[int, int, int]:
    """Smallest diagonal repeat whose supercell is at least ``min_width_A`` wide in every direction."""
    w = perpendicular_widths(cell)
    return tuple(int(max(1, np.ceil(min_width_A / x - 1e-9))) for x in w)


class System:
    """One material: study cell, found primitive cell, potential, mobile ion and optional data.

    Parameters
    ----------
    structure : the unit cell the study builds supercells from (ASE Atoms, Cartesian as given);
        normalised as described in the module docstring (``transform`` first, if given).
    potential : a :class:`PotentialSpec`, an ASE calculator *factory* (zero-argument callable), or
        a path to an ``.mtp`` file (then ``species`` is required).
    mobile_species : element symbol of the migrating ion; ``mobile_charge_e`` its charge (e).
    """

    def __init__(self, structure: Atoms, potential, mobile_species: str, *, name: str | None = None,
                 mobile_charge_e: float = 1.0, species: tuple[str, ...] = (), transform=None,
                 published: PublishedData | None = None, pathway_names: dict | None = None,
                 sqw_paths: dict | None = None, reference: dict | None = None, source: Path | None = None,
                 structure_file: Path | None = None, symprec: float = 1e-5, citation: str = ""):
        from ase.data import chemical_symbols

        self.source = None if source is None else Path(source)
        where = str(self.source) if self.source else None
        if not isinstance(structure, Atoms) or len(structure) == 0:
            raise InputError("the structure holds no atoms", source=where)
        if not np.all(np.isfinite(structure.positions)) or not np.all(np.isfinite(structure.cell.array)):
            raise InputError("the structure has non-finite positions or cell", source=structure_file or where)
        if structure.cell.rank != 3 or not structure.pbc.all():
            raise InputError("the structure must be a 3D periodic crystal (three lattice vectors, pbc)", source=structure_file or where)
        if not isinstance(mobile_species, str) or mobile_species not in chemical_symbols[1:]:
            raise InputError(f"mobile.species {mobile_species!r} is not an element symbol", source=where)
        self.structure = _std_cell(structure, transform)
        elements = sorted(set(self.structure.get_chemical_symbols()))
        if mobile_species not in elements:
            raise InputError(f"mobile.species {mobile_species!r} is not in the structure (elements: {', '.join(elements)})",
                             source=where)
        if not np.isfinite(mobile_charge_e) or mobile_charge_e == 0:
            raise InputError(f"mobile.charge_e must be a non-zero number, got {mobile_charge_e!r}", source=where)
        self.name = name or self.structure.get_chemical_formula(mode="metal", empirical=True)
        self.mobile_species = mobile_species
        self.mobile_charge_e = float(mobile_charge_e)
        if isinstance(potential, PotentialSpec):
            self.potential = potential
            self._factory = None
        elif isinstance(potential, str | Path):
            self.potential = PotentialSpec(mtp=Path(potential), species=tuple(species))
            self._factory = None
        elif callable(potential):
            self.potential = PotentialSpec(factory=f"{getattr(potential, '__module__', '?')}:{getattr(potential, '__qualname__', '?')}")
            self._factory = potential
        else:
            raise InputError(f"potential: expected a PotentialSpec, an .mtp path or a calculator factory, got {type(potential).__name__}",
                             source=where)
        if self.potential.mtp is not None:
            missing = [e for e in elements if e not in self.potential.species]
            if missing:
                raise InputError(f"potential.species {list(self.potential.species)} does not cover {missing}", source=where)
        self.published = published or PublishedData()
        self.pathway_names = {str(k): np.asarray(v, dtype=float) for k, v in (pathway_names or {}).items()}
        self.sqw_paths = {str(k): (tuple(map(float, v[0])), tuple(map(float, v[1]))) for k, v in (sqw_paths or {}).items()}
        self.reference = {str(k): v if isinstance(v, ReferenceValue) else ReferenceValue(**v) if isinstance(v, dict) else ReferenceValue(v)
                          for k, v in (reference or {}).items()}
        self.structure_file = None if structure_file is None else Path(structure_file)
        self.symprec = float(symprec)
        self.citation = str(citation)
        self._primitive = None

    # ------------------------------------------------------------------ cells
    @property
    def primitive(self) -> Atoms:
        """The primitive cell found by phonopy/spglib from the study cell."""
        if self._primitive is None:
            self._primitive = find_primitive(self.structure, self.symprec)
        return self._primitive[0].copy()

    @property
    def primitive_matrix(self) -> np.ndarray:
        """Phonopy's primitive matrix from the study cell to :attr:`primitive`."""
        self.primitive  # noqa: B018 - computes and caches
        return self._primitive[1].copy()

    def phonon_primitive(self) -> Atoms:
        """The cell force constants are expressed in: the published FCs' cell when the system has
        one (so the published fc3/fc4 keep their atom order), else the found primitive cell."""
        if self.published.fc_cell is not None:
            return self.published.fc_cell.copy()
        return self.primitive

    def supercell(self, repeat) -> Atoms:
        """Diagonal supercell of the study cell."""
        rep = tuple(int(n) for n in repeat)
        if len(rep) != 3 or min(rep) < 1:
            raise InputError(f"supercell repeat must be three positive integers, got {repeat!r}")
        return self.structure.repeat(rep)

    def repeat_for_width(self, min_width_A: float) -> tuple[int, int, int]:
        """Smallest repeat of the study cell that is at least ``min_width_A`` wide in every direction."""
        return repeat_for_width(self.structure.cell.array, min_width_A)

    # ------------------------------------------------------------------ potential
    def calculator(self):
        """A new ASE calculator for this system's potential."""
        if self._factory is not None:
            return self._factory()
        return self.potential.make()

    def provides_heat_current(self) -> bool:
        """Whether the potential gives per-atom energies and centroid virials (the heat current
        J = sum_i v_i e_i - sum_i W_i . v_i needs both): MTP does; other calculators when they
        implement ASE properties "energies" and "virials"."""
        if self.potential.mtp is not None:
            return True
        props = set(getattr(self.calculator(), "implemented_properties", ()))
        return {"energies", "virials"} <= props

    @property
    def potential_cutoff_A(self) -> float | None:
        """The potential's cutoff radius where it has one (MTP: max_dist), else None."""
        if self.potential.mtp is None:
            return None
        from incipient.potentials.mtp_file import READABLE_RADIAL_BASES, read_mtp

        return float(read_mtp(self.potential.mtp, radial_bases=READABLE_RADIAL_BASES).cutoff_A)

    # ------------------------------------------------------------------ data and provenance
    @property
    def has_published_fc3(self) -> bool:
        return self.published.fc3 is not None

    @property
    def has_published_fc4(self) -> bool:
        return self.published.fc4 is not None

    def files(self) -> list[Path]:
        """Every file the system reads (for content hashes in stage keys)."""
        out = [p for p in (self.source, self.structure_file, self.potential.mtp) if p is not None]
        return out + self.published.files()

    DIGEST_PARTS = ("structure", "potential", "mobile", "published", "pathways", "sqw_paths")

    def digest(self, parts: tuple[str, ...] = DIGEST_PARTS) -> str:
        """Hash of what defines the named parts of the system, file contents included (a stage's
        cache key holds the parts it reads: an edited .mtp or structure file reruns it). Files enter
        by name and content, not by folder: a study moved or copied elsewhere stays cached."""
        import json

        def files(paths):
            return {Path(p).name: file_digest(p) for p in paths if p is not None}

        def potential():
            d = self.potential.to_dict()
            return {**d, "file": Path(d["file"]).name} if d.get("file") else d

        full = {"structure": lambda: [self.structure.get_chemical_symbols(), np.round(self.structure.cell.array, 10).tolist(),
                                      np.round(self.structure.positions, 10).tolist(), files([self.structure_file]),
                                      self.symprec],
                "potential": potential,
                "mobile": lambda: [self.mobile_species, self.mobile_charge_e],
                "published": lambda: files(self.published.files()) | {"fc_supercell": self.published.fc_supercell},
                "pathways": lambda: {k: v.tolist() for k, v in self.pathway_names.items()},
                "sqw_paths": lambda: self.sqw_paths}
        bad = [p for p in parts if p not in full]
        if bad:
            raise ValueError(f"unknown system part {bad[0]!r}; known: {', '.join(full)}")
        payload = {p: full[p]() for p in parts}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def reference_row(self, key: str, quantity: str, this_run: str, unit: str = "", note: str = "") -> list | None:
        """A "this run vs reference" row ``[quantity, this run, reference, unit, note]`` when the
        system's reference table has ``key``, else None."""
        ref = self.reference.get(key)
        if ref is None:
            return None
        n = "; ".join(x for x in (note, ref.note) if x)
        return [quantity, this_run, ref.text(), unit or ref.unit, n]

    def to_dict(self) -> dict:
        """Provenance of the system (no arrays beyond the cell)."""
        return {"name": self.name, "source": str(self.source) if self.source else None,
                "formula": self.structure.get_chemical_formula(), "n_atoms_cell": len(self.structure),
                "cell_A": np.round(self.structure.cell.array, 6).tolist(), "n_atoms_primitive": len(self.primitive),
                "mobile_species": self.mobile_species, "mobile_charge_e": self.mobile_charge_e,
                "potential": self.potential.to_dict(),
                "published": {"fc3": str(self.published.fc3) if self.published.fc3 else None,
                              "fc4": str(self.published.fc4) if self.published.fc4 else None,
                              "cifs": {str(k): str(v) for k, v in self.published.cifs.items()}},
                "pathway_names": {k: v.tolist() for k, v in self.pathway_names.items()},
                "reference_keys": sorted(self.reference)}

    def __repr__(self) -> str:
        return (f"System({self.name!r}, {self.structure.get_chemical_formula()}, {len(self.structure)} atoms/cell, "
                f"{len(self.primitive)} primitive, mobile {self.mobile_species}, potential {self.potential.kind})")

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_file(cls, path: str | Path) -> System:
        """Read a system file (TOML; see the module docstring)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise InputError(f"cannot read the system file ({exc.strerror})", source=path) from None
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"not valid TOML: {exc}", source=path) from None
        return cls.from_dict(data, base_dir=path.parent, source=path)

    @classmethod
    def from_dict(cls, data: dict, *, base_dir: str | Path = ".", source: Path | None = None) -> System:
        """Build from the tables of a system file (``structure``, ``potential``, ``mobile``, ...)."""
        base = Path(base_dir)
        where = str(source) if source else "system"
        unknown = set(data) - _SECTIONS
        if unknown:
            raise InputError(f"unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(_SECTIONS))}", source=where)

        def table(name: str, allowed: set[str]) -> dict:
            t = data.get(name, {})
            if not isinstance(t, dict):
                raise InputError(f"{name}: expected a table", source=where)
            bad = set(t) - allowed
            if bad:
                raise InputError(f"{name}: unknown key {sorted(bad)[0]!r}; allowed: {', '.join(sorted(allowed))}", source=where)
            return t

        def file(name: str, value) -> Path:
            if not isinstance(value, str) or not value:
                raise InputError(f"{name}: expected a file name, got {value!r}", source=where)
            p = Path(value)
            p = p if p.is_absolute() else base / p
            if not p.is_file():
                raise InputError(f"{name}: no such file {p}", source=where)
            return p

        st = table("structure", {"file", "transform", "symprec"})
        if "file" not in st:
            raise InputError("structure.file is required", source=where)
        sfile = file("structure.file", st["file"])
        from incipient.structures.io import read_structure

        atoms = read_structure(sfile)
        pt = table("potential", {"mtp", "species", "calculator", "kwargs"})
        if "mtp" in pt and "calculator" in pt:
            raise InputError("potential: give mtp or calculator, not both", source=where)
        if "mtp" in pt:
            if "species" not in pt:
                raise InputError("potential.species is required with potential.mtp (the element of each MTP type, in order)",
                                 source=where)
            spec = PotentialSpec(mtp=file("potential.mtp", pt["mtp"]), species=tuple(pt["species"]))
        elif "calculator" in pt:
            kwargs = pt.get("kwargs", {})
            if not isinstance(kwargs, dict):
                raise InputError("potential.kwargs: expected a table", source=where)
            spec = PotentialSpec(factory=str(pt["calculator"]), kwargs=dict(kwargs))
        else:
            raise InputError("potential: give mtp = 'file.mtp' (with species) or calculator = 'package.module:factory'",
                             source=where)
        mt = table("mobile", {"species", "charge_e"})
        if "species" not in mt:
            raise InputError("mobile.species is required (the migrating ion, e.g. 'Cu')", source=where)
        pub = table("published", {"fc3", "fc4", "fc_cell", "fc_supercell", "cifs"})
        fc_cell_file = file("published.fc_cell", pub["fc_cell"]) if "fc_cell" in pub else None
        if ("fc3" in pub or "fc4" in pub) and fc_cell_file is None:
            raise InputError("published.fc_cell (the primitive cell the fc3/fc4 files refer to) is required with fc3/fc4",
                             source=where)
        cifs = pub.get("cifs", {})
        if not isinstance(cifs, dict):
            raise InputError("published.cifs: expected a table temperature = 'file.cif'", source=where)
        try:
            cif_paths = {float(k): file(f"published.cifs.{k}", v) for k, v in cifs.items()}
        except ValueError:
            raise InputError("published.cifs: keys must be temperatures in K", source=where) from None
        published = PublishedData(
            fc3=file("published.fc3", pub["fc3"]) if "fc3" in pub else None,
            fc4=file("published.fc4", pub["fc4"]) if "fc4" in pub else None,
            fc_cell=read_structure(fc_cell_file) if fc_cell_file else None, fc_cell_file=fc_cell_file,
            fc_supercell=tuple(int(x) for x in pub["fc_supercell"]) if "fc_supercell" in pub else None,
            cifs=cif_paths)
        if (published.fc3 or published.fc4) and published.fc_supercell is None:
            raise InputError("published.fc_supercell (the supercell of fc_cell the FCs were computed in) is required",
                             source=where)
        pathways = data.get("pathways", {})
        for k, v in pathways.items():
            if not (isinstance(v, list) and len(v) == 3 and np.linalg.norm(np.asarray(v, float)) > 0):
                raise InputError(f"pathways.{k}: expected a non-zero Cartesian direction [x, y, z]", source=where)
        paths = data.get("sqw_paths", {})
        for k, v in paths.items():
            if not (isinstance(v, list) and len(v) == 2 and all(len(e) == 3 for e in v)):
                raise InputError(f"sqw_paths.{k!r}: expected [[h, k, l], [h, k, l]] (start, end in r.l.u.)", source=where)
        ref = {}
        for k, v in data.get("reference", {}).items():
            if isinstance(v, dict):
                bad = set(v) - {"value", "unit", "note"}
                if bad or "value" not in v:
                    raise InputError(f"reference.{k}: expected {{value = ..., unit = '...', note = '...'}}", source=where)
                ref[k] = ReferenceValue(v["value"], str(v.get("unit", "")), str(v.get("note", "")))
            else:
                ref[k] = ReferenceValue(v)
        return cls(atoms, spec, mt["species"], name=data.get("name"), mobile_charge_e=float(mt.get("charge_e", 1.0)),
                   transform=st.get("transform"), published=published, pathway_names=pathways, sqw_paths=paths,
                   reference=ref, source=source, structure_file=sfile, symprec=float(st.get("symprec", 1e-5)),
                   citation=str(data.get("citation", "")))


BUILTIN_DIR = Path(__file__).resolve().parent / "data"


def builtin_systems() -> list[str]:
    """Names of the built-in systems (folders of ``incipient/data`` with a ``system.toml``)."""
    return sorted(p.parent.name for p in BUILTIN_DIR.glob("*/system.toml"))


def load_system(name_or_path: str | Path) -> System:
    """A built-in system by name (e.g. one of :func:`builtin_systems`) or a system file by path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.is_file():
        return System.from_file(p)
    f = BUILTIN_DIR / str(name_or_path) / "system.toml"
    if f.is_file():
        return System.from_file(f)
    raise InputError(f"{name_or_path}: neither a system file nor a built-in system ({', '.join(builtin_systems())})")


__all__ = ["PotentialSpec", "PublishedData", "ReferenceValue", "System", "builtin_systems", "find_primitive",
           "load_system", "perpendicular_widths", "repeat_for_width"]
