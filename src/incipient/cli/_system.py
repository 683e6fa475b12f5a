"""The ``--system``/``--structure``/``--potential`` options shared by commands that need a structure and a potential."""

from __future__ import annotations


def add_system_arguments(p, *, structure_help: str = "structure file (any ASE-readable format); overrides the system's") -> None:
    p.add_argument("--system", help="built-in system name or system file (TOML) giving the structure and potential "
                                    "(default: the built-in default system)")
    p.add_argument("--structure", help=structure_help)
    p.add_argument("--potential", help="MLIP-2 .mtp file; overrides the system's potential (then give --species)")
    p.add_argument("--species", nargs="+", default=None,
                   help="MTP species order for --potential (default: the order the file declares)")


def structure_and_calculator(args):
    """(atoms, calculator, system) from the options: the system's, with --structure/--potential replacing parts."""
    from incipient.errors import InputError
    from incipient.potentials import MTP
    from incipient.structures import read_structure
    from incipient.system import load_system
    from incipient.workflows.config import DEFAULT_SYSTEM

    system = load_system(args.system or DEFAULT_SYSTEM)
    atoms = read_structure(args.structure) if args.structure else system.structure
    species = None if args.species is None else tuple(args.species)
    if args.potential:
        calc = MTP(args.potential, species=species)
    elif species is not None:
        if system.potential.mtp is None:
            raise InputError("--species applies to an MTP; give --potential FILE.mtp")
        calc = MTP(system.potential.mtp, species=species)
    else:
        calc = system.calculator()
    return atoms, calc, system
