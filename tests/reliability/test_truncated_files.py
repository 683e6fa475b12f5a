"""Silently short data: a truncated CIF reflection loop and a VDOS without stored velocities.

Before: ``incipient mem`` on a CIF cut inside its reflection loop "converged" on 16 of 641
reflections; ``vdos`` fell back to finite differences of positions without a word.
"""

import logging

import numpy as np
import pytest

from incipient.data import cscu2i3_cif
from incipient.errors import FileFormatError
from incipient.experiment.cif import read_reflections


def _cut(tmp_path, rows: int, partial: bool = False):
    lines = cscu2i3_cif(500).read_text().splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.strip() == "_refln_observed_status") + 1
    body = lines[: k + rows]
    if partial:
        body.append(" ".join(lines[k + rows].split()[:4]))
    p = tmp_path / "500K_cut.cif"
    p.write_text("\n".join(body) + "\n")
    return p


def test_loop_cut_at_a_row_boundary(tmp_path):
    with pytest.raises(FileFormatError, match=r"500K_cut.cif: the reflection loop holds 16 reflections but "
                                              r"_reflns_number_total declares 641 \(file truncated\?\)"):
        read_reflections(_cut(tmp_path, 16))


def test_loop_cut_inside_a_row(tmp_path):
    with pytest.raises(FileFormatError, match=r"500K_cut.cif: not a readable CIF \(file truncated inside a loop\?\)"):
        read_reflections(_cut(tmp_path, 16, partial=True))


def test_mem_cli_stops_on_a_truncated_cif(tmp_path, capsys):
    from incipient.cli.main import main

    assert main(["mem", str(_cut(tmp_path, 16))]) == 1
    assert "declares 641" in capsys.readouterr().err


def test_complete_files_unchanged():
    assert len(read_reflections(cscu2i3_cif(500))) == 641


def _trajectory(with_velocities: bool):
    from incipient.md.trajectory import Trajectory

    rng = np.random.default_rng(0)
    n_t, n = 64, 4
    t = np.arange(n_t) * 5.0
    pos = 2.0 + 0.1 * np.sin(2 * np.pi * 0.002 * t[:, None, None] + rng.uniform(0, 6, (1, n, 3)))
    vel = np.gradient(pos, 5.0, axis=0)
    return Trajectory(positions=pos, cell=np.eye(3) * 10.0, numbers=np.full(n, 29), dt_fs=5.0,
                      velocities=vel if with_velocities else None)


def test_vdos_finite_difference_fallback_is_not_silent(caplog):
    from incipient.analysis import vdos

    with caplog.at_level(logging.INFO, logger="incipient.analysis.vdos"):
        r = vdos(_trajectory(False))
    warned = [rec for rec in caplog.records if rec.levelno == logging.WARNING and "no velocities" in rec.getMessage()]
    assert len(warned) == 1 and r.velocity_source == "finite differences"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="incipient.analysis.vdos"):
        r = vdos(_trajectory(False), finite_differences=True)  # explicit opt-in: no warning
    assert not caplog.records and r.velocity_source == "finite differences"
    with pytest.raises(ValueError, match="stores no velocities"):
        vdos(_trajectory(False), finite_differences=False)
    assert vdos(_trajectory(True), finite_differences=False).velocity_source == "stored"
