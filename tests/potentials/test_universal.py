"""Universal potentials (CHGNet, SevenNet-0) through incipient.potentials.universal.

When the package is installed: forces are -dE/dx and stress is (1/V) dE/d(strain) in eV/A^3
(ASE's convention and unit; CHGNet's model predicts GPa), both by central finite differences on
a small rattled, sheared 8-atom cell; the weights come from the wheel with no network access
(sockets refused while the calculator is built and evaluated); the calculator carries its
provenance in todict(); a known crystal (the CsCu2I3 PBEsol cell) has a finite energy in the
range of an iodide. Tolerances, set from float32 round-off (the models run in float32): force
component 3e-3 eV/A with h = 0.01 A (measured max error 6e-4); stress component 5e-5 eV/A^3
(8 MPa) with strain 1e-3 (measured max error 6e-6). Skipped, with the reason, only when the
package is absent. The missing-package error is tested whether or not the package is there.
"""

from __future__ import annotations

import socket
import sys

import numpy as np
import pytest
from ase.build import bulk

from incipient.errors import InputError

FORCE_TOL = 3e-3  # eV/A
STRESS_TOL = 5e-5  # eV/A^3


def _cell():
    """Rattled, sheared, stretched 8-atom AgI rock-salt cell: forces and all six stresses non-zero."""
    a = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    a.set_chemical_symbols(["Ag" if s == "Na" else "I" for s in a.get_chemical_symbols()])
    shear = np.array([[0.02, 0.03, 0.0], [0.0, -0.01, 0.02], [0.01, 0.0, 0.03]])
    a.set_cell(a.cell.array @ (np.eye(3) + shear) * (6.5 / 5.64), scale_atoms=True)
    a.rattle(0.08, seed=3)
    return a


class _NoNetwork:
    """Refuse every socket connection (the weights must come from the wheel)."""

    def __enter__(self):
        self._connect, self._create = socket.socket.connect, socket.create_connection

        def refuse(*args, **kwargs):
            raise OSError("network access attempted while loading a universal potential")

        socket.socket.connect = refuse
        socket.create_connection = refuse
        return self

    def __exit__(self, *exc):
        socket.socket.connect, socket.create_connection = self._connect, self._create


def _build(name):
    from incipient.potentials import universal

    with _NoNetwork():
        calc = getattr(universal, name)(threads=1)  # 2 torch threads thrash on a busy 2-core machine
        a = _cell()
        a.calc = calc
        a.get_forces()
    return calc


@pytest.fixture(scope="module")
def chgnet_calc():
    pytest.importorskip("chgnet", reason="chgnet is not installed (pip install 'incipient[universal]')")
    return _build("chgnet")


@pytest.fixture(scope="module")
def sevennet_calc():
    pytest.importorskip("sevenn", reason="sevenn is not installed (pip install 'incipient[universal]')")
    return _build("sevennet")


@pytest.fixture(params=["chgnet", "sevennet"])
def calc(request):
    return request.getfixturevalue(f"{request.param}_calc")


def _energy(calc, atoms):
    b = atoms.copy()
    b.calc = calc
    return b.get_potential_energy()


def test_forces_are_minus_energy_gradient(calc):
    a = _cell()
    a.calc = calc
    f = a.get_forces()
    assert np.sqrt((f**2).mean()) > 0.02, "the test cell should have sizeable forces"
    rng = np.random.default_rng(0)
    h = 0.01
    for i, k in [(int(i), int(k)) for i, k in zip(rng.integers(0, len(a), 10), rng.integers(0, 3, 10), strict=True)]:
        p, m = a.copy(), a.copy()
        p.positions[i, k] += h
        m.positions[i, k] -= h
        fd = -(_energy(calc, p) - _energy(calc, m)) / (2 * h)
        assert abs(fd - f[i, k]) < FORCE_TOL, (i, k, fd, f[i, k])


