"""Build of the optional C kernel of the MTP (everything else is in pyproject.toml).

The extension is plain C loaded with ctypes (no Python C API). It is optional: if no C compiler
is available the install still succeeds and the MTP falls back to its numba kernel (the test
suite reports that the C kernel is missing).
"""

import os
import sys

from setuptools import Extension, setup

flags = ["-O3", "-funroll-loops"]
if sys.platform != "win32" and os.environ.get("INCIPIENT_PORTABLE_BUILD") != "1":
    flags.append("-march=native")  # built where it runs (pip install from source)

setup(
    ext_modules=[
        Extension(
            "incipient.potentials._mtp_c",
            sources=["src/incipient/potentials/_mtp_c.c"],
            extra_compile_args=flags,
            libraries=[] if sys.platform == "win32" else ["m"],
            optional=True,
        )
    ]
)
