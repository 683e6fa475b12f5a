"""Geometries the MTP cannot evaluate stop with one named error instead of a crash or nonsense.

Before: a NaN position, a NaN cell or a zero cutoff made the numba cell list index outside its
arrays (segfault, exit 139); coincident atoms were dropped from the neighbour list (a relaxation
"converged"); atoms 0.3 A apart gave E = -6.6e5 eV; a non-finite energy passed silently.
"""

import numpy as np
import pytest
from ase import Atoms

from incipient.data import cscu2i3_mtp
from incipient.data.cscu2i3 import cscu2i3_conventional
from incipient.errors import InputError, RunError
from incipient.potentials import MTP
from incipient.potentials.neighbors import neighbor_list, periodic_neighbor_list
from reliability._helpers import run_cli, run_python

BACKENDS = ("c", "numba", "numpy")


def _poscar_with_nan(tmp_path):
    import ase.io

    a = cscu2i3_conventional()
    ase.io.write(tmp_path / "POSCAR", a, format="vasp", direct=False)
    lines = (tmp_path / "POSCAR").read_text().splitlines()
    lines[8] = "  nan 0.0 0.0"  # first Cartesian position
    p = tmp_path / "POSCAR_nan"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_relax_nan_position_is_one_line_error_not_segfault(tmp_path):
    res = run_cli("relax", "--structure", str(_poscar_with_nan(tmp_path)), cwd=tmp_path)
    assert res.returncode == 1, (res.returncode, res.stderr[-2000:])
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("incipient relax: error:")
    assert "POSCAR_nan" in err[0] and "non-finite position" in err[0]


def test_neighbour_list_rejects_nan_and_zero_cutoff_in_process_safe(tmp_path):
    code = (
        "import numpy as np\n"
        "from incipient.potentials.neighbors import periodic_neighbor_list\n"
        "from incipient.errors import InputError\n"
        "cell = np.eye(3) * 10.0\n"
        "pos = np.array([[0.0, 0, 0], [1.0, 1, 1]])\n"
        "bad = [(np.array([[np.nan, 0, 0], [1.0, 1, 1]]), cell, 7.0), (pos, cell, 0.0),\n"
        "       (pos, cell * np.nan, 7.0), (pos, cell, np.inf), (pos, cell, -1.0)]\n"
        "for p, c, rc in bad:\n"
        "    try:\n"
        "        periodic_neighbor_list(p, c, rc)\n"
        "    except InputError as exc:\n"
        "        print('OK', exc)\n"
        "    else:\n"
        "        print('NOERROR')\n"
    )
    res = run_python(code, cwd=tmp_path)
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    assert res.stdout.count("OK") == 5 and "NOERROR" not in res.stdout


def test_calculator_checks_geometry_before_the_kernel(tmp_path):
    """Non-finite positions or cell, every backend (in a subprocess: this used to segfault)."""
    code = (
        "import numpy as np\n"
        "from incipient.errors import InputError\n"
        "from incipient.potentials import MTP\n"
        "from incipient.data import cscu2i3_mtp\n"
        "from incipient.data.cscu2i3 import cscu2i3_conventional\n"
        "a = cscu2i3_conventional()\n"
        "for backend in ('c', 'numba', 'numpy'):\n"
        "    calc = MTP(cscu2i3_mtp(), backend=backend)\n"
        "    pos = a.positions.copy(); pos[3] = np.inf\n"
        "    for p, c in ((pos, a.cell.array), (a.positions, a.cell.array * np.nan)):\n"
        "        try:\n"
        "            calc.evaluate(p, c, True, a.numbers)\n"
        "        except InputError as exc:\n"
        "            print('OK', backend, exc)\n"
    )
    res = run_python(code, cwd=tmp_path)
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    assert res.stdout.count("OK") == 6
    assert res.stdout.count("atom 3 has a non-finite position") == 3
    assert res.stdout.count("cell is not a finite") == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_degenerate_cell(backend):
    calc = MTP(cscu2i3_mtp(), backend=backend)
    a = cscu2i3_conventional()
    flat = a.cell.array.copy()
    flat[2] = flat[0] + flat[1]
    with pytest.raises(InputError, match="degenerate"):
        calc.evaluate(a.positions, flat, True, a.numbers)


