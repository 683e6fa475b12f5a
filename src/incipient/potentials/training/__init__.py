"""Training of Moment Tensor Potentials: MLIP-2 templates, a writer, the fit and extrapolation grades.

``mtp_template`` / ``mtp_structure`` (any MLIP-2 level 2-28), ``write_mtp``, ``train_mtp`` and
``select_active_set`` (extrapolation grade; both need torch: ``pip install 'incipient[train]'``).
Submodules import torch only inside functions.
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


def __getattr__(name):
    if name == "TrainingResult":
        from incipient.potentials.training.fit import TrainingResult

        return TrainingResult
    raise AttributeError(name)


__all__ = ["LEVELS", "TrainingResult", "format_mtp", "level_of", "mtp_structure", "mtp_template",
           "select_active_set", "train_mtp", "write_mtp"]
