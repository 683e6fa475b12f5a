"""analysis stage of incipient: ion migration (MSD, diffusion, hops, barriers) and VACF DOS."""

from incipient.analysis.diffusion import diffusion
from incipient.analysis.msd import msd
from incipient.analysis.vdos import vdos

__all__ = ["diffusion", "msd", "vdos"]
