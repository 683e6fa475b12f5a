"""Site-to-site paths of the mobile ion, line profiles and sections of a density; ``incipient mem``."""

import json
from pathlib import Path

import numpy as np
import pytest

from incipient.experiment.cif import read_cif_model, read_structure_from_cif
from incipient.experiment.profiles import (
    ChannelProfile,
    channel_profiles,
    line_profile,
    local_peak,
    mobile_paths,
)
from incipient.system import load_system

CIF_DIR = Path(__file__).resolve().parents[2] / "src" / "incipient" / "data" / "CsCu2I3" / "cif"


def _paths(T):
    return mobile_paths(read_structure_from_cif(CIF_DIR / f"{T}K.cif"), "Cu", load_system("CsCu2I3").pathway_names)


def test_mobile_paths_lengths_100K():
    """The site graph's x, z, MID hops from one Cu of the measured 100 K cell: the Cu at
    (x_Cu, 1/2, 0) of Cmcm gives x = (1 - 2 x_Cu) a, z = c / 2 and MID = their hypotenuse."""
    model = read_cif_model(CIF_DIR / "100K.cif")
    a, _, c = model.cell[:3]
    xcu = model.sites[3].fract[0]  # CIF writes Cu at x = 0.3532
    x_cu = min(xcu, 1 - xcu)
    paths = _paths(100)
    assert sorted(paths) == ["MID", "x", "z"]
    lengths = {k: np.linalg.norm((e - s) @ model.lattice) for k, (s, e) in paths.items()}
    assert lengths["x"] == pytest.approx((1 - 2 * x_cu) * a, rel=1e-6)  # 3.077 A
    assert lengths["z"] == pytest.approx(c / 2, rel=1e-6)  # 3.031 A
    assert lengths["MID"] == pytest.approx(np.hypot(lengths["x"], lengths["z"]), rel=1e-6)
    starts = {tuple(np.round(s, 6)) for s, _ in paths.values()}
    assert len(starts) == 1  # all from one site


def test_profile_of_gaussian_pair_matches_analytic():
    """Two Gaussians on a periodic grid: the sampled profile equals the analytic sum."""
    n = (60, 40, 30)
    lat = np.diag([6.0, 4.0, 3.0])
    s = 0.4
    x = [np.arange(m) / m for m in n]
    X, Y, Z = np.meshgrid(*x, indexing="ij")
    centres = [np.array([0.3, 0.5, 0.0]), np.array([0.7, 0.5, 0.5])]

    def rho_at(fr):
        out = 0.0
        for ctr in centres:
            d = ((fr - ctr) + 0.5) % 1.0 - 0.5
            out = out + np.exp(-np.sum((d @ lat) ** 2, axis=-1) / (2 * s**2))
        return out

    grid = rho_at(np.stack([X, Y, Z], -1))
    dist, prof = line_profile(grid, lat, centres[0], centres[1], 41)
    t = np.linspace(0, 1, 41)
    exact = rho_at(centres[0] + t[:, None] * (centres[1] - centres[0]))
    assert dist[-1] == pytest.approx(np.hypot(2.4, 1.5))
    assert prof == pytest.approx(exact, abs=0.02)  # trilinear on a 0.1 A grid
    assert local_peak(grid, lat, centres[0]) == pytest.approx(1.0, abs=1e-3)


def test_channel_profile_roundtrip(tmp_path):
    model = read_cif_model(CIF_DIR / "500K.cif")
    rng = np.random.default_rng(0)
    rho = 1.0 + rng.random((40, 50, 24))
    paths = _paths(500)
    prof = channel_profiles(rho, model.lattice, paths, "Cu", model.temperature_K)
    assert set(prof.paths) == {"x", "z", "MID"}
    assert np.all(prof.min_to_peak <= 1.0) and prof.temperature_K == 500.0
    back = ChannelProfile.load(prof.save(tmp_path / "p.json"))
    assert np.array_equal(back.profile, prof.profile)
    assert np.all(prof.bottleneck_to_peak >= prof.min_to_peak - 1e-12)  # best path >= straight line
    import matplotlib

    matplotlib.use("Agg")
    from incipient.experiment.profiles import plot_plane_section, plot_profiles

    assert plot_profiles([prof, back], "MID").axes[0].get_legend() is not None
    assert len(plot_plane_section(rho, model.lattice, paths, "Cu").axes) == 2  # map + colour bar
    assert prof.plot("x").axes[0].get_yscale() == "log"
    import matplotlib.pyplot as plt

    plt.close("all")


def test_cli_mem_coarse(tmp_path, capsys):
    from incipient.cli.main import main

    rc = main(["mem", str(CIF_DIR / "500K.cif"), "--grid-A", "0.2", "--output", str(tmp_path)])
    assert rc == 0
    summary = json.loads((tmp_path / "mem_500K_summary.json").read_text())
    assert summary["converged"] and summary["constraint"] <= 0
    assert summary["R"] < 0.08
    assert set(summary["min_to_peak"]) == {"x", "z", "MID"}
    for name in ("mem_500K.ccp4", "mem_500K_section.png", "mem_500K_profiles.png", "mem_500K_profiles.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads(capsys.readouterr().out)["grid_shape"] == summary["grid_shape"]
