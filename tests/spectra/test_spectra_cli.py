"""``incipient spectra`` subcommands run end to end on small files."""

import json

import numpy as np

from incipient.cli.main import main
from incipient.md.trajectory import H5MDWriter
from incipient.spectra.dho import dho_model


def test_cli_vdos_sqw_fit(tmp_path, capsys):
    rng = np.random.default_rng(5)
    n, a = 3, 3.0
    g = np.array([[i, j, k] for i in range(n) for j in range(n) for k in range(n)], float) * a
    path = tmp_path / "t.h5md"
    with H5MDWriter(path, np.full(len(g), 29), np.eye(3) * n * a, dt_fs=5.0) as w:
        x = np.zeros_like(g)
        for step in range(60):
            v = rng.normal(size=g.shape) * 0.01
            x = 0.8 * x + v
            w.append(step, g + x, v)
    assert main(["spectra", "vdos", str(path), "--output", str(tmp_path / "v.json")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert abs(out["integral_total"] - 3 * len(g)) < 1e-8
    assert main(["spectra", "sqw", str(path), "--path", "1,0,0:2,0,0", "--reference-cell", "3,3,3",
                 "--window-size", "10", "--plot", str(tmp_path / "s.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_q"] == 4 and (tmp_path / "s.png").exists()
    assert main(["spectra", "sqw", str(path), "--path", "1,0,0:1.5,0.1,0", "--reference-cell", "3,3,3",
                 "--window-size", "10"]) == 1  # not commensurate: explained error

    e = np.arange(-8.0, 10.0, 0.25)
    mu = dho_model(e, np.array([2.0, 500.0, 800.0, 3.0, 0.5]), temperature_K=300.0, resolution=1.5)
    y = rng.poisson(mu).astype(float)
    csv = tmp_path / "scan.csv"
    csv.write_text("# E I\n" + "\n".join(f"{a} {b}" for a, b in zip(e, y, strict=True)))
    assert main(["spectra", "fit", str(csv), "--temperature-K", "300"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert abs(out["E_c_meV"][0] - 3.0) < 5 * out["E_c_err_meV"][0]
