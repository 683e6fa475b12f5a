"""Force constants: ShengBTE/phonopy formats, hiPhive fits from MD snapshots, stability checks."""

from incipient.lattice.fit import FitResult, fit_force_constants
from incipient.lattice.phonons import check_stability
from incipient.lattice.shengbte import (
           read_shengbte_fc3,
           read_shengbte_fc4,
           write_shengbte_fc3,
           write_shengbte_fc4,
)

__all__ = ["FitResult", "check_stability", "fit_force_constants", "read_shengbte_fc3", "read_shengbte_fc4",
           "write_shengbte_fc3", "write_shengbte_fc4"]
