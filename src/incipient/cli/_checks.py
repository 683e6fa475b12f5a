"""Checks of command-line numbers, run before any work: one InputError naming the option."""

from __future__ import annotations

import math

from incipient.errors import InputError


def option_name(dest: str) -> str:
    """argparse ``dest`` -> the option as typed (``temperature_K`` -> ``--temperature-K``)."""
    return "--" + dest.replace("_", "-")


def number(value, option: str, *, minimum: float = 0.0, strict: bool = True, optional: bool = False):
    """``value`` when it is a finite number above ``minimum`` (or equal, with ``strict=False``).

    ``None`` passes when ``optional``. Otherwise InputError, e.g. ``--nve-ps must be a finite
    number > 0, got -1.0``.
    """
    if value is None and optional:
        return None
    try:
        ok = math.isfinite(value) and (value > minimum if strict else value >= minimum)
    except TypeError:
        ok = False
    if not ok:
        raise InputError(f"{option} must be a finite number {'>' if strict else '>='} {minimum:g}, got {value}")
    return value


def numbers(args, spec: dict[str, dict]) -> None:
    """Apply :func:`number` to ``args.<dest>`` for each ``dest: keyword arguments`` of ``spec``."""
    for dest, kw in spec.items():
        number(getattr(args, dest, None), option_name(dest), **kw)


def positive(value, option: str, *, allow_zero: bool = False) -> float:
    """``value`` as float when finite and > 0 (>= 0 with ``allow_zero``); else InputError."""
    return float(number(value, option, strict=not allow_zero))
