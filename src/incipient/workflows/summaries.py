"""Typed stage results: one small frozen dataclass per stage, stored in its done.json with to_dict().

Each stage's ``run(ctx)`` returns one of these. The stage graph writes ``to_dict()`` into the
stage's ``done.json`` and hands dependants the typed object, so a later stage reads
``ctx.inputs["md"].runs[0].temperature_K`` instead of string keys; the report and the classifier
read the same attributes. Every summary shares the report fields of :class:`StageSummary`
(``figures``, ``comparisons``, ``tables``, ``text``, ``notes``).

The JSON layout is the one the stages wrote as plain dicts before these classes existed (same
keys, units in the names: ``temperature_K``, ``D_cm2_s``, ``kappa_avg_W_mK``), so finished
studies stay readable: :meth:`Record.from_dict` fills a key an older file lacks with the field's
default (newer keys all have one) and ignores keys it does not know. ``to_dict()`` of a stage's
result is the dict the stage returned before, key for key, so the fingerprints dependants' cache
keys are built from (:mod:`incipient.workflows.graph`) do not change either.

Values are stored as the stage computed them (no conversion on the way in or out): a float
stays a float, a list a list. Nested records (an MD run, a figure) become dicts in ``to_dict``.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from incipient.errors import FileFormatError

__all__ = ["BY_STAGE", "BarriersSummary", "BranchFitSummary", "ClassifySummary", "FC2AtTemperature", "Figure",
           "ForceConstantsSummary", "FrameworkMotion", "KappaBTESummary", "KappaGKRun", "KappaGKSummary", "MDRun",
           "MDSummary", "MEMRun", "MEMSummary", "MigrationRun", "MigrationSummary", "MobilePeak", "Record",
           "RelaxSummary", "SpectraSummary", "StageSummary", "Table", "VelocityConventionKappa", "load_summary"]


def conditional(default=None):
    """A field whose key the stage writes only when it is set: ``to_dict`` leaves it out while it
    equals ``default`` (e.g. the 3+4ph results of a 3ph-only run), and ``from_dict`` reads a
    missing key as ``default``."""
    return field(default=default, metadata={"conditional": True})


@functools.cache
def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _load(tp, value):
    """``value`` (JSON) as type ``tp``: records from dicts, recursively through lists and dicts."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _load(args[0], value) if len(args) == 1 else value
    if origin is list:
        (arg,) = typing.get_args(tp)
        return [_load(arg, v) for v in value]
    if origin is dict:
        _, arg = typing.get_args(tp)
        return {k: _load(arg, v) for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp.from_dict(value)
    return value


def _dump(value):
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return type(value)(_dump(v) for v in value)
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


@dataclass(frozen=True, kw_only=True)
class Record:
    """A JSON-able record: :meth:`to_dict` writes every field (nested records as dicts, a
    :func:`conditional` field only when set); :meth:`from_dict` reads them back, a missing key as
    the field's default. A field without a default is required."""

    def _fields(self) -> list[dataclasses.Field]:
        return list(dataclasses.fields(self))

    def _written(self, f: dataclasses.Field, value) -> bool:
        return not (f.metadata.get("conditional") and value == _default(f))

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in self._fields():
            value = getattr(self, f.name)
            if self._written(f, value):
                out[f.name] = _dump(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        if not isinstance(data, Mapping):
            raise FileFormatError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        hints = _hints(cls)
        kw, missing = {}, []
        for f in dataclasses.fields(cls):
            if f.name in data:
                kw[f.name] = _load(hints[f.name], data[f.name])
            elif _default(f) is dataclasses.MISSING:
                missing.append(f.name)
        if missing:
            raise FileFormatError(f"{cls.__name__}: no {', '.join(repr(m) for m in missing)} "
                                  f"(keys: {', '.join(sorted(map(str, data))) or 'none'})")
        return cls(**kw)


# ----------------------------------------------------------------------------- report fields
@dataclass(frozen=True, kw_only=True)
class Figure(Record):
    """A PNG of a stage: ``path`` relative to the study folder, and its caption."""

    path: str
    caption: str = ""


@dataclass(frozen=True, kw_only=True)
class Table(Record):
    """A table of the report: cells as strings, one list per row."""

    caption: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


REPORT_FIELDS = ("figures", "comparisons", "tables", "text", "notes")


@dataclass(frozen=True, kw_only=True)
class StageSummary(Record):
    """The fields the report reads, shared by every stage's summary.

    figures : the stage's PNGs with captions. comparisons : rows ``[quantity, this run,
    reference, unit, note]`` of the "this run vs reference" table (from the system's reference
    table). tables : extra tables. text : a short paragraph. notes : one line per thing left out,
    and why. A stage's JSON holds the report fields it lists in ``WRITES`` always and the others
    only when not empty (the layout of the dicts the stages wrote before).
    """

    WRITES: ClassVar[tuple[str, ...]] = ()

    figures: list[Figure] = field(default_factory=list)
    comparisons: list[list] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    text: str = ""
    notes: list[str] = field(default_factory=list)

    def _fields(self) -> list[dataclasses.Field]:  # the stage's own fields first, then the report's
        fs = list(dataclasses.fields(self))
        return [f for f in fs if f.name not in REPORT_FIELDS] + [f for f in fs if f.name in REPORT_FIELDS]

    def _written(self, f: dataclasses.Field, value) -> bool:
        if f.name in REPORT_FIELDS:
            return f.name in self.WRITES or bool(value)
        return super()._written(f, value)


# ----------------------------------------------------------------------------- relax
@dataclass(frozen=True, kw_only=True)
class RelaxSummary(StageSummary):
    """Stage ``relax``: the relaxed cell. lattice_A : lengths a, b, c (A); minimum_file : the
    minimum search's JSON (structure.find_minimum), or None."""

    WRITES = ("comparisons", "text")

    lattice_A: list[float]
    energy_eV_per_atom: float
    converged: bool
    minimum_file: str | None = None


# ----------------------------------------------------------------------------- md
@dataclass(frozen=True, kw_only=True)
class MDRun(Record):
    """One MD run (one temperature and seed). trajectory : the H5MD file; result : the
    MDResult JSON (``MDResult.load``); heat_current : whether the trajectory stores one."""

    trajectory: str
    temperature_K: float
    seed: int
    n_atoms: int
    nve_drift_meV_atom_ns: float
    mean_temperature_nve_K: float
    ns_per_day: float
    overhead_percent: float
    result: str
    heat_current: bool = False


@dataclass(frozen=True, kw_only=True)
class MDSummary(StageSummary):
    """Stage ``md``: one :class:`MDRun` per temperature and seed, in the order they ran;
    repeat : the supercell of the MD cell."""

    WRITES = ("figures", "comparisons", "text")

    runs: list[MDRun]
    repeat: list[int]
    heat_current: bool = False


# ----------------------------------------------------------------------------- migration
@dataclass(frozen=True, kw_only=True)
class FrameworkMotion(Record):
    """How far one non-mobile species moved: D, its MSD at the end of the mobile ion's fit
    window (A^2) and the nearest distance between its atoms (A); ``diffuses`` when the MSD
    exceeds that distance squared. note : why there is no MSD (then the numbers are NaN)."""

    D_cm2_s: float
    msd_end_of_fit_A2: float
    nearest_A: float
    diffuses: bool
    note: str = conditional("")


@dataclass(frozen=True, kw_only=True)
class MigrationRun(Record):
    """Diffusion and hops of the mobile species in one MD run.

    D_xyz_cm2_s, D_err_xyz_cm2_s : per direction (3); rates_by_class_per_ion_ps : hop rate per
    pathway class; return_fraction : hops that return to the site they left (from n_hop_pairs
    pairs); n_mobile_per_A3 : number density of the mobile ion; msd_end_of_fit_A2 : its MSD at
    the end of the diffusion fit; site_spacing_A : nearest site distance; framework : per
    non-mobile species (none in older studies).
    """

    temperature_K: float
    seed: int
    duration_ps: float
    species: str
    D_xyz_cm2_s: list[float]
    D_err_xyz_cm2_s: list[float]
    D_cm2_s: float
    D_err_cm2_s: float
    hop_rate_per_ion_ps: float
    n_hops: int
    n_ions: int
    rates_by_class_per_ion_ps: dict[str, float]
    return_fraction: float
    mean_residence_time_ps: float
    n_mobile_per_A3: float
    n_hop_pairs: int = 0
    msd_end_of_fit_A2: float | None = None
    site_spacing_A: float | None = None
    framework: dict[str, FrameworkMotion] = field(default_factory=dict)

    def molten_species(self) -> list[str]:
        """The non-mobile species whose MSD exceeds their squared nearest distance (sorted)."""
        return sorted(k for k, v in self.framework.items() if v.diffuses)


@dataclass(frozen=True, kw_only=True)
class MigrationSummary(StageSummary):
    """Stage ``migration``: one :class:`MigrationRun` per MD run; pathways : the site graph's
    pathway classes."""

    WRITES = ("figures", "comparisons", "text")

    runs: list[MigrationRun]
    pathways: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- barriers
@dataclass(frozen=True, kw_only=True)
class BarriersSummary(StageSummary):
    """Stage ``barriers``: the finite NEB barrier of each pathway class (eV); repeat : the NEB
    supercell of the start cell."""

    WRITES = ("comparisons", "figures", "text")

    barriers_eV: dict[str, float]
    repeat: list[int] = field(default_factory=list)


# ----------------------------------------------------------------------------- force constants
@dataclass(frozen=True, kw_only=True)
class FC2AtTemperature(Record):
    """The effective fc2 fitted to the MD at one temperature (force_constants.fc2_per_temperature)."""

    temperature_K: float
    fc2_file: str
    n_imaginary: int
    rmse_test_eV_A: float


@dataclass(frozen=True, kw_only=True)
class ForceConstantsSummary(StageSummary):
    """Stage ``force_constants``: the files of the effective force constants fitted at
    ``temperature_K`` (fc3/fc4 None when not fitted), the phonopy_params file (primitive cell,
    supercell, fc2), the fit quality and, when asked, an fc2 per MD temperature."""

    WRITES = ("text", "figures")

    fc2_file: str
    fc3_file: str | None
    fc4_file: str | None
    phonopy_params: str
    fc_supercell: list[int]
    primitive_file: str
    temperature_K: float
    rmse_test_eV_A: float
    r2_test: float
    n_imaginary: int
    fc2_by_temperature: list[FC2AtTemperature] = field(default_factory=list)


# ----------------------------------------------------------------------------- kappa
@dataclass(frozen=True, kw_only=True)
class VelocityConventionKappa(Record):
    """3+4ph results in one velocity-operator convention: alpha per direction (3), kappa_c
    diagonal per temperature (n_T, 3) and the largest symmetry-forbidden kappa_c element (n_T)."""

    alpha_34ph_xyz: list[float]
    kappa_c_34ph_xyz_W_mK: list[list[float]]
    asym_c_34ph_W_mK: list[float]


@dataclass(frozen=True, kw_only=True)
class KappaBTESummary(StageSummary):
    """Stage ``kappa_bte``: Wigner kappa_p and kappa_c diagonals (n_T, 3) at ``temperatures_K``;
    kappa_avg_W_mK : the average of kappa_p + kappa_c at kappa_avg_T_K (3+4ph when run, else
    3ph); fc3 : where the fc3 came from. The temperature-dependent-fc2 and 3+4ph fields are
    None when those parts did not run."""

    WRITES = ("figures", "comparisons", "text")

    temperatures_K: list[float]
    kappa_p_xyz_W_mK: list[list[float]]
    kappa_c_xyz_W_mK: list[list[float]]
    kappa_avg_W_mK: float
    kappa_avg_T_K: float
    fc3: str
    kappa_p_tdep_xyz_W_mK: list | None = conditional()
    kappa_c_tdep_xyz_W_mK: list | None = conditional()
    alpha_3ph_fixed_fc2_xyz: list[float] | None = conditional()
    alpha_3ph_tdep_fc2_xyz: list[float] | None = conditional()
    kappa_p_34ph_xyz_W_mK: list[list[float]] | None = conditional()
    kappa_c_34ph_xyz_W_mK: list[list[float]] | None = conditional()
    kappa_p_34ph_err_xyz_W_mK: list[list[float]] | None = conditional()
    alpha_34ph_xyz: list[float] | None = conditional()
    wall_4ph_s: float | None = conditional()
    conventions: dict[str, VelocityConventionKappa] | None = conditional()


@dataclass(frozen=True, kw_only=True)
class KappaGKRun(Record):
    """Green-Kubo conductivity at one temperature (the seeds' currents together): diagonals of
    the total, virial and cross terms (3 each), at the NVE mean temperature."""

    temperature_K: float
    mean_temperature_nve_K: float
    kappa_xyz_W_mK: list[float]
    kappa_err_xyz_W_mK: list[float]
    kappa_V_xyz_W_mK: list[float]
    kappa_CROSS_xyz_W_mK: list[float]
    simulated_ns: float
    kappa_avg_W_mK: float
    kappa_avg_err_W_mK: float


@dataclass(frozen=True, kw_only=True)
class KappaGKSummary(StageSummary):
    """Stage ``kappa_gk``: one :class:`KappaGKRun` per temperature; with two or more, the
    exponent of kappa ~ T^alpha per direction (None with fewer or a non-positive kappa)."""

    WRITES = ("figures", "comparisons", "text")

    runs: list[KappaGKRun]
    alpha_xyz: list[float] | None = conditional()
    alpha_err_xyz: list[float] | None = conditional()


# ----------------------------------------------------------------------------- spectra
@dataclass(frozen=True, kw_only=True)
class MobilePeak(Record):
    """The peak of the mobile ion's VACF DOS per direction (meV, 3)."""

    mobile_peak_meV_xyz: list[float]


@dataclass(frozen=True, kw_only=True)
class BranchFitSummary(Record):
    """The lowest branch of one S(Q,w) map, a DHO per Q: q_rlu (n, 3), E_c, FWHM and their
    errors (meV, n); n_fitted of the n Q points; underdamped_fraction : of those, E_c > FWHM/2."""

    q_rlu: list[list[float]]
    E_c_meV: list[float]
    fwhm_meV: list[float]
    E_c_err_meV: list[float]
    fwhm_err_meV: list[float]
    n_fitted: int
    underdamped_fraction: float


@dataclass(frozen=True, kw_only=True)
class SpectraSummary(StageSummary):
    """Stage ``spectra``: dos : the mobile-ion DOS peak per temperature label ("600K");
    branches : {path: {temperature label: branch fit}}."""

    WRITES = ("figures", "notes", "text")

    dos: dict[str, MobilePeak] = field(default_factory=dict)
    branches: dict[str, dict[str, BranchFitSummary]] = field(default_factory=dict)

    def mobile_peak_meV_xyz(self, temperature_K: float) -> list[float] | None:
        """The mobile ion's DOS peak per direction at ``temperature_K``, or None."""
        p = self.dos.get(f"{temperature_K:g}K")
        return None if p is None else p.mobile_peak_meV_xyz


# ----------------------------------------------------------------------------- mem
@dataclass(frozen=True, kw_only=True)
class MEMRun(Record):
    """The MEM density at one temperature: R, wR of the fit, and per path of the mobile ion the
    density minimum and the channel maximum relative to the ion's peak."""

    temperature_K: float
    R: float
    wR: float
    converged: bool
    n_eval: int
    time_s: float
    paths: list[str]
    min_to_peak: list[float]
    ridge_to_peak: list[float]


@dataclass(frozen=True, kw_only=True)
class MEMSummary(StageSummary):
    """Stage ``mem``: one :class:`MEMRun` per temperature with a measured CIF."""

    WRITES = ("figures", "comparisons", "text")

    runs: list[MEMRun]


# ----------------------------------------------------------------------------- classify
@dataclass(frozen=True, kw_only=True)
class ClassifySummary(StageSummary):
    """Stage ``classify``: the conductor class, the reasons, the Nernst-Einstein sigma (S/m; an
    upper bound when no hop was seen) and the evidence (incipient.workflows.classify)."""

    WRITES = ("comparisons", "figures", "text")

    label: str
    reasons: list[str]
    sigma_S_m: float
    sigma_upper_S_m: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    kappa_note: str = ""


BY_STAGE: dict[str, type[StageSummary]] = {
    "relax": RelaxSummary, "md": MDSummary, "migration": MigrationSummary, "barriers": BarriersSummary,
    "force_constants": ForceConstantsSummary, "spectra": SpectraSummary, "kappa_bte": KappaBTESummary,
    "kappa_gk": KappaGKSummary, "mem": MEMSummary, "classify": ClassifySummary,
}


def load_summary(stage: str, data: Mapping[str, Any]) -> StageSummary:
    """The typed summary of ``stage`` from its done.json dict (:class:`StageSummary` for a stage
    without its own class: the report fields only)."""
    return BY_STAGE.get(stage, StageSummary).from_dict(data)
