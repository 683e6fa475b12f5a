"""MLIP-3 files (``.almtp`` with the binary ``#MVS_v1.1`` selection tail, untrained templates, bases).

The files are synthetic: a trained MLIP-2 file written by incipient's writer, rewritten in the
layout MLIP-3's ``MLMTPR::Save`` + ``CfgSelection::Save`` produce (no ``# species`` comment, no
newline after ``moment_coeffs``, then ``#MVS_v1.1``, the weights, ``#``, binary MaxVol matrices,
``#``, the links, ``#``). The binary part is random bytes including invalid UTF-8, '#' and newlines.
Energies and forces of the two files must agree to 1e-12 (the same doubles are read).
"""

import re

import numpy as np
import pytest
from ase.build import bulk

from incipient.errors import FileFormatError, InputError
from incipient.potentials import MTP, MTPFormatError, read_mtp
from incipient.potentials.mtp_file import READABLE_RADIAL_BASES
from incipient.potentials.training.templates import random_mtp

SPECIES = ("Cu", "Au")


def mlip3_text(mtp_text: str, *, labels=None) -> str:
    """MLIP-3's text part for an incipient-written MLIP-2 file (comment dropped, no final newline)."""
    out = "\n".join(line for line in mtp_text.splitlines() if not line.startswith("#"))
    if labels is not None:  # MLIP-3 may label blocks by its own type numbers
        out = re.sub(r"(?m)^\t\t(\d+)-(\d+)$", lambda m: f"\t\t{labels[int(m[1])]}-{labels[int(m[2])]}", out)
    return out


