"""Lazy package faces: a subpackage names its public API without importing polars, numba or aiohttp
until a name is used, so ``import engine`` and ``insider --version`` stay fast."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

Face = tuple[Callable[[str], Any], Callable[[], list[str]]]


def lazy_face(package: str, exports: Mapping[str, str]) -> Face:
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports[name]`` is imported on first use."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
