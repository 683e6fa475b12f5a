"""Study configuration: TOML loaded into validated dataclasses, with the built-in presets.

Every key is checked: an unknown section or key, or a value of the wrong type or outside its
allowed set, raises StudyConfigError naming the file, the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incipient.data import DEFAULT_SYSTEM  # the built-in system a study without [system] runs on
from incipient.errors import InputError

ALL_STAGES = ("relax", "md", "migration", "barriers", "spectra", "force_constants", "kappa_bte",
              "kappa_gk", "mem", "classify", "report")


class StudyConfigError(InputError):
    """A study file with an unknown key or an invalid value."""


@dataclass(frozen=True)
class SystemConfig:
    file: str = ""  # a system file (TOML; see incipient.system), relative to the study file
    builtin: str = ""  # or the name of a built-in system (incipient.system.builtin_systems())


@dataclass(frozen=True)
class StructureConfig:
    builtin: str = ""  # legacy spelling of system.builtin
    file: str = ""  # a structure file: the system is then this structure + [potential] + [migration] species
    repeat: tuple = ()  # supercell of the study cell for MD; empty: the smallest one min_width_A wide
    min_width_A: float = 20.0  # MD supercell width when repeat is empty (20 A: 2x2x4 for the built-in cell)
    relax_fmax_eV_A: float = 0.002
    find_minimum: bool = True  # also relax rattled, symmetry-broken starts: finds the true minimum, warns on a saddle
    minimum_starts: int = 8  # rattled starts of that search
    md_cell: str = "input"  # "input": MD in the given cell; "relaxed": in the cell relaxed with the potential


@dataclass(frozen=True)
class PotentialConfig:
    mtp: str = ""  # an MLIP-2 file (with species), replacing the system's potential
    species: tuple = ("",)
    calculator: str = ""  # or an ASE calculator factory "package.module:callable"
    kwargs: dict = field(default_factory=dict)  # keyword arguments of the factory


@dataclass(frozen=True)
class MDConfig:
    temperatures_K: tuple = (300.0, 600.0)
    timestep_fs: float = 2.0
    nvt_ps: float = 3.0
    nve_ps: float = 12.0
    nve_ps_by_temperature: tuple = ()  # NVE length (ps) per temperature, in the order of temperatures_K; empty: nve_ps
    save_every: int = 5
    heat_current_every: int = 1
    seeds: tuple = (0,)
    thermostat: str = "bussi"

    def nve_ps_at(self, temperature_K: float) -> float:
        """The NVE length (ps) of the run at ``temperature_K``."""
        if not self.nve_ps_by_temperature:
            return float(self.nve_ps)
        k = [float(t) for t in self.temperatures_K].index(float(temperature_K))
        return float(self.nve_ps_by_temperature[k])


@dataclass(frozen=True)
class MigrationConfig:
    species: str = ""  # the mobile ion; empty: the system's mobile species
    min_residence_fs: float = 100.0
    neb_repeat: tuple = ()  # supercell of the minimum for the NEB; empty: the smallest with >= 144 atoms, 10 A wide
    neb_images: int = 5
    neb_fmax_eV_A: float = 0.05
    neb_size_check: bool = False  # repeat the barriers in a larger cell to show they are converged in size


@dataclass(frozen=True)
class ForceConstantsConfig:
    temperature_K: float = 300.0
    n_snapshots: int = 60
    cutoffs_A: tuple = (6.0,)  # (fc2,) or (fc2, fc3) or (fc2, fc3, fc4); paper: 8, 6, 5.2
    fc2_per_temperature: bool = False  # also fit fc2 at every MD temperature: kappa(T) both ways (kappa_bte)


@dataclass(frozen=True)
class KappaConfig:
    mesh: tuple = (5, 5, 5)
    temperatures_K: tuple = (300.0, 450.0, 600.0)
    four_phonon: bool = False
    four_phonon_samples: int = 60  # q-pairs sampled per irreducible q-point (0: exact sum)
    four_phonon_workers: int = 1  # 4ph batches (100+ q-pairs each) computed in this many processes at once
    velocity_convention: str = "crystal"  # or lattice_phase, lattice_phase_real (ShengBTE add-ons; docs/kappa.md)


@dataclass(frozen=True)
class MEMConfig:
    temperatures_K: tuple = (200.0, 500.0)
    grid_A: float = 0.1


@dataclass(frozen=True)
class StudyConfig:
    name: str = ""  # empty: the system's name
    output_dir: str = "incipient-study"
    stages: tuple = ALL_STAGES
    system: SystemConfig = field(default_factory=SystemConfig)
    structure: StructureConfig = field(default_factory=StructureConfig)
    potential: PotentialConfig = field(default_factory=PotentialConfig)
    md: MDConfig = field(default_factory=MDConfig)
    migration: MigrationConfig = field(default_factory=MigrationConfig)
    force_constants: ForceConstantsConfig = field(default_factory=ForceConstantsConfig)
    kappa: KappaConfig = field(default_factory=KappaConfig)
    mem: MEMConfig = field(default_factory=MEMConfig)

    base_dir: str = field(default=".", compare=False)  # folder of the study file: relative paths start here

    def resolve(self, path: str) -> Path:
        """A path from the study file, relative to the study file's folder."""
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def md_repeat(self, system) -> tuple[int, int, int]:
        """The MD supercell of the system's study cell: ``structure.repeat`` or the smallest
        repeat that is ``structure.min_width_A`` wide in every direction."""
        if self.structure.repeat:
            return tuple(int(n) for n in self.structure.repeat)
        return system.repeat_for_width(self.structure.min_width_A)

    def section_hash(self, *names: str) -> str:
        """Stable hash of the named sections (for stage caching)."""
        d = {n: _plain(getattr(self, n)) for n in names}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return _plain(self)