def mvs_tail(n: int, rng) -> bytes:
    """A selection state as CfgSelection::Save writes it, with n x n random 'matrices'."""
    head = (b"\n#MVS_v1.1\nenergy_weight 1.0000000000000000e+00\nforce_weight 1.0000000000000000e-02\n"
            b"stress_weight 1.0000000000000000e-03\nsite_en_weight 0.0000000000000000e+00\nweight_scaling 2\n#")
    matrices = rng.integers(0, 256, 2 * n * n * 8, dtype=np.uint8).tobytes()
    matrices += b"\xff\xfe\x80#\n\xc3\x28MVS"  # invalid UTF-8, a '#' and a newline for sure
    links = b"".join(f"{i} {i % 3}\n".encode() for i in range(n)) + b"#\n"
    return head + matrices + b"\n#\n" + links + b"BEGIN_CFG\n Size\n 1\nEND_CFG\n"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(.mtp path, .almtp path) of the same trained level-6 Cu-Au potential."""
    d = tmp_path_factory.mktemp("mlip3")
    mtp = random_mtp(6, SPECIES, d / "pot.mtp", seed=3)
    almtp = d / "pot.almtp"
    almtp.write_bytes(mlip3_text(mtp.read_text()).encode("ascii") + mvs_tail(40, np.random.default_rng(0)))
    return mtp, almtp


def cu3au(seed=0):
    a = bulk("Cu", "fcc", a=3.75, cubic=True).repeat((2, 2, 2))
    a.symbols[::4] = "Au"
    a.positions += np.random.default_rng(seed).normal(0.0, 0.1, a.positions.shape)
    return a


def test_tail_is_binary_and_not_utf8(pair):
    raw = pair[1].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert b"#MVS_v1.1" in raw


def test_almtp_reads_as_the_mtp(pair):
    m2, m3 = read_mtp(pair[0]), read_mtp(pair[1])
    assert m3.species is None and m2.species == SPECIES  # MLIP-3 files carry no species comment
    assert m3.type_labels is None
    for name in ("radial_coeffs", "species_coeffs", "moment_coeffs", "alpha_index_basic", "alpha_index_times",
                 "alpha_moment_mapping"):
        assert np.array_equal(getattr(m2, name), getattr(m3, name)), name
    assert (m3.scaling, m3.min_dist_A, m3.max_dist_A) == (m2.scaling, m2.min_dist_A, m2.max_dist_A)


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_almtp_evaluates_identically(pair, backend):
    a, b = cu3au(1), cu3au(1)
    a.calc = MTP(pair[0], species=SPECIES, backend=backend)
    b.calc = MTP(pair[1], species=SPECIES, backend=backend)
    assert abs(a.get_potential_energy() - b.get_potential_energy()) < 1e-12
    assert np.abs(a.get_forces() - b.get_forces()).max() < 1e-12
    assert np.abs(a.get_stress() - b.get_stress()).max() < 1e-12
    assert np.abs(a.get_forces()).max() > 1e-3  # not vacuous


def test_mlip3_type_labels_and_basis_scaling(tmp_path, pair):
    text = mlip3_text(pair[0].read_text(), labels=(29, 79))
    assert "\t\t29-79" in text and "\t\t0-0" not in text
    # MLIP-3's basis-level scaling multiplies the global one
    m2 = read_mtp(pair[0])
    text = text.replace(f"scaling = {m2.scaling:.16e}\n", f"scaling = {m2.scaling / 4:.16e}\n")
    text = text.replace("\tmin_dist", "\tscaling = 4.0\n\tmin_dist")
    p = tmp_path / "labels.almtp"
    p.write_bytes(text.encode() + mvs_tail(5, np.random.default_rng(1)))
    m3 = read_mtp(p)
    assert m3.type_labels == (29, 79)
    assert np.array_equal(m3.radial_coeffs, m2.radial_coeffs)
    assert m3.scaling == pytest.approx(m2.scaling, rel=1e-15)


def test_untrained_templates_say_so(tmp_path, pair):
    m = read_mtp(pair[0])
    from incipient.potentials.training.writer import format_mtp

    # incipient's / MLIP-2's template, and MLIP-3's (no species_count, empty radial_coeffs)
    t2 = format_mtp(m, untrained=True)
    t3 = "\n".join(x for x in t2.splitlines() if not x.startswith(("species_count", "#")))
    t3 = re.sub(r"(\tradial_funcs_count = \d+)", "\\1\n\tradial_coeffs", t3)
    assert "\tradial_coeffs\nalpha_moments_count" in t3
    for name, text in (("08.mtp", t2), ("08.almtp", t3)):
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(MTPFormatError, match=re.escape(f"{p} is an untrained template (no radial_coeffs / "
                                                           "moment_coeffs): train it first")):
            read_mtp(p)
        with pytest.raises(InputError, match="untrained template"):
            MTP(p, species=SPECIES)


@pytest.mark.parametrize("cut", ["text", "tail"])
def test_truncated_almtp(tmp_path, pair, cut):
    raw = pair[1].read_bytes()
    mvs = raw.index(b"#MVS_v1.1")
    p = tmp_path / f"cut-{cut}.almtp"
    if cut == "text":  # cut inside moment_coeffs: the text part is incomplete
        p.write_bytes(raw[: raw.index(b"moment_coeffs") + 40])
        with pytest.raises(MTPFormatError, match=re.escape(str(p)) + r", line \d+: moment_coeffs: unbalanced "
                                                                     r"braces \(file truncated\?\)"):
            read_mtp(p)
    else:  # a cut in the selection state does not touch the potential
        p.write_bytes(raw[: mvs + 200])
        assert np.array_equal(read_mtp(p).moment_coeffs, read_mtp(pair[0]).moment_coeffs)
    # and without the potential's last lines at all
    q = tmp_path / "cut-keys.almtp"
    q.write_bytes(raw[: raw.index(b"species_coeffs")] + raw[mvs - 1:])
    with pytest.raises(MTPFormatError, match=re.escape(str(q)) + r", line \d+: missing species_coeffs, "
                                                                 r"moment_coeffs \(file truncated\?\)"):
        read_mtp(q)


def test_binary_outside_the_tail_names_file_and_line(tmp_path, pair):
    raw = pair[1].read_bytes()
    mvs = raw.index(b"#MVS_v1.1")
    p = tmp_path / "bad.almtp"
    p.write_bytes(raw[:mvs] + raw[mvs + 1:])  # '#MVS' marker broken: the binary data is not announced
    n_line = raw[:mvs].count(b"\n") + 1
    with pytest.raises(FileFormatError, match=re.escape(str(p)) + rf", line {n_line + 6}: byte 0x[0-9a-f]{{2}} is "
                                                                  r"not ASCII text"):
        read_mtp(p)
    q = tmp_path / "utf8.mtp"
    q.write_bytes(pair[0].read_bytes().replace(b"potential_name = MTP1m", b"potential_name = \xc3\xa9t\xff"))
    with pytest.raises(MTPFormatError, match=re.escape(str(q)) + r", line 3: byte 0xc3 is not ASCII"):
        read_mtp(q)


@pytest.mark.parametrize("basis,what", [
    ("RBShapeev", "Shapeev polynomial basis"),
    ("RBChebyshev_repuls", "evaluated by incipient.potentials.MTP (the calculator) but not trained"),
    ("LRBSChebyshev", ""),
])
def test_unsupported_bases_are_named(tmp_path, pair, basis, what):
    raw = pair[1].read_bytes().replace(b"= RBChebyshev\n", f"= {basis}\n".encode())
    p = tmp_path / "basis.almtp"
    p.write_bytes(raw)
    with pytest.raises(MTPFormatError, match=re.escape(str(p)) + rf", line 7: unknown radial basis '{basis}'"
                                             + (f" .*{re.escape(what)}" if what else "")):
        read_mtp(p)


def test_magnetic_mtp_is_refused(tmp_path, pair):
    text = pair[0].read_text().replace("\tradial_funcs_count", "magnetic_basis_type = BChebyshev\n"
                                       "\tmin_val = -1\n\tmax_val = 1\n\tbasis_size = 2\n\tradial_funcs_count")
    p = tmp_path / "mag.mtp"
    p.write_text(text)
    with pytest.raises(MTPFormatError, match=re.escape(str(p)) + r", line \d+: magnetic MTP"):
        read_mtp(p)


def test_repulsive_basis_in_the_numpy_reference(tmp_path, pair):
    """RBChebyshev_repuls: equal to RBChebyshev from min_dist on; frozen basis plus repulsion below."""
    from incipient.potentials import mtp_numpy
    from incipient.potentials.mtp_tables import build_tables

    raw = pair[1].read_bytes().replace(b"= RBChebyshev\n", b"= RBChebyshev_repuls\n")
    p = tmp_path / "repuls.almtp"
    p.write_bytes(raw)
    m = read_mtp(p, radial_bases=READABLE_RADIAL_BASES)
    assert m.radial_basis_type == "RBChebyshev_repuls"
    t = build_tables(m)
    rmin = m.min_dist_A
    rng = np.random.default_rng(5)

    def site(vectors, repulsive):
        n = len(vectors)
        types = np.array([0] + list(rng.integers(0, 2, n)))
        return mtp_numpy.evaluate(t, types[: n + 1], np.zeros(n, dtype=np.int64), np.arange(1, n + 1), vectors,
                                  repulsive=repulsive)

    dirs = rng.normal(size=(6, 3))
    dirs /= np.linalg.norm(dirs, axis=1)[:, None]
    far = dirs * rng.uniform(rmin + 0.1, m.max_dist_A - 0.2, 6)[:, None]
    state = rng.bit_generator.state
    e1, g1 = site(far, False)
    rng.bit_generator.state = state
    e2, g2 = site(far, True)
    assert e1[0] == e2[0] and np.array_equal(g1, g2)  # identical where every pair is beyond min_dist

    # one pair below min_dist: energy = frozen basis + 1e4 (exp(-10 (r-1)) - exp(-10 (rmin-1)))
    r0 = 0.8 * rmin
    close = far.copy()
    close[0] = dirs[0] * r0
    at_min = far.copy()
    at_min[0] = dirs[0] * rmin
    rng.bit_generator.state = state
    e_close, g_close = site(close, True)
    rng.bit_generator.state = state
    e_min, _ = site(at_min, False)
    rep = 1e4 * (np.exp(-10 * (r0 - 1)) - np.exp(-10 * (rmin - 1)))
    assert e_close[0] == pytest.approx(e_min[0] + rep, rel=1e-12)
    # gradient against central differences of the site energy
    h = 1e-6
    for c in range(3):
        vp, vm = close.copy(), close.copy()
        vp[0, c] += h
        vm[0, c] -= h
        rng.bit_generator.state = state
        ep = site(vp, True)[0][0]
        rng.bit_generator.state = state
        em = site(vm, True)[0][0]
        assert g_close[0, c] == pytest.approx((ep - em) / (2 * h), rel=1e-6, abs=1e-6)


@pytest.fixture(scope="module")
def repulsive_pot(pair, tmp_path_factory):
    p = tmp_path_factory.mktemp("repuls") / "repuls.mtp"
    p.write_bytes(pair[0].read_bytes().replace(b"= RBChebyshev\n", b"= RBChebyshev_repuls\n"))
    return p


def squeezed(min_dist, seed=0):
    """cu3au with atom 1 moved to 0.8 min_dist of atom 0 (the closest pair of the cell)."""
    a = cu3au(seed)
    d = a.positions[1] - a.positions[0]
    a.positions[1] = a.positions[0] + d / np.linalg.norm(d) * 0.8 * min_dist
    assert 0.75 * min_dist < np.min(a.get_all_distances(mic=True)[np.triu_indices(len(a), 1)]) < min_dist
    return a


def _results(calc, atoms):
    atoms = atoms.copy()
    atoms.calc = calc
    return (atoms.get_potential_energy(), atoms.get_potential_energies(), atoms.get_forces(),
            atoms.get_stress(), calc.results.get("virials"))


@pytest.mark.parametrize("backend", ["c", "numba"])
def test_repulsive_basis_in_the_calculator_equals_the_numpy_reference(pair, repulsive_pot, backend):
    """RBChebyshev_repuls through the compiled kernels (clamped vectors + projected gradients,
    module potentials.repulsion) against mtp_numpy's direct clamp, to 1e-10 relative."""
    ref_calc = MTP(repulsive_pot, species=SPECIES, backend="numpy")
    assert ref_calc.repulsive
    atoms = squeezed(ref_calc.model.min_dist_A)
    ref = _results(ref_calc, atoms)
    got = _results(MTP(repulsive_pot, species=SPECIES, backend=backend), atoms)
    plain = _results(MTP(pair[0], species=SPECIES, backend=backend), atoms)
    assert abs(ref[0] - plain[0]) > 1.0  # the close pair's repulsion is there (eV)
    for g, r in zip(got, ref, strict=True):
        if r is not None:
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-9 * np.max(np.abs(r)))
    # with no pair below min_dist the repulsive file evaluates exactly as the plain one
    far = cu3au(0)
    a, b = _results(MTP(repulsive_pot, species=SPECIES, backend=backend), far), \
        _results(MTP(pair[0], species=SPECIES, backend=backend), far)
    assert a[0] == b[0] and np.array_equal(a[2], b[2])


