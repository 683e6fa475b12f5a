"""Maximum-entropy (MEM) electron density from phased structure factors (Dysnomia-style).

Own code on numpy/scipy.fft and scipy.optimize (no MEM library is installable here). It maximises
S = -sum_k p_k ln(p_k / tau_k) (p, tau normalised pixel weights) subject to the generalised
F-constraint of Momma et al. (J. Appl. Cryst. 46, 2013; paper's methods eq. 1)

    C = sum_n lambda_n C_n,   C_n = sum_j w_j |(F_cal,j - F_obs,j) / sigma_j|^n / (N_F M_n) - C_w

with M_2 = 1, M_4 = 3 (Gaussian central moments) and stops when C <= 0.

Solver. The stationary points of -S + Lambda*C all have the form p = tau exp(phi) / Z with
phi(r) = sum_j a_j sum_{k in orbit(h_j)} s_k cos(2 pi k.r): one real coefficient a_j per unique
reflection, expanded over its symmetry orbit with the phase signs s_k of the CIF's operations
(centrosymmetric groups only: F is real). The density is therefore parametrised by the a_j and
L-BFGS (scipy) minimises -S + Lambda*C over them with analytic gradients; each evaluation costs
four real FFTs of the pixel grid. Lambda starts at ``lagrange`` and is multiplied by four whenever
L-BFGS stalls with C > 0 (warm start), so the run ends at the chi^2-type criterion C <= 0.
The density keeps the space-group symmetry exactly because every wave is a symmetric orbit sum.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from incipient.results import Result

log = logging.getLogger(__name__)

_GAUSS_MOMENT = {1: np.sqrt(2.0 / np.pi), 2: 1.0, 3: 2.0 * np.sqrt(2.0 / np.pi), 4: 3.0, 6: 15.0}


@dataclass(frozen=True)
class MEMData:
    """Phased structure factors for MEM on the absolute electron scale.

    ``lattice`` (3, 3) A rows a, b, c; ``hkl`` (M, 3) unique reflections; ``F_obs`` (M,) real,
    electrons, with model phase signs; ``sigma`` (M,) electrons; ``F000`` electrons per cell;
    ``symops`` the operations (strings) used to expand reflections into orbits.
    """

    lattice: np.ndarray
    hkl: np.ndarray
    F_obs: np.ndarray
    sigma: np.ndarray
    F000: float
    symops: tuple[str, ...]


@dataclass(frozen=True)
class MEMResult(Result):
    """MEM density and fit statistics.

    ``density_e_A3`` (n1, n2, n3) electrons/A^3 on the grid x_i = i/n_i; ``lattice`` (3, 3) A;
    ``hkl`` (M, 3), ``F_obs``/``F_mem``/``sigma`` (M,) electrons; ``R`` = sum|dF|/sum|F_obs|,
    ``wR`` = sqrt(sum dF^2/s^2 / sum F_obs^2/s^2); ``constraint`` final C (<= 0 converged);
    ``lagrange`` final Lambda; ``n_iter`` L-BFGS iterations, ``n_eval`` objective evaluations,
    ``time_s`` wall time; ``prior`` name; ``orders``/``order_weights`` of the F-constraint;
    ``coefficients`` (M,) the a_j of p = tau exp(sum_j a_j Phi_j) / Z (grid independent, so a
    coarse-grid solution warm-starts a fine one).
    """

    density_e_A3: np.ndarray
    lattice: np.ndarray
    hkl: np.ndarray
    F_obs: np.ndarray
    F_mem: np.ndarray
    sigma: np.ndarray
    R: float
    wR: float
    constraint: float
    converged: bool
    lagrange: float
    n_iter: int
    n_eval: int
    time_s: float
    entropy: float
    prior: str
    orders: tuple[int, ...]
    order_weights: tuple[float, ...]
    coefficients: np.ndarray

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.density_e_A3.shape)

    def save(self, path):
        """Write an ``.npz`` (the density is too large for JSON)."""
        from pathlib import Path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        d = self.to_dict()
        d["orders"] = np.asarray(d["orders"])
        d["order_weights"] = np.asarray(d["order_weights"])
        np.savez_compressed(path, **d)
        return path

    @classmethod
    def load(cls, path):
        import dataclasses

        with np.load(path, allow_pickle=False) as z:
            kw = {}
            for f in dataclasses.fields(cls):
                v = z[f.name]
                if f.name in ("orders", "order_weights"):
                    kw[f.name] = tuple(v.tolist())
                elif v.ndim == 0:
                    kw[f.name] = v.item()
                else:
                    kw[f.name] = v
        return cls(**kw)

    def summary(self) -> dict:
        """Small JSON-friendly dict (no density)."""
        return {
            "grid_shape": list(self.grid_shape),
            "n_reflections": int(len(self.F_obs)),
            "R": self.R,
            "wR": self.wR,
            "constraint": self.constraint,
            "converged": self.converged,
            "lagrange": self.lagrange,
            "n_iter": self.n_iter,
            "n_eval": self.n_eval,
            "time_s": self.time_s,
            "entropy": self.entropy,
            "prior": self.prior,
            "orders": list(self.orders),
            "order_weights": list(self.order_weights),
            "max_density_e_A3": float(self.density_e_A3.max()),
            "min_density_e_A3": float(self.density_e_A3.min()),
        }

    def write_ccp4(self, path) -> None:
        """Write the density as a CCP4/MRC map (gemmi), readable by VESTA, Chimera, Coot."""
        write_ccp4(path, self.density_e_A3, self.lattice)

    def plot(self):
        """F_mem against F_obs with sigma bars (the constraint fit)."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.2, 3.6))
        ax.errorbar(self.F_obs, self.F_mem - self.F_obs, yerr=self.sigma, fmt=".", ms=3, lw=0.5)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("F_obs (e)")
        ax.set_ylabel("F_MEM - F_obs (e)")
        ax.set_title(f"R = {100 * self.R:.2f}%, wR = {100 * self.wR:.2f}%")
        fig.tight_layout()
        return fig


