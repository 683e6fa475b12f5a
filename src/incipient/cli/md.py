"""``incipient md``: NVT then NVE MD of a system's structure (or any file) to an H5MD file.

Every numeric option is checked (finite; temperature, time step, NVE length, tau > 0; NVT length
>= 0; counts >= 1) and the output folder is probed for writing before any work. The start
structure is evaluated once first: a broken geometry stops there, and absurd forces or energies
(a wrong ``--species`` order, see :func:`incipient.potentials.calculator.plausibility_warnings`)
are reported as warnings on stderr.
"""

from __future__ import annotations

import json
import sys

from incipient.cli._checks import positive
from incipient.cli._system import add_system_arguments, structure_and_calculator
from incipient.errors import InputError

DEFAULT_WIDTH_A = 30.0  # default MD cell width (the paper's 3x3x5 cell of the built-in system)


def add_arguments(p) -> None:
    add_system_arguments(p)
    p.add_argument("--repeat", type=int, nargs=3, default=None, metavar=("NA", "NB", "NC"),
                   help="supercell of the structure (default: the smallest one 30 A wide, 3 3 5 for the built-in cell)")
    p.add_argument("--temperature-K", type=float, required=True)
    p.add_argument("--timestep-fs", type=float, default=2.0)
    p.add_argument("--nvt-ps", type=float, default=10.0, help="NVT equilibration length (ps)")
    p.add_argument("--nve-ps", type=float, default=10.0, help="NVE production length (ps)")
    p.add_argument("--thermostat", choices=["bussi", "langevin"], default="bussi")
    p.add_argument("--tau-fs", type=float, default=100.0, help="Bussi time constant (fs)")
    p.add_argument("--save-every", type=int, default=10, help="store a frame every N steps")
    p.add_argument("--heat-current-every", type=int, default=0, help="store the heat current every N NVE steps (0: off)")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="md.h5md", help="H5MD trajectory (a .ckpt.npz checkpoint is kept beside it)")
    p.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def check_arguments(args) -> tuple[int, int]:
    """Validate every numeric option (InputError naming it); returns (NVT steps, NVE steps)."""
    positive(args.temperature_K, "--temperature-K")
    positive(args.timestep_fs, "--timestep-fs")
    positive(args.nvt_ps, "--nvt-ps", allow_zero=True)
    positive(args.nve_ps, "--nve-ps")
    positive(args.tau_fs, "--tau-fs")
    for name in ("save_every", "checkpoint_every"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.heat_current_every < 0:
        raise InputError(f"--heat-current-every must be >= 0 (0: off), got {args.heat_current_every}")
    if args.repeat is not None and any(r < 1 for r in args.repeat):
        raise InputError(f"--repeat must be three integers >= 1, got {list(args.repeat)}")
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    steps_nvt = int(round(args.nvt_ps * 1000 / args.timestep_fs))
    steps_nve = int(round(args.nve_ps * 1000 / args.timestep_fs))
    if steps_nve < 1:
        raise InputError(f"--nve-ps {args.nve_ps} is shorter than one time step of {args.timestep_fs} fs")
    return steps_nvt, steps_nve


def run(args) -> int:
    from incipient.md.dynamics import run_md, write_json_summary
    from incipient.potentials.calculator import plausibility_warnings
    from incipient.results import check_output_file
    from incipient.system import repeat_for_width

    steps_nvt, steps_nve = check_arguments(args)
    check_output_file(args.output, "--output")
    atoms, calc, _ = structure_and_calculator(args)
    atoms = atoms.repeat(tuple(args.repeat) if args.repeat else repeat_for_width(atoms.cell.array, DEFAULT_WIDTH_A))
    probe = atoms.copy()
    probe.calc = calc
    for w in plausibility_warnings(probe):  # one force call; stops on a broken geometry
        print(f"incipient md: WARNING: start structure: {w}", file=sys.stderr)
    res = run_md(atoms, calc, args.output, temperature_K=args.temperature_K, timestep_fs=args.timestep_fs,
                 steps_nvt=steps_nvt, steps_nve=steps_nve, thermostat=args.thermostat, tau_fs=args.tau_fs,
                 save_every=args.save_every, heat_current_every=args.heat_current_every,
                 checkpoint_every=args.checkpoint_every, seed=args.seed, resume=not args.no_resume,
                 progress=not args.quiet)
    write_json_summary(res, args.output + ".json")
    summary = {"trajectory": res.trajectory, "n_atoms": res.n_atoms, "nve_drift_meV_atom_ns": res.nve_drift_meV_atom_ns,
               "mean_temperature_nve_K": res.mean_temperature_nve_K, "ns_per_day": res.ns_per_day,
               "overhead_percent": 100 * res.overhead_fraction}
    print(json.dumps(summary, indent=1))
    return 0
