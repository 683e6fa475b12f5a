"""Benchmark: MTP training - one loss+gradient evaluation, incipient (torch) vs motep's trainer, same run.

Run: ``python benchmarks/bench_train.py [--level 16] [--configs 20] [--repeat 3]`` times one
evaluation of the loss and its gradient over all parameters (energies, forces and stresses of
rattled 24-atom CsCu2I3 cells labelled by the paper's MTP) with incipient's trainer
(:mod:`incipient.potentials.training`, torch, 1 thread) and with motep's (its ``ErrorPrinter``-free
``LossFunction`` with the fastest engine, ``cext``, 1 thread), prints both per atom and the ratio.

``python benchmarks/bench_train.py teacher-student --level 16 [--iter 1000] [--hours 1]`` runs the
teacher-student study: 300 CsCu2I3 configurations (150 rattled and strained cells, 150 frames of a
600 K Langevin run) labelled by the paper's MTP, a fresh MTP of the given level fitted from
scratch (cutoffs 2.13-7 A, weights 1 / 0.1 / 0.01, 10 % held out); prints the held-out RMSEs
against the teacher and the wall time, writes ``teacher_student_L<level>.{mtp,json,npz}``.
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core each: motep's cext engine and torch

import numpy as np  # noqa: E402

SPECIES = ("Cs", "Cu", "I")


def cscu2i3_dataset(n_rattle: int = 150, n_md: int = 150, seed: int = 42, md_every: int = 20):
    """Rattled/strained cells and 600 K MD frames of the 24-atom CsCu2I3 cell, labelled by the paper's MTP."""
    from ase import units
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from incipient.system import load_system

    s = load_system("CsCu2I3")
    base, calc = s.structure, s.calculator()
    rng = np.random.default_rng(seed)
    out = []

    def label(a, kind):
        a.calc = calc
        e, f, st = a.get_potential_energy(), a.get_forces(), a.get_stress()
        b = a.copy()
        b.calc = SinglePointCalculator(b, energy=e, forces=f, stress=st)
        b.info["kind"] = kind
        out.append(b)

    for _ in range(n_rattle):
        a = base.copy()
        eps = rng.uniform(-0.03, 0.03, (3, 3))
        a.set_cell(a.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
        a.positions += rng.normal(scale=rng.uniform(0.02, 0.15), size=a.positions.shape)
        label(a, "rattle")
    a = base.copy()
    a.calc = calc
    MaxwellBoltzmannDistribution(a, temperature_K=600, rng=rng)
    dyn = Langevin(a, 2 * units.fs, temperature_K=600, friction=0.02, rng=rng)
    dyn.run(200)
    for _ in range(n_md):
        dyn.run(md_every)
        label(a.copy(), "md600")
    return out


def bench(args) -> None:
    import torch
    from motep.io.mlip.mtp import read_mtp as motep_read

    from incipient.potentials.training import fit
    from incipient.potentials.training.data import read_configurations
    from incipient.potentials.training.templates import mtp_template
    from incipient.potentials.training.writer import write_mtp

    confs = cscu2i3_dataset(args.configs, 0)
    natoms = sum(len(c) for c in confs)
    rng = np.random.default_rng(0)
    model = mtp_template(args.level, species_count=3, min_dist_A=2.13, max_dist_A=7.0, species=SPECIES,
                         scaling=1 / (7.0 - 2.13) ** 2)
    import dataclasses

    model = dataclasses.replace(model, radial_coeffs=rng.uniform(-0.1, 0.1, model.radial_coeffs.shape),
                                moment_coeffs=rng.normal(size=model.moment_coeffs.shape),
                                species_coeffs=rng.normal(size=3))
    torch.set_num_threads(1)
    data = read_configurations(confs, SPECIES)
    prob = fit._Problem(model, data, np.arange(len(data)), np.array([], int), SPECIES, (1.0, 0.1, 0.01), 40000,
                        torch.float64)
    S, ns, nc = prob.sizes
    x = np.concatenate([model.species_coeffs, model.moment_coeffs, model.radial_coeffs.ravel()])
    ones = np.ones(ns)
    prob.loss_grad(x, ones)
    ts = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        loss_i, _, _ = prob.loss_grad(x, ones)
        ts.append(time.perf_counter() - t)
    t_inc = min(ts)

    # motep: same potential, same data, its loss function with jac
    import tempfile

    from motep.loss import LossFunction, LossSetting

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.mtp")
        write_mtp(model, path)
        mdata = motep_read(path)
    mdata.species = [55, 29, 53]
    images = [c.copy() for c in confs]
    for im, c in zip(images, confs, strict=True):
        im.calc = c.calc
    setting = LossSetting(energy_weight=1.0, forces_weight=0.1, stress_weight=0.01, mgrad_weight=0.0)
    loss = LossFunction(images, mdata, setting, engine="cext")
    params = mdata.parameters
    loss(params)
    loss.jac(params)
    ts = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        loss(params)
        loss.jac(params)
        ts.append(time.perf_counter() - t)
    t_mot = min(ts)
    # both evaluate the same potential: compare the energies of the training images
    from incipient.potentials.training.torch_mtp import evaluate_model

    ours = evaluate_model(model, confs, SPECIES)
    de = max(abs(im.calc.results["energy"] - o["energy"]) for im, o in zip(loss.images, ours, strict=True))
    print(f"level {args.level}, {len(confs)} configurations, {natoms} atoms, {ns + S + nc} parameters, 1 thread")
    print(f"incipient loss+gradient: {t_inc:.3f} s ({1e6 * t_inc / natoms:.0f} us/atom)")
    print(f"motep (cext) loss+jac:   {t_mot:.3f} s ({1e6 * t_mot / natoms:.0f} us/atom)")
    print(f"ratio motep / incipient: {t_mot / t_inc:.2f} (largest energy difference between the two: {de:.1e} eV; "
          f"load average {os.getloadavg()[0]:.1f})")


def teacher_student(args) -> None:
    from incipient.potentials.training import train_mtp

    t0 = time.perf_counter()
    confs = cscu2i3_dataset()
    t_label = time.perf_counter() - t0
    f = np.concatenate([c.get_forces() for c in confs])
    print(f"{len(confs)} configurations labelled by the paper's MTP in {t_label:.1f} s; "
          f"force spread (std) {1e3 * f.std():.0f} meV/A", flush=True)
    stem = os.path.join(args.out, f"teacher_student_L{args.level}")
    load = os.getloadavg()[0]
    model, res = train_mtp(confs, level=args.level, species=SPECIES, cutoff_A=(2.13, 7.0), weights=(1.0, 0.1, 0.01),
                           validation_fraction=0.1, max_iter=args.iter, checkpoint=stem + ".npz", output=stem + ".mtp",
                           progress=not args.quiet, seed=0, max_time_s=3600 * args.hours)
    res.save(stem + ".json")
    print(res.summary())
    print(f"train RMSE: E {res.train_energy_rmse_meV_atom:.2f} meV/atom, F {res.train_force_rmse_meV_A:.1f} meV/A, "
          f"stress {res.train_stress_rmse_GPa:.3f} GPa; {res.message}; load average at start {load:.1f}, "
          f"end {os.getloadavg()[0]:.1f}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", nargs="?", default="bench", choices=("bench", "teacher-student"))
    p.add_argument("--level", type=int, default=16)
    p.add_argument("--configs", type=int, default=20)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--iter", type=int, default=1000)
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--out", default=".")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    if args.mode == "bench":
        bench(args)
    else:
        teacher_student(args)


if __name__ == "__main__":
    main()
