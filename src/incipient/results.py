"""Shared base for result dataclasses: ``to_dict()``, JSON/NPZ save and load round trips.

Also the output helpers of the command line: :func:`atomic_write_text` (temp file + rename; the
file gets the usual permissions, 0666 minus the umask, e.g. 0644, or keeps those of the file it
replaces) and :func:`check_output_file` / :func:`check_output_dir`, which create a probe file
where a result will go so that a read-only or missing location fails with one
:class:`~incipient.errors.OutputError` before any long work, not after it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from incipient.errors import OutputError


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=value["dtype"]).reshape(value["shape"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (else set and restored)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode(path: str | os.PathLike) -> int:
    """Permission bits for writing ``path``: those of the existing file, else 0666 & ~umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def atomic_write_text(path: str | os.PathLike, text: str | bytes) -> None:
    """Write ``text`` (str, or bytes) to ``path`` atomically (temp file in the same folder, then rename).

    The file gets ordinary permissions (0666 minus the umask, or the mode of the file it
    replaces), not the 0600 of a bare temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = new_file_mode(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _probe(folder: Path, what: str) -> None:
    for up in (folder, *folder.parents):
        if up.exists():
            if not up.is_dir():
                raise OutputError(f"{what}: cannot write into {folder} ({up} is a file, not a folder)")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".incipient-write-test.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"{what}: cannot write into {folder} ({reason})") from exc


def check_output_file(path: str | os.PathLike, what: str | None = None) -> Path:
    """``Path(path)`` once a file can be created beside it (its folder is made if missing).

    Raises :class:`~incipient.errors.OutputError` naming ``what`` (default: the path) for a
    folder given as a file name, a read-only or missing location, or a parent that is a file.
    """
    path = Path(path)
    what = what or str(path)
    if path.is_dir():
        raise OutputError(f"{what}: {path} is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{what}: {path} exists and is not writable")
    _probe(path.parent if str(path.parent) else Path("."), what)
    return path


def check_output_dir(path: str | os.PathLike, what: str | None = None) -> Path:
    """``Path(path)`` once files can be created in that folder (made if missing); else OutputError."""
    path = Path(path)
    what = what or str(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what}: {path} exists and is not a folder")
    _probe(path, what)
    return path


class Result:
    """Mixin for frozen dataclasses holding results.

    ``to_dict()`` gives plain Python/numpy values; ``save(path)`` writes JSON atomically
    (arrays tagged so ``load`` restores them with dtype and shape).
    """

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        payload = {"type": type(self).__name__, "data": _encode(self.to_dict())}
        atomic_write_text(path, json.dumps(payload, indent=1))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike):
        path = Path(path)
        try:
            payload = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read saved {cls.__name__}: {exc}") from exc
        if payload.get("type") != cls.__name__:
            raise ValueError(f"{path}: holds a {payload.get('type')!r}, not a {cls.__name__}")
        return cls(**_decode(payload["data"]))
