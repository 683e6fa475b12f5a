"""Crystal structures: file readers (CIF, POSCAR, extxyz, ShengBTE CONTROL, ...) and relaxation."""

from incipient.structures.io import read_structure

__all__ = ["read_structure"]