def test_stress_is_strain_derivative_in_ev_per_A3(calc):
    a = _cell()
    a.calc = calc
    s = a.get_stress(voigt=False)
    assert np.abs(s).max() > 5e-3, "the stretched cell should be under tension"
    vol = a.get_volume()
    d = 1e-3
    for i, j in [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]:
        eps = np.zeros((3, 3))
        eps[i, j] += d / 2
        eps[j, i] += d / 2
        e = []
        for sign in (1, -1):
            b = a.copy()
            b.set_cell(a.cell.array @ (np.eye(3) + sign * eps), scale_atoms=True)
            e.append(_energy(calc, b))
        fd = (e[0] - e[1]) / (2 * d) / vol
        assert abs(fd - s[i, j]) < STRESS_TOL, (i, j, fd, s[i, j])


def test_known_crystal_energy_and_provenance(calc):
    from incipient.system import load_system

    a = load_system("CsCu2I3").structure
    a.calc = calc
    e = a.get_potential_energy() / len(a)
    f = a.get_forces()
    assert np.isfinite(e) and -4.0 < e < -2.0, e  # eV/atom, an iodide (PBE/MPtrj reference)
    assert np.all(np.isfinite(f)) and np.abs(f).max() < 0.5  # a DFT-relaxed cell: small forces
    d = calc.todict()
    assert d["device"] == "cpu" and d["stress_unit"] == "eV/A^3"
    assert d["model"] and d["model_version"] and d["package_version"] and len(d["checkpoint_sha256"]) == 16


def test_bad_model_names_raise_input_error():
    from incipient.potentials import universal

    with pytest.raises(InputError, match="shipped in the wheel"):
        universal.chgnet(model="9.9.9")
    with pytest.raises(InputError, match="shipped in the wheel"):
        universal.sevennet(model="7net-omni")  # downloaded at run time by sevenn: refused here
    with pytest.raises(InputError, match="device"):
        universal.chgnet(device="tpu")


@pytest.mark.parametrize("factory, modules", [("chgnet", ["chgnet", "chgnet.model", "chgnet.model.dynamics"]),
                                              ("sevennet", ["sevenn", "sevenn._const", "sevenn.calculator"])])
def test_missing_package_names_the_extra(monkeypatch, factory, modules):
    from incipient.potentials import universal

    for m in modules:
        monkeypatch.setitem(sys.modules, m, None)  # makes "import m" raise ImportError
    with pytest.raises(InputError, match=r"pip install 'incipient\[universal\]'"):
        getattr(universal, factory)()


def test_system_file_builds_the_calculator(tmp_path):
    pytest.importorskip("chgnet", reason="chgnet is not installed (pip install 'incipient[universal]')")
    from incipient.system import BUILTIN_DIR, System

    (tmp_path / "system.toml").write_text(
        f'[structure]\nfile = "{BUILTIN_DIR / "CsCu2I3" / "CONTROL0"}"\n'
        '[potential]\ncalculator = "incipient.potentials.universal:chgnet"\n'
        '[potential.kwargs]\nmodel = "0.3.0"\ndevice = "cpu"\n'
        '[mobile]\nspecies = "Cu"\n')
    s = System.from_file(tmp_path / "system.toml")
    assert s.potential.to_dict() == {"kind": "calculator", "factory": "incipient.potentials.universal:chgnet",
                                     "kwargs": {"model": "0.3.0", "device": "cpu"}}
    c = s.calculator()
    assert c.todict()["model"] == "CHGNet 0.3.0"


def test_example_system_files(chgnet_calc):
    """examples/*/system.toml: the structures keep their space groups and are CHGNet minima."""
    from pathlib import Path

    import spglib

    from incipient.system import System

    root = Path(__file__).resolve().parents[2] / "examples"
    expect = {"CsAg2I3": ("Cmcm (63)", 24, 0.01), "PbF2": ("Fm-3m (225)", 12, 1e-4)}
    for name, (sg, n, fmax) in expect.items():
        s = System.from_file(root / name / "system.toml")
        a = s.structure
        assert len(a) == n
        assert spglib.get_spacegroup((a.cell.array, a.get_scaled_positions(), a.numbers), symprec=1e-5) == sg
        assert s.potential.factory == "incipient.potentials.universal:chgnet"
        a.calc = chgnet_calc  # the same model the file names, already loaded
        assert np.isfinite(a.get_potential_energy()) and np.abs(a.get_forces()).max() < fmax, name
