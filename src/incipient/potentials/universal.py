"""Universal machine-learned potentials as ASE calculator factories: CHGNet and SevenNet-0.

For a system file's ``[potential]`` table::

    [potential]
    calculator = "incipient.potentials.universal:chgnet"      # or ...:sevennet
    [potential.kwargs]
    model = "0.3.0"                                           # optional; see below
    device = "cpu"

Both pip wheels ship their weights; these factories load *only* a checkpoint that is on disk in
the installed package and never start a download (CHGNet: "0.3.0" (default), "0.2.0",
"r2scan"; SevenNet: "7net-0" (default, the 11 Jul 2024 SevenNet-0), "7net-0_22may2024",
"7net-l3i5", "7net-mf-0" (needs ``modal``)). The torch packages are imported inside the
functions, so ``import incipient`` never needs them; a missing package raises
:class:`~incipient.errors.InputError` naming the extra (``pip install 'incipient[universal]'``).

Properties and units are ASE's: energy eV, forces eV/A, stress eV/A^3 = (1/V) dE/d(strain)
(CHGNet's model predicts GPa; its calculator's ``stress_weight`` = ``ase.units.GPa`` converts,
checked against a finite difference of the energy in ``tests/potentials/test_universal.py``).
Neither calculator returns the per-atom centroid ``virials`` the Green-Kubo heat current needs
(for message-passing models a per-atom virial is not the local one that the heat current of a
many-body potential requires), so a study with these potentials leaves out ``kappa_gk``.

Provenance: ``calc.todict()`` (ASE's ``parameters``) holds the package and its version, the model
name and version, the checkpoint file with its SHA-256 (first 16 hex digits), the device and
the torch thread count; the study writes it with the results.

``threads`` sets ``torch.set_num_threads`` for the whole process (torch has one global pool);
``None`` leaves torch's default (all cores), which is what one MD process per machine wants.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from functools import lru_cache

from incipient.errors import InputError

EXTRA_HINT = "pip install 'incipient[universal]'"

CHGNET_MODELS = ("0.3.0", "0.2.0", "r2scan")
SEVENNET_MODELS = ("7net-0", "7net-0_22may2024", "7net-l3i5", "7net-mf-0")


def _import(module: str, package: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise InputError(f"the {package} potential needs the package {package!r}, which cannot be imported "
                         f"({exc}); install it with {EXTRA_HINT}") from None


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=16)
def _digest(path: str) -> str:
    from incipient.system import file_digest

    return file_digest(path)


def _check_device(device: str, package: str) -> str:
    device = str(device)
    if device == "cpu":
        return device
    if not (device == "mps" or device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit())):
        raise InputError(f"{package}: device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}")
    torch = _import("torch", package)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"{package}: device {device!r} requested but torch sees no CUDA device (torch {torch.__version__})")
    if device == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"{package}: device 'mps' requested but it is not available")
    return device


def _threads(threads, package: str) -> int:
    torch = _import("torch", package)
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise InputError(f"{package}: threads must be a positive integer or omitted, got {threads!r}")
        torch.set_num_threads(threads)
    return int(torch.get_num_threads())


def chgnet(model: str = "0.3.0", device: str = "cpu", threads: int | None = None,
           on_isolated_atoms: str = "warn"):
    """CHGNet ASE calculator with a pretrained model bundled in the chgnet wheel.

    ``model``: "0.3.0" (default, MPtrj PBE/PBE+U), "0.2.0" or "r2scan". ``device``: "cpu"
    (default), "cuda[:N]" or "mps". Stress in eV/A^3 (ASE's convention)."""
    if model not in CHGNET_MODELS:
        raise InputError(f"chgnet: model {model!r} is not one of the models shipped in the wheel "
                         f"({', '.join(CHGNET_MODELS)})")
    device = _check_device(device, "chgnet")
    n_threads = _threads(threads, "chgnet")
    _import("torch", "chgnet")
    mod_model = _import("chgnet.model", "chgnet")
    mod_dyn = _import("chgnet.model.dynamics", "chgnet")
    from incipient.units import GPa_eV_A3

    pkg_dir = os.path.dirname(mod_model.__file__)
    ckpt = {"0.3.0": "pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar",
            "0.2.0": "pretrained/0.2.0/chgnet_0.2.0_e30f77s348m32.pth.tar",
            "r2scan": "pretrained/r2scan/chgnet_r2scan_transfer_learning_e15f36s161m23.pth.tar"}[model]
    ckpt_path = os.path.normpath(os.path.join(pkg_dir, "..", ckpt))
    if not os.path.isfile(ckpt_path):
        raise InputError(f"chgnet: the checkpoint of model {model!r} is not in the installed wheel ({ckpt_path}); "
                         f"reinstall with {EXTRA_HINT}")
    # chgnet 0.4 converts a grad-tracking tensor to a scalar in every call (torch UserWarning)
    warnings.filterwarnings("ignore", message=r"Converting a tensor with requires_grad=True to a scalar",
                            category=UserWarning)
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):  # CHGNet prints its parameter count and device
        net = mod_model.CHGNet.load(model_name=model, use_device=device, verbose=False)
        calc = mod_dyn.CHGNetCalculator(model=net, use_device=device, stress_weight=GPa_eV_A3,
                                        on_isolated_atoms=on_isolated_atoms)
    calc.parameters.update({
        "package": "chgnet", "package_version": _version("chgnet"), "model": f"CHGNet {model}",
        "model_version": str(getattr(net, "version", model)), "checkpoint": os.path.basename(ckpt_path),
        "checkpoint_sha256": _digest(ckpt_path), "device": str(calc.device), "dtype": "float32",
        "torch_version": _version("torch"), "torch_threads": n_threads,
        "cutoff_A": float(getattr(net.graph_converter, "atom_graph_cutoff", 6.0)),
        "stress_unit": "eV/A^3"})
    return calc


