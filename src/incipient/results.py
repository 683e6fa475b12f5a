"""Shared base for result dataclasses: ``to_dict()``, JSON/NPZ save and load round trips."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


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


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
