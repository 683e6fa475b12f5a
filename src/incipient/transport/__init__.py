"""Heat transport: Green-Kubo analysis of MD heat currents, power-law fits, Dask ensembles."""

from incipient.transport.ensemble import run_ensemble
from incipient.transport.fits import PowerLawFit, fit_power_law
from incipient.transport.green_kubo import (
    ConvergenceResult,
    GreenKuboResult,
    green_kubo,
    kappa_vs_fstar,
    kappa_vs_run_length,
    kappa_vs_supercell,
)

__all__ = [
    "ConvergenceResult",
    "GreenKuboResult",
    "PowerLawFit",
    "fit_power_law",
    "green_kubo",
    "kappa_vs_fstar",
    "kappa_vs_run_length",
    "kappa_vs_supercell",
    "run_ensemble",
]
