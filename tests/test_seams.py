"""Where the session's capabilities meet: profiles x hostile files x compressed deliveries x the trusted home."""

from __future__ import annotations

import gzip
import os
import time

from test_profiles import fcs_row, fcs_text

from deletedcalls.ingest import delivery


def test_profiles_check_refuses_a_fifo_or_a_device_without_blocking(wh, tmp_path):
    fifo = tmp_path / "Master.csv"
    os.mkfifo(fifo)
    started = time.monotonic()
    for path in (str(fifo), "/dev/zero"):
        result = wh.cli("profiles", "check", path)
        assert result.exit_code == 3, (path, result.stderr)
        assert "FIFO" in result.stderr or "device" in result.stderr
    assert time.monotonic() - started < 30


def test_a_user_profile_is_trusted_only_when_it_is_the_homes_own_file(wh, write, tmp_path):
    folder = wh.home / "profiles"
    folder.mkdir(mode=0o700)
    evil = tmp_path / "evil.toml"
    evil.write_text('extends = "fcs"\ndescription = "evil"\n[map]\ncarrier = { value = "EVIL" }\n')
    (folder / "x.toml").symlink_to(evil)
    fcs = write("gamma.csv", fcs_text([fcs_row(0)]))
    linked = wh.cli("ingest", "cdr", str(fcs))
    assert linked.exit_code == 4 and "x.toml" in linked.stderr and "symbolic link" in linked.stderr
    (folder / "x.toml").unlink()
    (folder / "y.toml").write_text(evil.read_text())
    os.chmod(folder / "y.toml", 0o664)
    writable = wh.cli("ingest", "cdr", str(fcs))
    assert writable.exit_code == 4 and "chmod go-w" in writable.stderr
    os.chmod(folder / "y.toml", 0o600)
    assert wh.cli("ingest", "cdr", "--profile", "y", str(fcs)).exit_code == 0
    assert wh.query("SELECT carrier FROM calls") == [("EVIL",)]  # control: a private profile of the owner is used


def test_a_nul_byte_in_a_mapped_record_rejects_that_record_only(wh, write):
    rows = [fcs_row(i) for i in range(200)]
    rows[5]["Description"] = "Shef\x00field"
    result = wh.cli("ingest", "cdr", "--max-reject-ratio", "0.05", str(write("gamma.csv", fcs_text(rows))))
    assert result.exit_code == 0, result.stderr
    assert wh.scalar("SELECT count(*) FROM calls") == 199
    assert wh.query("SELECT lineNumber, reasons FROM rejected_rows") == [(7, ["holds a NUL byte: binary data, not text"])]


def test_a_decompression_bomb_is_refused_before_it_fills_the_disk(wh, write, monkeypatch):
    monkeypatch.setattr(delivery, "MIN_EXPANDED_LIMIT", 1 << 20)
    text = fcs_text([fcs_row(0)]) + b'"x",' * 2_000_000  # 8 MB that gzip makes about 10 kB of
    bomb = write("bomb.csv.gz", gzip.compress(text))
    result = wh.cli("ingest", "cdr", str(bomb))
    assert result.exit_code == 3 and "decompression bomb" in result.stderr
    assert not [p for p in wh.home.iterdir() if p.name.startswith(".delivery-")]
    nul = write("nul.csv.gz", gzip.compress(b"\x00" * 5_000_000))
    refused = wh.cli("ingest", "cdr", str(nul))
    assert refused.exit_code == 3 and "NUL" in refused.stderr
