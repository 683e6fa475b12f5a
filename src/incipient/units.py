"""Physical constants, unit conversions and the Bose-Einstein occupation used across incipient (one place).

Internal units are ASE's: eV, Angstrom, amu, and ASE time (Angstrom*sqrt(amu/eV)).
Convert at the edges; parameter names carry their unit (``timestep_fs``, ``temperature_K``).

Two sets of constants, each where it has always been used (so no result moves):

* ASE's constants (``ase.units``; ASE 3.x defaults to CODATA 2014): everything that meets an ASE
  calculator, ASE time or ASE masses (MD, relaxation, harmonic S(Q, w), DHO fits, Green-Kubo,
  classification).
* CODATA 2018 SI values (names ending ``_2018``), as phono3py, ShengBTE and FourPhonon use them:
  the phonon-transport code (four-phonon rates, Wigner assembly) and the MD S(Q, w) energy axis.
  They differ from the ASE set by ~1e-8 relative (e.g. hbar 1.054571800e-34 vs 1.054571817e-34 J s).

The Bose-Einstein occupation lives here too (:func:`bose_einstein`): it is a function of
``hbar omega / (kB T)`` only, needed by spectra and transport alike, and this leaf module is the
one every stage already imports.
"""

import math

import numpy as np
from ase import units as _u

# --- ASE's constants (CODATA 2014 in ASE 3.x) -------------------------------------------------
fs = _u.fs  # ASE time units per femtosecond
ps = 1000.0 * _u.fs
kB_eV_K = _u.kB  # Boltzmann constant, eV/K
hbar_Js = _u._hbar  # reduced Planck constant, J*s
hbar_eVs = _u._hbar / _u._e  # reduced Planck constant, eV*s
h_eVs = _u._hplanck / _u._e  # Planck constant, eV*s
THz_to_meV = h_eVs * 1e12 * 1e3  # 1 THz (frequency, not angular) in meV: 4.1357
meV_to_THz = 1.0 / THz_to_meV
GPa_eV_A3 = _u.GPa  # 1 GPa in eV/A^3 (divide a stress in eV/A^3 by it to get GPa)
eV_A3_to_GPa = 1.0 / _u.GPa  # 1 eV/A^3 in GPa: 160.2
amu_kg = _u._amu  # atomic mass unit, kg
e_C = _u._e  # elementary charge, C (= J per eV)
#: sqrt(eV / (A^2 amu)) (square root of a mass-weighted force-constant eigenvalue) in THz, omega / 2 pi
sqrt_eV_A2_amu_to_THz = math.sqrt(_u._e / _u._amu) * 1e10 / (2 * math.pi) / 1e12
A2_per_fs_to_cm2_per_s = 1e-16 / 1e-15  # 1 A^2/fs = 0.1 cm^2/s
A2_per_ps_to_cm2_per_s = 1e-16 / 1e-12  # 1 A^2/ps = 1e-4 cm^2/s

# --- CODATA 2018 SI values (phonon transport; phono3py / ShengBTE / FourPhonon conventions) ---
h_Js_2018 = 6.62607015e-34  # Planck constant, J*s (exact)
hbar_Js_2018 = 1.054571817e-34  # reduced Planck constant, J*s (CODATA 2018, 10 digits)
eV_J_2018 = 1.602176634e-19  # 1 eV in J = elementary charge in C (exact)
kB_J_K_2018 = 1.380649e-23  # Boltzmann constant, J/K (exact)
kB_eV_K_2018 = 8.617333262e-5  # Boltzmann constant, eV/K (CODATA 2018, 10 digits)
amu_kg_2018 = 1.66053906660e-27  # atomic mass unit, kg
hbar_meV_fs_2018 = 658.2119569509066  # reduced Planck constant, meV*fs (= h / (2 pi e), exact h and e)
THz_to_meV_2018 = 4.135667696  # h in meV per THz (1 THz, not angular, in meV; 10 digits)


def bose_einstein(x) -> np.ndarray:
    """Bose-Einstein occupation ``n = 1 / (exp(x) - 1)`` of ``x = hbar omega / (kB T)``.

    ``inf`` at x = 0 and 0 for large x (no warnings); negative x gives ``n(-|x|) = -(n(|x|) + 1)``.
    """
    with np.errstate(over="ignore", divide="ignore"):
        return 1.0 / np.expm1(x)