def sevennet(model: str = "7net-0", device: str = "cpu", threads: int | None = None, modal: str | None = None):
    """SevenNet ASE calculator with a pretrained checkpoint bundled in the sevenn wheel.

    ``model``: "7net-0" (default: SevenNet-0, 11 Jul 2024, MPtrj PBE/PBE+U), "7net-0_22may2024",
    "7net-l3i5" or "7net-mf-0" (multi-fidelity: give ``modal``). Stress in eV/A^3."""
    if model.lower() not in SEVENNET_MODELS:
        raise InputError(f"sevennet: model {model!r} is not one of the checkpoints shipped in the wheel "
                         f"({', '.join(SEVENNET_MODELS)}); others are downloaded at run time, which is not done here")
    device = _check_device(device, "sevennet")
    n_threads = _threads(threads, "sevennet")
    _import("torch", "sevennet")
    const = _import("sevenn._const", "sevennet")
    mod_calc = _import("sevenn.calculator", "sevennet")
    name = model.lower()
    ckpt_path = {"7net-0": const.SEVENNET_0_11Jul2024, "7net-0_22may2024": const.SEVENNET_0_22May2024,
                 "7net-l3i5": const.SEVENNET_l3i5, "7net-mf-0": const.SEVENNET_MF_0}[name]
    if not os.path.isfile(ckpt_path):  # never let sevenn fall back to its download
        raise InputError(f"sevennet: the checkpoint of {model!r} is not in the installed wheel ({ckpt_path}); "
                         f"reinstall with {EXTRA_HINT}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no tensor-product accelerator" and e3nn/torch notices
        calc = mod_calc.SevenNetCalculator(model=ckpt_path, file_type="checkpoint", device=device, modal=modal)
    cfg = calc.sevennet_config or {}
    calc.parameters.update({
        "package": "sevenn", "package_version": _version("sevenn"), "model": f"SevenNet {name}",
        "model_version": name, "trained_with_sevenn": str(cfg.get("version", "unknown")),
        "checkpoint": os.path.relpath(ckpt_path, os.path.dirname(os.path.dirname(ckpt_path))),
        "checkpoint_sha256": _digest(ckpt_path), "device": str(calc.device), "dtype": "float32",
        "modal": modal, "torch_version": _version("torch"), "torch_threads": n_threads,
        "cutoff_A": float(calc.cutoff), "stress_unit": "eV/A^3"})
    return calc


__all__ = ["CHGNET_MODELS", "SEVENNET_MODELS", "chgnet", "sevennet"]
