"""spectra stage of incipient: S(Q,w) from MD, harmonic S(Q,E), resolution and DHO fits."""

from incipient.spectra.dho import fit_dho, load_scan_csv
from incipient.spectra.harmonic import harmonic_sqe
from incipient.spectra.paths import commensurate_path, default_sqw_paths
from incipient.spectra.resolution import Resolution, convolve
from incipient.spectra.sqw import sqw

__all__ = ["Resolution", "commensurate_path", "convolve", "default_sqw_paths", "fit_dho",
           "harmonic_sqe", "load_scan_csv", "sqw"]
