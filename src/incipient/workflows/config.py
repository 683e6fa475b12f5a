"""Study configuration: TOML loaded into validated dataclasses, with the built-in presets.

Every key is checked: an unknown section or key, or a value of the wrong type or outside its
allowed set, raises StudyConfigError naming the file, the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALL_STAGES = ("relax", "md", "migration", "barriers", "spectra", "force_constants", "kappa_bte",
              "kappa_gk", "mem", "classify", "report")


class StudyConfigError(ValueError):
    """A study file with an unknown key or an invalid value."""


@dataclass(frozen=True)
class StructureConfig:
    builtin: str = "CsCu2I3"  # "CsCu2I3" or "" when ``file`` is given
    file: str = ""
    repeat: tuple = (2, 2, 4)  # conventional-cell supercell for MD
    relax_fmax_eV_A: float = 0.002
    md_cell: str = "input"  # "input": MD in the given (for CsCu2I3: the paper's PBEsol) cell; "relaxed": the MTP-relaxed one


@dataclass(frozen=True)
class PotentialConfig:
    mtp: str = ""  # empty: the paper's CsCu2I3 MTP
    species: tuple = ("Cs", "Cu", "I")


@dataclass(frozen=True)
class MDConfig:
    temperatures_K: tuple = (300.0, 600.0)
    timestep_fs: float = 2.0
    nvt_ps: float = 3.0
    nve_ps: float = 12.0
    save_every: int = 5
    heat_current_every: int = 1
    seeds: tuple = (0,)
    thermostat: str = "bussi"


@dataclass(frozen=True)
class MigrationConfig:
    species: str = "Cu"
    min_residence_fs: float = 100.0
    neb_repeat: tuple = (1, 1, 2)  # supercell of the relaxed conventional cell for the NEB
    neb_images: int = 5
    neb_fmax_eV_A: float = 0.05


@dataclass(frozen=True)
class ForceConstantsConfig:
    temperature_K: float = 300.0
    n_snapshots: int = 60
    cutoffs_A: tuple = (6.0,)  # (fc2,) or (fc2, fc3) or (fc2, fc3, fc4); paper: 8, 6, 5.2


@dataclass(frozen=True)
class KappaConfig:
    mesh: tuple = (5, 5, 5)
    temperatures_K: tuple = (300.0, 450.0, 600.0)
    four_phonon: bool = False
    four_phonon_samples: int = 60  # q-pairs sampled per irreducible q-point (0: exact sum)


@dataclass(frozen=True)
class MEMConfig:
    temperatures_K: tuple = (200, 500)
    grid_A: float = 0.1


@dataclass(frozen=True)
class StudyConfig:
    name: str = "CsCu2I3"
    output_dir: str = "incipient-study"
    stages: tuple = ALL_STAGES
    structure: StructureConfig = field(default_factory=StructureConfig)
    potential: PotentialConfig = field(default_factory=PotentialConfig)
    md: MDConfig = field(default_factory=MDConfig)
    migration: MigrationConfig = field(default_factory=MigrationConfig)
    force_constants: ForceConstantsConfig = field(default_factory=ForceConstantsConfig)
    kappa: KappaConfig = field(default_factory=KappaConfig)
    mem: MEMConfig = field(default_factory=MEMConfig)

    def section_hash(self, *names: str) -> str:
        """Stable hash of the named sections (for stage caching)."""
        d = {n: _plain(getattr(self, n)) for n in names}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return _plain(self)


def _plain(x: Any) -> Any:
    if dataclasses.is_dataclass(x):
        return {f.name: _plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, tuple | list):
        return [_plain(v) for v in x]
    return x


PRESETS: dict[str, dict] = {
    # finishes in minutes on 2 cores: small cells, ps-long MD, coarse meshes
    "quick": {},
    # the paper's sizes and lengths (for a cluster or GPU node; days on 2 cores)
    "paper": {
        "structure": {"repeat": [3, 3, 5]},
        "migration": {"neb_repeat": [2, 2, 2], "neb_images": 7, "neb_fmax_eV_A": 0.02},
        "md": {"temperatures_K": [300, 450, 600], "timestep_fs": 2.0, "nvt_ps": 2000, "nve_ps": 2000,
               "save_every": 50, "heat_current_every": 1, "seeds": [0]},
        "force_constants": {"n_snapshots": 200, "cutoffs_A": [8.0, 6.0, 5.2]},
        "kappa": {"mesh": [13, 13, 13], "temperatures_K": [300, 350, 400, 450, 500, 550, 600], "four_phonon": True},
        "mem": {"temperatures_K": [100, 200, 300, 400, 500], "grid_A": 0.05},
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
    names = {f.name: f for f in dataclasses.fields(cls)}
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
    if cfg.structure.builtin not in ("CsCu2I3", "") or (not cfg.structure.builtin and not cfg.structure.file):
        raise StudyConfigError(f"{where}structure.builtin: must be 'CsCu2I3', or '' with structure.file set")
    if len(cfg.structure.repeat) != 3 or min(cfg.structure.repeat) < 1:
        raise StudyConfigError(f"{where}structure.repeat: three positive integers")
    if not 1 <= len(cfg.force_constants.cutoffs_A) <= 3:
        raise StudyConfigError(f"{where}force_constants.cutoffs_A: 1 to 3 cutoffs (fc2, fc3, fc4)")
    if cfg.md.timestep_fs <= 0 or cfg.md.nve_ps <= 0 or not cfg.md.temperatures_K:
        raise StudyConfigError(f"{where}md: timestep_fs and nve_ps must be positive and temperatures_K non-empty")
    if cfg.structure.md_cell not in ("input", "relaxed"):
        raise StudyConfigError(f"{where}structure.md_cell: {cfg.structure.md_cell!r} is not one of input, relaxed")
    if len(cfg.kappa.mesh) != 3:
        raise StudyConfigError(f"{where}kappa.mesh: three integers")


def load_config(path: str | Path | None = None, preset: str = "quick", overrides: dict | None = None) -> StudyConfig:
    """The preset, updated by the TOML file ``path`` (if given) and then by ``overrides``."""
    if preset not in PRESETS:
        raise StudyConfigError(f"preset {preset!r} is unknown; allowed: {', '.join(PRESETS)}")
    cfg = _build(StudyConfig, PRESETS[preset], "", StudyConfig())
    where = ""
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise FileNotFoundError(f"{path}: cannot read the study file ({exc.strerror})") from exc
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
