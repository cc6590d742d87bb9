"""Mutation testing of the rule modules with mutmut 3, one group of modules at a time, and its kill rates.

    pip install -e ".[test,mutation]"
    python benchmarks/mutation.py run            # every group, one after the other (about an hour on 2 cores)
    python benchmarks/mutation.py run edgar      # one group: parsers, scoring or edgar
    python benchmarks/mutation.py run --max-children 1   # one test process at a time (a shared machine)
    python benchmarks/mutation.py report         # killed / total per module, from mutants/*.meta

The modules, the tests each mutant is run against and pytest's options are pyproject's ``[tool.mutmut]``;
mutmut runs, for each mutant, only the selected tests that call the mutated function. Survivors:
``mutmut results``, then ``mutmut show NAME``; equivalent mutants are listed in tests/MUTATION.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parent.parent
GROUPS = {"parsers": "parsers.*", "scoring": "engine.scoring.*", "edgar": "engine.edgar.*"}
"""Mutant-name patterns of each group (mutmut names a mutant after its module and function)."""


def run(groups: list[str], max_children: int | None = None) -> None:
    """``mutmut run`` for each group in turn, at low CPU priority (mutmut's default: a process per core)."""
    mutmut = Path(sys.executable).with_name("mutmut")
    children = [] if max_children is None else ["--max-children", str(max_children)]
    for group in groups:
        print(f"== mutmut run {' '.join(children)} {GROUPS[group]}", flush=True)
        subprocess.run(["nice", str(mutmut), "run", *children, GROUPS[group]], cwd=ROOT, check=True)


def report() -> str:
    """A Markdown table of the mutants of every mutated module by outcome, and the kill rate."""
    lines = [
        "| module | killed | timeout | survived | other | total | killed % | killed or timeout % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    totals: Counter[str] = Counter()
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"].values()
        outcome = Counter(status_by_exit_code[code] for code in codes)
        counts = {
            "killed": outcome["killed"],
            "timeout": outcome["timeout"],
            "survived": outcome["survived"],
            "total": sum(outcome.values()),
        }
        counts["other"] = counts["total"] - counts["killed"] - counts["timeout"] - counts["survived"]
        totals.update(counts)
        lines.append(_row(str(meta.relative_to(ROOT / "mutants")).removesuffix(".meta"), counts))
    lines.append(_row("**all**", totals))
    return "\n".join(lines)


def _row(name: str, counts: dict[str, int] | Counter[str]) -> str:
    """One row: ``other`` is every outcome but these three ("no tests": no selected test calls the function;
    "not checked": not run yet). A timeout is a mutant that made the tests hang: detected, like a kill."""
    total = counts["total"] or 1
    rates = [100 * counts["killed"] / total, 100 * (counts["killed"] + counts["timeout"]) / total]
    cells = [str(counts[key]) for key in ("killed", "timeout", "survived", "other", "total")]
    return f"| {name} | " + " | ".join(cells + [f"{rate:.1f}" for rate in rates]) + " |"


def main() -> None:
    """Command line: ``run [GROUP ...]`` or ``report``."""
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run")
    run_parser.add_argument("groups", nargs="*", metavar="GROUP", help=", ".join(GROUPS))
    run_parser.add_argument("--max-children", type=int, help="test processes at once (default: one per core)")
    commands.add_parser("report")
    args = parser.parse_args()
    if args.command == "run":
        if unknown := sorted(set(args.groups) - set(GROUPS)):
            parser.error(f"unknown group {', '.join(unknown)}: one of {', '.join(GROUPS)}")
        run(args.groups or list(GROUPS), args.max_children)
    print(report())


if __name__ == "__main__":
    main()
