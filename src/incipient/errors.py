"""The exceptions incipient raises on bad input or failed work: one base the CLI prints as one line.

Every error a user can cause (a wrong file, key, value or a run that cannot go on) derives from
:class:`IncipientError`. Its message names the file (or key) and the problem in one line, e.g.
``POSCAR: atom 3 has a non-finite position``. The command line prints ``incipient CMD: error:
<message>`` and exits 1; a traceback only with ``--debug``. The subclasses also derive from the
built-in exception a Python caller would expect (ValueError, OSError, RuntimeError), so
``except ValueError`` keeps working.
"""

from __future__ import annotations


class IncipientError(Exception):
    """Base of every error incipient raises on purpose (bad input, unusable file, failed run)."""


class InputError(IncipientError, ValueError):
    """A file, key or value given by the user is wrong (raised before any long work starts)."""

    def __init__(self, problem: str, *, source: str | None = None):
        self.source = None if source is None else str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}" if self.source else problem)


class FileFormatError(InputError):
    """A file exists but cannot be read as the format it should have (truncated, corrupt, wrong type)."""


class OutputError(IncipientError, OSError):
    """A result cannot be written (read-only folder, full disk): raised before work where possible."""


class RunError(IncipientError, RuntimeError):
    """A calculation that started but cannot go on (blow-up, non-finite forces, unconverged)."""


class StageUnsupported(IncipientError):
    """A study stage this system cannot run (missing data); carries the one-line reason."""


__all__ = ["FileFormatError", "IncipientError", "InputError", "OutputError", "RunError", "StageUnsupported"]
