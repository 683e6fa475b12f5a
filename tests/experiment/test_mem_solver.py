"""MEM solver: analytic Gaussian-atom crystal, symmetry orbits, file round trips."""

import numpy as np
import pytest

from incipient.experiment.mem import (
    MEMData,
    MEMResult,
    grid_shape_for,
    read_ccp4,
    reflection_orbits,
    solve_mem,
    write_ccp4,
)

CELL = np.diag([6.0, 7.0, 5.0])
# P-1 cell (ops x,y,z and -x,-y,-z): Z electrons, Gaussian width s_A (A), fractional position
ATOMS = [(20.0, 0.25, (0.0, 0.0, 0.0)), (10.0, 0.30, (0.30, 0.20, 0.25)), (10.0, 0.30, (-0.30, -0.20, -0.25))]


def _synthetic(rng, d_min=0.8, rel_noise=0.01, abs_noise=0.05):
    rec = np.linalg.inv(CELL).T
    hmax = np.floor(np.diag(CELL) / d_min).astype(int)
    hkl = np.array([(h, k, l) for h in range(0, hmax[0] + 1) for k in range(-hmax[1], hmax[1] + 1)
                    for l in range(-hmax[2], hmax[2] + 1)])
    # one of each Friedel pair, no 000, within the resolution sphere
    g = np.linalg.norm(hkl @ rec, axis=1)
    first = (hkl[:, 0] > 0) | ((hkl[:, 0] == 0) & ((hkl[:, 1] > 0) | ((hkl[:, 1] == 0) & (hkl[:, 2] > 0))))
    hkl = hkl[first & (g > 0) & (g <= 1 / d_min)]
    g = np.linalg.norm(hkl @ rec, axis=1)
    F = np.zeros(len(hkl))
    for Z, s, x in ATOMS:
        F += Z * np.exp(-2 * np.pi**2 * s**2 * g**2) * np.cos(2 * np.pi * hkl @ np.array(x))
    sigma = rel_noise * np.abs(F) + abs_noise
    F_obs = F + sigma * rng.standard_normal(len(F))
    return MEMData(CELL, hkl, F_obs, sigma, sum(a[0] for a in ATOMS), ("x,y,z", "-x,-y,-z")), F


def test_mem_recovers_gaussian_atoms():
    rng = np.random.default_rng(7)
    data, F_true = _synthetic(rng)
    shape = grid_shape_for(CELL, 0.15)
    res = solve_mem(data, shape)
    assert res.converged and res.constraint <= 0.0
    # the constraint is met: chi^2 per reflection about 1, and F_MEM nearer the truth than F_obs
    chi2 = np.mean(((res.F_mem - data.F_obs) / data.sigma) ** 2)
    assert 0.5 < chi2 < 1.5
    assert res.R < 0.05
    # electrons are conserved
    V = abs(np.linalg.det(CELL))
    assert res.density_e_A3.sum() * V / res.density_e_A3.size == pytest.approx(data.F000, rel=1e-9)
    # the three highest local maxima sit on the atoms (within one pixel)
    from scipy.ndimage import maximum_filter

    rho = res.density_e_A3
    peaks = np.argwhere((rho == maximum_filter(rho, size=3, mode="wrap")) & (rho > 0.2 * rho.max()))
    assert len(peaks) == 3
    frac = peaks / np.array(shape)
    pixel = np.max(np.diag(CELL) / np.array(shape))
    for _, _, x in ATOMS:
        d = ((frac - np.array(x)) + 0.5) % 1.0 - 0.5
        assert np.min(np.linalg.norm(d @ CELL, axis=1)) <= pixel * 1.01
    # symmetric under inversion exactly
    inv = np.roll(rho[::-1, ::-1, ::-1], 1, axis=(0, 1, 2))
    assert np.allclose(rho, inv, rtol=1e-10, atol=1e-12)


def test_orbits_cmcm_extinctions_and_signs():
    ops = ("x,y,z", "-x,-y,z+1/2", "-x,y,-z+1/2", "x,-y,-z", "-x,-y,-z", "x,y,-z+1/2", "x,-y,z+1/2",
           "-x,y,z", "x+1/2,y+1/2,z", "-x+1/2,-y+1/2,z+1/2", "-x+1/2,y+1/2,-z+1/2", "x+1/2,-y+1/2,-z",
           "-x+1/2,-y+1/2,-z", "x+1/2,y+1/2,-z+1/2", "x+1/2,-y+1/2,z+1/2", "-x+1/2,y+1/2,z")
    hkl = np.array([[1, 0, 0], [1, 1, 1], [0, 0, 1], [2, 0, 1], [0, 2, 1]])
    k, sign, owner, keep = reflection_orbits(hkl, ops)
    assert keep.tolist() == [False, True, False, False, True]  # C-centring; c-glide: h0l, l odd
    orbit = {tuple(kk): s for kk, s, o in zip(k, sign, owner, strict=True) if o == 1}
    assert len(orbit) == 8  # mmm: all sign combinations of (1, 1, 1)
    # mirror x,y,-z+1/2: F(h, k, -l) = (-1)^l F(h, k, l); inversion at the origin: F(-h) = F(h)
    assert orbit[(1, 1, -1)] == -orbit[(1, 1, 1)]
    assert orbit[(-1, -1, -1)] == orbit[(1, 1, 1)]
    assert orbit[(-1, -1, 1)] == -orbit[(1, 1, 1)]


def test_result_and_ccp4_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    data, _ = _synthetic(rng, d_min=1.5)
    res = solve_mem(data, grid_shape_for(CELL, 0.3))
    import matplotlib

    matplotlib.use("Agg")
    fig = res.plot()
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) >= 1
    import matplotlib.pyplot as plt

    plt.close(fig)
    back = MEMResult.load(res.save(tmp_path / "mem.npz"))
    assert np.array_equal(back.density_e_A3, res.density_e_A3)
    assert back.orders == res.orders and back.R == res.R
    write_ccp4(tmp_path / "m.ccp4", res.density_e_A3, CELL)
    assert np.allclose(read_ccp4(tmp_path / "m.ccp4"), res.density_e_A3, rtol=1e-6)
    with pytest.raises(ValueError, match="too coarse"):
        solve_mem(data, (4, 4, 4))
    with pytest.raises(ValueError, match="unknown prior"):
        solve_mem(data, grid_shape_for(CELL, 0.3), prior="flat")


def test_procrystal_prior_500K_starts_near_the_answer():
    from pathlib import Path

    from incipient.experiment.cif import read_cif_model, read_reflections
    from incipient.experiment.mem import prepare_mem_data, procrystal_prior

    path = Path(__file__).resolve().parents[2] / "src" / "incipient" / "data" / "CsCu2I3" / "cif" / "500K.cif"
    model = read_cif_model(path)
    data = prepare_mem_data(model, read_reflections(path))
    shape = grid_shape_for(data.lattice, 0.2)
    tau = procrystal_prior(model, shape)
    assert tau.sum() == pytest.approx(1.0) and tau.min() > 0
    # the densest pixel is an iodine (53 e, smallest ADPs) position
    peak = np.array(np.unravel_index(tau.argmax(), shape)) / np.array(shape)
    from incipient.experiment.structure_factors import expanded_atoms

    d = [np.linalg.norm(((peak - at.frac + 0.5) % 1 - 0.5) @ data.lattice) for at in expanded_atoms(model)
         if at.element == "I"]
    assert min(d) < 0.2
    res = solve_mem(data, shape, prior="procrystal", model=model)
    assert res.converged and res.n_eval < 100  # uniform prior: ~240 evaluations
    assert res.R < 0.07
