"""Paths to the built-in data: the CsCu2I3 paper's open data (MTP, force constants, CIFs).

Source: Li et al. (2025), "Incipient ionic conductors: CsCu2I3", open data set (see README).
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
DEFAULT_SYSTEM = "CsCu2I3"  # the built-in system a study or command without a system runs on
CSCU2I3_DIR = DATA_DIR / "CsCu2I3"


def cscu2i3_mtp() -> Path:
    """The paper's MTP (MLIP-2 format, species order Cs, Cu, I)."""
    return CSCU2I3_DIR / "cscuI.mtp"


def cscu2i3_control() -> Path:
    """ShengBTE CONTROL file of the paper: PBEsol-relaxed primitive cell (12 atoms)."""
    return CSCU2I3_DIR / "CONTROL0"


def cscu2i3_fc3() -> Path:
    return CSCU2I3_DIR / "FORCE_CONSTANTS_3RD"


def cscu2i3_fc4() -> Path:
    return CSCU2I3_DIR / "FORCE_CONSTANTS_4TH"


def cscu2i3_cif(temperature_K: int) -> Path:
    """Experimental single-crystal structure (Jana2020 CIF with reflections), 100-500 K."""
    path = CSCU2I3_DIR / "cif" / f"{int(temperature_K)}K.cif"
    if not path.exists():
        raise ValueError(f"no built-in CIF at {temperature_K} K; available: 100, 200, 300, 400, 500")
    return path
