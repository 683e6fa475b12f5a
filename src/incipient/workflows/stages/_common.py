"""Helpers shared by the stage modules: figure files, the MD cell, reference rows."""

from __future__ import annotations

import os
from pathlib import Path

from incipient.workflows.graph import StageContext
from incipient.workflows.summaries import Figure


def save_fig(fig, path: Path, dpi: int = 110) -> None:
    """Write a matplotlib figure to PNG atomically and close it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, path)
    plt.close(fig)


def figure(ctx: StageContext, fig, name: str, caption: str) -> Figure:
    """Save ``fig`` as ``name`` in the stage folder; the report entry for it."""
    p = ctx.path(name)
    save_fig(fig, p)
    return Figure(path=str(p.resolve().relative_to(ctx.root.resolve())), caption=caption)


def md_cell_path(ctx: StageContext) -> Path:
    """The unit cell the MD runs in: the input cell or the relaxed one (structure.md_cell)."""
    name = "relaxed.extxyz" if ctx.config.structure.md_cell == "relaxed" else "input.extxyz"
    return ctx.stage_dir("relax") / name


def md_supercell(ctx: StageContext):
    """The ideal MD supercell (reference frame for sites, snapshots and S(Q,w))."""
    import ase.io

    return ase.io.read(md_cell_path(ctx)).repeat(ctx.config.md_repeat(ctx.system))


def rows(*candidates) -> list[list]:
    """The comparison rows that exist (``System.reference_row`` gives None for keys without a reference)."""
    return [r for r in candidates if r is not None]


def fmt_T(T: float) -> str:
    return f"{T:g}K"
