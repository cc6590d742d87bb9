"""What a user installs starts fast and portably: the CLI's help and version import no heavy module, and
nothing POSIX-only is imported when ``engine`` and its subpackages load."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from engine.cli.main import SUMMARIES

HEAVY = ("polars", "pyarrow", "numba", "aiohttp", "matplotlib", "lxml")


def imported_by(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(run.stdout.split())


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_no_command_and_no_heavy_library(flag):
    loaded = imported_by(f"from engine.cli.main import main\ntry: main([{flag!r}])\nexcept SystemExit: pass")
    assert not {m for m in loaded if m.startswith("engine.cli.commands.")}
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)


def test_help_lists_every_command_with_its_summary():
    run = subprocess.run([sys.executable, "-m", "engine", "--help"], capture_output=True, text=True)
    listed = " ".join(run.stdout.split())
    for name, summary in SUMMARIES.items():
        assert f"{name} {summary}" in listed


POSIX_ONLY = ("fcntl", "termios", "resource", "pwd", "grp")
IMPORT_EVERY_MODULE = f"""
import importlib, pkgutil, sys
for name in {POSIX_ONLY!r}:
    sys.modules[name] = None
import engine, parsers
for package in (engine, parsers):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.endswith("__main__"):
            try:
                importlib.import_module(info.name)
            except ImportError as exc:
                print(info.name, exc)
"""


def test_every_module_imports_without_posix_only_modules():
    """Windows has no fcntl, termios, resource, pwd or grp: no module of the package may need them."""
    run = subprocess.run([sys.executable, "-c", IMPORT_EVERY_MODULE], capture_output=True, text=True)
    assert (run.returncode, run.stdout) == (0, "")


def test_a_cold_numba_cache_is_announced_once_and_a_warm_one_not_at_all(tmp_path):
    sort_twice = (
        "import numpy as np\nfrom engine.kernels import argsort_radix\n"
        "argsort_radix(np.array([2.0, 1.0]))\nargsort_radix(np.array([3.0, -1.0, 0.5]))"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    command = [sys.executable, "-c", sort_twice]
    runs = [subprocess.run(command, capture_output=True, text=True, env=env) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0]
    assert re.fullmatch(r"compiling numba kernels \(first run only, about \d+ s\)\.\.\.\n", runs[0].stderr)
    assert runs[1].stderr == ""