def _plain(x: Any) -> Any:
    if dataclasses.is_dataclass(x):
        return {f.name: _plain(getattr(x, f.name)) for f in dataclasses.fields(x) if f.compare}
    if isinstance(x, tuple | list):
        return [_plain(v) for v in x]
    return x


PRESETS: dict[str, dict] = {
    # finishes in minutes on 2 cores: small cells, ps-long MD, coarse meshes
    "quick": {"kappa": {"four_phonon": True}},  # 3+4ph on the 5^3 mesh, 60 sampled q-pairs per q-point: ~2 min
    # the paper's sizes and lengths (for a cluster or GPU node; days on 2 cores)
    "paper": {
        "structure": {"min_width_A": 30.0},
        "migration": {"neb_images": 9, "neb_fmax_eV_A": 0.02, "neb_size_check": True},
        "md": {"temperatures_K": [300, 450, 600], "timestep_fs": 2.0, "nvt_ps": 2000, "nve_ps": 2000,
               "save_every": 50, "heat_current_every": 1, "seeds": [0]},
        "force_constants": {"n_snapshots": 200, "cutoffs_A": [8.0, 6.0, 5.2]},
        "kappa": {"mesh": [13, 13, 13], "temperatures_K": [300, 350, 400, 450, 500, 550, 600], "four_phonon": True},
        "mem": {"temperatures_K": [100, 200, 300, 400, 500], "grid_A": 0.05},
    },
    # tests the migration claims directly (<= ~2 h on 2 cores for a ~400-atom MTP cell; resumable):
    # 1 ns NVE at 600 K and 300 ps at 450 K for hop counts by pathway and D per direction, 50 ps at
    # 300 K for the TA-mode S(Q,w); the heat current of every run for Green-Kubo
    "validate": {
        "md": {"temperatures_K": [300, 450, 600], "timestep_fs": 2.0, "nvt_ps": 10.0, "nve_ps_by_temperature": [50, 300, 1000],
               "save_every": 25, "heat_current_every": 1, "seeds": [0]},
        "force_constants": {"fc2_per_temperature": True},
    },
}


def _coerce(value: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise StudyConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, int):
            raise StudyConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise StudyConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise StudyConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise StudyConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple):
            raise StudyConfigError(f"{where}: expected a list, got {value!r}")
        if default:
            return tuple(_coerce(v, default[0], f"{where}[{k}]") for k, v in enumerate(value))
        return tuple(value)
    return value


def _build(cls, data: dict, where: str, base):
    if not isinstance(data, dict):
        raise StudyConfigError(f"{where}: expected a table, got {data!r}")
    names = {f.name: f for f in dataclasses.fields(cls) if f.compare}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise StudyConfigError(f"{where}: unknown key {key!r}; allowed: {', '.join(names)}")
        default = getattr(base, key)
        if dataclasses.is_dataclass(default):
            kwargs[key] = _build(type(default), value, f"{where}.{key}" if where else key, default)
        else:
            kwargs[key] = _coerce(value, default, f"{where}.{key}" if where else key)
    return dataclasses.replace(base, **kwargs)


