"""Cepstral analysis of a heat-current power spectrum: the zero-frequency value and its variance.

Own implementation (numpy/scipy only; sportran is not a dependency) of the method of
L. Ercole, A. Marcolongo and S. Baroni, Sci. Rep. 7, 15835 (2017):

1. the periodogram ``S_k`` of each independent current (segment) is averaged over the ``ell``
   independent realisations; for 0 < f_k < f_Nyquist the average is distributed as
   ``S(f_k) chi2_{2 ell} / (2 ell)``;
2. only frequencies ``f_k <= f*`` are kept (equivalent to low-pass filtering and resampling the
   current at Nyquist frequency ``f*``); the kept log-spectrum is extended periodically (even)
   to ``N* = 2 (K - 1)`` points;
3. the log of a chi-square variable with ``nu`` degrees of freedom over ``nu`` has mean
   ``lambda(nu) = digamma(nu/2) - log(nu/2)`` and variance ``sigma^2(nu) = trigamma(nu/2)``;
   the bias ``lambda_k`` of every bin is removed from the log-periodogram *before* the
   transform, and the cepstral coefficients ``C_n`` are the inverse discrete (cosine) transform
   of the result; every ``C_n`` (n > 0) carries Gaussian noise of variance ``~ sigma0^2 / N*``
   with ``sigma0^2 = trigamma(ell)``;
4. the number ``P*`` of coefficients kept is the minimiser of Akaike's information criterion
   ``AIC(P) = N*/sigma0^2 * sum_{n >= P} C_n^2 + 2 P``;
5. ``log S(0) = C_0 + 2 sum_{n=1}^{P*-1} C_n``. It is a linear combination
   ``sum_k w_k L_k`` of the independent log-periodogram bins, ``w_k = m_k D_P*(2 pi k / N*) / N*``
   (``D_P`` the Dirichlet kernel, ``m_k`` = 1 at both ends and 2 inside), so its variance for a
   fixed P* is ``sum_k w_k^2 sigma_k^2``; with equal ``sigma_k`` this is the paper's
   ``sigma0^2 (4 P* - 2) / N*`` up to a relative ``O(P*/N*)`` end correction. ``S(0)`` is
   log-normal; we report the median ``exp(log S0)`` and the standard deviation
   ``S(0) * sqrt(var)``.

Zero-frequency (and Nyquist) bin: the DFT of a real series is real at k = 0 (and at k = N/2
for even N), so there the periodogram of one series is ``S chi2_1``, not ``S chi2_2 / 2``, and
the mean of ``ell`` of them has ``nu_0 = ell`` degrees of freedom instead of ``2 ell``. We use
``lambda_0 = digamma(ell/2) - log(ell/2)`` and ``sigma_0^2 = trigamma(ell/2)`` there (and at the
last bin when it is the Nyquist frequency, ``nyquist=True``). Ercole et al. use the ``2 ell``
values for every bin (so does sportran's ``multicomp_cepstral_parameters``); ``log S(0)`` gives
the k = 0 bin the weight ``(2 P* - 1) / N*``, so that underestimates ``log S(0)`` by
``(2 P* - 1) / N* * (lambda(2 ell) - lambda(ell))``, about ``0.69 (2 P* - 1) / N*`` for
``ell = 1``: 6.4 % for P* = 6 on one 12-ps run at f* = 5 THz (N* = 120); measured 6.8 %. The
``nu_k`` of the bins are derived in the STACIE documentation (molmod/stacie,
``docs/source/theory/statistics.md``).

Departure from the paper: the variance above ignores that P* is itself chosen from the noisy
coefficients. On synthetic chi-square spectra (flat and Lorentzian, ell = 16, K = 82 and 1000)
the spread of ``log S0`` with the AIC choice was 1.16-1.36 times the formula's standard deviation
(exactly 1.0 with P fixed). We therefore add the model-selection spread of Burnham & Anderson,
``sum_P w_P (log S0(P) - log S0(P*))^2`` with Akaike weights ``w_P ~ exp(-AIC(P)/2)``, which
brought the ratio to 0.82-1.02 in the same check (measured before the f = 0 correction).
``log_var_fixed_P`` is the fixed-P* variance.
The calibration on synthetic Ornstein-Uhlenbeck currents is in
``tests/transport/test_cepstral_calibration.py``.

The periodogram convention here is ``S_k = dt/N |sum_n x_n exp(-2 pi i k n / N)|^2`` whose
expectation at ``k = 0`` is ``int_{-inf}^{inf} <x(0) x(t)> dt = 2 int_0^inf <x(0) x(t)> dt``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy.special import polygamma, psi


@dataclass(frozen=True)
class CepstralEstimate:
    """Zero-frequency limit of a spectrum from cepstral analysis.

    Attributes
    ----------
    S0 : float, estimated spectrum at f = 0 (units of the input periodogram).
    S0_err : float, one standard deviation of ``S0`` (log-normal: ``S0 * sqrt(log_var)``).
    log_S0 : float, estimated ``log S(0)``.
    log_var : float, variance of ``log_S0``: ``log_var_fixed_P`` plus the Akaike-weighted
        model-selection spread.
    log_var_fixed_P : float, ``sum_k w_k^2 sigma_k^2`` for the chosen P* (close to Ercole et
        al.'s ``sigma0^2 (4 P* - 2) / N*``).
    P_star : int, number of cepstral coefficients kept (AIC minimum).
    n_star : int, number of points of the periodic log-spectrum, ``2 (K - 1)``.
    ell : int, number of independent periodograms averaged.
    aic : (P_max,) float, AIC(P) for P = 1 .. P_max.
    log_spectrum_filtered : (K,) float, cepstrally smoothed log-spectrum below f*
        (bias ``lambda_k`` removed), i.e. the log of the smoothed spectrum.
    """

    S0: float
    S0_err: float
    log_S0: float
    log_var: float
    log_var_fixed_P: float
    P_star: int
    n_star: int
    ell: int
    aic: np.ndarray
    log_spectrum_filtered: np.ndarray


def log_chi2_moments(ell: float) -> tuple[float, float]:
    """Mean and variance of ``log(chi2_{2 ell} / (2 ell))``: ``(digamma(ell) - log ell, trigamma(ell))``.

    ``ell`` may be a half-integer: ``log_chi2_moments(nu / 2)`` are the moments of
    ``log(chi2_nu / nu)`` (e.g. ``nu = ell`` for the zero-frequency bin of ``ell`` averaged
    periodograms).
    """
    if not ell > 0:
        raise ValueError(f"ell (number of averaged periodograms) must be > 0, got {ell}")
    return float(psi(ell) - np.log(ell)), float(polygamma(1, ell))


def bin_log_moments(K: int, ell: int, *, nyquist: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean ``lambda_k`` and variance ``sigma_k^2`` of the log of ``ell`` averaged
    periodograms over their expectation, k = 0 .. K-1.

    Bins 0 < k have ``2 ell`` degrees of freedom; k = 0 (and k = K-1 when ``nyquist``, i.e. when
    it is the Nyquist frequency N/2 of even-length segments) has ``ell``: the DFT of a real
    series is real there.
    """
    if ell < 1:
        raise ValueError(f"ell (number of averaged periodograms) must be >= 1, got {ell}")
    lam, var = log_chi2_moments(ell)
    lam0, var0 = log_chi2_moments(0.5 * ell)
    lam_k = np.full(K, lam)
    var_k = np.full(K, var)
    lam_k[0], var_k[0] = lam0, var0
    if nyquist:
        lam_k[-1], var_k[-1] = lam0, var0
    return lam_k, var_k


def cepstral_coefficients(log_spectrum: np.ndarray) -> np.ndarray:
    """Cepstral coefficients of a log-spectrum given on ``K`` frequencies 0..f* (inclusive).

    The spectrum is extended evenly to ``N* = 2 (K - 1)`` points, so the coefficients are the
    type-I inverse cosine transform: ``C_n = 1/N* sum_{k=0}^{N*-1} L_k cos(2 pi k n / N*)``,
    returned for n = 0 .. K-1.
    """
    log_spectrum = np.asarray(log_spectrum, dtype=float)
    K = log_spectrum.shape[0]
    if K < 3:
        raise ValueError(f"need at least 3 frequencies below f*, got {K}")
    n_star = 2 * (K - 1)
    return sfft.dct(log_spectrum, type=1) / n_star


def zero_frequency_weights(K: int, P: int) -> np.ndarray:
    """Weights ``w_k`` with ``C_0 + 2 sum_{n=1}^{P-1} C_n = sum_k w_k L_k`` (K bins 0..f*).

    ``w_k = m_k D_P(2 pi k / N*) / N*`` with the Dirichlet kernel
    ``D_P(x) = 1 + 2 sum_{n=1}^{P-1} cos(n x) = sin((P - 1/2) x) / sin(x / 2)`` and ``m_k = 1``
    for k = 0, K-1, 2 otherwise (each inner bin appears twice in the even extension).
    """
    n_star = 2 * (K - 1)
    x = 2.0 * np.pi * np.arange(K) / n_star
    D = np.empty(K)
    D[0] = 2 * P - 1
    D[1:] = np.sin((P - 0.5) * x[1:]) / np.sin(0.5 * x[1:])
    m = np.full(K, 2.0)
    m[0] = m[-1] = 1.0
    return m * D / n_star


def cepstral_zero_frequency(periodogram: np.ndarray, ell: int, *, P_max: int | None = None,
                            P_star: int | None = None, nyquist: bool = False) -> CepstralEstimate:
    """Zero-frequency value of the spectrum from the averaged periodogram below f*.

    Parameters
    ----------
    periodogram : (K,) float, mean of ``ell`` independent periodograms of real series at
        f_k = k/(N dt), k = 0..K-1, already cut at the filtering frequency f*. Must be positive
        (in particular the mean must not have been subtracted: that empties the k = 0 bin).
    ell : number of independent periodograms in the mean (segments x equivalent components).
        The k = 0 bin then has ``ell`` degrees of freedom, the others ``2 ell``.
    P_max : largest number of coefficients tried by AIC (default ``K - 1``).
    P_star : use this number of coefficients instead of the AIC choice (then no
        model-selection spread is added to the variance).
    nyquist : the last bin is the Nyquist frequency (k = N/2 of even-length segments, f* at
        Nyquist): it has ``ell`` degrees of freedom too.
    """
    S = np.asarray(periodogram, dtype=float)
    if S.ndim != 1:
        raise ValueError(f"periodogram must be 1-D, got shape {S.shape}")
    if not np.all(np.isfinite(S)) or np.any(S <= 0):
        raise ValueError("periodogram must be finite and positive (a power spectrum, not a cross-spectrum)")
    K = S.shape[0]
    if K < 3:
        raise ValueError(f"need at least 3 frequencies below f*, got {K}")
    lam_k, var_k = bin_log_moments(K, int(ell), nyquist=nyquist)
    sigma2 = float(var_k[1])  # inner bins: trigamma(ell), the noise scale of the C_n
    n_star = 2 * (K - 1)
    C = cepstral_coefficients(np.log(S) - lam_k)
    P_max = K - 1 if P_max is None else int(min(max(P_max, 1), K - 1))
    # AIC(P) = N*/sigma0^2 * sum_{n=P}^{K-1} C_n^2 + 2P, for P = 1..P_max
    tail = np.cumsum((C ** 2)[::-1])[::-1]  # tail[P] = sum_{n >= P} C_n^2
    Ps = np.arange(1, P_max + 1)
    aic = n_star / sigma2 * tail[Ps] + 2 * Ps
    chosen = P_star is None
    if chosen:
        P_star = int(Ps[np.argmin(aic)])
    elif not 1 <= P_star <= K - 1:
        raise ValueError(f"P_star must be in 1..{K - 1}, got {P_star}")
    # log S0(P) for P = 1..P_max
    logs = C[0] + 2.0 * np.concatenate([[0.0], np.cumsum(C[1:P_max])])
    log_S0 = C[0] + 2.0 * C[1:P_star].sum()
    w_k = zero_frequency_weights(K, int(P_star))
    log_var_fixed = float(np.sum(w_k ** 2 * var_k))
    w = np.exp(-0.5 * (aic - aic.min()))
    w /= w.sum()
    log_var = log_var_fixed + (float(np.sum(w * (logs - log_S0) ** 2)) if chosen else 0.0)
    # smoothed log-spectrum from the first P* coefficients (for plots)
    Ck = np.zeros_like(C)
    Ck[:P_star] = C[:P_star]
    smooth = sfft.dct(Ck, type=1)  # forward DCT-I of C gives sum_n C_n cos(...) * (1, 2, .., 2, 1)
    S0 = float(np.exp(log_S0))
    return CepstralEstimate(S0=S0, S0_err=float(S0 * np.sqrt(log_var)), log_S0=float(log_S0),
                            log_var=float(log_var), log_var_fixed_P=float(log_var_fixed),
                            P_star=int(P_star), n_star=int(n_star),
                            ell=int(ell), aic=aic, log_spectrum_filtered=smooth)
