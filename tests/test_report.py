"""The review report (`deletedcalls report`, issue 29) through the real CLI, on real warehouses in tmp_path.

The page is read back as a person or grep would read it: its tables parsed
from the HTML, its captions, its PNG files. tests/test_report_browser.py looks
at it in Chromium.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import REPO, months_ago
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from deletedcalls.clock import partition_expiry, today_utc
from deletedcalls.report.model import TOP_SERIES, Window, top_series
from deletedcalls.report.sections import nightly
from deletedcalls.store.warehouse import apply_migrations

CHARTS = {"deletions-by-carrier", "deletions-by-user", "pending-by-age", "rejects-by-file", "retention-timeline", "reads-by-week"}


class Page(HTMLParser):
    """A report page as a reader finds it: each table's rows by caption, the captions of the sections, the images."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.captions: dict[str, str] = {}
        self.empty: dict[str, str] = {}
        self.images: list[dict[str, str | None]] = []
        self._section = ""
        self._table = ""
        self._row: list[str] | None = None
        self._text: list[str] | None = None
        self._where = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section = a["id"] or ""
        elif tag == "img":
            self.images.append(a)
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th", "caption") or (tag == "p" and a.get("class") in ("figure", "empty")):
            self._text, self._where = [], tag if tag != "p" else a["class"] or ""

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._text is None or tag not in ("td", "th", "caption", "p"):
            if tag == "tr" and self._row is not None:
                if self._row and self._table:
                    self.tables[self._table].append(self._row)
                self._row = None
            return
        text = "".join(self._text).strip()
        self._text = None
        if self._where == "caption":
            self._table = text
            self.tables[text] = []
        elif self._where in ("td", "th") and self._row is not None:
            self._row.append(text.lstrip("!"))
        elif self._where == "figure":
            self.captions[self._section] = text
        elif self._where == "empty":
            self.empty[self._section] = text

    def rows(self, caption_start: str) -> list[list[str]]:
        """The body rows of the table whose caption starts so (the header row dropped)."""
        [name] = [t for t in self.tables if t.startswith(caption_start)]
        return self.tables[name][1:]


def report(wh, tmp_path: Path, *args: str, user: str = "dpo", name: str = "report"):
    """Run `report --out tmp_path/reports/NAME`: reports/ holds nothing else, so what a run leaves there shows."""
    (tmp_path / "reports").mkdir(exist_ok=True)
    out = tmp_path / "reports" / name
    result = wh.cli("report", "--out", str(out), *args, user=user)
    return result, out