def write_ccp4(path, density: np.ndarray, lattice: np.ndarray) -> None:
    """Density (n1, n2, n3) on x_i = i/n_i as a CCP4 map (P1, full cell) via gemmi."""
    import gemmi
    from ase.geometry import cell_to_cellpar

    grid = gemmi.FloatGrid(np.ascontiguousarray(density, dtype=np.float32))
    grid.unit_cell = gemmi.UnitCell(*cell_to_cellpar(np.asarray(lattice)))
    grid.spacegroup = gemmi.SpaceGroup("P 1")
    ccp4 = gemmi.Ccp4Map()
    ccp4.grid = grid
    ccp4.update_ccp4_header()
    ccp4.write_ccp4_map(str(path))


def read_ccp4(path) -> np.ndarray:
    """Read a CCP4 map written by :func:`write_ccp4` back to an (n1, n2, n3) array."""
    import gemmi

    m = gemmi.read_ccp4_map(str(path))
    m.setup(float("nan"))
    return np.array(m.grid, copy=True)


def grid_shape_for(lattice: np.ndarray, grid_A: float) -> tuple[int, int, int]:
    """Even, FFT-friendly pixel counts with spacing <= ``grid_A`` along a, b, c."""
    import scipy.fft

    if not grid_A > 0:
        raise ValueError(f"grid_A must be positive, got {grid_A}")
    out = []
    for length in np.linalg.norm(lattice, axis=1):
        n = max(4, int(np.ceil(length / grid_A)))
        n = scipy.fft.next_fast_len(n, real=True)
        while n % 2:
            n = scipy.fft.next_fast_len(n + 1, real=True)
        out.append(n)
    return tuple(out)


