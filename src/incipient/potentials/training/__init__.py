"""Training of Moment Tensor Potentials: templates, writer, fit, extrapolation grade, active learning, validation.

``mtp_template`` / ``mtp_structure`` (any MLIP-2 level 2-28), ``write_mtp``, ``train_mtp`` (the
fit; needs torch: ``pip install 'incipient[train]'``), ``select_active_set`` (the MaxVol
extrapolation grade, numpy only), ``learn_mtp`` (active learning: fit, graded MD, selection,
oracle labels; its fits need torch) and ``validate_potential`` (a potential against its oracle:
parity, per-species errors, lattice, phonon DOS; numpy, ASE and phonopy). The entry points import
their submodules when called, and the submodules import torch only inside the functions that
need it, so importing this package (or naming these functions) never imports torch.
"""

from incipient.potentials.training.templates import LEVELS, level_of, mtp_structure, mtp_template
from incipient.potentials.training.writer import format_mtp, write_mtp


def train_mtp(*args, **kwargs):
    """See :func:`incipient.potentials.training.fit.train_mtp`."""
    from incipient.potentials.training.fit import train_mtp as _train

    return _train(*args, **kwargs)


def select_active_set(*args, **kwargs):
    """See :func:`incipient.potentials.training.grade.select_active_set` (extrapolation grade)."""
    from incipient.potentials.training.grade import select_active_set as _select

    return _select(*args, **kwargs)


def learn_mtp(*args, **kwargs):
    """See :func:`incipient.potentials.training.learn.learn_mtp` (active learning)."""
    from incipient.potentials.training.learn import learn_mtp as _learn

    return _learn(*args, **kwargs)


def validate_potential(*args, **kwargs):
    """See :func:`incipient.potentials.training.validation.validate_potential`."""
    from incipient.potentials.training.validation import validate_potential as _validate

    return _validate(*args, **kwargs)


_LAZY = {"TrainingResult": "fit", "LearnResult": "learn", "PotentialValidation": "validation"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"incipient.potentials.training.{_LAZY[name]}"), name)
    raise AttributeError(name)


__all__ = ["LEVELS", "LearnResult", "PotentialValidation", "TrainingResult", "format_mtp", "learn_mtp", "level_of",
           "mtp_structure", "mtp_template", "select_active_set", "train_mtp", "validate_potential", "write_mtp"]
