"""``incipient info``: versions, built-in systems, and a one-call check of a system's potential."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--check", action="store_true", help="evaluate the system's potential once on its study cell")
    p.add_argument("--system", default=None, help="built-in system name or system file (default: the built-in default)")


def run(args) -> int:
    import importlib.metadata as md

    from incipient import __version__
    from incipient.system import BUILTIN_DIR, builtin_systems, load_system
    from incipient.workflows.config import DEFAULT_SYSTEM

    print(f"incipient {__version__}")
    for pkg in ("numpy", "scipy", "ase", "numba", "vesin", "h5py", "gemmi", "spglib", "phonopy", "phono3py", "hiphive"):
        try:
            print(f"  {pkg:10s} {md.version(pkg)}")
        except md.PackageNotFoundError:
            print(f"  {pkg:10s} (not installed)")
    for name in builtin_systems():
        folder = BUILTIN_DIR / name
        print(f"built-in system {name}: {folder}")
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                print(f"  {f.relative_to(folder)}  ({f.stat().st_size // 1024} kB)")
    from incipient.potentials import mtp_ckernel

    print("MTP kernel: " + ("C (compiled at install)" if mtp_ckernel.available()
                            else "numba (the C kernel is not built: no C compiler at install time?)"))
    if args.check:
        import time

        system = load_system(args.system or DEFAULT_SYSTEM)
        a = system.structure.copy()
        a.calc = system.calculator()
        t = time.perf_counter()
        e = a.get_potential_energy()
        backend = getattr(a.calc, "backend", type(a.calc).__name__)
        print(f"{system.name} potential ({backend}) on the {len(a)}-atom study cell: E = {e / len(a):.6f} eV/atom, "
              f"|F|max = {abs(a.get_forces()).max():.2e} eV/A ({time.perf_counter() - t:.2f} s incl. compilation)")
    return 0
