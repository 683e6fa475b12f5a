"""Crystal structures: built-in CsCu2I3 cells, file readers, relaxation."""

from incipient.structures.builtin import (
    cscu2i3_conventional,
    cscu2i3_experimental,
    cscu2i3_primitive,
    cscu2i3_supercell,
)
from incipient.structures.io import read_structure

__all__ = ["cscu2i3_conventional", "cscu2i3_experimental", "cscu2i3_primitive", "cscu2i3_supercell", "read_structure"]
