"""ctypes front end of the C MTP kernel (``_mtp_c.c``): loading, argument marshalling, threads.

The C library is built by ``pip install`` (setup.py, optional extension). ``available()`` says
whether it was; the calculator then uses it by default and falls back to the numba kernel
otherwise. Threads are Python threads, each running the C function on its own contiguous range
of atom blocks (ctypes releases the GIL for the call); the thread count follows numba's
(``NUMBA_NUM_THREADS`` / ``numba.set_num_threads``) so one setting governs both kernels.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from incipient.potentials.mtp_tables import MTPTables

_I = ctypes.c_int64
_D = ctypes.c_double
_P = ctypes.c_void_p
_ARGTYPES = (
    [_I, _P, _P, _P, _P, _P, _I, _I]  # atoms, neighbour list, order, block range
    + [_I, _I, _I, _P, _D, _D, _D]  # radial basis
    + [_I, _P, _P, _P, _P, _I, _P, _P, _P]  # monomials, basic moments
    + [_I, _P, _P, _P, _P, _P, _P, _P, _P, _P, _I, _P, _P, _P]  # products, energy
    + [_P, _P]  # outputs
)


@lru_cache(maxsize=1)
def _library():
    here = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / f"_mtp_c{suffix}"
        if path.exists():
            lib = ctypes.CDLL(str(path))
            lib.mtp_eval_blocks.restype = ctypes.c_int
            lib.mtp_eval_blocks.argtypes = _ARGTYPES
            lib.mtp_block_atoms.restype = ctypes.c_int
            return lib
    return None


@lru_cache(maxsize=4)
def _pool(n_threads: int) -> ThreadPoolExecutor:
    """A persistent pool per thread count (MD calls the kernel thousands of times)."""
    return ThreadPoolExecutor(n_threads, thread_name_prefix="incipient-mtp")


def available() -> bool:
    """True when the compiled C kernel was built and loads."""
    return _library() is not None


def block_atoms() -> int:
    """Atoms per block of the C kernel (the unit of work of one call)."""
    lib = _library()
    if lib is None:
        raise RuntimeError("the C MTP kernel is not built (reinstall with a C compiler: pip install -e .)")
    return int(lib.mtp_block_atoms())


def site_energies_and_gradients(t: MTPTables, offsets, nbr, vecs, types, n_threads: int = 1):
    """Site energies E (N,) eV and pair gradients G (P, 3) eV/A, as the numba kernel returns them."""
    lib = _library()
    if lib is None:
        raise RuntimeError("the C MTP kernel is not built (reinstall with a C compiler: pip install -e .)")
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    nbr = np.ascontiguousarray(nbr, dtype=np.int64)
    vecs = np.ascontiguousarray(vecs, dtype=np.float64)
    types = np.ascontiguousarray(types, dtype=np.int64)
    order = np.argsort(np.diff(offsets), kind="stable").astype(np.int64)
    n = types.shape[0]
    E = np.zeros(n)
    G = np.zeros((nbr.shape[0], 3))
    rc = t.radial_coeffs
    blk = int(lib.mtp_block_atoms())
    nblocks = -(-n // blk)
    arrays = (offsets, nbr, vecs, types, order, rc, t.mono_parent, t.mono_dir, t.mono_pow, t.mono_lower,
              t.basic_mu, t.mb_ptr, t.mb_idx, t.tptr, t.t_i1, t.t_i2, t.times_mult, t.pull_ptr,
              t.pull_i3, t.pull_oth, t.pull_mult, t.seed, t.mapping, t.moment_coeffs, t.species_coeffs, E, G)
    for a in arrays:
        if not a.flags.c_contiguous:
            raise ValueError("internal error: non-contiguous array passed to the C MTP kernel")
    p = [a.ctypes.data for a in arrays]

    def run(b0: int, b1: int) -> int:
        return lib.mtp_eval_blocks(
            n, p[0], p[1], p[2], p[3], p[4], b0, b1,
            rc.shape[0], rc.shape[2], rc.shape[3], p[5], t.min_dist, t.max_dist, t.scaling,
            t.n_mono, p[6], p[7], p[8], p[9], t.n_basic, p[10], p[11], p[12],
            t.n_moments, p[13], p[14], p[15], p[16], p[17], p[18], p[19], p[20], p[21],
            t.mapping.shape[0], p[22], p[23], p[24], p[25], p[26],
        )

    n_threads = max(1, min(int(n_threads), nblocks))
    if n_threads == 1:
        status = [run(0, nblocks)]
    else:
        cuts = np.linspace(0, nblocks, n_threads + 1).round().astype(int)
        status = list(_pool(n_threads).map(run, cuts[:-1], cuts[1:]))
    if any(s != 0 for s in status):
        from incipient.errors import RunError

        raise RunError(f"the C MTP kernel could not allocate its work arrays ({n} atoms, {nbr.shape[0]} pairs; "
                       "out of memory?)")
    return E, G
