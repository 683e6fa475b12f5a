"""Shared helpers of the reliability tests: CLI runs in a subprocess (old crashes stay contained)."""

from __future__ import annotations

import subprocess
import sys

from incipient.data import cscu2i3_mtp


def run_cli(*args: str, cwd, timeout: float = 120) -> subprocess.CompletedProcess:
    """``incipient ARGS`` in a fresh interpreter: a segfault or abort gives a negative return code."""
    return subprocess.run([sys.executable, "-m", "incipient.cli.main", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def run_python(code: str, *, cwd, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def mtp_text() -> str:
    return cscu2i3_mtp().read_text()


def write_mtp(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text)
    return p


class WorkStarted(Exception):
    """Raised by :func:`forbid` stand-ins: the command got past its checks to the real work."""


def forbid(monkeypatch, module, name: str) -> list:
    """Replace ``module.name`` by a stand-in that records its call and raises WorkStarted."""
    calls: list = []

    def stand_in(*args, **kwargs):
        calls.append(kwargs)
        raise WorkStarted(name)

    monkeypatch.setattr(module, name, stand_in)
    return calls
