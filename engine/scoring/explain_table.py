"""``Explanation.table()``: one explained cell as a short terminal table (``to_dict`` has every row)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from engine.scoring.explain import Explanation

MAX_ROWS = 25
"""Rows shown per list in the terminal (``--json`` lists every trade)."""

_NUMBERS = frozenset({"weight", "shares", "price", "value", "market cap", "term", "rows"})


def render(explained: Explanation) -> str:
    """The cell's formula with its numbers, then the trades that counted, one per line, and those that
    did not, one line per filing, code and reason."""
    cell, section, config = explained.cell, explained.section, explained.config
    windows = explained.windows
    lines = [
        f"{explained.ticker or '-'} (issuer CIK {explained.issuer_cik}) on {explained.date}",
        _score_line(cell, section),
        f"raw {_num(cell['raw'])} = (buys {_num(cell['buys'])} - sells {_num(cell['sells'])})"
        f" x (1 + ln(1 + cluster {cell['cluster']}))"
        + (": null, a counted trade has no market cap" if cell["null_reason"] else ""),
        f"flow window {windows['flow_from']}..{windows['to']} ({config.flow_window} days): "
        f"{cell['n_buys']} buy(s), {cell['n_sells']} sell(s); cluster window {windows['cluster_from']}.."
        f"{windows['to']}: insiders {', '.join(map(str, explained.cluster_members)) or 'none'}",
    ]
    counted = explained.counted.to_dicts()
    columns = _COUNTED if any(r["superseded_on"] for r in counted) else _COUNTED[:-1]
    lines += ["", f"counted ({len(counted)}), term = weight x value / market cap, sells negative:"]
    lines += _listing(counted, columns)
    skipped = _grouped(explained.not_counted)
    lines += ["", f"not counted ({explained.not_counted.height}), by filing and reason:"]
    lines += _listing(skipped, _SKIPPED)
    lines += [f"note: {note}" for note in explained.notes]
    return "\n".join(lines)


def _score_line(cell: dict[str, Any], section: dict[str, Any]) -> str:
    if not cell["in_universe"]:
        return "insider: none, the issuer is not in the universe on this date"
    if math.isnan(cell["insider"]):
        return f"insider: null ({cell['null_reason']}); {section['size']} issuers in the cross-section"
    if math.isnan(section["std"]):
        spread = "no spread" if section["size"] >= 2 else "fewer than two issuers"
        return f"insider {cell['insider']:+.3f}: {spread} among the {section['size']} issuers with a raw"
    return (
        f"insider {cell['insider']:+.3f} = ({section['of']} {_num(section['value'])} - mean "
        f"{_num(section['mean'])}) / std {_num(section['std'])} over {section['size']} issuers with a raw "
        f"(universe {section['universe']}); pct {cell['pct']:.3f}"
    )


def _grouped(rows: pl.DataFrame) -> list[dict[str, Any]]:
    """The not-counted rows collapsed per filing, insider, code and reason."""
    keys = ["available_date", "accession", "insider_cik", "insider", "transaction_code", "reason"]
    return (
        rows.with_columns(_reason().alias("reason"))
        .group_by(keys, maintain_order=True)
        .agg(pl.len().alias("rows"), pl.col("shares").sum())
        .to_dicts()
    )


def _reason() -> pl.Expr:
    status = pl.col("status")
    amended = pl.format("superseded by {} from {}", pl.col("superseded_by"), pl.col("superseded_on"))
    plan = pl.format("plan ({})", pl.col("plan_why"))
    return pl.when(status == "superseded").then(amended).when(status == "plan").then(plan).otherwise(status)


def _listing(rows: list[dict[str, Any]], columns: list[tuple[str, Any]]) -> list[str]:
    if not rows:
        return ["  none"]
    lines = _table(rows[:MAX_ROWS], columns)
    if len(rows) > MAX_ROWS:
        lines.append(f"  ... {len(rows) - MAX_ROWS} more (--json lists every trade)")
    return lines


def _num(value: float | None) -> str:
    return "null" if value is None or math.isnan(value) else f"{value:.3e}"


def _count(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _money(value: float | None) -> str:
    """Compact: 98.9M, 614.1B."""
    if value is None or math.isnan(value):
        return "-"
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{value / size:,.1f}{unit}"
    return f"{value:,.2f}"


def _term(row: dict[str, Any]) -> str:
    term = row["term"]
    if term is None or math.isnan(term):
        return "no cap"
    return f"{term if row['side'] == 'buy' else -term:+.3e}"


_SHORT_ROLES = {"director": "dir", "ten_percent": "10%"}


def _roles(roles: str | None) -> str:
    return "+".join(_SHORT_ROLES.get(role, role) for role in (roles or "other").split("+"))


def _insider(row: dict[str, Any]) -> str:
    return f"{row['insider_cik']} {row['insider'] or ''}"[:24].rstrip()


_COUNTED: list[tuple[str, Any]] = [
    ("available", lambda r: str(r["available_date"])),
    ("accession", lambda r: r["accession"]),
    ("insider", _insider),
    ("roles", lambda r: _roles(r["roles"])),
    ("weight", lambda r: f"{r['role_weight'] if r['role_weight'] is not None else math.nan:.2f}"),
    ("code", lambda r: r["transaction_code"]),
    ("shares", lambda r: _count(r["shares"])),
    ("price", lambda r: _count(r["price"])),
    ("value", lambda r: _money(r["value"])),
    ("market cap", lambda r: _money(r["market_cap"])),
    ("as of", lambda r: str(r["market_cap_date"] or "-")),
    ("plan", lambda r: f"{r['plan_factor']:g} ({r['plan_why']})" if r["plan"] else "-"),
    ("term", _term),
    (
        "amended by (from)",
        lambda r: f"{r['superseded_by']} ({r['superseded_on']})" if r["superseded_on"] else "",
    ),
]

_SKIPPED: list[tuple[str, Any]] = [
    ("available", lambda r: str(r["available_date"] or "-")),
    ("accession", lambda r: r["accession"]),
    ("insider", _insider),
    ("code", lambda r: r["transaction_code"] or "-"),
    ("rows", lambda r: str(r["rows"])),
    ("shares", lambda r: _count(r["shares"])),
    ("reason", lambda r: r["reason"]),
]


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, Any]]) -> list[str]:
    """Aligned rows under a header: numbers right-aligned, text left-aligned, the last column free."""
    cells = [[str(get(row)) for _, get in columns] for row in rows]
    widths = [max([len(title), *(len(c[i]) for c in cells)]) for i, (title, _) in enumerate(columns)]
    widths[-1] = 0

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if title in _NUMBERS else v.ljust(w)
            for (title, _), v, w in zip(columns, values, widths, strict=True)
        ]
        return "  " + "  ".join(parts).rstrip()

    return [line([title for title, _ in columns]), *(line(c) for c in cells)]
