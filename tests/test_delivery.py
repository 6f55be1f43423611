"""Reading a delivered file once (delivery.py): the hash is of the bytes parsed, whatever happens to the file meanwhile."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import csv_text, good_row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deletedcalls.ingest import delivery
from deletedcalls.ingest.delivery import ChangedWhileRead, open_delivery


@given(data=st.binary(max_size=5000), reads=st.lists(st.tuples(st.integers(0, 6000), st.integers(1, 3000)), max_size=12))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_hash_is_of_the_whole_file_whatever_the_seeks_and_reads(tmp_path, data, reads):
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    with open_delivery(path) as d:
        for at, n in reads:
            d.seek(at)
            assert d.read(n) == data[at : at + n]
        assert d.finish() == hashlib.sha256(data).hexdigest()


def test_a_file_replaced_or_grown_after_the_open_is_changed(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n1,2\n")
    with open_delivery(path) as d:
        d.read()
        with open(path, "ab") as f:
            f.write(b"3,4\n")
        with pytest.raises(ChangedWhileRead):
            d.finish()
    with open_delivery(path) as d:
        d.read()
        replaced = tmp_path / "g.csv"
        replaced.write_bytes(b"a,b\n1,2\n3,4\n")
        replaced.replace(path)
        with pytest.raises(ChangedWhileRead):
            d.finish()


# ---------------------------------------------------------------- appends and ingests, in any order

STREAM = "".join(csv_text([good_row(i, carrierCallID=f"P-{i:06d}")]).split("\n", 1)[1] for i in range(400)).encode()
HEADER = csv_text([]).encode()


@contextlib.contextmanager
def appending_during_read(path: Path, extra: bytes) -> Iterator[None]:
    """Append `extra` to path right after the first read of it: a writer racing the ingest."""
    real_read = delivery.Delivery.read
    done = [not extra]

    def read(self: delivery.Delivery, n: int = -1) -> bytes:
        got = real_read(self, n)
        if not done[0] and self.path == path:
            done[0] = True
            with open(path, "ab") as f:
                f.write(extra)
        return got

    delivery.Delivery.read = read  # type: ignore[method-assign]
    try:
        yield
    finally:
        delivery.Delivery.read = real_read  # type: ignore[method-assign]


ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 900)),
        st.tuples(st.just("ingest"), st.integers(0, 900)),  # bytes appended during the read (0: none)
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.slow
@given(steps=ops, ratio=st.sampled_from([0.0, 0.5, 1.0]))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_interleaving_of_appends_and_ingests_loads_every_byte_once_or_reports_it(tmp_path_factory, steps, ratio):
    from deletedcalls.ingest.cdr import ingest_cdr_file
    from deletedcalls.settings import load_settings
    from deletedcalls.store.session import init_warehouse, writer

    root = tmp_path_factory.mktemp("race")
    cfg = load_settings(root / "home", max_reject_ratio=ratio)
    init_warehouse(cfg)
    path = root / "upload.csv"
    path.write_bytes(HEADER)
    written = len(HEADER)  # the file is HEADER + STREAM[:written - len(HEADER)]
    contents = {hashlib.sha256(HEADER).hexdigest(): HEADER}
    results = []

    def content() -> bytes:
        return HEADER + STREAM[: written - len(HEADER)]

    with writer(cfg) as con:
        for kind, n in [*steps, ("ingest", 0)]:  # a last ingest after the writer is done
            if kind == "append":
                with open(path, "ab") as f:
                    f.write(STREAM[written - len(HEADER) : written - len(HEADER) + n])
                written = min(written + n, len(HEADER) + len(STREAM))
                contents[hashlib.sha256(content()).hexdigest()] = content()
                continue
            before = content()
            extra = STREAM[written - len(HEADER) : written - len(HEADER) + n]
            with appending_during_read(path, extra):
                r = ingest_cdr_file(con, cfg, path, run_id=1)
            written += len(extra)
            contents[hashlib.sha256(content()).hexdigest()] = content()
            if extra and r.status in ("loaded", "rejected"):
                pytest.fail(f"a file that grew during its read was recorded as {r.status}: {r.message}")
            if r.status == "loaded":
                assert r.sha256 == hashlib.sha256(before).hexdigest()
            results.append(r)

        final = results[-1]
        files = con.execute('SELECT id, sha256, status, "rows", rejected FROM cdr_files ORDER BY id').fetchall()
        for fid, sha, status, nrows, nrejected in files:
            assert sha in contents, "a hash of bytes the file never held as a whole"
            records = [line for line in contents[sha].split(b"\n")[1:] if line.strip()]
            calls = con.execute("SELECT carrierCallID FROM calls WHERE CDRFileID = $f ORDER BY id", {"f": fid}).fetchall()
            kept = con.execute("SELECT count(*) FROM rejected_rows WHERE CDRFileID = $f", {"f": fid}).fetchall()[0][0]
            if status == "loaded":
                # every record of the content it was loaded as: loaded once or kept as a rejected row
                assert (len(calls), kept) == (nrows, nrejected)
                assert len(calls) + kept == len(records)
            else:
                assert calls == []
        ids = con.execute("SELECT carrierCallID, count(*) FROM calls GROUP BY 1 HAVING count(*) > 1").fetchall()
        assert ids == [], "a record loaded twice"
        # the final file: loaded as it is, or reported (a conflict with a loaded earlier content, a rejection)
        final_sha = hashlib.sha256(path.read_bytes()).hexdigest()
        known = {sha: status for _, sha, status, _, _ in files}
        assert final.status in ("loaded", "unchanged", "conflict", "rejected"), final
        if final.status in ("loaded", "unchanged"):
            assert final_sha in known
        if final.status == "conflict":
            assert "loaded" in known.values() and known.get(final_sha) != "loaded"
