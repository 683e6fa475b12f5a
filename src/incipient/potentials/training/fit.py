"""Fit an MTP to energies, forces and stresses: linear least-squares start, then L-BFGS over all parameters.

Own code on torch (gradients, :mod:`.torch_mtp`) and scipy (L-BFGS-B). The protocol follows the
paper's MLIP-2 fit (weights energy 1, forces 0.1, stress 0.01). The loss is

    L = w_E <(dE / N)^2> + w_F <dF_x^2> + w_S <(dW / N)^2>

with ``<.>`` the mean over training configurations (energies), force components, and virial
components (``W = V * stress``, 3x3, eV) of the configurations that carry the label; ``N`` is the
number of atoms of the configuration. The square roots of the three means are the RMSEs this
module reports (meV/atom, meV/A per component, and stress in GPa).

* Start: for the radial coefficients (random, or ``initial``'s), the species and moment
  coefficients are linear in every label, so they are solved exactly by least squares (all
  energies and stresses and the forces of up to ``lls_force_configs`` configurations).
* Then L-BFGS-B (scipy) over all parameters, moment coefficients rescaled by the RMS of their
  basis function on the training atoms (conditioning).
* A validation split by configuration (``validation_fraction``, seeded) is held out and
  reported, never fitted.
* Checkpoints (``checkpoint=...npz``, written atomically every ``checkpoint_every`` iterations and
  at the end) hold the parameters, iteration count, loss history and a fingerprint of the data
  and settings; calling ``train_mtp`` again with the same arguments resumes from the last
  checkpoint (the L-BFGS memory restarts).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from incipient.errors import InputError
from incipient.results import Result
from incipient.units import eV_A3_to_GPa


@dataclass(frozen=True)
class TrainingResult(Result):
    """Outcome of :func:`train_mtp` (RMSEs against the reference labels)."""

    level: int
    species: tuple
    cutoff_A: tuple
    weights: tuple
    n_train: int
    n_validation: int
    n_parameters: int
    iterations: int
    evaluations: int
    converged: bool
    message: str
    wall_time_s: float
    loss_history: np.ndarray
    train_energy_rmse_meV_atom: float
    train_force_rmse_meV_A: float
    train_stress_rmse_GPa: float
    validation_energy_rmse_meV_atom: float
    validation_force_rmse_meV_A: float
    validation_stress_rmse_GPa: float
    validation_indices: np.ndarray
    output: str | None = None
    resumed_from_iteration: int = 0

    def summary(self) -> str:
        return (f"level {self.level}, {self.n_train} train / {self.n_validation} validation configurations, "
                f"{self.iterations} iterations, {self.wall_time_s:.0f} s; validation RMSE: "
                f"E {self.validation_energy_rmse_meV_atom:.2f} meV/atom, F {self.validation_force_rmse_meV_A:.1f} meV/A, "
                f"stress {self.validation_stress_rmse_GPa:.3f} GPa")


def _atomic_savez(path: Path, **arrays) -> None:
    """``np.savez`` written atomically with ordinary permissions (``results.atomic_write_text``)."""
    import io

    from incipient.results import atomic_write_text

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_text(path, buf.getvalue())


class _Problem:
    """Chunks, structure and the loss of one fit."""

    def __init__(self, model, data, train, val, species, weights, max_slots, dtype):
        from incipient.potentials.training import torch_mtp as tm

        self.tm = tm
        self.model = model
        self.st = tm.structure_of(model, dtype)
        z = {s: k for k, s in enumerate(species)}
        self.dtype = dtype
        self.weights = weights

        def chunks(idx):
            items = [data[i] for i in idx]
            types = [np.array([z[s] for s in d.atoms.get_chemical_symbols()]) for d in items]
            return tm.prepare([d.atoms for d in items], types, self.st, labels=[d.labels() for d in items],
                              max_slots=max_slots, dtype=dtype, numbers=list(idx))

        self.train = chunks(train)
        self.val = chunks(val) if len(val) else []
        self.n_train = len(train)
        self.counts = self._counts(self.train)
        S, nf, nb = model.species_count, model.radial_funcs_count, model.radial_basis_size
        self.sizes = (S, self.st.n_scalar, S * S * nf * nb)
        self.shape_c = (S, S, nf, nb)

    @staticmethod
    def _counts(chunks):
        nE = sum(int(c.has_energy.sum()) for c in chunks)
        nF = sum(3 * int((c.has_forces[c.config_of_atom]).sum()) for c in chunks)
        nS = sum(9 * int(c.has_stress.sum()) for c in chunks)
        return nE, nF, nS

    def params(self, x, theta_scale, requires_grad):
        import torch

        xt = torch.tensor(x, dtype=self.dtype, requires_grad=requires_grad)
        return xt, self.split(xt, theta_scale)

    def split(self, xt, theta_scale):
        import torch

        S, ns, _ = self.sizes
        return {"species_coeffs": xt[:S], "moment_coeffs": xt[S:S + ns] * torch.as_tensor(theta_scale, dtype=self.dtype),
                "radial_coeffs": xt[S + ns:].reshape(self.shape_c)}

    def terms(self, ch, out):
        """Sums of squared errors (energy per atom, force components, virial per atom) of a chunk."""
        import torch

        z = out["energy"].new_zeros(())
        he = ch.has_energy
        sE = (((out["energy"] - ch.energy) / ch.natoms)[he] ** 2).sum() if he.any() else z
        hf = ch.has_forces[ch.config_of_atom]
        sF = ((out["forces"] - ch.forces)[hf] ** 2).sum() if hf.any() else z
        hs = ch.has_stress
        if hs.any():
            Wref = ch.stress * ch.volume[:, None, None]
            sS = ((((out["virial"] - Wref) / ch.natoms[:, None, None])[hs]) ** 2).sum()
        else:
            sS = z
        return torch.stack([sE, sF, sS])

    def loss_grad(self, x, theta_scale):
        import torch

        xt, _ = self.params(x, theta_scale, True)
        nE, nF, nS = self.counts
        w = torch.tensor([self.weights[0] / max(nE, 1), self.weights[1] / max(nF, 1), self.weights[2] / max(nS, 1)],
                         dtype=self.dtype)
        total = np.zeros(3)
        for ch in self.train:
            t = self.terms(ch, self.tm.evaluate(ch, self.st, self.split(xt, theta_scale)))
            (t * w).sum().backward()
            total += t.detach().numpy()
        mse = total / np.maximum([nE, nF, nS], 1)
        loss = float((mse * np.asarray(self.weights)).sum())
        return loss, xt.grad.numpy().copy(), mse

    def metrics(self, x, theta_scale, chunks):
        import torch

        if not chunks:
            return (float("nan"),) * 3
        _, p = self.params(x, theta_scale, False)
        nE, nF, nS = self._counts(chunks)
        total = np.zeros(3)
        sig = 0.0
        with torch.no_grad():
            for ch in chunks:
                out = self.tm.evaluate(ch, self.st, p)
                total += self.terms(ch, out).numpy()
                hs = ch.has_stress
                if hs.any():
                    d = out["virial"] / ch.volume[:, None, None] - ch.stress
                    sig += float((d[hs] ** 2).sum())
        e = 1e3 * np.sqrt(total[0] / nE) if nE else float("nan")
        f = 1e3 * np.sqrt(total[1] / nF) if nF else float("nan")
        s = eV_A3_to_GPa * np.sqrt(sig / nS) if nS else float("nan")
        return float(e), float(f), float(s)

    def basis_rms(self, x):
        """RMS of each basis function over the training atoms (moment-coefficient scale)."""
        import torch

        S, ns, _ = self.sizes
        _, p = self.params(x, np.ones(ns), False)
        acc = np.zeros(ns)
        n = 0
        with torch.no_grad():
            for ch in self.train:
                tm = self.tm
                c = p["radial_coeffs"].reshape(S * S, self.st.radial_funcs_count, self.st.radial_basis_size)
                R = torch.einsum("pk,pfk->pf", ch.Q, c[ch.tp]).reshape(ch.n_atoms, ch.K, -1)
                feats = ch.feats if ch.feats is not None else tm.features(ch, self.st)
                M = torch.bmm(R.transpose(1, 2), feats[..., 0]).reshape(ch.n_atoms, -1)
                Mi = M[:, self.st.basic_mu * self.st.n_mono + self.st.basic_mono].T.contiguous()
                B = tm._moments(Mi, self.st)[self.st.mapping]
                acc += (B**2).sum(dim=1).numpy()
                n += ch.n_atoms
        rms = np.sqrt(acc / max(n, 1))
        return np.where(rms > 0, rms, 1.0)

    def lls(self, x, theta_scale, max_force_configs, ridge=1e-10, batch=8):
        """Least-squares species and moment coefficients for the radial coefficients in ``x``."""
        import torch

        S, ns, _ = self.sizes
        _, p = self.params(x, theta_scale, False)
        nE, nF, nS = self.counts
        wE, wF, wS = self.weights
        rows, rhs = [], []
        force_budget = max_force_configs
        nFused = 0
        eye = torch.eye(ns, dtype=self.dtype)
        with torch.no_grad():
            for ch in self.train:
                use_f = force_budget > 0 and bool(ch.has_forces.any())
                use_s = bool(ch.has_stress.any()) and wS > 0
                if use_f or use_s:
                    Fs, Ws = [], []
                    for a in range(0, ns, batch):
                        o = self.tm.evaluate(ch, self.st, p, seeds=eye[a:a + batch])
                        Fs.append(o["forces"])
                        Ws.append(o["virial"])
                    basis = o["basis"]
                    F = torch.cat(Fs).numpy()  # (ns, Na, 3)
                    W = torch.cat(Ws).numpy()  # (ns, Nc, 3, 3)
                else:
                    basis = self.tm.evaluate(ch, self.st, p, forces=False, seeds=eye[:1])["basis"]
                basis = basis.numpy()
                counts = np.zeros((ch.n_configs, S))
                np.add.at(counts, (ch.config_of_atom.numpy(), ch.types.numpy()), 1.0)
                nat = ch.natoms.numpy()
                he = ch.has_energy.numpy()
                if he.any():
                    a = np.hstack([counts, basis])[he] / nat[he, None]
                    rows.append(a * np.sqrt(wE / max(nE, 1)))
                    rhs.append(ch.energy.numpy()[he] / nat[he] * np.sqrt(wE / max(nE, 1)))
                if use_f:
                    cfg = ch.config_of_atom.numpy()
                    hf = ch.has_forces.numpy()[cfg]
                    take = np.flatnonzero(hf)
                    nconf = len(np.unique(cfg[take]))
                    if nconf > force_budget:
                        keep = np.unique(cfg[take])[:force_budget]
                        take = take[np.isin(cfg[take], keep)]
                        nconf = force_budget
                    force_budget -= nconf
                    nFused += 3 * take.size
                    Fa = F[:, take, :].transpose(1, 2, 0).reshape(-1, ns)
                    rows.append(np.hstack([np.zeros((Fa.shape[0], S)), Fa]) * np.sqrt(wF / max(nF, 1)))
                    rhs.append(ch.forces.numpy()[take].reshape(-1) * np.sqrt(wF / max(nF, 1)))
                if use_s:
                    hs = ch.has_stress.numpy()
                    Wa = (W[:, hs] / nat[hs, None, None]).transpose(1, 2, 3, 0).reshape(-1, ns)
                    Wref = (ch.stress.numpy() * ch.volume.numpy()[:, None, None])[hs] / nat[hs, None, None]
                    rows.append(np.hstack([np.zeros((Wa.shape[0], S)), Wa]) * np.sqrt(wS / max(nS, 1)))
                    rhs.append(Wref.reshape(-1) * np.sqrt(wS / max(nS, 1)))
        A = np.vstack(rows)
        b = np.concatenate(rhs)
        scale = np.sqrt((A**2).sum(axis=0))
        scale[scale == 0] = 1.0
        As = A / scale
        G = As.T @ As
        G[np.diag_indices_from(G)] += ridge * np.trace(G) / G.shape[0]
        sol = np.linalg.solve(G, As.T @ b) / scale
        x = x.copy()
        x[:S] = sol[:S]
        x[S:S + ns] = sol[S:] / theta_scale
        return x


class _Deadline(Exception):
    """Raised in the L-BFGS callback when ``max_time_s`` is over."""


def _lls_budget(requested, data, train, n_linear):
    """Configurations whose forces enter the least-squares start (4x as many force rows as unknowns)."""
    if requested is not None:
        return int(requested)
    natoms = np.mean([len(data[i].atoms) for i in train])
    return int(np.ceil(4 * n_linear / (3 * natoms))) + 2


def _settings(level, species, cutoff, nb, weights, seed, validation_fraction, scaling, structure_key):
    return json.dumps({"level": level, "species": list(species), "cutoff_A": list(cutoff), "radial_basis_size": nb,
                       "weights": list(weights), "seed": seed, "validation_fraction": validation_fraction,
                       "scaling": scaling, "structure": structure_key}, sort_keys=True)


def train_mtp(configurations, *, level: int | None = None, species, cutoff_A=None, radial_basis_size: int = 8,
              weights=(1.0, 0.1, 0.01), validation_fraction: float = 0.1, max_iter: int = 1000, checkpoint=None,
              progress: bool = True, output=None, seed: int = 0, initial=None, threads: int = 1,
              checkpoint_every: int = 10, lls_force_configs: int | None = None, max_time_s: float | None = None,
              max_slots: int = 40000, gtol: float = 1e-8, maxcor: int = 100, lls_every: int | None = None):
    """Fit an MTP of MLIP-2 ``level`` to labelled configurations; returns ``(model, TrainingResult)``.

    Parameters
    ----------
    configurations : path of any ASE-readable labelled file (all frames; e.g. extxyz with
        energy/forces/stress) or a list of ASE Atoms carrying results (SinglePointCalculator).
    level : MLIP-2 level (2, 4, ..., 28); with ``initial`` it may be omitted.
    species : chemical symbols of MTP types 0, 1, ... (written into the file's ``# species:``).
    cutoff_A : (min_dist, max_dist) of the radial basis; default (shortest distance in the data
        rounded down to 0.01 A, 5.0 A).
    weights : (energy, forces, stress) loss weights (see the module docstring).
    validation_fraction : share of configurations held out (by configuration, seeded by ``seed``).
    max_iter : L-BFGS iterations (counted across resumes).
    checkpoint : ``.npz`` path; resumes from it when it exists and matches data and settings.
    output : write the trained potential there (MLIP-2 format); ``model.path`` is that path.
    initial : an :class:`MTPModel` to start from (its structure, cutoffs and coefficients).
    threads : torch threads (1 is fastest on a shared machine).
    max_time_s : stop L-BFGS after this wall time (the checkpoint is written).
    lls_every : restart L-BFGS every this many iterations after re-solving the linear parameters
        by least squares (kept only when the loss drops); ``None``: one L-BFGS run.
    """
    import torch
    from scipy.optimize import minimize

    from incipient.potentials.training.data import fingerprint, min_distance, read_configurations
    from incipient.potentials.training.templates import level_of, mtp_template
    from incipient.potentials.training.writer import write_mtp

    t_start = time.perf_counter()
    species = tuple(species)
    w = tuple(float(v) for v in weights)
    if len(w) != 3 or not all(np.isfinite(v) and v >= 0 for v in w) or w[1] == 0 and w[0] == 0:
        raise InputError(f"weights must be three finite numbers >= 0 (energy, forces, stress), got {weights!r}")
    if not (0.0 <= validation_fraction < 1.0):
        raise InputError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    if int(max_iter) < 0:
        raise InputError(f"max_iter must be >= 0, got {max_iter}")
    what = str(configurations) if isinstance(configurations, (str, os.PathLike)) else None
    data = read_configurations(configurations, species, what=what)
    if output is not None:
        from incipient.results import check_output_file

        check_output_file(output, "output")
    n = len(data)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_val = int(round(validation_fraction * n)) if validation_fraction > 0 else 0
    if validation_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    val = np.sort(perm[:n_val])
    train = np.sort(perm[n_val:])

    if initial is not None:
        model = initial
        if model.species_count != len(species):
            raise InputError(f"initial potential has {model.species_count} species, {len(species)} given")
        found = level_of(model)
        if level is not None and found is not None and found != level:
            raise InputError(f"the initial potential has the structure of level {found}, not {level}",
                             source=getattr(model, "path", None))
        level = found if level is None else level
        cutoff = (model.min_dist_A, model.max_dist_A)
    else:
        if level is None:
            raise InputError("give the MTP level (2, 4, ..., 28)")
        if cutoff_A is None:
            dmin = min_distance(data)
            cutoff = (max(0.0, np.floor(dmin * 100) / 100), 5.0)
        else:
            cutoff = tuple(float(v) for v in cutoff_A)
        if len(cutoff) != 2 or not (0 <= cutoff[0] < cutoff[1]):
            raise InputError(f"cutoff_A must be (min_dist, max_dist) with 0 <= min < max, got {cutoff_A!r}")
        model = mtp_template(level, species_count=len(species), min_dist_A=cutoff[0], max_dist_A=cutoff[1],
                             radial_basis_size=radial_basis_size, species=species,
                             scaling=1.0 / (cutoff[1] - cutoff[0]) ** 2)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        prob = _Problem(model, data, train, val, species, w, max_slots, torch.float64)
        S, ns, nc = prob.sizes
        structure_key = f"{model.alpha_moments_count}/{len(model.alpha_index_times)}/{ns}/{model.radial_funcs_count}"
        settings = _settings(level, species, cutoff, model.radial_basis_size, w, seed, validation_fraction,
                             model.scaling, structure_key)
        fp = fingerprint(data)
        ckpt = None if checkpoint is None else Path(checkpoint)
        history: list[float] = []
        it0 = 0
        state = None
        if ckpt is not None and ckpt.exists():
            try:
                z = np.load(ckpt, allow_pickle=False)
                state = {k: z[k] for k in z.files}
            except Exception as exc:
                raise InputError(f"cannot read the checkpoint ({exc})", source=ckpt) from None
            if str(state["fingerprint"]) != fp or str(state["settings"]) != settings:
                raise InputError("the checkpoint was written for other data or settings; delete it or give "
                                 "another --checkpoint path", source=ckpt)
        if state is not None:
            x = state["x"].astype(float)
            theta_scale = state["theta_scale"].astype(float)
            it0 = int(state["iteration"])
            history = [float(v) for v in state["history"]]
            converged_before = bool(state["converged"])
        else:
            converged_before = False
            x = np.concatenate([np.asarray(model.species_coeffs, float), np.asarray(model.moment_coeffs, float),
                                np.asarray(model.radial_coeffs, float).ravel()])
            if initial is None:
                x[S + ns:] = rng.uniform(-0.1, 0.1, nc)
            theta_scale = prob.basis_rms(x)
            x[S:S + ns] /= theta_scale
            if initial is None or lls_force_configs != 0:
                x = prob.lls(x, theta_scale, _lls_budget(lls_force_configs, data, train, ns + S))
        lls_budget = _lls_budget(lls_force_configs, data, train, ns + S)

        def save(xc, it, converged):
            if ckpt is None:
                return
            _atomic_savez(ckpt, x=xc, theta_scale=theta_scale, iteration=np.int64(it), history=np.array(history),
                          converged=np.bool_(converged), fingerprint=np.str_(fp), settings=np.str_(settings))

        evals = 0
        last = {"mse": np.full(3, np.nan), "x": x}

        def fun(xc):
            nonlocal evals
            evals += 1
            loss, grad, mse = prob.loss_grad(xc, theta_scale)
            last["mse"] = mse
            return loss, grad

        remaining = max(0, int(max_iter) - it0)
        message = "resumed from a finished checkpoint" if converged_before else "max_iter reached"
        converged = converged_before
        it = it0
        if remaining and not converged_before:
            from tqdm.auto import tqdm

            bar = tqdm(total=int(max_iter), initial=it0, disable=not progress, desc=f"train MTP level {level}",
                       unit="it", dynamic_ncols=True)
            deadline = None if max_time_s is None else time.perf_counter() + float(max_time_s)

            def callback(intermediate_result):
                nonlocal it
                it += 1
                history.append(float(intermediate_result.fun))
                mse = last["mse"]
                bar.update(1)
                bar.set_postfix(loss=f"{intermediate_result.fun:.4g}", F_meV_A=f"{1e3 * np.sqrt(mse[1]):.1f}",
                                E_meV=f"{1e3 * np.sqrt(mse[0]):.2f}")
                if checkpoint_every and it % int(checkpoint_every) == 0:
                    save(intermediate_result.x, it, False)
                last["x"] = np.array(intermediate_result.x)
                if deadline is not None and time.perf_counter() > deadline:
                    raise _Deadline

            stop = {"time": False}
            try:
                while True:
                    todo = int(max_iter) - it
                    seg = todo if not lls_every else min(todo, int(lls_every))
                    try:
                        res = minimize(fun, x, jac=True, method="L-BFGS-B", callback=callback,
                                       options={"maxiter": seg, "maxcor": maxcor, "gtol": gtol, "ftol": 1e-14,
                                                "maxfun": 4 * seg + 20})
                    except _Deadline:
                        stop["time"] = True
                        res = None
                    if res is not None:
                        x = res.x
                        converged = bool(res.success) and res.nit < seg
                        message = str(res.message)
                    else:
                        x = last["x"]
                    if stop["time"] or converged or it >= int(max_iter) or not lls_every:
                        break
                    # re-solve the linear parameters; keep them only if the loss drops
                    x_lls = prob.lls(x, theta_scale, lls_budget)
                    f_old = prob.loss_grad(x, theta_scale)[0]
                    f_new = prob.loss_grad(x_lls, theta_scale)[0]
                    if f_new < f_old:
                        x = x_lls
            finally:
                bar.close()
            if stop["time"]:
                message = f"stopped after max_time_s = {max_time_s:g} s"
        save(x, it, converged)
        tr = prob.metrics(x, theta_scale, prob.train)
        va = prob.metrics(x, theta_scale, prob.val)
    finally:
        torch.set_num_threads(old_threads)

    theta = x[S:S + ns] * theta_scale
    trained = dataclasses.replace(model, species_coeffs=x[:S].copy(), moment_coeffs=theta.copy(),
                                  radial_coeffs=x[S + ns:].reshape(prob.shape_c).copy(), species=species,
                                  path="<trained>" if output is None else str(output))
    if output is not None:
        write_mtp(trained, output, species=species)
    result = TrainingResult(
        level=int(level) if level is not None else -1, species=species, cutoff_A=tuple(cutoff), weights=w,
        n_train=len(train), n_validation=len(val), n_parameters=int(x.size), iterations=it, evaluations=evals,
        converged=converged, message=message, wall_time_s=time.perf_counter() - t_start,
        loss_history=np.array(history), train_energy_rmse_meV_atom=tr[0], train_force_rmse_meV_A=tr[1],
        train_stress_rmse_GPa=tr[2], validation_energy_rmse_meV_atom=va[0], validation_force_rmse_meV_A=va[1],
        validation_stress_rmse_GPa=va[2], validation_indices=val, output=None if output is None else str(output),
        resumed_from_iteration=it0,
    )
    return trained, result