def page_of(out: Path) -> Page:
    return Page((out / "report.html").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- what is written, and how


def test_the_report_is_a_page_and_a_png_per_chart_in_a_new_owner_only_folder(reviewed, tmp_path):
    result, out = report(reviewed, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out / "report.html")
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    names = {p.name for p in out.iterdir()}
    assert names == {"report.html"} | {f"{c}.png" for c in CHARTS}
    for p in out.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    for chart in CHARTS:
        with Image.open(out / f"{chart}.png") as im:
            assert im.format == "PNG" and im.size[0] >= 1000
    assert [p.name for p in out.parent.iterdir()] == ["report"], "the private staging folder is left behind"


def test_the_page_is_self_contained(reviewed, tmp_path):
    _, out = report(reviewed, tmp_path)
    html = (out / "report.html").read_text()
    page = page_of(out)
    # every chart inline, as the same bytes as its PNG beside the page
    import base64

    assert {i["data-chart"] for i in page.images} == CHARTS
    for img in page.images:
        assert img["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(img["src"].split(",", 1)[1]) == (out / f"{img['data-chart']}.png").read_bytes()
        assert img["alt"] and len(img["alt"]) > 40
    # nothing to fetch from anywhere: no script, no link, no remote or file URL, and a policy that allows none
    assert not re.search(r"<script|<link|<iframe|@import|url\(", html, re.I)
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html, re.I)
    assert "default-src 'none'; img-src data:;" in html


def test_each_section_has_its_figure_that_matters(reviewed, tmp_path):
    _, out = report(reviewed, tmp_path)
    page = page_of(out)
    assert page.captions["pending"].startswith("Oldest pending request: 40 days (UAL-3: call not in the warehouse yet)")
    assert page.captions["deletions"].startswith("12 calls deleted from ")
    horizon = next(m for m in Window(today_utc(), 12, 30, 90, 5, False).month_list if partition_expiry(m, 90) >= today_utc())
    assert f"months before {horizon} are past the 90-day retention" in page.captions["deletions"]
    assert page.captions["rejects"] == "4 records rejected in the last 30 runs, most in ee.csv (2); 1 file rejected whole."
    assert page.captions["retention"].startswith("3 partitions: 1 in the warehouse, 2 archived and purged; DR: 2 archives of 2 partitions")
    assert page.captions["retention"].endswith("in dr/ in the warehouse home, on this machine: not off-site.")
    assert page.captions["reads"].endswith("1 refusal (analyst ×1).")
    assert page.empty["nightly"].startswith("No nightly run")


def test_the_tables_hold_the_warehouse_numbers(reviewed, tmp_path):
    _, out = report(reviewed, tmp_path)
    page = page_of(out)
    summary = reviewed.query("SELECT deletedMonth, carrier, deletedBy, deletions FROM deleted_calls_summary")
    by_carrier = sorted([m, c, str(n)] for m, c, _, n in summary)
    assert sorted(r[:3] for r in page.rows("Calls deleted per month and carrier")) == by_carrier
    assert sorted(page.rows("Calls deleted per month and user")) == sorted([m, u, str(n)] for m, _, u, n in summary)
    assert [r[0] for r in page.rows("Calls deleted per month and carrier")] == sorted((r[0] for r in by_carrier), reverse=True)
    # pending: the unknown call and the conflicting repeat of UAL-1
    waiting = {r[1]: r for r in page.rows("Waiting requests by age and reason")}
    assert waiting["call not in the warehouse yet"] == ["30–89 days", "call not in the warehouse yet", "1", "1", "40"]
    assert waiting["conflicting entry, not applied"][2:] == ["1", "1", "0"]
    assert page.rows("The longest-waiting requests")[0][:2] == ["UAL-3", "carol"]
    # rejects: rules without the values they quoted; files rejected whole
    rules = sorted(tuple(r) for r in page.rows("Rejected records by file and rule"))
    assert rules == [("bt.csv", "CDR file", "duration: must be whole seconds >= 0", "1"),
                     ("d2.jsonl", "deletion log", "conflict: entry id … was seen before with other content; not applied", "1"),
                     ("ee.csv", "CDR file", "startDate: must be a real calendar date", "1"),
                     ("ee.csv", "CDR file", "target: must be + or a digit, then digits, 3-20 characters", "1")]
    [whole] = page.rows("Files rejected whole")
    assert whole[:2] == ["ee.csv", "CDR file"] and "over the limit" in whole[2]
    # partitions and their states
    parts = {r[0]: r for r in page.rows("Partitions")}
    old, older, kept = months_ago(5).strftime("%Y-%m"), months_ago(6).strftime("%Y-%m"), months_ago(1).strftime("%Y-%m")
    assert parts[older][1:5] == ["6", "0", str(partition_expiry(older, 90)), "archived and purged"]
    assert parts[old][1:5] == ["4", "0", str(partition_expiry(old, 90)), "archived and purged"]
    assert parts[kept][1:5] == ["2", "2", str(partition_expiry(kept, 90)), "in the warehouse"]
    [target] = page.rows("DR archives per target")
    assert target[:4] == ["dr/ in the warehouse home", "2", "2", "10"]
    # who read: dpo's read, analyst's refusal
    weekly = {r[1]: r for r in page.rows("Reads and refusals per week and user")}
    assert weekly["dpo"][2:] == ["1", "0", "2"] and weekly["analyst"][2:4] == ["0", "1"]
    [refusal] = page.rows("Latest refusals")
    assert refusal[1:3] == ["analyst", "deleted-calls list"] and refusal[4] == "lacks data_protection"


def test_no_field_value_a_reason_quoted_reaches_the_page(reviewed, tmp_path):
    _, out = report(reviewed, tmp_path)
    html = (out / "report.html").read_text()
    quoted = reviewed.query("SELECT unnest(reasons) FROM rejected_rows")
    assert any("'-12'" in r[0] for r in quoted)  # the reasons do quote values...
    for value in ("-12", "not-a-number", "2026-02-30"):
        assert f"'{value}'" not in html and f"&#x27;{value}&#x27;" not in html  # ...the page does not


def test_the_read_is_logged_with_its_window(reviewed, tmp_path):
    result, out = report(reviewed, tmp_path, "--months", "6", "--runs", "5")
    assert result.exit_code == 0
    [entry] = [e for e in reviewed.access_log("user", "command", "filters", "allowed", "rowsReturned") if e[1] == "report"]
    assert entry[0] == "dpo" and entry[3] is True and entry[4] > 0
    assert json.loads(entry[2]) == {"asOf": str(today_utc()), "months": 6, "runs": 5, "out": str(out)}


def test_the_read_is_logged_before_anything_is_written(reviewed, tmp_path):
    # an access spool that cannot be written: the read cannot be logged, so nothing may be written
    spool = reviewed.home / "spool"
    for p in spool.iterdir():
        p.unlink()
    spool.rmdir()
    spool.write_bytes(b"")
    os.chmod(spool, 0o600)
    result, out = report(reviewed, tmp_path)
    assert result.exit_code == 4
    assert "access spool" in result.stderr and "Traceback" not in result.stderr
    assert list(out.parent.iterdir()) == []


# ---------------------------------------------------------------- refusals and bad input


def test_a_user_without_data_protection_is_refused_logged_and_nothing_is_written(reviewed, tmp_path):
    result, out = report(reviewed, tmp_path, user="analyst")
    assert result.exit_code == 4
    assert "data_protection" in result.stderr and "report --analyst" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(out.parent.iterdir()) == []
    refused = [e for e in reviewed.access_log("user", "command", "allowed", "reason") if e[1] == "report"]
    assert refused == [("analyst", "report", False, "lacks data_protection")]


def test_a_home_that_cannot_be_trusted_is_refused_and_nothing_is_written(reviewed, tmp_path):
    os.chmod(reviewed.home / "config.toml", 0o660)
    result, out = report(reviewed, tmp_path)
    assert result.exit_code == 4
    assert "config.toml" in result.stderr and "Traceback" not in result.stderr
    assert list(out.parent.iterdir()) == []


def test_an_existing_folder_that_is_not_empty_is_refused_and_left_alone(reviewed, tmp_path):
    out = tmp_path / "reports" / "busy"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    result = reviewed.cli("report", "--out", str(out), user="dpo")
    assert result.exit_code == 2
    assert "not empty" in result.stderr and "nothing was overwritten" in result.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"
    # a file is refused too
    file = out.parent / "a-file"
    file.write_text("keep")
    assert reviewed.cli("report", "--out", str(file), user="dpo").exit_code == 2
    assert file.read_text() == "keep"
    assert sorted(p.name for p in out.parent.iterdir()) == ["a-file", "busy"]


def test_an_empty_folder_becomes_the_reports_owner_only_folder(reviewed, tmp_path):
    out = tmp_path / "empty"
    out.mkdir(mode=0o755)
    result = reviewed.cli("report", "--out", str(out), user="dpo")
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o700 and (out / "report.html").exists()


@pytest.mark.parametrize("args, message", [
    (["--months", "0"], "--months"), (["--months", "121"], "--months"), (["--runs", "0"], "--runs"),
    (["--as-of", "2026-02-30"], "--as-of"), (["--as-of", "yesterday"], "--as-of"), (["--as-of", "99999-01-01"], "--as-of"),
])
def test_options_out_of_range_are_usage_errors(wh, tmp_path, args, message):
    result, out = report(wh, tmp_path, *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert list(out.parent.iterdir()) == []


def test_a_folder_inside_the_home_or_under_a_missing_folder_is_refused(wh, tmp_path):
    for out in (wh.home / "report", tmp_path / "missing" / "report"):
        result = wh.cli("report", "--out", str(out), user="dpo")
        assert result.exit_code == 2, result.stderr
        assert not out.exists()


def test_the_default_folder_is_named_after_the_as_of_date(wh, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = wh.cli("report", "--as-of", "2026-03-31", user="dpo")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "deletedcalls-report-2026-03-31" / "report.html")
    result = wh.cli("report", "--analyst", "--as-of", "2026-03-31")
    assert result.stdout.strip() == str(tmp_path / "deletedcalls-analyst-report-2026-03-31" / "report.html")
    # a second report of the same day is refused, not written over the first
    assert wh.cli("report", "--as-of", "2026-03-31", user="dpo").exit_code == 2


def test_an_empty_warehouse_gives_a_page_that_says_so_in_every_section(wh, tmp_path):
    result, out = report(wh, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in out.iterdir()] == ["report.html"]
    page = page_of(out)
    assert list(page.empty) == ["deletions", "pending", "rejects", "retention", "nightly", "reads"]
    assert page.empty["pending"] == "No deletion request is waiting."
    assert page.images == [] and page.captions == {}


# ---------------------------------------------------------------- the analysts' report


def test_the_analysts_report_holds_counts_and_no_protected_value(reviewed, tmp_path):
    before = reviewed.access_log("user", "command")
    result, out = report(reviewed, tmp_path, "--analyst", user="analyst")
    assert result.exit_code == 0, result.stderr
    html = (out / "report.html").read_text()
    page = page_of(out)
    assert "analysts&#x27; report" in html
    assert {p.name for p in out.iterdir()} == {"report.html"} | {f"{c}.png" for c in CHARTS - {"pending-by-age", "reads-by-week"}}
    assert page.empty["pending"].startswith("Not in the analysts' report") and page.empty["reads"].startswith("Not in the analysts' report")
    # counts by month, carrier and user as deleted_calls_summary shows them; no cost for a cell under min_cell
    costs = {(r[0], r[1]): r[3] for r in page.rows("Calls deleted per month and carrier")}
    assert costs[(months_ago(6).strftime("%Y-%m"), "BT")] == "—"  # alice's 6: purged, no cost since issue 25
    assert costs[(months_ago(5).strftime("%Y-%m"), "BT")] == "—"  # bob's 4 < min_cell 5, and purged
    assert costs[(months_ago(1).strftime("%Y-%m"), "BT")] == "—"  # alice's 2 < min_cell 5
    assert "fewer than 5 deletions" in html and "archived and purged" in html
    # nothing that names a deleted call, a request or a reader (in the page's text; the charts are checked by eye)
    html = re.sub(r'src="data:image/png;base64,[^"]*"', "", html)
    numbers = [r[0] for r in reviewed.query("SELECT target FROM deleted_calls")] + [r[0] for r in reviewed.query("SELECT external FROM calls")]
    for value in ["UAL-", "carol", "dpo", "BT-999999999999", *numbers]:
        assert value not in html, value
    # read as any analyst reads the analyst store: not an access-log entry
    assert reviewed.access_log("user", "command") == before
    _, officers = report(reviewed, tmp_path, name="officers")  # the same cells for an officer: kept months have costs
    officer_costs = {(r[0], r[1]): r[3] for r in page_of(officers).rows("Calls deleted per month and carrier")}
    assert officer_costs[(months_ago(1).strftime("%Y-%m"), "BT")] != "—" and officer_costs[(months_ago(6).strftime("%Y-%m"), "BT")] == "—"


def test_the_analysts_report_needs_only_the_analyst_store(reviewed, tmp_path):
    (reviewed.home / "published" / "protected.duckdb").unlink()
    result, _ = report(reviewed, tmp_path, "--analyst", user="analyst")
    assert result.exit_code == 0, result.stderr


# ---------------------------------------------------------------- sections on a schema filled by hand


@pytest.fixture
def store(tmp_path):
    """A lake at the current schema in tmp_path: a published store's tables, filled by each test."""
    from deletedcalls.catalog import Lake, attach, connection

    (tmp_path / "data").mkdir()
    con = connection()
    attach(con, Lake(tmp_path / "lake.duckdb", str(tmp_path / "data") + "/"), "lake")
    con.execute("USE lake")
    apply_migrations(con)
    yield con
    con.execute("USE memory")
    con.close()


def add_runs(con, seconds: list[float], outcome: str = "ok") -> None:
    start = date(2026, 11, 1)
    for i, s in enumerate(seconds, 1):
        at = f"{start + timedelta(days=i)} 02:00:00"
        con.execute("INSERT INTO runs VALUES ($id, 'run nightly', 'batch', CAST($at AS TIMESTAMP), CAST($at AS TIMESTAMP) + "
                    "to_microseconds(CAST($us AS BIGINT)), $o, 0, $c, NULL)",
                    {"id": i, "at": at, "us": int(s * 1e6), "o": outcome if i == len(seconds) else "ok",
                     "c": json.dumps({"ingest-cdr": {"rows": 1000 * i}, "materialise": {"deleted": i}})})


def test_a_run_of_three_times_the_median_stands_out(store):
    add_runs(store, [100.0] * 9 + [299.0, 300.0])
    section = nightly(store, Window(date(2026, 12, 31), 2, 30, 90, 5, False))
    assert "median 100.0 s; 1 took 3× the median or more (longest: 2026-11-12, 300.0 s)" in section.caption
    [chart] = section.charts
    assert chart.slow == [False] * 10 + [True]  # 299 s is 2.99×: not
    [table] = section.tables
    assert table.rows[0][4] == "3.0×" and table.highlight[0] and not any(table.highlight[1:])
    assert [r[5] for r in table.rows][::-1] == [1000 * i for i in range(1, 12)]


def test_a_run_that_did_not_end_ok_is_named(store):
    add_runs(store, [100.0, 110.0, 90.0], outcome="failed")
    section = nightly(store, Window(date(2026, 12, 31), 2, 30, 90, 5, False))
    assert section.caption.endswith("1 did not end ok (last: 2026-11-04, failed).")
    assert "none took 3× the median" in section.caption


def test_runs_outside_the_window_are_not_shown(store):
    add_runs(store, [100.0, 100.0])
    assert nightly(store, Window(date(2026, 10, 31), 3, 30, 90, 5, False)).empty
    assert nightly(store, Window(date(2026, 11, 2), 1, 30, 90, 5, False)).charts[0].labels == ["2026-11-02"]


# ---------------------------------------------------------------- the model


def test_the_window_counts_months_back_over_a_year_end():
    w = Window(date(2026, 2, 10), 4, 30, 90, 5, False)
    assert w.month_list == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert (w.first_day, w.end, w.span()) == (date(2025, 11, 1), date(2026, 2, 11), "from 2025-11 to 2026-02")
    assert Window(date(2026, 2, 10), 1, 30, 90, 5, False).span() == "in 2026-02"


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.text(min_size=1, max_size=3), st.integers(0, 50)), max_size=60))
def test_the_top_series_keep_every_count(rows):
    categories = ["a", "b", "c"]
    series, muted = top_series(rows, categories, "others")
    assert len(series) <= TOP_SERIES + 1
    for k, c in enumerate(categories):
        assert sum(values[k] for _, values in series) == sum(v for cat, _, v in rows if cat == c)
    named = {s for s, _ in series} - muted
    assert len(muted) <= 1 and all(s in {r[1] for r in rows} for s in named)


