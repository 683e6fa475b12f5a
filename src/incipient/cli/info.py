"""``incipient info``: versions, built-in data, and a one-call check of the MTP engine."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--check", action="store_true", help="evaluate the built-in MTP on CsCu2I3 once")


def run(args) -> int:
    import importlib.metadata as md

    from incipient import __version__
    from incipient.data import CSCU2I3_DIR

    print(f"incipient {__version__}")
    for pkg in ("numpy", "scipy", "ase", "numba", "vesin", "h5py", "gemmi", "spglib", "phonopy", "phono3py", "hiphive"):
        try:
            print(f"  {pkg:10s} {md.version(pkg)}")
        except md.PackageNotFoundError:
            print(f"  {pkg:10s} (not installed)")
    print(f"built-in CsCu2I3 data: {CSCU2I3_DIR}")
    for f in sorted(CSCU2I3_DIR.rglob("*")):
        if f.is_file():
            print(f"  {f.relative_to(CSCU2I3_DIR)}  ({f.stat().st_size // 1024} kB)")
    from incipient.potentials import mtp_ckernel

    print("MTP kernel: " + ("C (compiled at install)" if mtp_ckernel.available()
                            else "numba (the C kernel is not built: no C compiler at install time?)"))
    if args.check:
        import time

        from incipient.potentials import MTP
        from incipient.structures import cscu2i3_conventional

        a = cscu2i3_conventional()
        a.calc = MTP()
        t = time.perf_counter()
        e = a.get_potential_energy()
        print(f"MTP ({a.calc.backend} backend) on CsCu2I3 (24 atoms): E = {e / len(a):.6f} eV/atom, |F|max = {abs(a.get_forces()).max():.2e} eV/A "
              f"({time.perf_counter() - t:.2f} s incl. compilation)")
    return 0
