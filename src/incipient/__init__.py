"""incipient: ion migration and lattice heat transport in ionic conductors.

Stages (sub-packages): ``structures`` (crystals), ``potentials`` (the MTP engine),
``md`` (dynamics and trajectories), ``analysis`` (migration, VACF DOS), ``spectra``
(S(Q,w), DHO fits), ``lattice`` (force constants), ``transport`` (Wigner and Green-Kubo
conductivity), ``experiment`` (MEM densities from X-ray data), ``workflows`` (the study
runner and report) and ``cli``; constants, unit conversions and the Bose-Einstein
occupation in ``units``.
"""

__version__ = "0.1.0"