# ---------------------------------------------------------------- start-up


def test_only_the_report_imports_the_plotting_library():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom deletedcalls.cli import cli\n"
            "for args in (['--help'], ['report', '--help'], ['sql', '--help']):\n"
            "    assert CliRunner().invoke(cli, args).exit_code == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'PIL')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_a_png_is_made_of_more_than_white(reviewed, tmp_path):
    _, out = report(reviewed, tmp_path)
    for chart in CHARTS:
        with Image.open(io.BytesIO((out / f"{chart}.png").read_bytes())) as im:
            colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
            assert colours and len(colours) > 10, chart


def test_an_officer_sql_statement_counts_once_among_the_reads(reviewed, tmp_path):
    """Officer `sql` is logged when it starts and with its outcome (issue 25): one statement, one read."""
    _, out = report(reviewed, tmp_path, name="before")
    before = int(page_of(out).captions["reads"].split(" ")[0])
    reviewed.cli("sql", "SELECT count(*) FROM deleted_calls", user="dpo", ok=True)
    assert reviewed.cli("sql", "SELECT error('no') FROM deleted_calls", user="dpo").exit_code == 2
    _, out = report(reviewed, tmp_path, name="after")
    assert int(page_of(out).captions["reads"].split(" ")[0]) == before + 3  # the two statements and the first report
