"""Interatomic potentials: the Moment Tensor Potential engine (ASE calculator ``MTP``)."""

from incipient.potentials.calculator import MTP
from incipient.potentials.mtp_file import MTPFormatError, MTPModel, read_mtp

__all__ = ["MTP", "MTPFormatError", "MTPModel", "read_mtp"]
