"""X-ray atomic form factors f(|Q|) and neutron coherent scattering lengths as scattering weights.

The one form-factor module of incipient (S(Q,w) weights here, structure factors and the MEM
prior in ``incipient.experiment``). Own code around two coefficient tables, both evaluated by
:func:`gaussian_form_factor`, ``f(s) = sum_i a_i exp(-b_i s^2) + c`` with
``s = sin(theta)/lambda = |Q|/(4 pi)`` (|Q| in 1/A including the 2 pi), neutral atoms, in
electrons, no dispersion corrections:

* ``"waasmaier_kirfel_1995"`` (default; S(Q,w)): the 5-Gaussian fit of D. Waasmaier and
  A. Kirfel, Acta Cryst. A51, 416 (1995), from the package data file
  ``data/form_factors_waasmaier_kirfel_1995_and_neutron_sears_1992.json``.
* ``"it92"`` (the CIF structure factors and MEM): the 4-Gaussian fits of International Tables
  Vol. C Table 6.1.1.4 as shipped by gemmi (``gemmi.Element(...).it92``); Jana2020 refined the
  built-in CIFs with these, so their F_calc are reproduced (the two fits differ by up to ~2 %).

Neutrons: bound coherent scattering lengths of the natural elements in fm (V. F. Sears,
Neutron News 3, 26 (1992), same data file); Q independent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources

import numpy as np

DATA_FILE = "form_factors_waasmaier_kirfel_1995_and_neutron_sears_1992.json"
XRAY_TABLES = ("waasmaier_kirfel_1995", "it92")


@lru_cache(maxsize=1)
def _table() -> dict:
    with resources.files("incipient.data").joinpath(DATA_FILE).open() as fh:
        return json.load(fh)


def xray_coefficients(symbol: str) -> list[float]:
    """Waasmaier-Kirfel coefficients [a1, b1, ..., a5, b5, c] of a neutral atom."""
    coef = _table()["x_ray_waasmaier_kirfel_1995"]["coefficients"]
    if symbol not in coef:
        raise ValueError(f"no Waasmaier-Kirfel X-ray form factor for element {symbol!r} in {DATA_FILE}")
    return list(coef[symbol])


def it92_coefficients(symbol: str) -> tuple[np.ndarray, np.ndarray, float]:
    """IT92 (ITC Vol. C 6.1.1.4) coefficients a (4,), b (4,) A^2 and c of a neutral atom, via gemmi."""
    import gemmi

    el = gemmi.Element(symbol)
    if el.atomic_number == 0:
        raise ValueError(f"unknown element {symbol!r}")
    it = el.it92
    return np.array(it.a, dtype=float), np.array(it.b, dtype=float), float(it.c)


def xray_gaussians(symbol: str, table: str = "waasmaier_kirfel_1995") -> tuple[np.ndarray, np.ndarray, float]:
    """(a, b, c) of ``symbol`` in ``table`` (see :data:`XRAY_TABLES`): f(s) = sum a exp(-b s^2) + c."""
    if table == "waasmaier_kirfel_1995":
        c = np.asarray(xray_coefficients(symbol))
        return c[:10:2], c[1:10:2], c[10]
    if table == "it92":
        return it92_coefficients(symbol)
    raise ValueError(f"unknown X-ray form-factor table {table!r}; use one of {', '.join(XRAY_TABLES)}")


def gaussian_form_factor(a, b, c, s2) -> np.ndarray:
    """``sum_i a_i exp(-b_i s2) + c`` at every ``s2 = (sin(theta)/lambda)^2`` (1/A^2), shape of s2."""
    s2 = np.asarray(s2, dtype=float)
    return np.sum(a[:, None] * np.exp(-b[:, None] * s2.reshape(1, -1)), axis=0).reshape(s2.shape) + c


def xray_form_factor_s2(symbol: str, s2, table: str = "waasmaier_kirfel_1995") -> np.ndarray:
    """Atomic X-ray form factor in electrons at ``s2 = (sin(theta)/lambda)^2`` (1/A^2)."""
    return gaussian_form_factor(*xray_gaussians(symbol, table), s2)


def xray_form_factor(symbol: str, q_norm_invA, table: str = "waasmaier_kirfel_1995") -> np.ndarray:
    """Atomic X-ray form factor in electrons at |Q| (1/A, with the 2 pi); f(0) ~ Z."""
    q = np.asarray(q_norm_invA, dtype=float)
    return xray_form_factor_s2(symbol, (q / (4.0 * np.pi)) ** 2, table)


def neutron_scattering_length(symbol: str) -> float:
    """Bound coherent neutron scattering length of a natural element in fm."""
    b = _table()["neutron_sears_1992"]["b_coh_fm"]
    if symbol not in b:
        raise ValueError(f"no neutron scattering length for element {symbol!r} in {DATA_FILE}; "
                         "pass weights={symbol: b_fm, ...} instead")
    return float(b[symbol])


def species_weights(symbols: Sequence[str], q_norm_invA, weighting) -> np.ndarray:
    """Scattering weights, shape (n_species, n_q), for each species at each |Q|.

    ``weighting``: ``"xray"`` (Waasmaier-Kirfel f(|Q|), electrons), ``"neutron"`` (b_coh, fm),
    ``None`` or ``"none"`` (all 1: the number-density S(Q,w)), a dict symbol -> constant, or
    a callable ``f(symbol, q_norm_invA) -> array``.
    """
    q = np.atleast_1d(np.asarray(q_norm_invA, dtype=float))
    out = np.ones((len(symbols), q.size))
    if weighting is None or weighting == "none":
        return out
    for i, s in enumerate(symbols):
        if weighting == "xray":
            out[i] = xray_form_factor(s, q)
        elif weighting == "neutron":
            out[i] = neutron_scattering_length(s)
        elif isinstance(weighting, dict):
            if s not in weighting:
                raise ValueError(f"weights dict has no entry for species {s!r}")
            out[i] = float(weighting[s])
        elif isinstance(weighting, Callable):
            out[i] = np.asarray(weighting(s, q), dtype=float)
        else:
            raise ValueError(f"weighting={weighting!r}: use 'xray', 'neutron', 'none', a dict or a callable")
    return out
