"""Instrument energy resolution: Gaussian, pseudo-Voigt or a measured profile, and convolution.

Own code (numpy, scipy.signal.fftconvolve). A resolution is a unit-area kernel R(E) (1/meV); ``convolve`` evaluates a
model on a uniform fine grid that extends beyond the data by several resolution widths,
convolves it with R (trapezoid-exact discrete sum) and interpolates back to the requested
energies, so non-uniform experimental energy points are handled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_G = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass(frozen=True)
class Resolution:
    """Energy resolution kernel.

    kind: 'gaussian', 'pseudo_voigt' or 'measured'; fwhm_meV: full width at half maximum;
    eta: Lorentzian fraction of the pseudo-Voigt (0..1); energy_meV, profile: measured profile
    (any normalisation, centred by its first moment).
    """

    kind: str = "gaussian"
    fwhm_meV: float = 1.5
    eta: float = 0.0
    energy_meV: np.ndarray | None = None
    profile: np.ndarray | None = None

    def __post_init__(self):
        if self.kind not in ("gaussian", "pseudo_voigt", "measured"):
            raise ValueError(f"resolution kind {self.kind!r}: use gaussian, pseudo_voigt or measured")
        if self.kind == "measured":
            if self.energy_meV is None or self.profile is None:
                raise ValueError("a measured resolution needs energy_meV and profile arrays")
            if len(self.energy_meV) != len(self.profile) or len(self.profile) < 3:
                raise ValueError("measured resolution: energy_meV and profile need equal length >= 3")
        elif not self.fwhm_meV > 0:
            raise ValueError(f"resolution fwhm_meV must be > 0, got {self.fwhm_meV}")
        if not 0 <= self.eta <= 1:
            raise ValueError(f"pseudo-Voigt eta must be within [0, 1], got {self.eta}")

    @property
    def half_range_meV(self) -> float:
        """Energy range either side of 0 over which the kernel is evaluated."""
        if self.kind == "measured":
            return float(np.max(np.abs(self.energy_meV)))
        return (8.0 if self.kind == "gaussian" else 40.0) * self.fwhm_meV

    def __call__(self, e_meV) -> np.ndarray:
        """Kernel values R(E) in 1/meV (unit area for the analytic shapes)."""
        e = np.asarray(e_meV, dtype=float)
        if self.kind == "measured":
            x = np.asarray(self.energy_meV, float)
            y = np.clip(np.asarray(self.profile, float), 0, None)
            order = np.argsort(x)
            x, y = x[order], y[order]
            area = np.trapezoid(y, x)
            centre = np.trapezoid(x * y, x) / area
            return np.interp(e + centre, x, y / area, left=0.0, right=0.0)
        sig = self.fwhm_meV / _G
        g = np.exp(-0.5 * (e / sig) ** 2) / (sig * np.sqrt(2 * np.pi))
        if self.kind == "gaussian":
            return g
        hw = 0.5 * self.fwhm_meV
        lor = hw / np.pi / (e**2 + hw**2)
        return (1 - self.eta) * g + self.eta * lor


def as_resolution(res) -> Resolution | None:
    """None, a FWHM in meV (Gaussian) or a :class:`Resolution`."""
    if res is None or isinstance(res, Resolution):
        return res
    return Resolution("gaussian", float(res))


def convolve(model, energy_meV, resolution, *, step_meV: float | None = None) -> np.ndarray:
    """(R * model)(E) at ``energy_meV``; ``model`` is a callable of an energy array (meV).

    The fine grid spacing is ``step_meV`` (default FWHM / 20); the kernel is renormalised to unit
    discrete area so a constant stays a constant.
    """
    res = as_resolution(resolution)
    e = np.asarray(energy_meV, dtype=float)
    if res is None:
        return np.asarray(model(e), dtype=float)
    fw = res.fwhm_meV if res.kind != "measured" else max(np.ptp(res.energy_meV) / 50, 1e-3)
    h = step_meV or fw / 20.0
    half = res.half_range_meV
    nk = int(np.ceil(half / h))
    k_e = h * np.arange(-nk, nk + 1)
    kern = res(k_e)
    kern = kern / kern.sum()
    lo, hi = e.min() - half, e.max() + half
    grid = lo + h * np.arange(int(np.ceil((hi - lo) / h)) + 1)
    m = np.asarray(model(grid), dtype=float)
    from scipy.signal import fftconvolve

    conv = fftconvolve(m, kern, mode="same")  # sum_j m(E - k_j) R(k_j)
    return np.interp(e, grid, conv)