def test_repulsive_basis_forces_and_stress_are_derivatives_of_the_energy(repulsive_pot):
    """C backend: forces and stress against central differences of the energy (h = 1e-5 A)."""
    from ase.calculators.fd import FiniteDifferenceCalculator

    calc = MTP(repulsive_pot, species=SPECIES, backend="c")
    atoms = squeezed(calc.model.min_dist_A, seed=1)
    atoms.calc = calc
    F = atoms.get_forces()
    h = 1e-5
    for i in (0, 1, 5):
        for c in range(3):
            p = atoms.positions.copy()
            atoms.positions[i, c] = p[i, c] + h
            ep = atoms.get_potential_energy()
            atoms.positions[i, c] = p[i, c] - h
            em = atoms.get_potential_energy()
            atoms.positions = p
            assert F[i, c] == pytest.approx(-(ep - em) / (2 * h), rel=1e-6, abs=1e-5)
    np.testing.assert_allclose(atoms.get_stress(), FiniteDifferenceCalculator(calc, eps_disp=1e-6).get_stress(atoms),
                               rtol=1e-5, atol=1e-6)


def test_repulsive_basis_in_a_batch(repulsive_pot):
    """evaluate_batch: a squeezed and a plain cell in one call equal their single evaluations."""
    calc = MTP(repulsive_pot, species=SPECIES, backend="c")
    cells = [squeezed(calc.model.min_dist_A, seed=2), cu3au(3)]
    batch = calc.evaluate_batch(cells)
    for atoms, res in zip(cells, batch, strict=True):
        one = calc.evaluate(atoms.positions, atoms.cell.array, atoms.pbc, atoms.numbers)
        assert res["energy"] == pytest.approx(one["energy"], rel=1e-12)
        np.testing.assert_allclose(res["forces"], one["forces"], rtol=1e-10, atol=1e-10)
    # calculate_batch's per-image calculators (clones) keep the basis: a moved image recomputes on its own
    calc.calculate_batch(cells)
    cells[0].positions[1] += 0.001
    ref = MTP(repulsive_pot, species=SPECIES, backend="numpy")
    assert cells[0].get_potential_energy() == pytest.approx(ref.evaluate(
        cells[0].positions, cells[0].cell.array, cells[0].pbc, cells[0].numbers)["energy"], rel=1e-10)
