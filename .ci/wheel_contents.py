"""Check that a wheel holds what the source tree ships: every package and subpackage of engine/ and
parsers/, every file under engine/data/, py.typed of both packages, and the LICENSE.

    python .ci/wheel_contents.py dist/insider_engine-*.whl

Exits 1 naming each missing entry.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "parsers")


def expected() -> set[str]:
    """Paths (relative to site-packages) that the wheel must contain."""
    paths = {"engine/py.typed", "parsers/py.typed"}
    for package in PACKAGES:
        paths |= {p.relative_to(ROOT).as_posix() for p in (ROOT / package).rglob("__init__.py")}
    paths |= {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "engine" / "data").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    return paths


def main(wheel: str) -> int:
    """Print what the wheel lacks; 0 if nothing."""
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(expected() - names)
    if not any(name.endswith(".dist-info/licenses/LICENSE") for name in names):
        missing.append("*.dist-info/licenses/LICENSE")
    for path in missing:
        print(f"{wheel}: missing {path}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