# ----------------------------------------------------------------------------- input preparation
def prepare_mem_data(
    model, refl, *, include_unobserved: bool = True, refinement_sigma: bool = True, gof_scale: bool = True
) -> MEMData:
    """Put measured F^2 of a CIF on the absolute electron scale and phase them with the model.

    F_obs = sign(F_0) |F_0| / |F_anom| * sqrt(F2_meas / (k y)), where F_0 is the model structure
    factor without anomalous dispersion (real in a centrosymmetric group: the MEM density is the
    f0 electron density), F_anom the one with f' + i f'' (what the data contain), k the scale
    that matches |F_anom|^2 to the CIF's F^2_calc on the weaker half of the data (Jana wrote F^2
    on the absolute scale: k = 1.000 +- 0.002 for the built-in system's files) and y = F2_calc / (k
    |F_anom|^2) in [0.2, 1] the refined extinction. sigma(F) = sigma(F^2) / (sqrt(F^2 + s) +
    sqrt(F^2)) (= s/2F for strong, sqrt(s) for null reflections), with the same factors. Negative
    F^2_meas give F_obs = 0. ``include_unobserved=False`` drops the '<' reflections.
    ``refinement_sigma`` (default) uses the sigma(F^2) of the refinement's weighting scheme
    (Jana: s^2 + (0.02 P)^2), i.e. the uncertainties for which the refined model has GOF ~ 1;
    False uses the counting sigma(F^2) alone. ``gof_scale`` multiplies sigma by the refinement's
    goodness of fit when it exceeds 1 (the refined model then has chi^2 = 1: 400 K, GOF 2.91),
    so that C <= 0 asks of MEM what the refined model achieves.
    """
    from incipient.experiment.structure_factors import structure_factors

    if not model.is_centrosymmetric():
        raise ValueError(f"{model.path}: MEM here needs a centrosymmetric group (real F); no inversion among the operations")
    keep = np.ones(len(refl), bool) if include_unobserved else refl.observed.copy()
    hkl = refl.hkl[keep]
    nz = np.any(hkl != 0, axis=1)
    hkl = hkl[nz]
    F2m = refl.F2_meas[keep][nz]
    s2 = (refl.sigma_refinement() if refinement_sigma else refl.F2_sigma)[keep][nz]
    gof = getattr(refl, "goodness_of_fit", float("nan"))
    if gof_scale and np.isfinite(gof) and gof > 1.0:
        log.info("%s: sigma(F^2) scaled by the refinement GOF %.3f", model.path, gof)
        s2 = s2 * gof
    F2c = refl.F2_calc[keep][nz]
    F0 = structure_factors(model, hkl, anomalous=False).real
    Fa2 = np.abs(structure_factors(model, hkl, anomalous=True)) ** 2
    if np.all(np.isfinite(F2c)):
        weak = Fa2 <= np.median(Fa2)
        k = float(np.median(F2c[weak] / Fa2[weak]))
        y = np.where(Fa2 > 1e-6 * Fa2.max(), F2c / (k * Fa2), 1.0)
        y = np.clip(y, 0.2, 1.0)
    else:
        k = float(np.sum(F2m * Fa2) / np.sum(Fa2**2))
        y = np.ones_like(Fa2)
    log.info("%s: scale k = %.4f, extinction y in [%.3f, 1]", model.path, k, y.min())
    F2 = np.maximum(F2m, 0.0) / (k * y)
    s = s2 / (k * y)
    corr = np.abs(F0) / np.sqrt(Fa2)
    Fabs = np.sqrt(F2)
    sigF = s / (np.sqrt(F2 + s) + Fabs)
    F000 = float(structure_factors(model, np.zeros((1, 3)), anomalous=False).real[0])
    return MEMData(
        lattice=model.lattice,
        hkl=hkl.astype(int),
        F_obs=np.sign(F0) * corr * Fabs,
        sigma=corr * sigF,
        F000=F000,
        symops=tuple(model.symops),
    )


