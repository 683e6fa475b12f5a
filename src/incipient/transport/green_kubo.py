"""Green-Kubo lattice thermal conductivity from heat-current time series (paper eqs. 7-8).

Own code on numpy/scipy FFTs (no Green-Kubo library is a dependency; sportran's method is
re-implemented in :mod:`incipient.transport.cepstral`). The work is a few large FFTs per segment,
so there is no explicit loop to compile with numba.

Definitions (read these before comparing numbers)
-------------------------------------------------
The inputs are the *extensive* energy currents, in eV*Angstrom/fs, as written by the MD engine:

    J_conv(t)   = sum_i e_i v_i                              (convective, eq. 7 first term)
    J_virial(t) = 1/2 sum_{i != j} r_ij (F_ij . v_i)         (virial / conduction, eq. 7 second)
    J(t)        = J_conv(t) + J_virial(t)

*not* divided by the volume. The conductivity tensor is

    kappa_ab = 1 / (V kB T^2) * int_0^inf <J_a(0) J_b(t)> dt

(equivalently ``V/(kB T^2) int <j_a j_b>`` with the intensive current ``j = J/V``); the unit
conversion eV/(Angstrom fs K) -> W/(m K) is ``e * 1e25`` (:data:`EV_PER_A_FS_K_TO_W_PER_M_K`).
T is the temperature the currents were sampled at: the *measured* mean kinetic temperature of
the NVE run, not the thermostat set point of the NVT before it (a 2 % difference in T is a 4 %
error in kappa). :func:`nve_mean_temperature` reads it from an MD run's result. Runs at
different measured temperatures take one each (``temperature_K=[T_1, T_2, ...]``): run r is
then weighted by ``1 / T_r^2``, i.e. kappa is the mean over runs of ``int <J J>_r / (V kB T_r^2)``.
Inserting ``J = J_conv + J_virial`` splits kappa exactly into (eq. 8)

    kappa_V     from <J_virial J_virial>,
    kappa_CONV  from <J_conv J_conv>,
    kappa_CROSS from <J_virial J_conv> + <J_conv J_virial>,

and ``kappa_V + kappa_CONV + kappa_CROSS = kappa_total``. Off-diagonal elements are reported
symmetrised, ``(kappa_ab + kappa_ba) / 2``; the correlations are time-symmetrised too
(``(C_ab(t) + C_ab(-t)) / 2``, which for an equilibrium, time-reversal-invariant system only
removes noise).

Estimators
----------
* Running integrals: for each segment (an independent run, or a block of one) the correlation
  functions are computed with zero-padded FFTs, normalised by the number of overlapping pairs
  ``(N - m)``, integrated with the trapezoid rule, then averaged over segments; the error is
  the standard error of the mean across segments. The integral is read at a cutoff chosen from
  the data, never by hand:

  - ``"first_dip"``: first correlation time where the segment-averaged total autocorrelation
    ``<J_a(0) J_a(t)>`` reaches zero (the "first dip" criterion, compared with the "first
    avalanche" one by Chen et al., below).
    Since ``d kappa(t)/dt = <J J>(t)``, this is where the running integral has its first
    *maximum*: a plateau when the correlation decays monotonically, but the top of the first
    oscillation when optical modes make it oscillate (then it can exceed the converged value
    many times over; compare with the cepstral estimate, which the plot shows next to it);
  - ``"first_avalanche"``: first correlation time where the averaged total autocorrelation is
    no longer distinguishable from noise, ``|C(t)| < noise_sigma * stderr(C(t))`` (our reading
    of the "first avalanche" idea of J. Chen, G. Zhang, B. Li, Phys. Lett. A 374, 2392 (2010):
    stop where the noise of the correlation overtakes its signal);
  - a number: a fixed time in fs (for convergence scans only).

  Diagonal elements use their own cutoff; an off-diagonal ab uses ``max(t_aa, t_bb)``. All four
  terms of one element share its cutoff, so the decomposition adds up at the cutoff as well.
* Cepstral analysis (Ercole, Marcolongo, Baroni, Sci. Rep. 7, 15835 (2017)) of the segment-
  averaged periodogram below ``fstar_THz``: ``kappa = S(0) / (2 V kB T^2)`` with the AIC choice of
  the number of cepstral coefficients and its own variance. The periodogram of each channel
  is the mean over the ``n`` segments: ``2 n`` degrees of freedom per bin, ``n`` at f = 0 (and
  at the Nyquist frequency when f* reaches it), where the DFT of a real series is real. It
  needs a power spectrum, so it is applied to J_virial (V), J_conv (CONV) and J (total) along
  x, y, z and along the diagonals ``(a +- b)/sqrt(2)``; ``kappa_ab = (kappa_uu - kappa_vv) / 2`` and
  ``kappa_CROSS = kappa_total - kappa_V - kappa_CONV``, with errors added in quadrature
  (correlations between these estimates are neglected).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from incipient.results import Result
from incipient.transport.cepstral import cepstral_zero_frequency
from incipient.units import e_C, kB_eV_K

log = logging.getLogger(__name__)

#: 1 eV / (Angstrom fs K) in W / (m K): 1.602e-19 J / (1e-10 m * 1e-15 s * K).
EV_PER_A_FS_K_TO_W_PER_M_K = e_C / (1e-10 * 1e-15)

TERMS = ("V", "CONV", "CROSS", "total")
#: tensor elements in the order used internally: xx, yy, zz, xy, xz, yz
PAIRS = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
#: cepstral channels: x, y, z, then (a+b)/sqrt2 and (a-b)/sqrt2 for xy, xz, yz
CEPSTRAL_CHANNELS = ("x", "y", "z", "x+y", "x-y", "x+z", "x-z", "y+z", "y-z")
AXES = "xyz"


def kappa_prefactor_W_mK(volume_A3: float, temperature_K: float) -> float:
    """Factor turning ``int <J J> dt`` in (eV A/fs)^2 fs into kappa in W/(m K): ``1/(V kB T^2)``."""
    return EV_PER_A_FS_K_TO_W_PER_M_K / (volume_A3 * kB_eV_K * temperature_K ** 2)


@dataclass(frozen=True)
class GreenKuboResult(Result):
    """Green-Kubo conductivity tensor, its eq.-8 decomposition and running integrals.

    Arrays indexed by term follow ``terms`` = ("V", "CONV", "CROSS", "total"); tensors are
    (3, 3) with rows/columns x, y, z (symmetrised). All conductivities in W/(m K).

    Attributes
    ----------
    time_fs : (n_t,) correlation times at which running integrals are stored (decimated).
    running_W_mK : (4, n_t, 3, 3) segment-averaged running integrals kappa(t).
    running_err_W_mK : (4, n_t, 3, 3) standard error of kappa(t) across segments.
    cutoff_fs : (3, 3) correlation time at which each element is read.
    cutoff_method : "first_dip", "first_avalanche" or "fixed".
    kappa_W_mK : (4, 3, 3) running integrals at the cutoff.
    kappa_err_W_mK : (4, 3, 3) their standard errors across segments.
    cepstral_kappa_W_mK : (4, 3, 3) cepstral estimates (CROSS = total - V - CONV).
    cepstral_err_W_mK : (4, 3, 3) one standard deviation of the cepstral estimates.
    cepstral_P_star : (3, 9) int, AIC number of cepstral coefficients for V, CONV, total and
        channels ``CEPSTRAL_CHANNELS``.
    fstar_THz : filtering frequency of the cepstral analysis.
    frequency_THz : (K,) frequencies below f*.
    spectrum_W_mK : (3, 3, K) segment-averaged periodogram of V, CONV, total along x, y, z,
        scaled so that its f -> 0 value is kappa (``S(f) / (2 V kB T^2)``).
    spectrum_cepstral_W_mK : (3, 3, K) the cepstrally smoothed version of ``spectrum_W_mK``.
    temperature_K : temperature used in ``1 / (V kB T^2)``: the measured NVE mean (the mean of
        ``run_temperature_K`` when one was given per run).
    volume_A3, dt_fs : inputs.
    n_segments : number of independent segments averaged.
    segment_length_fs : length of each segment.
    terms : names of the terms along the first axis.
    run_temperature_K : per-run temperatures when ``temperature_K`` was given per run, else ().
    """

    time_fs: np.ndarray
    running_W_mK: np.ndarray
    running_err_W_mK: np.ndarray
    cutoff_fs: np.ndarray
    cutoff_method: str
    kappa_W_mK: np.ndarray
    kappa_err_W_mK: np.ndarray
    cepstral_kappa_W_mK: np.ndarray
    cepstral_err_W_mK: np.ndarray
    cepstral_P_star: np.ndarray
    fstar_THz: float
    frequency_THz: np.ndarray
    spectrum_W_mK: np.ndarray
    spectrum_cepstral_W_mK: np.ndarray
    temperature_K: float
    volume_A3: float
    dt_fs: float
    n_segments: int
    segment_length_fs: float
    terms: tuple = TERMS
    run_temperature_K: tuple = ()

    def kappa(self, term: str = "total", method: str = "cepstral") -> tuple[np.ndarray, np.ndarray]:
        """(kappa, err) tensors (3, 3) in W/(m K) for ``term`` by ``method`` ("cepstral" or "cutoff")."""
        if term not in TERMS:
            raise ValueError(f"term must be one of {TERMS}, got {term!r}")
        i = TERMS.index(term)
        if method == "cepstral":
            return self.cepstral_kappa_W_mK[i], self.cepstral_err_W_mK[i]
        if method == "cutoff":
            return self.kappa_W_mK[i], self.kappa_err_W_mK[i]
        raise ValueError(f"method must be 'cepstral' or 'cutoff', got {method!r}")

    def summary(self) -> dict:
        """Plain-JSON summary: diagonal and full tensors of every term by both estimators."""
        out: dict = {"temperature_K": self.temperature_K,
                     "run_temperature_K": [float(t) for t in self.run_temperature_K],
                     "volume_A3": self.volume_A3,
                     "n_segments": self.n_segments, "segment_length_fs": self.segment_length_fs,
                     "dt_fs": self.dt_fs, "cutoff_method": self.cutoff_method,
                     "cutoff_fs": np.asarray(self.cutoff_fs).tolist(), "fstar_THz": self.fstar_THz,
                     "units": "W/(m K)"}
        for method in ("cepstral", "cutoff"):
            block = {}
            for term in TERMS:
                k, e = self.kappa(term, method)
                block[term] = {"diag": np.diag(k).tolist(), "diag_err": np.diag(e).tolist(),
                               "tensor": np.asarray(k).tolist(), "tensor_err": np.asarray(e).tolist()}
            out[method] = block
        return out

    def cutoff_description(self) -> str:
        """What the running-integral ("cutoff") estimate is, in words, for labels."""
        if self.cutoff_method == "first_dip":
            return "running integral at the first zero of <JJ> (its 1st max)"
        if self.cutoff_method == "first_avalanche":
            return "running integral where <JJ>(t) sinks into its noise"
        return "running integral at a fixed time"

    def plot(self, ax=None):
        """Running integrals per direction and term (top; cf. Figure S10) and the spectra with
        their cepstral smoothing (bottom). Returns the Figure.

        Top panels: the running integrals kappa(t) (bands: standard error across segments), the
        cepstral estimates as dotted lines, and the value read from the running integral at the
        cutoff as a red dot on the total curve at the cutoff time (dashed line). The title gives
        both numbers with what they are: with ``cutoff="first_dip"`` the second is kappa(t) at the
        first zero of the correlation, i.e. at its first maximum, which overshoots the converged
        value when the correlation oscillates.
        """
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, 3, figsize=(13, 7.4), constrained_layout=True)
        colors = {"V": "C0", "CONV": "C1", "CROSS": "C2", "total": "k"}
        t_ps = np.asarray(self.time_fs) / 1000.0
        what = self.cutoff_description()
        for a in range(3):
            ax = axes[0, a]
            for i, term in enumerate(TERMS):
                y = self.running_W_mK[i, :, a, a]
                e = self.running_err_W_mK[i, :, a, a]
                ax.plot(t_ps, y, color=colors[term], lw=1.2, label=f"kappa_{term}(t)")
                ax.fill_between(t_ps, y - e, y + e, color=colors[term], alpha=0.2, lw=0)
                ax.axhline(self.cepstral_kappa_W_mK[i, a, a], color=colors[term], ls=":", lw=1,
                           label="cepstral" if term == "total" else None)
            tc = self.cutoff_fs[a, a] / 1000.0
            kc, ec = self.kappa_W_mK[3, a, a], self.kappa_err_W_mK[3, a, a]
            ax.axvline(tc, color="r", ls="--", lw=1, label=f"t_c ({self.cutoff_method})")
            ax.plot([tc], [kc], "o", color="r", ms=5, label="kappa_total(t_c)")
            ax.set_xlabel("correlation time (ps)")
            ax.set_ylabel(f"kappa_{AXES[a]}{AXES[a]} (W/m/K)")
            ax.set_title(f"total {AXES[a]}{AXES[a]}: cepstral (dotted) "
                         f"{self.cepstral_kappa_W_mK[3, a, a]:.3g} +- {self.cepstral_err_W_mK[3, a, a]:.2g}\n"
                         f"{what},\nt_c = {tc * 1000:.4g} fs (red dot): {kc:.3g} +- {ec:.2g}", fontsize=8)
            ax.set_xlim(0, min(t_ps[-1], max(4 * tc, t_ps[-1] / 4)) if tc > 0 else t_ps[-1])
            if a == 0:
                ax.legend(fontsize=7)
            ax2 = axes[1, a]
            for i, term in enumerate(("V", "CONV", "total")):
                c = colors[term]
                ax2.plot(self.frequency_THz, self.spectrum_W_mK[i, a], color=c, lw=0.4, alpha=0.4)
                ax2.plot(self.frequency_THz, self.spectrum_cepstral_W_mK[i, a], color=c, lw=1.5,
                         label=f"{term} (P*={int(self.cepstral_P_star[i, a])})")
            ax2.set_yscale("log")
            ax2.set_xlabel("frequency (THz)")
            ax2.set_ylabel("S(f) / (2 V kB T^2) (W/m/K)")
            ax2.legend(fontsize=7)
        fig.suptitle(f"Green-Kubo, T = {self.temperature_K:g} K, {self.n_segments} segments of "
                     f"{self.segment_length_fs / 1000:g} ps, dt = {self.dt_fs:g} fs")
        return fig


# ----------------------------------------------------------------------------- inputs


def _as_list(x, name: str) -> list[np.ndarray] | None:
    if x is None:
        return None
    if isinstance(x, np.ndarray) and x.ndim == 2:
        x = [x]
    elif isinstance(x, np.ndarray) and x.ndim == 3:
        x = list(x)
    out = []
    for i, a in enumerate(x):
        a = np.asarray(a)
        if a.ndim != 2 or a.shape[1] != 3:
            raise ValueError(f"{name}[{i}] must have shape (T, 3), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}[{i}] contains non-finite values")
        out.append(a)
    if not out:
        raise ValueError(f"{name} is empty")
    return out


def _segments(j_conv, j_virial, n_segments: int) -> tuple[list[tuple[np.ndarray, np.ndarray, int]], int]:
    """Triples (conv, virial, run index) of equal-length segments, each run split into
    ``n_segments`` blocks."""
    conv = _as_list(j_conv, "j_conv")
    vir = _as_list(j_virial, "j_virial")
    if conv is None and vir is None:
        raise ValueError("give j_conv, j_virial or both")
    ref = conv if conv is not None else vir
    if conv is None:
        conv = [np.zeros(a.shape) for a in vir]
    if vir is None:
        vir = [np.zeros(a.shape) for a in conv]
    if len(conv) != len(vir):
        raise ValueError(f"{len(conv)} j_conv series but {len(vir)} j_virial series")
    for i, (c, v) in enumerate(zip(conv, vir, strict=True)):
        if c.shape != v.shape:
            raise ValueError(f"run {i}: j_conv shape {c.shape} != j_virial shape {v.shape}")
    if n_segments < 1:
        raise ValueError(f"n_segments must be >= 1, got {n_segments}")
    n = min(a.shape[0] for a in ref) // n_segments
    if n < 16:
        raise ValueError(f"segments of {n} steps are too short (need >= 16)")
    if any(a.shape[0] != ref[0].shape[0] for a in ref):
        log.warning("runs differ in length; every segment is cut to %d steps", n)
    segs = []
    for r, (c, v) in enumerate(zip(conv, vir, strict=True)):
        for s in range(n_segments):
            segs.append((c[s * n:(s + 1) * n], v[s * n:(s + 1) * n], r))
    return segs, n


# ----------------------------------------------------------------------------- kernels


def _channel_spectra(F: np.ndarray) -> np.ndarray:
    """Real, time-symmetrised cross-spectra (3 terms x 6 pairs = 18, nf) from FFTs F (6, nf) of
    [conv x,y,z, virial x,y,z]: ``Re(conj(F_p) F_q) = Re F_p Re F_q + Im F_p Im F_q``."""
    Fr = np.ascontiguousarray(F.real)
    Fi = np.ascontiguousarray(F.imag)
    out = np.empty((3, 6, F.shape[1]))
    tmp = np.empty(F.shape[1])
    tmp2 = np.empty(F.shape[1])

    def re_dot(p, q, dest):
        np.multiply(Fr[p], Fr[q], out=dest)
        np.multiply(Fi[p], Fi[q], out=tmp)
        dest += tmp

    for k, (a, b) in enumerate(PAIRS):
        re_dot(3 + a, 3 + b, out[0, k])  # V
        re_dot(a, b, out[1, k])  # CONV
        re_dot(3 + a, b, out[2, k])  # CROSS: Re(V_a* C_b) + Re(C_a* V_b)
        re_dot(a, 3 + b, tmp2)
        out[2, k] += tmp2
    return out.reshape(18, F.shape[1])


def _cepstral_periodograms(G: np.ndarray, n: int, dt_fs: float) -> np.ndarray:
    """Periodograms (3 terms V, CONV, total; 9 channels; K) from unpadded FFTs G (6, K)."""
    C, V = G[:3], G[3:]
    series = (V, C, V + C)
    out = np.empty((3, 9, G.shape[1]))
    s2 = 1.0 / np.sqrt(2.0)
    for t, X in enumerate(series):
        chans = [X[0], X[1], X[2]]
        for a, b in ((0, 1), (0, 2), (1, 2)):
            chans += [(X[a] + X[b]) * s2, (X[a] - X[b]) * s2]
        for c, x in enumerate(chans):
            out[t, c] = (x.real ** 2 + x.imag ** 2) * (dt_fs / n)
    return out


def _to_tensor(x6: np.ndarray) -> np.ndarray:
    """(..., 6) pair values -> (..., 3, 3) symmetric tensors."""
    out = np.empty((*x6.shape[:-1], 3, 3))
    for p, (a, b) in enumerate(PAIRS):
        out[..., a, b] = x6[..., p]
        out[..., b, a] = x6[..., p]
    return out


def _first_index(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


# ----------------------------------------------------------------------------- main entry


def nve_mean_temperature(source) -> float | None:
    """Measured mean kinetic temperature (K) of the NVE part of an MD run, or None if not recorded.

    ``source`` is any of: an ``MDResult`` (or object with ``mean_temperature_nve_K``); a run
    summary dict as the ``md`` stage returns (key ``mean_temperature_nve_K``, else its
    ``result`` path); the path of the run's result JSON (``MDResult.save``); or the path of
    the run's H5MD trajectory, whose result is looked for next to it as ``<trajectory>.result.json``
    (the name the study's MD task uses). A NaN (NVE too short to average) counts as not recorded.
    This is the temperature to give :func:`green_kubo`, not the thermostat set point.
    """
    import json
    from pathlib import Path

    def _clean(t) -> float | None:
        try:
            t = float(t)
        except (TypeError, ValueError):
            return None
        return t if math.isfinite(t) and t > 0 else None

    if isinstance(source, dict):
        if "mean_temperature_nve_K" in source:
            return _clean(source["mean_temperature_nve_K"])
        if source.get("result"):
            return nve_mean_temperature(source["result"])
        if source.get("trajectory"):
            return nve_mean_temperature(source["trajectory"])
        return None
    if hasattr(source, "mean_temperature_nve_K"):
        return _clean(source.mean_temperature_nve_K)
    path = Path(source)
    candidates = [path] if path.suffix == ".json" else [Path(f"{path}.result.json"), path.with_suffix(".result.json")]
    for p in candidates:
        if not p.is_file():
            continue
        try:
            payload = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{p}: cannot read the MD result ({exc})") from exc
        data = payload.get("data", payload) if isinstance(payload, dict) else {}
        if isinstance(data, dict) and "mean_temperature_nve_K" in data:
            return _clean(data["mean_temperature_nve_K"])
    return None


def _run_temperatures(temperature_K, n_runs: int) -> tuple[float, np.ndarray | None]:
    """(temperature for the prefactor, per-run current scale factors or None)."""
    T = np.atleast_1d(np.asarray(temperature_K, dtype=float))
    if T.ndim != 1 or T.size == 0 or not np.all(np.isfinite(T)) or np.any(T <= 0):
        raise ValueError(f"temperature_K must be positive (one value, or one per run), got {temperature_K!r}")
    if T.size == 1 and np.ndim(temperature_K) == 0:
        return float(T[0]), None
    if T.size != n_runs:
        raise ValueError(f"{T.size} temperatures given for {n_runs} runs: give one, or one per run")
    T_mean = float(T.mean())
    return T_mean, T_mean / T


def green_kubo(j_conv, j_virial, *, volume_A3: float, temperature_K: float | Sequence[float], dt_fs: float,
               n_segments: int = 1, max_lag_fs: float | None = None,
               cutoff: str | float = "first_dip", noise_sigma: float = 1.0,
               fstar_THz: float = 5.0, subtract_mean: bool = False,
               cepstral: bool = True, n_store: int = 2000,
               workers: int | None = None) -> GreenKuboResult:
    """Green-Kubo conductivity tensor, split into kappa_V, kappa_CONV and kappa_CROSS (eq. 8).

    Parameters
    ----------
    j_conv, j_virial : (T, 3) arrays in eV*Angstrom/fs (extensive currents, see the module
        docstring), or lists of such arrays from independent runs (equal length), or (R, T, 3)
        arrays. Either may be None (taken as zero).
    volume_A3 : cell volume in Angstrom^3.
    temperature_K : the temperature the currents were sampled at, in K: the *measured* mean
        kinetic temperature of the NVE run(s) (:func:`nve_mean_temperature`), not the
        thermostat target. Either one value, or one per run (then run r enters with weight
        ``1 / T_r^2``, its currents scaled by ``mean(T) / T_r``, and the result's
        ``temperature_K`` is the mean).
    dt_fs : time between samples in fs.
    n_segments : split every run into this many equal blocks (the paper: one 25 ns run in 25
        blocks of 1 ns); all blocks of all runs are the independent segments averaged.
    max_lag_fs : longest correlation time computed (default ``min(segment/4, 100 ps)``).
    cutoff : "first_dip", "first_avalanche" or a fixed correlation time in fs.
    noise_sigma : threshold (in standard errors) of the "first_avalanche" criterion.
    fstar_THz : cepstral filtering frequency f* (capped at the Nyquist frequency). kappa
        depends weakly on it as long as the spectrum below f* is resolved; check with
        :func:`kappa_vs_fstar`.
    subtract_mean : remove each segment's mean current first (off by default: the mean current
        of an equilibrium run is zero and removing it biases the f = 0 periodogram). It empties
        the f = 0 bin the cepstral estimate rests on, so it needs ``cepstral=False``.
    cepstral : run the cepstral analysis (False: its fields are NaN; e.g. for a quick scan).
    n_store : at most this many correlation times are stored in the result.
    workers : threads for scipy.fft (default: all cores).
    """
    if not volume_A3 > 0:
        raise ValueError(f"volume_A3 must be positive, got {volume_A3}")
    if not dt_fs > 0:
        raise ValueError(f"dt_fs must be positive, got {dt_fs}")
    if subtract_mean and cepstral:
        raise ValueError("subtract_mean=True sets the f = 0 periodogram of every segment to zero, which the "
                         "cepstral estimate is built on: pass cepstral=False with it")
    segs, n = _segments(j_conv, j_virial, int(n_segments))
    n_seg = len(segs)
    temperature, run_scale = _run_temperatures(temperature_K, segs[-1][2] + 1)
    L = int(min(n // 4, round(100_000 / dt_fs))) if max_lag_fs is None else int(round(max_lag_fs / dt_fs))
    if not 2 <= L < n:
        raise ValueError(f"max_lag_fs={max_lag_fs} gives {L} lags; need 2 <= lags < segment length {n}")
    f_nyq = 0.5 / dt_fs * 1000.0  # THz
    fstar = min(float(fstar_THz), f_nyq)
    # f_k = k / (n dt) <= f* (the tolerance keeps f* = Nyquist from rounding one bin short)
    K = min(max(int(math.floor(fstar / 1000.0 * n * dt_fs * (1 + 1e-12))) + 1, 1), n // 2 + 1)
    if cepstral and K < 8:
        raise ValueError(f"only {K} frequencies below f* = {fstar} THz with segments of {n * dt_fs} fs: "
                         "raise fstar_THz or use longer segments")
    workers = -1 if workers is None else workers
    log.info("Green-Kubo: %d segments x %d steps (dt %g fs), max lag %g fs, %d frequencies below "
             "f* = %g THz (resolution %.3g THz)", n_seg, n, dt_fs, L * dt_fs, K, fstar, 1000.0 / (n * dt_fs))

    n_pad = 2 * sfft.next_fast_len((n + L + 2) // 2, real=True)  # even, no wrap-around up to lag L
    norm = 1.0 / (n - np.arange(L + 1))
    sum_R = np.zeros((L + 1, 4, 6))
    sum_R2 = np.zeros((L + 1, 4, 6))
    sum_C = np.zeros((L + 1, 6))
    sum_C2 = np.zeros((L + 1, 6))
    sum_P = np.zeros((3, 9, K))
    for c, v, run in segs:
        x = np.empty((6, n))  # channels along rows: FFTs along the contiguous axis
        x[:3] = c.T
        x[3:] = v.T
        if subtract_mean:
            x -= x.mean(axis=1, keepdims=True)
        if run_scale is not None:
            x *= run_scale[run]
        F = sfft.rfft(x, n=n_pad, axis=-1, workers=workers)
        spec = _channel_spectra(F)
        del F
        # the spectra are real and even, so the correlation is their type-I cosine transform:
        # c[m] = dct1(S)[m] / n_pad for m = 0 .. n_pad/2 (same as irfft, without complex input)
        corr = sfft.dct(spec, type=1, axis=-1, workers=workers)[:, : L + 1].T / n_pad
        del spec
        corr *= norm[:, None]
        corr = corr.reshape(L + 1, 3, 6)
        ctot = corr.sum(axis=1)  # total = V + CONV + CROSS
        # trapezoid running integral
        R = np.empty((L + 1, 4, 6))
        cs = np.cumsum(corr, axis=0)
        R[:, :3] = dt_fs * (cs - 0.5 * (corr[:1] + corr))
        R[:, 3] = R[:, :3].sum(axis=1)
        sum_R += R
        sum_R2 += R * R
        sum_C += ctot
        sum_C2 += ctot * ctot
        if cepstral:
            G = sfft.rfft(x, axis=-1, workers=workers)[:, :K]
            sum_P += _cepstral_periodograms(G, n, dt_fs)

    pref = kappa_prefactor_W_mK(volume_A3, temperature)
    mean_R = sum_R / n_seg
    mean_C = sum_C / n_seg
    if n_seg > 1:
        se_R = np.sqrt(np.maximum(sum_R2 / n_seg - mean_R ** 2, 0.0) * n_seg / (n_seg - 1) / n_seg)
        se_C = np.sqrt(np.maximum(sum_C2 / n_seg - mean_C ** 2, 0.0) * n_seg / (n_seg - 1) / n_seg)
    else:
        log.warning("one segment only: no standard error across segments (use n_segments > 1)")
        se_R = np.full_like(mean_R, np.nan)
        se_C = np.full_like(mean_C, np.nan)

    # --- cutoff per tensor element (from the total autocorrelation)
    lags = np.arange(L + 1)
    cut = np.empty(6, dtype=int)
    if isinstance(cutoff, str):
        if cutoff not in ("first_dip", "first_avalanche"):
            raise ValueError(f"cutoff must be 'first_dip', 'first_avalanche' or a time in fs, got {cutoff!r}")
        if cutoff == "first_avalanche" and n_seg < 2:
            raise ValueError("cutoff='first_avalanche' needs at least 2 segments")
        method = cutoff
        for a in range(3):
            C = mean_C[:, a]
            mask = (C <= 0) if cutoff == "first_dip" else (np.abs(C) < noise_sigma * se_C[:, a])
            mask[0] = False
            m = _first_index(mask)
            if m is None:
                log.warning("%s: no cutoff found for %s%s within %g fs; using the longest lag",
                            cutoff, AXES[a], AXES[a], L * dt_fs)
                m = L
            cut[a] = m
        for p, (a, b) in enumerate(PAIRS[3:], start=3):
            cut[p] = max(cut[a], cut[b])
    else:
        method = "fixed"
        m = int(round(float(cutoff) / dt_fs))
        if not 1 <= m <= L:
            raise ValueError(f"cutoff {cutoff} fs outside 1..{L * dt_fs} fs (raise max_lag_fs)")
        cut[:] = m
    kap6 = pref * mean_R[cut, :, np.arange(6)].T  # (4, 6)
    err6 = pref * se_R[cut, :, np.arange(6)].T

    # --- cepstral analysis
    mean_P = sum_P / n_seg
    cep = np.zeros((3, 9)) if cepstral else np.full((3, 9), np.nan)
    cep_err = np.zeros((3, 9)) if cepstral else np.full((3, 9), np.nan)
    P_star = np.zeros((3, 9), dtype=int)
    smooth = np.zeros((3, 3, K)) if cepstral else np.full((3, 3, K), np.nan)
    nyquist = n % 2 == 0 and K - 1 == n // 2  # last bin real too (f* at the Nyquist frequency)
    for t in range(3):
        for ch in range(9):
            if not cepstral or not np.any(mean_P[t, ch]):  # skipped, or a zero current
                continue
            est = cepstral_zero_frequency(mean_P[t, ch], ell=n_seg, nyquist=nyquist)
            cep[t, ch] = 0.5 * pref * est.S0
            cep_err[t, ch] = 0.5 * pref * est.S0_err
            P_star[t, ch] = est.P_star
            if ch < 3:
                smooth[t, ch] = 0.5 * pref * np.exp(est.log_spectrum_filtered)
    cep6 = np.zeros((3, 6))
    cep_err6 = np.zeros((3, 6))
    cep6[:, :3] = cep[:, :3]
    cep_err6[:, :3] = cep_err[:, :3]
    for p in range(3):
        u, w = 3 + 2 * p, 4 + 2 * p
        cep6[:, 3 + p] = 0.5 * (cep[:, u] - cep[:, w])
        cep_err6[:, 3 + p] = 0.5 * np.hypot(cep_err[:, u], cep_err[:, w])
    V, CONV, TOT = cep6
    cepk = np.stack([V, CONV, TOT - V - CONV, TOT])
    cepe = np.stack([cep_err6[0], cep_err6[1], np.sqrt((cep_err6 ** 2).sum(axis=0)), cep_err6[2]])

    stride = max(1, int(math.ceil((L + 1) / n_store)))
    keep = np.arange(0, L + 1, stride)
    running = pref * np.moveaxis(mean_R[keep], 1, 0)  # (4, n_t, 6)
    running_err = pref * np.moveaxis(se_R[keep], 1, 0)
    freq = np.arange(K) / (n * dt_fs) * 1000.0
    if cepstral and method == "first_dip":
        for a in range(3):
            kc, kp = kap6[3, a], cepk[3, a]
            if np.isfinite(kp) and abs(kc - kp) > 3 * math.hypot(err6[3, a] if np.isfinite(err6[3, a]) else 0.0, cepe[3, a]):
                log.warning("kappa_%s%s: the running integral at the first zero of the correlation (%.3g W/m/K at "
                            "%g fs, its first maximum) is more than 3 sigma from the cepstral estimate (%.3g +- "
                            "%.2g): that maximum is no plateau (oscillating or noisy correlation); use the "
                            "cepstral value", AXES[a], AXES[a], kc, cut[a] * dt_fs, kp, cepe[3, a])
    return GreenKuboResult(
        time_fs=lags[keep] * dt_fs,
        running_W_mK=_to_tensor(running),
        running_err_W_mK=_to_tensor(running_err),
        cutoff_fs=_to_tensor(cut * dt_fs),
        cutoff_method=method,
        kappa_W_mK=_to_tensor(kap6),
        kappa_err_W_mK=_to_tensor(err6),
        cepstral_kappa_W_mK=_to_tensor(cepk),
        cepstral_err_W_mK=_to_tensor(cepe),
        cepstral_P_star=P_star,
        fstar_THz=fstar,
        frequency_THz=freq,
        spectrum_W_mK=0.5 * pref * mean_P[:, :3],
        spectrum_cepstral_W_mK=smooth,
        temperature_K=temperature,
        volume_A3=float(volume_A3),
        dt_fs=float(dt_fs),
        n_segments=n_seg,
        segment_length_fs=n * float(dt_fs),
        run_temperature_K=() if run_scale is None else tuple(float(t) for t in np.atleast_1d(temperature_K)),
    )


# ----------------------------------------------------------------------------- H5MD input

CONV_NAME = "heat_current_conv_eV_A_fs"
VIRIAL_NAME = "heat_current_virial_eV_A_fs"


def read_heat_currents(path) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(j_conv, j_virial, dt_fs, volume_A3) from an H5MD trajectory written by ``run_md``.

    Reads ``/observables/heat_current_conv_eV_A_fs`` and ``/observables/heat_current_virial_eV_A_fs``
    ((T, 3) each, eV*A/fs), the time step from their times (fs) and the volume from the box, through
    :func:`incipient.md.trajectory.read_series` (a finished file, or the segments of a running or
    killed MD).
    """
    from incipient.md.trajectory import MissingSeriesError, read_box, read_series

    out = []
    for name in (CONV_NAME, VIRIAL_NAME):
        try:
            series = read_series(path, name)
        except MissingSeriesError:
            raise ValueError(f"{path}: no /observables/{name} (heat currents not recorded)") from None
        v = np.asarray(series.value)
        if v.ndim != 2 or v.shape[1] != 3:
            raise ValueError(f"{path}: /observables/{name} has shape {v.shape}, expected (T, 3)")
        out.append(v)
    time = np.asarray(series.time)
    if len(time) < 2:
        raise ValueError(f"{path}: fewer than 2 heat-current samples")
    dts = np.diff(time)
    if not np.allclose(dts, dts[0], rtol=1e-6):
        raise ValueError(f"{path}: heat currents are not evenly spaced in time")
    cell, _, _ = read_box(path)
    volume = float(abs(np.linalg.det(cell)))
    if out[0].shape != out[1].shape:
        raise ValueError(f"{path}: conv {out[0].shape} and virial {out[1].shape} series differ in length")
    return out[0], out[1], float(dts[0]), volume


