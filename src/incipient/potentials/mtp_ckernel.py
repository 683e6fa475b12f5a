"""ctypes front end of the C MTP kernel (``_mtp_c.c``): loading, argument marshalling, threads.

The C library is built by ``pip install`` (setup.py, optional extension). ``available()`` says
whether it was; the calculator then uses it by default and falls back to the numba kernel
otherwise. :class:`Kernel` holds, once per model, a C struct of pointers into the arrays of
:class:`~incipient.potentials.mtp_tables.MTPTables` (the arrays themselves, not copies: an
in-place change of a coefficient is seen by the next call), so a call passes a dozen arguments.
One thread: a single C call (blocking order, energies, gradients, forces, virials). More threads:
Python threads, each running the C function on its own contiguous range of atom blocks (ctypes
releases the GIL for the call), then the forces; the thread count follows numba's
(``NUMBA_NUM_THREADS`` / ``numba.set_num_threads``) so one setting governs both kernels.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import weakref
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
from numba import njit

from incipient.potentials.mtp_tables import MTPTables


@njit(cache=True)
def _addresses(offsets, nbr, vecs, types, E, G, F, W):
    """Data pointers of the arrays of one call (one compiled call: 1 us, against ~2 us for each
    ``ndarray.ctypes.data``, which was the largest Python cost of a 1-atom evaluation)."""
    return (offsets.ctypes.data, nbr.ctypes.data, vecs.ctypes.data, types.ctypes.data, E.ctypes.data,
            G.ctypes.data, F.ctypes.data, W.ctypes.data)

_I = ctypes.c_int64
_D = ctypes.c_double
_P = ctypes.c_void_p

#: moment arrays (V and A of one block, bytes) above which blocks of 8 atoms would be used instead
#: of 16. Measured on the level-28 MTP (4.4 MB per 16-atom block): 8-atom blocks were slower
#: (229 against 195 us/atom), so 16-atom blocks are used at every level.
NV1_ABOVE_BYTES = float("inf")

_TABLE_FIELDS = (
    ("nsp", _I), ("nf", _I), ("nbasis", _I), ("rc", _P), ("min_d", _D), ("max_d", _D), ("scaling", _D),
    ("n_mono", _I), ("mono_parent", _P), ("mono_dir", _P), ("mono_pow", _P), ("mono_lower", _P),
    ("n_basic", _I), ("basic_mu", _P), ("mb_ptr", _P), ("mb_idx", _P),
    ("n_moments", _I), ("tptr", _P), ("tprod", _P), ("pull_ptr", _P), ("pull", _P), ("seed", _P),
    ("n_scalar", _I), ("mapping", _P), ("moment_coeffs", _P), ("species_coeffs", _P),
)


class _CTables(ctypes.Structure):
    _fields_ = list(_TABLE_FIELDS)


#: one moment product as the C kernel reads it (struct Prod: two moment indices, the multiplicity)
PROD = np.dtype([("a", "<u2"), ("b", "<u2"), ("m", "<f4")])


def _packed(a, b, m) -> np.ndarray:
    out = np.empty(len(a), dtype=PROD)
    out["a"], out["b"], out["m"] = a, b, m
    if not (np.array_equal(out["a"], a) and np.array_equal(out["b"], b) and np.array_equal(out["m"].astype(np.float64), m)):
        raise ValueError("the C MTP kernel needs moment indices below 65536 and multiplicities exact in float32")
    return out


@lru_cache(maxsize=1)
def _library():
    here = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / f"_mtp_c{suffix}"
        if path.exists():
            lib = ctypes.CDLL(str(path))
            if not hasattr(lib, "mtp_run"):  # a stale build of an older kernel
                return None
            lib.mtp_eval_blocks.restype = ctypes.c_int
            lib.mtp_eval_blocks.argtypes = [_P, _I, _P, _P, _P, _P, _P, _I, _I, _I, _P, _P]
            lib.mtp_run.restype = ctypes.c_int
            lib.mtp_run.argtypes = [_P, _I, _P, _P, _P, _P, _I, _P, _P, _P, _P]
            lib.mtp_forces.restype = None
            lib.mtp_forces.argtypes = [_I, _P, _P, _P, _P, _P, _P]
            lib.mtp_order.restype = ctypes.c_int
            lib.mtp_order.argtypes = [_I, _P, _P]
            lib.mtp_block_atoms.restype = ctypes.c_int
            lib.mtp_lanes.restype = ctypes.c_int
            return lib
    return None


@lru_cache(maxsize=4)
def _pool(n_threads: int) -> ThreadPoolExecutor:
    """A persistent pool per thread count (MD calls the kernel thousands of times)."""
    return ThreadPoolExecutor(n_threads, thread_name_prefix="incipient-mtp")


def available() -> bool:
    """True when the compiled C kernel was built and loads."""
    return _library() is not None


def _lib():
    lib = _library()
    if lib is None:
        raise RuntimeError("the C MTP kernel is not built (reinstall with a C compiler: pip install -e .)")
    return lib


def block_atoms() -> int:
    """Most atoms per block of the C kernel (the unit of work of one call)."""
    return int(_lib().mtp_block_atoms())


def _memory_error(n: int, n_pairs: int):
    from incipient.errors import RunError

    return RunError(f"the C MTP kernel could not allocate its work arrays ({n} atoms, {n_pairs} pairs; out of memory?)")


class Kernel:
    """The C kernel bound to one model's tables."""

    def __init__(self, t: MTPTables):
        lib = _lib()

        arrays = {"tprod": _packed(t.t_i1, t.t_i2, t.times_mult), "pull": _packed(t.pull_i3, t.pull_oth, t.pull_mult)}
        values = {k: v.ctypes.data for k, v in arrays.items()}
        for name, typ in _TABLE_FIELDS:
            if typ is _P and name not in arrays:
                a = {"rc": t.radial_coeffs}.get(name)
                if a is None:
                    a = getattr(t, name)
                if not (isinstance(a, np.ndarray) and a.flags.c_contiguous
                        and a.dtype == (np.float64 if name in ("rc", "seed", "moment_coeffs", "species_coeffs") else np.int64)):
                    raise ValueError(f"internal error: table {name} is not a contiguous array of the right type")
                arrays[name] = a
                values[name] = a.ctypes.data
        rc = t.radial_coeffs
        values.update(nsp=rc.shape[0], nf=rc.shape[2], nbasis=rc.shape[3], min_d=t.min_dist, max_d=t.max_dist,
                      scaling=t.scaling, n_mono=t.n_mono, n_basic=t.n_basic, n_moments=t.n_moments,
                      n_scalar=t.mapping.shape[0])
        self._arrays = arrays  # keeps the table arrays alive with the struct
        self._struct = _CTables(**values)
        self.ptr = ctypes.addressof(self._struct)
        self.lanes = int(lib.mtp_lanes())
        #: chunks of 8 atoms per block (2, or 1 for large moment arrays)
        self.nv = 1 if t.n_moments * 2 * 2 * self.lanes * 8 > NV1_ABOVE_BYTES else 2
        self._run = lib.mtp_run
        self._eval_blocks = lib.mtp_eval_blocks
        self._forces = lib.mtp_forces
        self._order = lib.mtp_order

    def run(self, offsets, nbr, vecs, types, n_threads: int = 1, virials: bool = True, forces: bool = True):
        """(E (N,), G (P, 3), F (N, 3) or None, W (N, 3, 3) or None) for a CSR neighbour list.

        Arrays must be contiguous int64 (offsets, nbr, types) and float64 (vecs); the calculator's
        neighbour lists are.
        """
        n = types.shape[0]
        n_pairs = nbr.shape[0]
        E = np.empty(n)
        G = np.empty((n_pairs, 3))
        F = np.empty((n if forces else 0, 3))
        W = np.empty((n if (forces and virials) else 0, 3, 3))
        po, pn, pv, pt, pe, pg, pf, pw = _addresses(offsets, nbr, vecs, types, E, G, F, W)
        if not forces:
            F = pf = None
        if not (forces and virials):
            W = pw = None
        blk = self.nv * self.lanes
        nblocks = -(-n // blk)
        n_threads = max(1, min(int(n_threads), nblocks))
        if n_threads == 1:
            status = self._run(self.ptr, n, po, pn, pv, pt, self.nv, pe, pg, pf, pw)
            if status != 0:
                raise _memory_error(n, n_pairs)
            return E, G, F, W
        order = np.empty(n, dtype=np.int64)
        if self._order(n, po, order.ctypes.data) != 0:
            raise _memory_error(n, n_pairs)
        pord = order.ctypes.data

        def work(b0: int, b1: int) -> int:
            return self._eval_blocks(self.ptr, n, po, pn, pv, pt, pord, self.nv, b0, b1, pe, pg)

        cuts = np.linspace(0, nblocks, n_threads + 1).round().astype(int)
        status = list(_pool(n_threads).map(work, cuts[:-1].tolist(), cuts[1:].tolist()))
        if any(s != 0 for s in status):
            raise _memory_error(n, n_pairs)
        if forces:
            self._forces(n, po, pn, pv, pg, pf, pw)
        return E, G, F, W


_KERNELS: dict[int, tuple] = {}


def kernel_for(t: MTPTables) -> Kernel:
    """The :class:`Kernel` of ``t``, built once per tables object.

    Kept in a module-level map (not on the tables, so tables and calculators stay picklable for
    Dask); the entry goes when the tables are garbage-collected.
    """
    entry = _KERNELS.get(id(t))
    if entry is not None and entry[0]() is t:
        return entry[1]
    k = Kernel(t)
    key = id(t)
    _KERNELS[key] = (weakref.ref(t, lambda _ref, key=key: _KERNELS.pop(key, None)), k)
    return k


def _prepare(offsets, nbr, vecs, types):
    return (np.ascontiguousarray(offsets, dtype=np.int64), np.ascontiguousarray(nbr, dtype=np.int64),
            np.ascontiguousarray(vecs, dtype=np.float64), np.ascontiguousarray(types, dtype=np.int64))


def site_energies_and_gradients(t: MTPTables, offsets, nbr, vecs, types, n_threads: int = 1):
    """Site energies E (N,) eV and pair gradients G (P, 3) eV/A, as the numba kernel returns them."""
    offsets, nbr, vecs, types = _prepare(offsets, nbr, vecs, types)
    E, G, _, _ = kernel_for(t).run(offsets, nbr, vecs, types, n_threads, virials=False, forces=False)
    return E, G


def evaluate(t: MTPTables, offsets, nbr, vecs, types, n_threads: int = 1, virials: bool = True):
    """(E, G, F, W) from one kernel call (W is None unless ``virials``)."""
    offsets, nbr, vecs, types = _prepare(offsets, nbr, vecs, types)
    return kernel_for(t).run(offsets, nbr, vecs, types, n_threads, virials=virials, forces=True)