@pytest.mark.parametrize("backend", BACKENDS)
def test_coincident_atoms_stop_the_evaluation(backend):
    a = cscu2i3_conventional()
    a.positions[5] = a.positions[2]
    a.calc = MTP(cscu2i3_mtp(), backend=backend)
    with pytest.raises(RunError, match=r"atoms 2 \(Cu\) and 5 \(Cu\) are 0 A apart"):
        a.get_potential_energy()


def test_coincident_atoms_are_listed_as_pairs_like_ase():
    from ase.neighborlist import primitive_neighbor_list

    a = cscu2i3_conventional()
    a.positions[5] = a.positions[2]
    off, nbr, vec = periodic_neighbor_list(a.positions, a.cell.array, 7.0)
    i, j, _ = primitive_neighbor_list("ijD", a.pbc, a.cell.array, a.positions, 7.0)
    assert len(nbr) == len(i)
    assert 5 in nbr[off[2]:off[3]] and np.min(np.linalg.norm(vec, axis=1)) == 0.0


def test_relax_of_coincident_atoms_does_not_converge_silently():
    from incipient.structures.relax import relax

    a = cscu2i3_conventional()
    a.positions[1] = a.positions[0]
    with pytest.raises(RunError, match="0 A apart"):
        relax(a, MTP(cscu2i3_mtp()), max_steps=5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_atoms_far_too_close_are_refused(backend):
    a = cscu2i3_conventional()
    a.positions[1] = a.positions[0] + [0.3, 0.0, 0.0]
    calc = MTP(cscu2i3_mtp(), backend=backend)
    a.calc = calc
    limit = 0.5 * calc.model.min_dist_A  # the documented default MIN_PAIR_FRACTION
    with pytest.raises(RunError, match=rf"atoms 0 \(Cu\) and 1 \(Cu\) are 0.3 A apart, below 0.5 x min_dist = {limit:.3g} A"):
        a.get_potential_energy()
    # just above the limit: evaluated (the check is on the distance, not a blanket refusal)
    a.positions[1] = a.positions[0] + [1.01 * limit, 0.0, 0.0]
    assert np.isfinite(a.get_potential_energy())


def test_pair_check_can_be_switched_off_and_clusters_are_checked():
    c = Atoms("CsI", positions=[[0, 0, 0], [0, 0, 0.2]])
    c.calc = MTP(cscu2i3_mtp())
    with pytest.raises(RunError, match="0.2 A apart"):
        c.get_potential_energy()
    with pytest.raises(InputError, match="min_pair_fraction"):
        MTP(cscu2i3_mtp(), min_pair_fraction=1.5)
    off = MTP(cscu2i3_mtp(), min_pair_fraction=0.0)
    assert off.min_pair_A == 0.0
    c.calc = off
    assert np.isfinite(c.get_potential_energy())  # 0.2 A: evaluated when asked for
    c.positions[1] = c.positions[0]
    with pytest.raises(RunError, match="0 A apart"):  # coincident atoms: never
        c.get_potential_energy()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("backend", ("c", "numpy"))
def test_non_finite_energy_is_a_run_error(backend):
    calc = MTP(cscu2i3_mtp(), backend=backend)
    calc.tables.moment_coeffs[:] = 1e308  # overflow in the energy sum
    a = cscu2i3_conventional()
    a.calc = calc
    with pytest.raises(RunError, match="non-finite energy or forces"):
        a.get_potential_energy()


def test_neighbor_list_still_fast_path_equal():
    a = cscu2i3_conventional().repeat((2, 1, 1))
    off, nbr, vec = neighbor_list(a.positions, a.cell.array, True, 7.0)
    assert off[-1] == len(nbr) and np.all(np.linalg.norm(vec, axis=1) > 1.0)
