"""XBRL frames JSON to SHARES_OUTSTANDING_SCHEMA rows (``api/xbrl/frames``: one fact per filer)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date

import pyarrow as pa

from parsers.schema import SHARES_OUTSTANDING_SCHEMA


def frame_name(year: int, quarter: int) -> str:
    """``CY2024Q3I``: the instantaneous frame at a quarter's end."""
    return f"CY{year}Q{quarter}I"


def parse_frame(data: bytes, *, frame: str, filed: Mapping[str, date]) -> pa.Table:
    """A frames API answer as SHARES_OUTSTANDING_SCHEMA rows; ``filed`` maps accession -> filing date."""
    try:
        facts = json.loads(data)["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{frame}: not an XBRL frames answer ({type(exc).__name__}: {exc})") from exc
    rows = {name: [] for name in SHARES_OUTSTANDING_SCHEMA.names}
    for fact in facts:
        accession = fact.get("accn")
        rows["issuer_cik"].append(fact.get("cik"))
        rows["period_end"].append(date.fromisoformat(fact["end"]) if fact.get("end") else None)
        rows["filed"].append(filed.get(accession))
        rows["shares"].append(float(fact["val"]) if fact.get("val") is not None else None)
        rows["accession"].append(accession)
        rows["entity_name"].append(fact.get("entityName"))
        rows["frame"].append(frame)
    return pa.table(rows, schema=SHARES_OUTSTANDING_SCHEMA)
