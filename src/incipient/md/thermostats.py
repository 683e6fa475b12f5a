"""Thermostats for the MD loop: Bussi stochastic velocity rescaling (default) and Langevin.

Own code (a few lines each) so that their random-number state is part of the MD checkpoint and
a resumed run continues the same stochastic trajectory. References: Bussi, Donadio &
Parrinello, J. Chem. Phys. 126, 014101 (2007) (canonical sampling through velocity rescaling);
Leimkuhler & Matthews (2013) for the BAOAB Langevin splitting.
"""

from __future__ import annotations

import numpy as np


def bussi_scale(kinetic_eV: float, target_eV: float, n_dof: int, dt_over_tau: float,
                rng: np.random.Generator) -> float:
    """Velocity scaling factor alpha of one Bussi step (kinetic energy K -> alpha^2 K)."""
    if kinetic_eV <= 0.0:
        return 1.0
    c1 = np.exp(-dt_over_tau)
    factor = target_eV / (n_dof * kinetic_eV)
    r1 = rng.standard_normal()
    # sum of n_dof - 1 squared normals = chi^2 with n_dof - 1 degrees of freedom
    rest = 2.0 * rng.standard_gamma(0.5 * (n_dof - 1)) if n_dof > 1 else 0.0
    alpha2 = c1 + factor * (1.0 - c1) * (r1 * r1 + rest) + 2.0 * r1 * np.sqrt(c1 * (1.0 - c1) * factor)
    sign = np.sign(r1 + np.sqrt(c1 / ((1.0 - c1) * factor))) if c1 < 1.0 else 1.0
    return float(sign * np.sqrt(max(alpha2, 0.0)))


def langevin_ou(velocities: np.ndarray, masses: np.ndarray, kT_eV: float, dt: float, gamma: float,
                rng: np.random.Generator) -> np.ndarray:
    """Exact Ornstein-Uhlenbeck velocity update over dt (the 'O' of BAOAB), ASE units."""
    c = np.exp(-gamma * dt)
    sigma = np.sqrt((1.0 - c * c) * kT_eV / masses)[:, None]
    return c * velocities + sigma * rng.standard_normal(velocities.shape)
