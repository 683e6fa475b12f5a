"""Benchmark: incipient's Wigner conductivity step vs a plain phono3py SMM19 run on the same inputs.

fcc Al with ASE's EMT (3x3x3 primitive supercell, finite-difference fc2/fc3), q mesh given on the
command line (default 8x8x8), two temperatures, isotope scattering on. Each side runs
``repeats`` times; reported: best wall time, tracemalloc peak of Python-visible allocations
(numpy arrays included), and the process's max RSS at the end. The wrapper's extra work is the
point-group symmetrisation and the mode/branch/spectral sums.

    python benchmarks/bench_wigner.py [mesh] [repeats]
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from incipient.lattice.phonons import make_phono3py, set_displacement_forces
from incipient.lattice.phonopy_io import ase_to_phonopy_atoms
from incipient.transport.wigner import wigner_conductivity


def inputs():
    prim = bulk("Al", "fcc", a=4.05)
    ph3 = make_phono3py(prim, [3, 3, 3])
    ph3.generate_displacements(distance=0.03)
    set_displacement_forces(ph3, EMT())
    ph3.produce_fc2()
    ph3.produce_fc3()
    return prim, np.array(ph3.fc2), np.array(ph3.fc3)


def plain(prim, fc2, fc3, mesh, temps):
    from phono3py import Phono3py

    ph3 = Phono3py(ase_to_phonopy_atoms(prim), supercell_matrix=[3, 3, 3], primitive_matrix="P", log_level=0)
    ph3.fc2, ph3.fc3 = fc2, fc3
    ph3.mesh_numbers = mesh
    ph3.init_phph_interaction()
    ph3.run_thermal_conductivity(temperatures=temps, is_isotope=True, transport_type="SMM19")
    tc = ph3.thermal_conductivity
    return np.array(tc.kappa_intra[0]), np.array(tc.kappa_inter[0])


def ours(prim, fc2, fc3, mesh, temps):
    r = wigner_conductivity(prim, fc2, fc3, supercell_matrix=[3, 3, 3], mesh=mesh, temperatures_K=temps)
    return r.kappa_p_raw_W_mK, r.kappa_c_raw_W_mK


def measure(fn, repeats, *args):
    best, peak, out = np.inf, 0, None
    for _ in range(repeats):
        tracemalloc.start()
        t0 = time.perf_counter()
        out = fn(*args)
        dt = time.perf_counter() - t0
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        best = min(best, dt)
    return best, peak, out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    mesh, temps = [n, n, n], [300.0, 600.0]
    prim, fc2, fc3 = inputs()
    # warm up both (phono3py's first call loads its extension modules)
    plain(prim, fc2, fc3, [3, 3, 3], temps)
    ours(prim, fc2, fc3, [3, 3, 3], temps)
    t_p, m_p, (kp_p, kc_p) = measure(plain, repeats, prim, fc2, fc3, mesh, temps)
    t_o, m_o, (kp_o, kc_o) = measure(ours, repeats, prim, fc2, fc3, mesh, temps)
    assert np.allclose(np.diagonal(kp_o, axis1=1, axis2=2), kp_p[:, :3], rtol=1e-12)
    assert np.allclose(np.diagonal(kc_o, axis1=1, axis2=2), kc_p[:, :3], rtol=1e-12)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"fcc Al (EMT), 27-atom supercell, mesh {mesh}, T = {temps} K, best of {repeats}")
    print(f"  kappa_p(300 K) = {kp_p[0, 0]:.4f} W/m/K, kappa_c = {kc_p[0, 0]:.4f} W/m/K (identical in both)")
    print(f"  plain phono3py : {t_p:8.3f} s   tracemalloc peak {m_p / 2**20:8.2f} MiB")
    print(f"  incipient      : {t_o:8.3f} s   tracemalloc peak {m_o / 2**20:8.2f} MiB")
    print(f"  ratio incipient/phono3py: time {t_o / t_p:.3f}, peak memory {m_o / max(m_p, 1):.3f}")
    print(f"  process max RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