# ----------------------------------------------------------------------------- convergence


@dataclass(frozen=True)
class ConvergenceResult(Result):
    """kappa as a function of one convergence parameter.

    Attributes
    ----------
    x : (n,) values of the parameter (run length in fs, f* in THz, number of atoms, ...).
    x_label : name and unit of the parameter.
    kappa_W_mK, kappa_err_W_mK : (n, 4, 3, 3) running-integral estimates (terms V, CONV, CROSS,
        total) and their standard errors.
    cepstral_kappa_W_mK, cepstral_err_W_mK : (n, 4, 3, 3) cepstral estimates and errors.
    """

    x: np.ndarray
    x_label: str
    kappa_W_mK: np.ndarray
    kappa_err_W_mK: np.ndarray
    cepstral_kappa_W_mK: np.ndarray
    cepstral_err_W_mK: np.ndarray

    @classmethod
    def from_results(cls, x, x_label: str, results: Sequence[GreenKuboResult]) -> ConvergenceResult:
        if len(x) != len(results):
            raise ValueError(f"{len(x)} values of {x_label} but {len(results)} results")
        return cls(x=np.asarray(x, dtype=float), x_label=x_label,
                   kappa_W_mK=np.stack([r.kappa_W_mK for r in results]),
                   kappa_err_W_mK=np.stack([r.kappa_err_W_mK for r in results]),
                   cepstral_kappa_W_mK=np.stack([r.cepstral_kappa_W_mK for r in results]),
                   cepstral_err_W_mK=np.stack([r.cepstral_err_W_mK for r in results]))

    def plot(self, term: str = "total"):
        """kappa_aa (cutoff and cepstral estimators) against the parameter, per direction."""
        import matplotlib.pyplot as plt

        i = TERMS.index(term)
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
        for a, ax in enumerate(axes):
            ax.errorbar(self.x, self.kappa_W_mK[:, i, a, a], self.kappa_err_W_mK[:, i, a, a],
                        marker="o", capsize=3, label="running integral at cutoff")
            ax.errorbar(self.x, self.cepstral_kappa_W_mK[:, i, a, a],
                        self.cepstral_err_W_mK[:, i, a, a], marker="s", capsize=3, label="cepstral")
            ax.set_xlabel(self.x_label)
            ax.set_ylabel(f"kappa_{term} {AXES[a]}{AXES[a]} (W/m/K)")
        axes[0].legend(fontsize=8)
        return fig