# ----------------------------------------------------------------------------- symmetry orbits
def reflection_orbits(hkl: np.ndarray, symops) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Expand unique reflections into their orbits under the operations (with phase signs).

    For x' = R x + t, F(k) = F(h) exp(2 pi i k.t) with k = R^-T h. Returns (k_all (K, 3) int,
    sign (K,) +-1, owner (K,) index into hkl, keep (M,) bool: False for reflections the group
    makes extinct). Requires real phases (centrosymmetric setting with origin at -1).
    """
    from incipient.experiment.cif import parse_symop

    ops = [parse_symop(s) if isinstance(s, str) else s for s in symops]
    ks, signs, owners = [], [], []
    keep = np.ones(len(hkl), bool)
    for j, h in enumerate(np.asarray(hkl, int)):
        orbit: dict[tuple[int, int, int], complex] = {}
        extinct = False
        for rot, tr in ops:
            k = np.rint(np.linalg.inv(rot).T @ h).astype(int)
            ph = np.exp(2j * np.pi * float(k @ tr))
            key = tuple(int(v) for v in k)
            if key in orbit:
                if abs(orbit[key] - ph) > 1e-6:
                    extinct = True
                continue
            orbit[key] = ph
        if extinct:
            keep[j] = False
            continue
        for key, ph in orbit.items():
            if abs(ph.imag) > 1e-6:
                raise ValueError(f"reflection {tuple(h)}: complex phase {ph} (origin not at an inversion centre?)")
            ks.append(key)
            signs.append(float(np.sign(ph.real)))
            owners.append(j)
    return np.array(ks, int).reshape(-1, 3), np.array(signs), np.array(owners, int), keep


class _Waves:
    """Scatter/gather of symmetric cosine waves on an rfftn grid."""

    def __init__(self, hkl, symops, shape):
        k_all, sign, owner, keep = reflection_orbits(hkl, symops)
        if not keep.all():
            raise ValueError(f"systematically absent reflections in the input: {hkl[~keep][:5].tolist()}")
        n = np.array(shape)
        if np.any(np.abs(k_all) * 2 >= n[None, :]):
            raise ValueError(f"grid {tuple(shape)} too coarse for max |hkl| {np.abs(k_all).max(axis=0).tolist()}")
        self.shape = tuple(int(v) for v in shape)
        self.N = int(np.prod(shape))
        flip = k_all[:, 2] < 0
        kk = np.where(flip[:, None], -k_all, k_all)
        self.slot = (kk[:, 0] % n[0], kk[:, 1] % n[1], kk[:, 2])
        self.sign = sign
        self.owner = owner
        self.mult = np.bincount(owner, minlength=len(hkl)).astype(float)
        h = np.asarray(hkl, int)
        h = np.where((h[:, 2] < 0)[:, None], -h, h)  # F real: F(-h) = F(h), stored at l >= 0
        self.uslot = (h[:, 0] % n[0], h[:, 1] % n[1], h[:, 2])
        self.M = len(hkl)

    def field(self, coef: np.ndarray, dtype=np.float64) -> np.ndarray:
        """sum_j coef_j sum_{k in orbit j} s_k cos(2 pi k.r) on the grid."""
        import scipy.fft

        X = np.zeros(self.shape[:2] + (self.shape[2] // 2 + 1,), dtype=np.complex128 if dtype == np.float64 else np.complex64)
        X[self.slot] = coef[self.owner] * self.sign * self.N
        return scipy.fft.irfftn(X, s=self.shape, workers=-1)

    def project(self, f: np.ndarray) -> np.ndarray:
        """sum_r f(r) cos(2 pi h_j.r) for the unique reflections (f symmetric)."""
        import scipy.fft

        X = scipy.fft.rfftn(f, workers=-1)
        return X[self.uslot].real


def procrystal_prior(model, shape) -> np.ndarray:
    """Independent-atom density (IT92 Gaussians convolved with the harmonic ADPs), normalised.

    Computed as the inverse FFT of the analytic harmonic f0 structure factors on the full grid
    (the Gaussians decay well inside the grid's Nyquist limit), clipped at 1e-6 of the mean.
    """
    import scipy.fft

    from incipient.experiment.structure_factors import expanded_atoms
    from incipient.spectra.form_factors import xray_form_factor_s2

    n1, n2, n3 = shape
    h = np.fft.fftfreq(n1, 1.0 / n1)
    k = np.fft.fftfreq(n2, 1.0 / n2)
    l = np.arange(n3 // 2 + 1, dtype=float)
    rec = np.linalg.inv(model.lattice).T
    H = np.stack(np.meshgrid(h, k, l, indexing="ij"), axis=-1).reshape(-1, 3)
    s2 = (0.5 * np.linalg.norm(H @ rec, axis=1)) ** 2
    X = np.zeros(len(H), dtype=np.complex128)
    ff = {}
    for atom in expanded_atoms(model):
        if atom.element not in ff:
            ff[atom.element] = xray_form_factor_s2(atom.element, s2, table="it92")
        T = np.exp(-2 * np.pi**2 * np.einsum("ni,ij,nj->n", H, atom.Ustar, H))
        X += atom.occupancy * ff[atom.element] * T * np.exp(-2j * np.pi * H @ atom.frac)
    rho = scipy.fft.irfftn(X.reshape(n1, n2, n3 // 2 + 1), s=shape, workers=-1)
    rho = np.maximum(rho, 1e-6 * rho.mean())
    return rho / rho.sum()


# ----------------------------------------------------------------------------- the solver
def solve_mem(
    data: MEMData,
    grid_shape: tuple[int, int, int],
    *,
    prior: str | np.ndarray = "uniform",
    model=None,
    orders: tuple[int, ...] = (2, 4),
    order_weights: tuple[float, ...] = (0.5, 0.5),
    static_weight_power: float = 0.0,
    criterion: float = 1.0,
    lagrange: float = 1.0,
    max_eval: int = 2000,
    initial_coefficients: np.ndarray | None = None,
    dtype=np.float64,
) -> MEMResult:
    """Maximum-entropy density meeting the generalised F-constraint C <= 0.

    ``prior``: 'uniform', 'procrystal' (needs ``model``: harmonic independent-atom density) or an
    array of the grid shape. ``orders``/``order_weights``: the n and lambda_n of eq. 1 (weights
    normalised to sum 1). ``static_weight_power`` k gives w_j ~ |h_j|^-k (normalised to mean 1;
    0 = equal weights). ``criterion`` is C_w. ``lagrange`` the starting Lambda.
    """
    from scipy.optimize import minimize

    t0 = time.perf_counter()
    shape = tuple(int(v) for v in grid_shape)
    if len(orders) != len(order_weights) or not orders:
        raise ValueError(f"orders {orders} and order_weights {order_weights} must have equal, nonzero length")
    for n in orders:
        if n not in _GAUSS_MOMENT:
            raise ValueError(f"constraint order {n} not supported (use one of {sorted(_GAUSS_MOMENT)})")
    lam_n = np.asarray(order_weights, float)
    lam_n = lam_n / lam_n.sum()
    waves = _Waves(data.hkl, data.symops, shape)
    N = waves.N
    V = float(abs(np.linalg.det(data.lattice)))

    if isinstance(prior, str):
        if prior == "uniform":
            log_tau = np.full(shape, -np.log(N), dtype=dtype)
        elif prior == "procrystal":
            if model is None:
                raise ValueError("prior='procrystal' needs the CIF model (model=...)")
            log_tau = np.log(procrystal_prior(model, shape)).astype(dtype)
        else:
            raise ValueError(f"unknown prior {prior!r}: use 'uniform', 'procrystal' or an array")
        prior_name = prior
    else:
        tau = np.asarray(prior, dtype=float)
        if tau.shape != shape or np.any(tau <= 0):
            raise ValueError(f"prior array must be positive with shape {shape}, got {tau.shape}")
        log_tau = np.log(tau / tau.sum()).astype(dtype)
        prior_name = "array"

    Fo, sig = data.F_obs, data.sigma
    if np.any(sig <= 0):
        raise ValueError("all sigma must be positive")
    gnorm = np.linalg.norm(data.hkl @ np.linalg.inv(data.lattice).T, axis=1)
    w = gnorm ** (-static_weight_power) if static_weight_power else np.ones(len(Fo))
    w = w / w.mean()
    NF = len(Fo)
    F000 = data.F000
    state = {"lam": float(lagrange), "n_eval": 0, "last": None}

    def evaluate(a):
        phi = waves.field(a, dtype)
        e = phi + log_tau
        emax = float(e.max())
        p = np.exp(e - emax)
        Z = float(p.sum(dtype=np.float64))
        p /= Z
        Fc = F000 * waves.project(p)
        d = (Fc - Fo) / sig
        C = 0.0
        g = np.zeros(NF)
        for lam, n in zip(lam_n, orders, strict=True):
            Mn = _GAUSS_MOMENT[n]
            C += lam * (np.sum(w * np.abs(d) ** n) / (NF * Mn) - criterion)
            g += lam * n * w * np.abs(d) ** (n - 1) * np.sign(d) / (NF * Mn * sig)
        logp = phi - (np.log(Z) + emax)  # ln(p / tau)
        negS = float(np.sum(p * logp, dtype=np.float64))
        return p, phi, logp, Fc, C, g, negS

    # diagonal preconditioning: a_j = scale_j * b_j moves F_j by about sigma_j per unit b_j
    scale = sig / (waves.mult * F000)

    def fun(b):
        a = b * scale
        lam = state["lam"]
        state["lam_used"] = lam
        p, phi, logp, Fc, C, g, negS = evaluate(a)
        D = waves.field(g * F000 / waves.mult, dtype)
        G = logp + lam * D
        H = p * (G - float(np.sum(p * G, dtype=np.float64)))
        grad = waves.mult * waves.project(H) * scale
        state["n_eval"] += 1
        state["last"] = (a.copy(), C, Fc, negS)
        if C <= 0.0:
            raise _Converged
        return negS + lam * C, grad

    b = np.zeros(NF) if initial_coefficients is None else np.asarray(initial_coefficients, float) / scale
    n_iter = 0
    iters = [0]

    def count(_xk):
        iters[0] += 1
    converged = False
    while state["n_eval"] < max_eval:
        try:
            res = minimize(
                fun, b, jac=True, method="L-BFGS-B", callback=count,
                options={"maxiter": max_eval, "maxfun": max_eval - state["n_eval"], "maxcor": 20, "gtol": 1e-10, "ftol": 1e-12},
            )
            b = res.x
            C_now = state["last"][1]
            log.info("Lambda=%.3g: L-BFGS stopped (%s) with C=%.4g after %d evaluations", state["lam"], res.message, C_now, state["n_eval"])
            state["lam"] *= 4.0
        except _Converged:
            converged = True
            break
    n_iter = iters[0]
    a, C, Fc, negS = state["last"]
    p = evaluate(a)[0]
    rho = p * (F000 * N / V)
    R = float(np.sum(np.abs(Fc - Fo)) / np.sum(np.abs(Fo)))
    wR = float(np.sqrt(np.sum(((Fc - Fo) / sig) ** 2) / np.sum((Fo / sig) ** 2)))
    dt = time.perf_counter() - t0
    log.info("MEM %s: C=%.4g R=%.4f wR=%.4f in %d evaluations, %.1f s", "converged" if converged else "NOT converged", C, R, wR, state["n_eval"], dt)
    return MEMResult(
        density_e_A3=rho.astype(np.float64),
        lattice=np.asarray(data.lattice, float),
        hkl=np.asarray(data.hkl),
        F_obs=np.asarray(Fo),
        F_mem=np.asarray(Fc),
        sigma=np.asarray(sig),
        R=R,
        wR=wR,
        constraint=float(C),
        converged=bool(converged),
        lagrange=float(state.get("lam_used", state["lam"])),
        n_iter=int(n_iter),
        n_eval=int(state["n_eval"]),
        time_s=float(dt),
        entropy=float(-negS),
        prior=prior_name,
        orders=tuple(int(n) for n in orders),
        order_weights=tuple(float(x) for x in lam_n),
        coefficients=np.asarray(a, float),
    )


class _Converged(Exception):
    """Raised inside the objective when the constraint criterion is met."""


def mem_from_cif(
    path,
    *,
    grid_A: float = 0.05,
    prior: str = "uniform",
    coarse_grids_A: tuple[float, ...] = (0.2, 0.1),
    coarse_max_eval: tuple[int, ...] = (400, 5000),
    max_eval: int = 300,
    include_unobserved: bool = True,
    refinement_sigma: bool = True,
    gof_scale: bool = True,
    **solver_kw,
) -> MEMResult:
    """CIF -> phased F_obs -> MEM density on a ``grid_A`` grid (coarse-to-fine warm starts).

    The coefficients a_j do not depend on the grid, so the solution is first sought on the
    coarser grids (each stage warm-starts the next and stops at C <= 0 or its evaluation
    budget); the final grid then usually needs only a few evaluations (at most ``max_eval``;
    ``converged`` False if C > 0 remains). ``time_s``, ``n_eval``
    and ``n_iter`` of the result add up all stages.
    """
    from incipient.experiment.cif import read_cif_model, read_reflections

    t0 = time.perf_counter()
    model = read_cif_model(path)
    data = prepare_mem_data(model, read_reflections(path), include_unobserved=include_unobserved,
                            refinement_sigma=refinement_sigma, gof_scale=gof_scale)
    coef = None
    n_eval = n_iter = 0
    for g, budget in zip(coarse_grids_A, coarse_max_eval, strict=True):
        if g <= grid_A * 1.0001:
            continue
        shape = grid_shape_for(data.lattice, g)
        try:
            res = solve_mem(data, shape, prior=prior, model=model, initial_coefficients=coef,
                            max_eval=budget, **solver_kw)
        except ValueError as exc:  # grid too coarse for the reflections
            log.info("skipping coarse grid %.3g A: %s", g, exc)
            continue
        coef, n_eval, n_iter = res.coefficients, n_eval + res.n_eval, n_iter + res.n_iter
        log.info("coarse grid %s (%.3g A): C=%.4g after %d evaluations", shape, g, res.constraint, res.n_eval)
        if res.converged:
            break
    res = solve_mem(data, grid_shape_for(data.lattice, grid_A), prior=prior, model=model,
                    initial_coefficients=coef, max_eval=max_eval, **solver_kw)
    import dataclasses

    return dataclasses.replace(res, n_eval=n_eval + res.n_eval, n_iter=n_iter + res.n_iter,
                               time_s=time.perf_counter() - t0)
