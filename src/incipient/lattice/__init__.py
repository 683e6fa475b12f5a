"""Force constants: ShengBTE/phonopy formats, hiPhive fits from MD snapshots, stability checks, dispersions."""

from incipient.lattice.bands import Dispersion, phonon_dispersion, plot_dispersion
from incipient.lattice.effective import EffectiveFC, effective_force_constants
from incipient.lattice.fit import (
           FitResult,
           check_fit_cutoffs,
           choose_supercell,
           fit_force_constants,
           max_fit_cutoff_A,
)
from incipient.lattice.phonons import check_stability
from incipient.lattice.shengbte import (
           read_shengbte_fc3,
           read_shengbte_fc4,
           write_shengbte_fc3,
           write_shengbte_fc4,
)

__all__ = ["Dispersion", "EffectiveFC", "FitResult", "check_fit_cutoffs", "check_stability", "choose_supercell",
           "effective_force_constants", "fit_force_constants", "max_fit_cutoff_A", "phonon_dispersion",
           "plot_dispersion", "read_shengbte_fc3", "read_shengbte_fc4", "write_shengbte_fc3", "write_shengbte_fc4"]
