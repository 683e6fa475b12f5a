"""X-ray atomic form factors f(|Q|) and neutron coherent scattering lengths as scattering weights.

Own code around a tabulated data file shipped as package data,
``data/form_factors_waasmaier_kirfel_1995_and_neutron_sears_1992.json``:

* X-ray: the 5-Gaussian fit of D. Waasmaier and A. Kirfel, Acta Cryst. A51, 416 (1995),
  ``f(s) = sum_i a_i exp(-b_i s^2) + c`` with ``s = sin(theta)/lambda = |Q|/(4 pi)`` (|Q| in 1/A
  including the 2 pi), neutral atoms, in electrons. Dispersion corrections are not included.
* Neutrons: bound coherent scattering lengths of the natural elements in fm (V. F. Sears,
  Neutron News 3, 26 (1992)); Q independent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources

import numpy as np

DATA_FILE = "form_factors_waasmaier_kirfel_1995_and_neutron_sears_1992.json"


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


def xray_form_factor(symbol: str, q_norm_invA) -> np.ndarray:
    """Atomic X-ray form factor in electrons at |Q| (1/A, with the 2 pi); f(0) ~ Z."""
    c = np.asarray(xray_coefficients(symbol))
    q = np.asarray(q_norm_invA, dtype=float)
    s2 = (q / (4.0 * np.pi)) ** 2
    a, b = c[:10:2], c[1:10:2]
    return np.sum(a[:, None] * np.exp(-b[:, None] * s2.reshape(1, -1)), axis=0).reshape(q.shape) + c[10]


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
