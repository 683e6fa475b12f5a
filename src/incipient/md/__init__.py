"""Molecular dynamics: NVT/NVE velocity Verlet with checkpoints, heat current, crash-safe H5MD trajectories."""

from incipient.md.dynamics import (
    CheckpointMismatchError,
    MDBlowUpError,
    MDResult,
    StopMD,
    VelocityVerlet,
    run_md,
)
from incipient.md.trajectory import (
    H5MDWriter,
    Trajectory,
    check_trajectory,
    read_box,
    read_series,
    read_trajectory,
)

__all__ = ["CheckpointMismatchError", "H5MDWriter", "MDBlowUpError", "MDResult", "StopMD", "Trajectory",
           "VelocityVerlet", "check_trajectory", "read_box", "read_series", "read_trajectory", "run_md"]