def kappa_vs_run_length(j_conv, j_virial, *, fractions: Sequence[float] = (0.125, 0.25, 0.5, 1.0),
                        n_segments: int = 1, **kwargs) -> ConvergenceResult:
    """kappa from the first ``fraction`` of every run (each run cut before splitting into
    ``n_segments``); ``kwargs`` go to :func:`green_kubo`. x = total analysed time in fs."""
    conv = _as_list(j_conv, "j_conv")
    vir = _as_list(j_virial, "j_virial")
    ref = conv if conv is not None else vir
    results, x = [], []
    for f in fractions:
        if not 0 < f <= 1:
            raise ValueError(f"fractions must lie in (0, 1], got {f}")
        cut = [int(a.shape[0] * f) for a in ref]
        c = None if conv is None else [a[:m] for a, m in zip(conv, cut, strict=True)]
        v = None if vir is None else [a[:m] for a, m in zip(vir, cut, strict=True)]
        r = green_kubo(c, v, n_segments=n_segments, **kwargs)
        results.append(r)
        x.append(r.n_segments * r.segment_length_fs)
    return ConvergenceResult.from_results(x, "analysed time (fs)", results)


def kappa_vs_fstar(j_conv, j_virial, *, fstar_THz: Sequence[float], **kwargs) -> ConvergenceResult:
    """Cepstral (and cutoff) kappa as a function of the filtering frequency f* in THz."""
    results = [green_kubo(j_conv, j_virial, fstar_THz=f, **kwargs) for f in fstar_THz]
    return ConvergenceResult.from_results([r.fstar_THz for r in results], "f* (THz)", results)


def kappa_vs_supercell(results: Sequence[GreenKuboResult], n_atoms: Sequence[int]) -> ConvergenceResult:
    """Collect results of different supercells (x = number of atoms) for a size-convergence check."""
    return ConvergenceResult.from_results(list(n_atoms), "number of atoms", list(results))
