"""``incipient relax``: relax positions and cell with the MTP and compare the lattice to the paper."""

from __future__ import annotations

import json


def add_arguments(p) -> None:
    p.add_argument("--structure", help="structure file; default: built-in CsCu2I3 conventional cell")
    p.add_argument("--potential", help="MLIP-2 .mtp file (default: the paper's CsCu2I3 MTP)")
    p.add_argument("--species", nargs="+", default=["Cs", "Cu", "I"])
    p.add_argument("--fmax", type=float, default=1e-3, help="force threshold (eV/A)")
    p.add_argument("--fixed-cell", action="store_true")
    p.add_argument("--output", help="write the relaxed structure (extxyz/CIF/POSCAR by suffix)")


def run(args) -> int:
    import ase.io

    from incipient.potentials import MTP
    from incipient.structures import cscu2i3_conventional, read_structure
    from incipient.structures.relax import relax

    atoms = read_structure(args.structure) if args.structure else cscu2i3_conventional()
    relaxed, res = relax(atoms, MTP(args.potential, species=tuple(args.species)), fmax_eV_A=args.fmax,
                         relax_cell=not args.fixed_cell)
    if args.output:
        ase.io.write(args.output, relaxed)
    print(res.table())
    print(json.dumps({k: v for k, v in res.to_dict().items()}, indent=1))
    return 0
