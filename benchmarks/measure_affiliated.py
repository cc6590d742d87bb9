"""How often is one block reported in several filings? Counts for the ``dedupe_affiliated`` decision.

A repeat is a transaction row with the issuer CIK, available date, transaction date, code, share count
and price (none missing) of a row in an earlier accession (``engine.scoring.events.BLOCK``). It is counted
twice: with the rule ``dedupe_affiliated`` applies (the two accessions share a reporting-owner CIK:
``engine.scoring.events.affiliated_repeats``) and without that condition (the same rule with every accession
given one common owner). Separately for the eligible trades (non-derivative P/S of Forms 4 and 4/A with
shares > 0), all non-derivative transactions and all derivative transactions.

Inputs: the fixture filings (XML path, exact acceptance times) and, when present, the SEC data-set
sample ``../shared/data/datasets/form345_2024q3_partial`` (available date = filing date + 1; it has no
REPORTINGOWNER or NONDERIV_TRANS table, so there only derivative rows without owners can be counted).

Run: ``python benchmarks/measure_affiliated.py [--filings DIR] [--dataset DIR]``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import zipfile
from pathlib import Path

import polars as pl

from engine.scoring.config import ScoreConfig
from engine.scoring.events import BLOCK, affiliated_repeats, eligible_trades
from engine.store.accessions import KEY, accession_key
from parsers.form345_dataset import parse_dataset
from parsers.tables import TableBuilder

ROOT = Path(__file__).resolve().parent.parent
FILINGS = ROOT / "tests" / "fixtures" / "filings"
SAMPLE = Path("shared", "data", "datasets", "form345_2024q3_partial")
DATASET = next((d / SAMPLE for d in ROOT.parents if (d / SAMPLE).is_dir()), ROOT.parent / SAMPLE)
"""The data-set sample in the nearest ``shared/`` beside the repository or one of its parents."""


def filings_tables(directory: Path) -> dict[str, pl.DataFrame]:
    """The store tables of every filing in ``directory`` (bare XML or full submissions)."""
    builder = TableBuilder()
    for path in sorted(directory.iterdir()):
        if path.suffix in {".xml", ".txt"}:
            builder.add(path.read_bytes(), source=path.name)
    return {name: pl.from_arrow(table) for name, table in builder.build().items()}


def dataset_tables(directory: Path) -> dict[str, pl.DataFrame]:
    """The store tables of a data set unpacked in ``directory`` (``*.tsv`` or ``*.tsv.gz``)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(directory.glob("*.tsv*")):
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            zipped.writestr(path.name.removesuffix(".gz"), data)
    result = parse_dataset(archive.getvalue(), source=directory.name)
    return {name: pl.from_arrow(table) for name, table in result.tables.items()}


def repeats(trades: pl.DataFrame, owners: pl.DataFrame | None) -> pl.DataFrame:
    """``acc_key, row_index`` of the repeats among ``trades``: sharing an owner (``owners``: accession,
    owner_cik), or (``owners`` None) whatever the owners."""
    keyed = trades.lazy().with_columns(accession_key())
    if owners is None:
        keyed = keyed.with_columns(pl.lit(0, dtype=pl.Int64).alias("insider_cik"))
        owners = pl.DataFrame(schema={"accession": pl.String, "owner_cik": pl.Int64})
    return affiliated_repeats(keyed, owners.lazy()).collect()


def signers(filings: pl.DataFrame) -> pl.DataFrame:
    """``accession, owner_cik`` with each signature name (lower-cased) as a stand-in owner id: a proxy for
    owners in common where the owners are not known."""
    names = filings.select("accession", pl.col("signatures").list.eval(pl.element().struct.field("name")))
    names = names.explode("signatures").drop_nulls()
    name = pl.col("signatures").str.strip_chars().str.to_lowercase()
    return names.select("accession", name.rank("dense").cast(pl.Int64).alias("owner_cik"))


def counted(trades: pl.DataFrame, found: pl.DataFrame) -> str:
    """Repeated rows and the distinct blocks they repeat."""
    rows = trades.with_columns(accession_key()).join(found, on=[KEY, "row_index"], how="semi")
    return f"{rows.height:>5} in {rows.select(BLOCK).unique().height:>4}"


def by_code(trades: pl.DataFrame, found: pl.DataFrame) -> str:
    """Repeated rows per transaction code, most first."""
    rows = trades.with_columns(accession_key()).join(found, on=[KEY, "row_index"], how="semi")
    codes = rows.group_by("transaction_code").len().sort("len", "transaction_code", descending=[True, False])
    return ", ".join(f"{code} {n}" for code, n in codes.iter_rows())


COLUMNS = f"  {'population':<22} {'rows':>6} {'complete':>8}     any owners  owner CIK shared  signer shared"


def measure(tables: dict[str, pl.DataFrame]) -> list[str]:
    """One line per population of a source: rows, rows with a complete block, and the repeats (rows in
    blocks) with any owners, with a reporting-owner CIK in common, and with a signature name in common;
    then the repeated rows by transaction code."""
    transactions = tables["transactions"].filter(~pl.col("is_holding"))
    populations = {
        "eligible P/S (4, 4/A)": eligible_trades(transactions.lazy(), ScoreConfig()).collect(),
        "non-derivative": transactions.filter(~pl.col("is_derivative")),
        "derivative": transactions.filter(pl.col("is_derivative")),
    }
    lines = []
    for label, rows in populations.items():
        if rows.height == 0:
            lines.append(f"  {label:<22} {0:>6}  (no such rows in this source)")
            continue
        owners = tables["owners"] if tables["owners"].height else None
        found = {
            "any owners": repeats(rows, None),
            "owner CIK shared": repeats(rows, owners) if owners is not None else None,
            "signer shared": repeats(rows, signers(tables["filings"])),
        }
        cells = [
            (counted(rows, f) if f is not None else "n/a (no owners)").rjust(len(kind))
            for kind, f in found.items()
        ]
        complete = rows.drop_nulls(list(BLOCK)).height
        lines.append(f"  {label:<22} {rows.height:>6} {complete:>8}  {'  '.join(cells)}")
        for kind, repeated in found.items():
            if repeated is not None and repeated.height:
                lines.append(f"  {'':<22} repeated rows by code, {kind}: {by_code(rows, repeated)}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--filings", type=Path, default=FILINGS, help="directory of filings")
    parser.add_argument("--dataset", type=Path, default=DATASET, help="directory of a data set's tables")
    args = parser.parse_args()
    filings = filings_tables(args.filings)
    print(f"XML filings {args.filings} ({filings['filings'].height} filings)\n{COLUMNS}")
    print("\n".join(measure(filings)))
    if args.dataset.is_dir():
        dataset = dataset_tables(args.dataset)
        print(f"data set {args.dataset} ({dataset['filings'].height} filings)\n{COLUMNS}")
        print("\n".join(measure(dataset)))
    else:
        print(f"{args.dataset}: not found; pass --dataset DIR to measure a data set")
    print(
        "complete: rows with issuer, available date, transaction date, code, shares and price all present.\n"
        "Repeats: rows whose block is in an earlier accession available the same day (repeated rows\n"
        "in distinct blocks), whatever the owners, with a reporting-owner CIK in common (what\n"
        "dedupe_affiliated drops), and with a signature name in common (a proxy where owners are unknown)."
    )


if __name__ == "__main__":
    main()
