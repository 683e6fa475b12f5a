"""``incipient md``: NVT then NVE MD of a structure (default: built-in CsCu2I3) to an H5MD file."""

from __future__ import annotations

import json


def add_arguments(p) -> None:
    p.add_argument("--structure", help="structure file (CIF/POSCAR/extxyz); default: built-in CsCu2I3 conventional cell")
    p.add_argument("--repeat", type=int, nargs=3, default=(3, 3, 5), metavar=("NA", "NB", "NC"),
                   help="supercell of the structure (default 3 3 5 = 1080 atoms for CsCu2I3)")
    p.add_argument("--potential", help="MLIP-2 .mtp file (default: the paper's CsCu2I3 MTP)")
    p.add_argument("--species", nargs="+", default=["Cs", "Cu", "I"], help="MTP species order")
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


def run(args) -> int:
    from incipient.md.dynamics import run_md, write_json_summary
    from incipient.potentials import MTP
    from incipient.structures import cscu2i3_conventional, read_structure

    atoms = read_structure(args.structure) if args.structure else cscu2i3_conventional()
    atoms = atoms.repeat(tuple(args.repeat))
    calc = MTP(args.potential, species=tuple(args.species))
    steps_nvt = int(round(args.nvt_ps * 1000 / args.timestep_fs))
    steps_nve = int(round(args.nve_ps * 1000 / args.timestep_fs))
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
