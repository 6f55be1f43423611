"""Growing and rotated deliveries (issue 26): a Master.csv loaded across runs as extents, rotated copies, a half-written
last line, a known name with other content, and a rejected file loaded again after a fix. Real warehouses, the real CLI,
files written as a switch writes them (data/layouts/Master-ringgroup-2026-12-01.csv: nine records of Asterisk 13)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

from conftest import REPO, Warehouse, csv_text, good_row

RING = (REPO / "data" / "layouts" / "Master-ringgroup-2026-12-01.csv").read_bytes().splitlines(keepends=True)
PBX2 = (REPO / "data" / "layouts" / "Master-pbx2-2026-04-02.csv").read_bytes().splitlines(keepends=True)


def ingest(wh: Warehouse, *args: str) -> tuple[int, list[dict], str]:
    result = wh.cli("ingest", "cdr", *args, "--json")
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else [], result.stderr


def extents(wh: Warehouse) -> list[tuple]:
    return wh.query('SELECT fileName, status, "rows", startByte, endByte, firstLine, lastLine, extendsFile FROM cdr_files ORDER BY id')


def test_a_growing_master_csv_loads_across_three_runs_with_its_true_line_numbers(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    path.write_bytes(b"".join(RING[:3]))
    assert ingest(wh, str(path))[0] == 0
    # day 2: three more records, and the switch is half-way through writing a fourth (no line end yet)
    path.write_bytes(b"".join(RING[:6]) + RING[6][:40])
    code, results, err = ingest(wh, str(path))
    assert code == 0, err
    assert (results[0]["rows"], results[0]["rejected"]) == (3, 0)
    # day 3: the half line is whole, and two more
    path.write_bytes(b"".join(RING))
    code, results, err = ingest(wh, str(path))
    assert code == 0 and results[0]["rows"] == 3, err
    size3, size6 = len(b"".join(RING[:3])), len(b"".join(RING[:6]))
    assert extents(wh) == [("Master.csv", "loaded", 3, 0, size3, 1, 3, None), ("Master.csv", "loaded", 3, size3, size6, 4, 6, 1),
                           ("Master.csv", "loaded", 3, size6, len(b"".join(RING)), 7, 9, 2)]
    assert [r[0] for r in wh.query("SELECT lineNumber FROM calls ORDER BY id")] == list(range(1, 10))
    # the same file again: nothing new
    code, results, _ = ingest(wh, str(path))
    assert code == 0 and results[0]["status"] == "unchanged"
    assert wh.scalar("SELECT count(*) FROM calls") == 9


def test_other_content_under_a_known_name_is_still_refused(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    path.write_bytes(b"".join(RING[:3]))
    assert ingest(wh, str(path))[0] == 0
    path.write_bytes(RING[0] + RING[2] + RING[1] + RING[3])  # the first bytes differ: not a longer copy
    code, results, _ = ingest(wh, str(path))
    assert code == 3 and results[0]["status"] == "conflict" and "different file of this name" in results[0]["message"]
    assert wh.scalar("SELECT count(*) FROM calls") == 3


def test_rotated_copies_continue_the_file_and_a_new_master_csv_starts_a_new_one(wh: Warehouse, tmp_path: Path) -> None:
    live = tmp_path / "Master.csv"
    live.write_bytes(b"".join(RING[:4]))
    assert ingest(wh, str(live))[0] == 0
    # logrotate: Master.csv (with two more records) became Master.csv.1.gz; the switch began a new Master.csv
    (tmp_path / "Master.csv.1.gz").write_bytes(gzip.compress(b"".join(RING[:6])))
    live.write_bytes(b"".join(PBX2[:2]))
    # given live file first: the rotated copy is still read first
    code, results, err = ingest(wh, str(live), str(tmp_path / "Master.csv.1.gz"))
    assert code == 0, err
    assert [(r["file"].rsplit("/", 1)[-1], r["rows"]) for r in results] == [("Master.csv.1.gz", 2), ("Master.csv", 2)]
    rows = extents(wh)
    assert [(r[0], r[2], r[5], r[6], r[7]) for r in rows] == [
        ("Master.csv", 4, 1, 4, None), ("Master.csv.1.gz", 2, 5, 6, 1), ("Master.csv", 2, 1, 2, None)]
    # the next day's growth of the new Master.csv continues it, not the old one
    live.write_bytes(b"".join(PBX2[:5]))
    code, results, err = ingest(wh, str(live))
    assert code == 0 and results[0]["rows"] == 3, err
    assert extents(wh)[-1][5:] == (3, 5, 3)


def test_a_rejected_file_loads_again_when_what_decided_it_changed(wh: Warehouse, write: Callable[..., Path]) -> None:
    # a PBX export read by a profile that applies the phone rule to dst: rejected whole
    (wh.home / "profiles").mkdir()
    strict = wh.home / "profiles" / "strictpbx.toml"
    strict.write_text('extends = "asterisk"\n[map]\nexternal = "dst"\n')
    path = write("Master.csv", b"".join(PBX2).decode())
    code, results, _ = ingest(wh, "--profile", "strictpbx", str(path))
    assert code == 3 and results[0]["status"] == "rejected"
    code, results, err = ingest(wh, "--profile", "strictpbx", str(path))
    assert code == 0 and results[0]["status"] == "unchanged" and "--retry" in results[0]["message"], err
    # the profile is fixed (its content changed): the same file loads
    strict.write_text('extends = "asterisk"\n[map]\nexternal = { column = "dst", kind = "text" }\n')
    code, results, err = ingest(wh, "--profile", "strictpbx", str(path))
    assert code == 0 and results[0]["rows"] == 10, err
    assert [(f["status"], f["profile"]) for f in wh.json("files", "list")] == [("rejected", "strictpbx"), ("loaded", "strictpbx")]


def test_retry_loads_a_rejected_file_again_as_it_is(wh: Warehouse, write: Callable[..., Path]) -> None:
    path = write("bt.csv", csv_text([good_row(i) for i in range(5)] + [good_row(9, duration="-1")]))
    assert ingest(wh, str(path))[0] == 3
    code, results, _ = ingest(wh, "--retry", str(path))  # nothing changed: rejected again, and recorded again
    assert code == 3 and results[0]["status"] == "rejected"
    code, results, _ = ingest(wh, "--retry", "--max-reject-ratio", "0.5", str(path))
    assert code == 0 and results[0]["rows"] == 5
    assert [f["status"] for f in wh.json("files", "list")] == ["rejected", "rejected", "loaded"]
