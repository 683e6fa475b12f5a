"""Molecular dynamics: NVT/NVE velocity Verlet with checkpoints, heat current, H5MD trajectories."""

from incipient.md.dynamics import MDBlowUpError, MDResult, run_md
from incipient.md.trajectory import H5MDWriter, Trajectory, read_trajectory

__all__ = ["H5MDWriter", "MDBlowUpError", "MDResult", "Trajectory", "read_trajectory", "run_md"]
