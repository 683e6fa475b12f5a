"""Slow: MEM maps of the published CsCu2I3 CIFs reproduce the trend of Figure 1c."""

from pathlib import Path

import numpy as np
import pytest

from incipient.experiment.cif import read_structure_from_cif
from incipient.experiment.mem import mem_from_cif
from incipient.experiment.profiles import channel_profiles, mobile_paths
from incipient.system import load_system

CIF_DIR = Path(__file__).resolve().parents[2] / "src" / "incipient" / "data" / "CsCu2I3" / "cif"


@pytest.mark.slow
def test_cu_channel_opens_with_temperature():
    mid, ridge = [], []
    for T in (200, 300, 400, 500):  # 100 K needs ~10 min of L-BFGS (see docs/mem.md)
        res = mem_from_cif(CIF_DIR / f"{T}K.cif", grid_A=0.1)
        assert res.converged and res.constraint <= 0
        paths = mobile_paths(read_structure_from_cif(CIF_DIR / f"{T}K.cif"), "Cu", load_system("CsCu2I3").pathway_names)
        prof = channel_profiles(res.density_e_A3, res.lattice, paths, "Cu", T)
        i = prof.paths.index("MID")
        mid.append(prof.min_to_peak[i])
        ridge.append(prof.bottleneck_to_peak[i])
    assert np.all(np.diff(mid) > 0)  # the straight MID channel fills monotonically
    assert ridge[-1] > 3 * ridge[0]  # the 3D Cu-Cu connection opens
    assert ridge[-1] < 0.04  # but stays below ~4 % of the Cu peak (paper)