def _validate(cfg: StudyConfig, where: str) -> None:
    bad = [s for s in cfg.stages if s not in ALL_STAGES]
    if bad:
        raise StudyConfigError(f"{where}stages: unknown stage {bad[0]!r}; allowed: {', '.join(ALL_STAGES)}")
    if cfg.md.thermostat not in ("bussi", "langevin"):
        raise StudyConfigError(f"{where}md.thermostat: {cfg.md.thermostat!r} is not one of bussi, langevin")
    from incipient.system import builtin_systems

    builtin = cfg.system.builtin or cfg.structure.builtin
    if builtin and builtin not in builtin_systems():
        raise StudyConfigError(f"{where}system.builtin: {builtin!r} is not a built-in system; allowed: {', '.join(builtin_systems())}")
    given = [n for n, v in (("system.file", cfg.system.file), ("system.builtin", builtin), ("structure.file", cfg.structure.file)) if v]
    if len(given) > 1:
        raise StudyConfigError(f"{where}{given[0]} and {given[1]}: give one way to define the system")
    if cfg.potential.mtp and cfg.potential.calculator:
        raise StudyConfigError(f"{where}potential: give mtp or calculator, not both")
    if cfg.potential.mtp and not all(cfg.potential.species):
        raise StudyConfigError(f"{where}potential.species: required with potential.mtp (the element of each MTP type, in order)")
    if cfg.structure.file and not (cfg.potential.mtp or cfg.potential.calculator):
        raise StudyConfigError(f"{where}potential: structure.file needs a potential (potential.mtp or potential.calculator)")
    if cfg.structure.file and not cfg.migration.species:
        raise StudyConfigError(f"{where}migration.species: required with structure.file (the mobile ion, e.g. 'Cu')")
    if cfg.structure.repeat and (len(cfg.structure.repeat) != 3 or min(cfg.structure.repeat) < 1):
        raise StudyConfigError(f"{where}structure.repeat: three positive integers")
    if cfg.migration.neb_repeat and (len(cfg.migration.neb_repeat) != 3 or min(cfg.migration.neb_repeat) < 1):
        raise StudyConfigError(f"{where}migration.neb_repeat: three positive integers")
    if not 1 <= len(cfg.force_constants.cutoffs_A) <= 3:
        raise StudyConfigError(f"{where}force_constants.cutoffs_A: 1 to 3 cutoffs (fc2, fc3, fc4)")
    if not cfg.md.temperatures_K:
        raise StudyConfigError(f"{where}md.temperatures_K: at least one temperature")
    if cfg.structure.md_cell not in ("input", "relaxed"):
        raise StudyConfigError(f"{where}structure.md_cell: {cfg.structure.md_cell!r} is not one of input, relaxed")
    from incipient.transport.wigner_assembly import VELOCITY_CONVENTIONS

    if cfg.kappa.velocity_convention not in VELOCITY_CONVENTIONS:
        raise StudyConfigError(f"{where}kappa.velocity_convention: {cfg.kappa.velocity_convention!r} is not one of "
                               f"{', '.join(VELOCITY_CONVENTIONS)}")
    if len(cfg.kappa.mesh) != 3 or min(cfg.kappa.mesh) < 1:
        raise StudyConfigError(f"{where}kappa.mesh: three positive integers")
    # every number: finite, and positive (or non-negative) where the physics needs it
    positive = {"md.timestep_fs": cfg.md.timestep_fs, "md.nve_ps": cfg.md.nve_ps, "structure.min_width_A": cfg.structure.min_width_A,
                "structure.relax_fmax_eV_A": cfg.structure.relax_fmax_eV_A, "migration.neb_fmax_eV_A": cfg.migration.neb_fmax_eV_A,
                "mem.grid_A": cfg.mem.grid_A, "force_constants.temperature_K": cfg.force_constants.temperature_K}
    positive.update({f"md.temperatures_K[{k}]": t for k, t in enumerate(cfg.md.temperatures_K)})
    positive.update({f"kappa.temperatures_K[{k}]": t for k, t in enumerate(cfg.kappa.temperatures_K)})
    positive.update({f"mem.temperatures_K[{k}]": t for k, t in enumerate(cfg.mem.temperatures_K)})
    positive.update({f"force_constants.cutoffs_A[{k}]": c for k, c in enumerate(cfg.force_constants.cutoffs_A)})
    non_negative = {"md.nvt_ps": cfg.md.nvt_ps, "migration.min_residence_fs": cfg.migration.min_residence_fs,
                    "kappa.four_phonon_samples": cfg.kappa.four_phonon_samples}
    for key, v in positive.items():
        if not math.isfinite(v) or v <= 0:
            raise StudyConfigError(f"{where}{key}: must be a positive number, got {v!r}")
    for key, v in non_negative.items():
        if not math.isfinite(v) or v < 0:
            raise StudyConfigError(f"{where}{key}: must be zero or positive, got {v!r}")
    for key, v in {"md.save_every": cfg.md.save_every, "force_constants.n_snapshots": cfg.force_constants.n_snapshots,
                   "migration.neb_images": cfg.migration.neb_images, "structure.minimum_starts": cfg.structure.minimum_starts,
                   "kappa.four_phonon_workers": cfg.kappa.four_phonon_workers}.items():
        if v < 1:
            raise StudyConfigError(f"{where}{key}: must be at least 1, got {v!r}")
    if cfg.md.nve_ps_by_temperature:
        if len(cfg.md.nve_ps_by_temperature) != len(cfg.md.temperatures_K):
            raise StudyConfigError(f"{where}md.nve_ps_by_temperature: one length per temperature ({len(cfg.md.temperatures_K)}), "
                                   f"got {len(cfg.md.nve_ps_by_temperature)}")
        for k, v in enumerate(cfg.md.nve_ps_by_temperature):
            if not math.isfinite(v) or v <= 0:
                raise StudyConfigError(f"{where}md.nve_ps_by_temperature[{k}]: must be a positive number, got {v!r}")
    if cfg.md.heat_current_every < 0:
        raise StudyConfigError(f"{where}md.heat_current_every: must be >= 0 (0: no heat current), got {cfg.md.heat_current_every!r}")


