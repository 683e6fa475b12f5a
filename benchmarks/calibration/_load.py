"""Shared loading for the calibration scripts (crystal -> phonopy, fc3, fc4, mesh phonons)."""

from __future__ import annotations

import json
from pathlib import Path

FCS = Path(__file__).resolve().parents[2] / "runs" / "calibration" / "fcs"


def load(name, fcs=FCS):
    from ase import Atoms

    from incipient.lattice.phonons import make_phonopy
    from incipient.lattice.phonopy_io import read_fc2
    from incipient.lattice.shengbte import read_shengbte_fc3, read_shengbte_fc4

    d = Path(fcs) / name
    meta = json.loads((d / "primitive.json").read_text())
    prim = Atoms(meta["symbols"], cell=meta["cell"], scaled_positions=meta["scaled_positions"], pbc=True)
    fc2 = read_fc2(d / "fc2.hdf5")
    sc = tuple(meta["fc_supercell"])
    ph = make_phonopy(prim, sc, fc2)
    return prim, sc, fc2, ph, read_shengbte_fc3(d / "FORCE_CONSTANTS_3RD"), read_shengbte_fc4(d / "FORCE_CONSTANTS_4TH")
