"""Physical constants and unit conversions used across incipient (one place, CODATA 2018 via ASE).

Internal units are ASE's: eV, Angstrom, amu, and ASE time (Angstrom*sqrt(amu/eV)).
Convert at the edges; parameter names carry their unit (``timestep_fs``, ``temperature_K``).
"""

from ase import units as _u

fs = _u.fs  # ASE time units per femtosecond
ps = 1000.0 * _u.fs
kB_eV_K = _u.kB  # Boltzmann constant, eV/K
hbar_eVs = _u._hbar / _u._e  # reduced Planck constant, eV*s
h_eVs = _u._hplanck / _u._e  # Planck constant, eV*s
THz_to_meV = h_eVs * 1e12 * 1e3  # 1 THz (frequency, not angular) in meV: 4.1357
meV_to_THz = 1.0 / THz_to_meV
eV_A3_to_GPa = 1.0 / _u.GPa
amu_kg = _u._amu
e_C = _u._e
A2_per_fs_to_cm2_per_s = 1e-16 / 1e-15  # 1 A^2/fs = 0.1 cm^2/s
A2_per_ps_to_cm2_per_s = 1e-16 / 1e-12  # 1 A^2/ps = 1e-4 cm^2/s