def load_config(path: str | Path | None = None, preset: str = "quick", overrides: dict | None = None) -> StudyConfig:
    """The preset, updated by the TOML file ``path`` (if given) and then by ``overrides``."""
    if preset not in PRESETS:
        raise StudyConfigError(f"preset {preset!r} is unknown; allowed: {', '.join(PRESETS)}")
    cfg = _build(StudyConfig, PRESETS[preset], "", StudyConfig())
    where = ""
    if path is not None:
        path = Path(path)
        cfg = dataclasses.replace(cfg, base_dir=str(path.resolve().parent))
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise StudyConfigError(f"{path}: cannot read the study file ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise StudyConfigError(f"{path}: not valid TOML: {exc}") from exc
        try:
            cfg = _build(StudyConfig, data, "", cfg)
        except StudyConfigError as exc:
            raise StudyConfigError(f"{path}: {exc}") from None
        where = f"{path}: "
    if overrides:
        cfg = _build(StudyConfig, overrides, "", cfg)
    _validate(cfg, where)
    return cfg


def build_system(cfg: StudyConfig):
    """The :class:`~incipient.system.System` a study runs on, from its ``[system]``, ``[structure]``,
    ``[potential]`` and ``[migration]`` sections (paths relative to the study file's folder):

    - ``system.file``: that system file; ``system.builtin`` (or ``structure.builtin``): a built-in one;
    - ``structure.file``: that structure with ``[potential]`` and ``migration.species``;
    - neither: the built-in default system.

    ``[potential]`` and ``migration.species``, when given, replace the system's potential and
    mobile species.
    """
    from incipient.system import PotentialSpec, System, load_system

    pot = cfg.potential
    spec = None
    if pot.mtp:
        mtp = cfg.resolve(pot.mtp)
        if not mtp.is_file():
            raise StudyConfigError(f"potential.mtp: no such file {mtp}")
        spec = PotentialSpec(mtp=mtp, species=tuple(pot.species))
    elif pot.calculator:
        spec = PotentialSpec(factory=pot.calculator, kwargs=dict(pot.kwargs))
    if cfg.structure.file:
        from incipient.structures.io import read_structure

        sfile = cfg.resolve(cfg.structure.file)
        atoms = read_structure(sfile)
        system = System(atoms, spec, cfg.migration.species, name=cfg.name or None, structure_file=sfile)
    else:
        if cfg.system.file:
            system = System.from_file(cfg.resolve(cfg.system.file))
        else:
            system = load_system(cfg.system.builtin or cfg.structure.builtin or DEFAULT_SYSTEM)
        if spec is not None or cfg.migration.species:
            system = System(system.structure, spec or system.potential, cfg.migration.species or system.mobile_species,
                            name=system.name, mobile_charge_e=system.mobile_charge_e, published=system.published,
                            pathway_names=system.pathway_names, sqw_paths=system.sqw_paths, reference=system.reference,
                            source=system.source, structure_file=system.structure_file, symprec=system.symprec,
                            citation=system.citation)
    return system
