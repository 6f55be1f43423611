"""`profiles list` and `profiles check`: look at profiles and at a file through one, writing nothing.

`check_file` walks a file down the same layers as an ingest (delivery,
profile choice, read, map, validate, zone) but stops before the warehouse:
it never opens the DuckDB file, so it works beside a running batch and
changes nothing.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deletedcalls.errors import InputRejected
from deletedcalls.ingest.delivery import (
    ChangedWhileRead,
    DeliveryRejected,
    NotReadable,
    delivered_text,
    inner_name,
    open_delivery,
)
from deletedcalls.ingest.detection import choose
from deletedcalls.ingest.profiles import Catalog
from deletedcalls.settings import Settings


def list_profiles(home: Path) -> list[dict[str, Any]]:
    catalog = Catalog(home)
    out = []
    for p in catalog.all():
        detect = []
        if p.detect_header:
            detect.append("header: " + ", ".join(p.detect_header))
        if p.detect_filename:
            detect.append("file name: " + p.detect_filename)
        out.append({"name": p.name, "origin": p.origin, "extends": p.extends, "detect": "; ".join(detect),
                    "zone": p.zone or "[ingest] zone", "description": p.description})
    return out


@dataclass
class CheckResult:
    file: str
    profile: str | None
    why: str
    records: int = 0
    accepted: int = 0
    ambiguous: int = 0
    extra_columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    unreadable: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "profile": self.profile, "why": self.why, "records": self.records,
            "accepted": self.accepted, "rejected": len(self.rejects), "ambiguousTimes": self.ambiguous,
            "extraColumns": self.extra_columns, "rows": self.rows, "rejects": self.rejects,
            "unreadable": self.unreadable,
        }

    def raise_if_unreadable(self) -> None:
        if self.profile is None or self.unreadable:
            raise InputRejected(f"{Path(self.file).name}: {self.unreadable or self.why}")


def check_file(settings: Settings, path: Path, *, profile: str | None = None, rows: int = 5) -> CheckResult:
    """Read a file as an ingest would, without a warehouse: its profile, first mapped rows and rejects."""
    from deletedcalls.ingest.batches import Batch
    from deletedcalls.ingest.call_types import typed
    from deletedcalls.ingest.profile_reading import LayoutRejected
    from deletedcalls.ingest.reader import start_reading

    catalog = Catalog(settings.home)
    scratch = Path(tempfile.gettempdir())  # a compressed file's text: nothing is written in the home
    try:
        with open_delivery(path):  # refuses a FIFO or a device without blocking, as an ingest does
            pass
        with delivered_text(path, scratch) as (text, _):
            with open(text, "rb") as f:
                head = f.read(64 * 1024)
            chosen = choose(catalog, head, inner_name(path), profile=profile)
            result = CheckResult(str(path), chosen.profile.name if chosen.profile else None, chosen.why)
            if chosen.profile is None:
                return result
            zone = chosen.profile.zone_for(settings.zone)
            stream = start_reading(text, profile=chosen.profile, zone=zone)
            try:
                try:
                    _, result.extra_columns = next(stream)
                except LayoutRejected as e:
                    result.unreadable = str(e)
                    return result
                first_line: dict[tuple[str, str], int] = {}  # (carrier, carrierCallID) -> its first line
                for batch in stream:
                    assert isinstance(batch, Batch)
                    result.records += batch.records
                    result.accepted += batch.good.height
                    # an ingest rejects a key repeated in the file: say so here too (the warehouse is not read)
                    for carrier, call_id, line in batch.good.select("carrier", "carrierCallID", "lineNumber").iter_rows():
                        earlier = first_line.setdefault((carrier, call_id), line)
                        if earlier != line:
                            result.accepted -= 1
                            result.rejects.append({"line": line, "raw": None, "reasons": [
                                f"duplicate: (carrier, carrierCallID) = ({carrier}, {call_id}) appears earlier in this file (line {earlier})"]})
                    result.ambiguous += batch.ambiguous
                    if len(result.rows) < rows:
                        take = typed(batch.good.head(rows - len(result.rows)))
                        result.rows += take.with_columns(_as_text(take)).to_dicts()
                    result.rejects += [{"line": line, "reasons": reasons, "raw": raw} for line, reasons, raw in batch.rejected]
            finally:
                stream.close()
            result.rejects.sort(key=lambda r: r["line"])
            return result
    except DeliveryRejected as e:
        return CheckResult(str(path), None, str(e), unreadable=str(e))
    except NotReadable as e:
        return CheckResult(str(path), None, f"the file {e.reason}", unreadable=f"the file {e.reason}")
    except ChangedWhileRead as e:
        return CheckResult(str(path), None, str(e), unreadable=str(e))


def _as_text(frame: Any) -> list[Any]:
    import polars as pl

    return [pl.col(c).cast(pl.String) for c in frame.columns if frame.schema[c] != pl.String]


