"""Heat transport: Wigner (phono3py) and Green-Kubo conductivity, lifetime regimes, power-law fits, ensembles."""

from incipient.transport.ensemble import run_ensemble
from incipient.transport.fits import PowerLawFit, fit_power_law, power_law_alpha
from incipient.transport.fourphonon import (
    FourPhononRates,
    KappaComparison,
    MeshPhonons,
    compare_kappa_3ph_34ph,
    four_phonon_rates,
    mesh_phonons,
)
from incipient.transport.green_kubo import (
    ConvergenceResult,
    GreenKuboResult,
    green_kubo,
    kappa_vs_fstar,
    kappa_vs_run_length,
    kappa_vs_supercell,
)
from incipient.transport.lifetimes import LifetimeRegimes, classify_lifetimes, from_wigner
from incipient.transport.wigner import (
    WignerResult,
    symmetrize_tensor,
    wigner_conductivity,
    wigner_from_phono3py,
)
from incipient.transport.wigner_assembly import (
    WignerKappa,
    combine_scattering_rates,
    velocity_operator,
    wigner_kappa,
)

__all__ = [
    "ConvergenceResult",
    "GreenKuboResult",
    "PowerLawFit",
    "fit_power_law",
    "power_law_alpha",
    "green_kubo",
    "kappa_vs_fstar",
    "kappa_vs_run_length",
    "kappa_vs_supercell",
    "run_ensemble",
    "LifetimeRegimes",
    "classify_lifetimes",
    "from_wigner",
    "WignerResult",
    "symmetrize_tensor",
    "wigner_conductivity",
    "wigner_from_phono3py",
    "FourPhononRates",
    "KappaComparison",
    "MeshPhonons",
    "compare_kappa_3ph_34ph",
    "four_phonon_rates",
    "mesh_phonons",
    "WignerKappa",
    "combine_scattering_rates",
    "velocity_operator",
    "wigner_kappa",
]
