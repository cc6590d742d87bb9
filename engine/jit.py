"""How the package's numba kernels are compiled and run: one decorator for all of them, one line on
stderr when a cold cache means compiling, and threads over chunks instead of numba's parfors.

Kernels compile lazily, on their first call, once per argument types, and are cached on disk: in
``NUMBA_CACHE_DIR`` when set, else beside the sources in ``__pycache__``, else (an installed package
that is read-only) in the user's cache directory, ``insider-engine/numba`` under ``~/.cache`` on Linux,
``~/Library/Caches`` on macOS or ``%LOCALAPPDATA%`` on Windows, else in the temp directory. Parallel
kernels release the GIL and run over disjoint chunks of their issuers or dates on a thread pool: one
serial compile serves both the small and the large case, where ``parallel=True`` would compile a
second, far slower to build, variant of each.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numba
import numpy as np
from numba.core import event

F = TypeVar("F", bound=Callable[..., Any])

COMPILE_SECONDS: dict[str, float] = {
    "engine.kernels": 0.5,
    "engine.scoring.kernels": 2.8,
    "engine.scoring.cross_section": 1.8,
    "engine.evaluation.kernels": 1.5,
}
"""CPU seconds each kernel module takes to compile from a cold cache on the 2-core development machine
(``python benchmarks/bench_cold_start.py``): the compile notice's estimate sums the loaded modules."""

CHUNKS_PER_THREAD = 4
"""Chunks per worker thread: more chunks than threads balance issuers of very different activity."""

PACKAGE_DIR = Path(__file__).resolve().parent


def user_cache_dir() -> Path:
    """This package's directory in the user's cache (per platform convention)."""
    home = Path.home()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local")) / "insider-engine"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "insider-engine"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "insider-engine"


def numba_cache_dir() -> Path | None:
    """Where kernels are cached when numba would cache beside a read-only installed package: the user's
    cache directory, or the temp directory without one (None: numba's own choice works)."""
    if numba.config.CACHE_DIR or _writable(PACKAGE_DIR / "__pycache__"):
        return None
    temp = Path(tempfile.gettempdir()) / f"insider-engine-numba-{_user()}"
    return next((d for d in (user_cache_dir() / "numba", temp) if _writable(d)), None)


def _writable(directory: Path) -> bool:
    """Whether ``directory`` exists or can be created, and files can be written in it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK)


def _user() -> str:
    return str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")


def kernel(func: F) -> F:
    """Compile ``func`` with numba on first call: cached on disk, releasing the GIL while it runs."""
    return numba.njit(cache=True, nogil=True)(func)


def inlined(func: F) -> F:
    """A kernel other kernels call: inlined into each caller, so that it is not compiled (and its
    callees optimised again) as a library of its own; callable from Python too."""
    return numba.njit(cache=True, nogil=True, inline="always")(func)


def frozen(array: np.ndarray, dtype: type) -> np.ndarray:
    """``array`` as a C-contiguous, read-only array of ``dtype`` (a view when it already is one). Kernels
    take their inputs this way, so each compiles one signature whatever produced the arrays (Polars
    hands out read-only ones, NumPy writable ones), and ``warm_up`` compiles exactly that one."""
    out = np.ascontiguousarray(array, dtype=dtype).view()
    out.flags.writeable = False
    return out


def compile_in_background(*warm_ups: Callable[[], None]) -> threading.Thread:
    """Run kernel modules' ``warm_up`` on a thread, so that a cold cache compiles while the caller does
    other work (a download, reading a store); a kernel called meanwhile waits for its compile."""
    thread = threading.Thread(target=lambda: [warm_up() for warm_up in warm_ups], name="numba-warm-up")
    thread.start()
    return thread


def threads() -> int:
    """Worker threads of the parallel kernels: numba's thread count (``NUMBA_NUM_THREADS``, or what the
    caller set with ``numba.set_num_threads`` for this run)."""
    return numba.get_num_threads()


def run_chunks(work: Callable[..., None], n: int, *args: Any, step: int = 1) -> None:
    """Call ``work(*args, first, last)`` over ``[0, n)`` cut into chunks (multiples of ``step``) on
    ``threads()`` threads; each call must write only its own part of the outputs in ``args``."""
    workers = threads()
    if workers <= 1 or n <= step:
        work(*args, 0, n)
        return
    size = -(-n // (workers * CHUNKS_PER_THREAD * step)) * step
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda first: work(*args, first, min(first + size, n)), range(0, n, size)))


class _CompileNotice(event.Listener):
    """Tells the user once per process that the package's kernels are being compiled (numba reports a
    compile only when its cache has no usable copy, so this is the cold-cache check)."""

    def __init__(self) -> None:
        self._told = False
        self._lock = threading.Lock()

    def on_start(self, compiling: event.Event) -> None:
        module = getattr(compiling.data["dispatcher"].py_func, "__module__", "")
        if module not in COMPILE_SECONDS:
            return
        with self._lock:
            if self._told:
                return
            self._told = True
        seconds = sum(s for name, s in COMPILE_SECONDS.items() if name in sys.modules)
        print(f"compiling numba kernels (first run only, about {seconds:.0f} s)...", file=sys.stderr)

    def on_end(self, compiling: event.Event) -> None:
        """Nothing to do when a compile ends."""


event.register("numba:compile", _CompileNotice())
if (_cache_dir := numba_cache_dir()) is not None:
    numba.config.CACHE_DIR = str(_cache_dir)
