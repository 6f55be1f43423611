"""Rendering rows for people (tables) and programs (JSON, CSV): stdout is data."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any


def plain(value: Any) -> Any:
    """A JSON-safe value: decimals stay exact (as text), dates ISO, times HH:MM:SS."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat(sep="T", timespec="seconds") + ("Z" if value.tzinfo is None else "")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="seconds")
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value


def _scalar(value: Any) -> Any:
    """json's hook for the values it cannot encode itself (the same conversions as ``plain``)."""
    converted = plain(value)
    if converted is value:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
    return converted


def to_json(data: Any) -> str:
    # json's C encoder walks dicts, lists and plain scalars itself and calls _scalar only
    # for decimals, dates and times: the same text as dumps(plain(data)), 3x faster on a page
    return json.dumps(data, ensure_ascii=False, indent=None, default=_scalar)


def echo_json(data: Any) -> None:
    sys.stdout.write(to_json(data) + "\n")


def to_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow(["" if v is None else plain(v) for v in row])
    return buf.getvalue()


def echo_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text, not str: rich would read a value such as "[/x]" or "[bold]" as markup
    table = Table(title=Text(title) if title else None, show_lines=False)
    for c in columns:
        table.add_column(Text(str(c)), overflow="fold")
    for row in rows:
        table.add_row(*[Text("" if v is None else str(plain(v))) for v in row])
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def echo_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str, as_json: bool) -> None:
    """A list command's output: every field as JSON, or the given columns as a table."""
    if as_json:
        echo_json(list(rows))
    else:
        echo_table(columns, [[r[c] for c in columns] for r in rows], title=title)
