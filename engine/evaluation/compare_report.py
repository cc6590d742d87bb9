"""``Comparison.summary()``: the comparison of two panels as a few lines of text."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.evaluation.compare import Comparison


def render(result: Comparison) -> str:
    """Cells compared, coverage, per-field differences, rank correlation, worst cells, the verdict."""
    lines = [f"compared {result.matched:,} cells on both sides (rtol {result.rtol:g}, atol {result.atol:g})"]
    for kind in ("only in scores", "only in reference"):
        part = result.coverage.filter(result.coverage["kind"] == kind)
        if part.height:
            reasons = ", ".join(f"{r['cells']:,} {r['reason']}" for r in part.iter_rows(named=True))
            lines.append(f"{kind}: {int(part['cells'].sum()):,} cell(s) ({reasons})")
    header = f"  {'field':<10}{'cells':>12}{'max abs diff':>14}{'max rel diff':>14}{'beyond':>9}{'null':>7}"
    lines.append(header)
    for row in result.fields.iter_rows(named=True):
        lines.append(
            f"  {row['field']:<10}{row['cells'] or 0:>12,}{_num(row['max_abs_diff']):>14}"
            f"{_num(row['max_rel_diff']):>14}{row['beyond'] or 0:>9,}{row['null_one_side'] or 0:>7,}"
        )
    correlation = result.correlation.drop_nulls("spearman")
    if correlation.height:
        low = correlation.sort("spearman").row(0, named=True)
        lines.append(
            f"rank correlation of {result.rank_field} per date: mean {correlation['spearman'].mean():.6f}, "
            f"min {low['spearman']:.6f} on {low['date']} ({correlation.height:,} dates)"
        )
    if result.worst.height:
        lines.append("worst cell(s) per field:")
        lines.append(
            f"  {'date':<12}{'issuer_cik':>11}  {'ticker':<8}{'field':<9}{'score':>12}{'reference':>12}"
            f"{'abs diff':>11}{'rel diff':>11}"
        )
        for row in result.worst.iter_rows(named=True):
            lines.append(
                f"  {row['date']!s:<12}{row['issuer_cik']:>11}  {row['ticker'] or '-':<8}{row['field']:<9}"
                f"{_num(row['score']):>12}{_num(row['reference']):>12}{_num(row['abs_diff']):>11}"
                f"{_num(row['rel_diff']):>11}"
            )
    lines += [f"note: {note}" for note in result.notes]
    lines.append(_verdict(result))
    return "\n".join(lines)


def _verdict(result: Comparison) -> str:
    if result.passed:
        return "PASS: every value within tolerance" + (
            f" ({result.one_sided:,} cells on one side only, allowed)" if result.one_sided else ""
        )
    problems = []
    if result.matched == 0:
        problems.append("no cell is on both sides")
    if result.beyond:
        problems.append(f"{result.beyond:,} values beyond tolerance")
    if result.one_sided and not result.allow_missing:
        problems.append(f"{result.one_sided:,} cells on one side only")
    return "FAIL: " + ", ".join(problems)


def _num(value: float | None) -> str:
    if value is None:
        return "null"
    if math.isinf(value):
        return "inf"
    return f"{value:.3g}"
