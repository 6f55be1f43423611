"""The report's sections from a published store: each one SQL aggregate (``sql/report/``), never rows.

Every query groups inside DuckDB and returns a few hundred rows at most (per
month, week, file, run or partition), so the time and memory of a report
follow the months shown, not the size of the warehouse. The retention
timeline and the DR inventory are ``timeline.py``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb

from deletedcalls.clock import partition_expiry
from deletedcalls.report.model import Bars, Chart, Runs, Section, Table, Window, plural, top_series
from deletedcalls.sqlfiles import sql

AGE_BANDS = ("0–6 days", "7–29 days", "30–89 days", "90 days or more")
WAIT_REASONS = ("call not in the warehouse yet", "CDR file not loaded yet", "conflicting entry, not applied")
SOURCES = {"cdr": "CDR file", "deletions": "deletion log", "ultravox": "Ultravox file"}
OLDEST_SHOWN = 10
REFUSALS_SHOWN = 50
FILES_CHARTED = 15
REFUSED = "refused (all users)"


def rows_of(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows of ``sql/report/<name>.sql`` as dicts (an aggregate: small)."""
    result = con.execute(sql(f"report/{name}"), params or {})
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, r, strict=True)) for r in result.fetchall()]


def newest_first(rows: list[dict[str, Any]], key: str = "month") -> list[dict[str, Any]]:
    """Rows ordered by `key` ascending, as newest first, keeping each period's own order (tables list the
    latest first: a long one is cut at its end)."""
    return sorted(rows, key=lambda r: r[key], reverse=True) if rows else rows


# ---------------------------------------------------------------- deletions


def deletions(con: duckdb.DuckDBPyConnection, w: Window) -> Section:
    """Deletions per month by carrier and by user, with the retention horizon."""
    months = w.month_list
    window = {"first_month": months[0], "last_month": months[-1]}
    by_carrier = rows_of(con, "deletions_by_month", {"by": "carrier", **window})
    by_user = rows_of(con, "deletions_by_month", {"by": "user", **window})
    source = "deleted_calls_summary (counts outlive purges); sql/report/deletions_by_month.sql"
    total = sum(r["deletions"] for r in by_carrier)
    if not total:
        return Section("deletions", "Deletions per month", f"No call was deleted {w.span()}.", source, empty=True)
    per_month = {m: 0 for m in months}
    for r in by_carrier:
        per_month[r["month"]] += r["deletions"]
    busiest = max(months, key=lambda m: (per_month[m], m))
    months = months[next(i for i, m in enumerate(months) if per_month[m]):]  # months before the first deletion: not drawn
    expired = sum(1 for m in months if partition_expiry(m, w.retention_days) < w.as_of)
    if expired:
        horizon = (f"months before {months[expired]} are past the {w.retention_days}-day retention "
                   "(shaded: archived to DR and purged, or due)")
        divider: tuple[int, str] | None = (expired, f"retention horizon ({w.retention_days} days)")
    else:
        horizon, divider = f"every month shown is within the {w.retention_days}-day retention", None
    caption = f"{plural(total, 'call')} deleted {w.span()}, most in {busiest} ({per_month[busiest]:,}); {horizon}."
    charts: list[Chart] = []
    for key, rows, what, other in (("carrier", by_carrier, "carrier", "other carriers"),
                                   ("user", by_user, "user who deleted them", "other users")):
        series, muted = top_series([(r["month"], r["series"], r["deletions"]) for r in rows], months, other)
        charts.append(Bars(
            f"deletions-by-{key}", f"Calls deleted per month, by {what}", f"Stacked bars: calls deleted per month from {months[0]} to {months[-1]}, "
            f"by {what}; {horizon}.", months, series, "calls deleted", divider=divider, shaded_label="past retention",
            muted=muted))
    suppressed = any(r["costCDR"] is None for r in by_carrier)
    note = (f"— : the analyst store shows no cost for a cell of fewer than {w.min_cell} deletions ([privacy] min_cell)."
            if suppressed else "")
    tables = [
        Table("Calls deleted per month and carrier, newest first", ["month", "carrier", "calls deleted", "wholesale cost (pence)"],
              [[r["month"], r["series"], r["deletions"], r["costCDR"]] for r in newest_first(by_carrier)], note=note),
        Table("Calls deleted per month and user, newest first", ["month", "deleted by", "calls deleted"],
              [[r["month"], r["series"], r["deletions"]] for r in newest_first(by_user)]),
    ]
    return Section("deletions", "Deletions per month", caption, source, charts, tables)


# ---------------------------------------------------------------- pending


def pending(con: duckdb.DuckDBPyConnection, w: Window) -> Section:
    """Deletion requests still waiting, by age and why (protected store: it names the requests)."""
    bands = rows_of(con, "pending_by_age", {"as_of": w.as_of})
    oldest = rows_of(con, "pending_oldest", {"as_of": w.as_of, "limit": OLDEST_SHOWN})
    source = "pending_deletions, and conflicting deletion-log entries in rejected_rows; sql/report/pending_by_age.sql"
    if not oldest:
        return Section("pending", "Pending deletion requests", "No deletion request is waiting.", source, empty=True)
    first = oldest[0]
    entries = sum(r["requests"] for r in bands)
    caption = (f"Oldest pending request: {plural(first['days'], 'day')} ({first['entry']}: {first['reasons']}); "
               f"{plural(entries, 'request')} waiting, {plural(sum(r['items'] for r in bands), 'item')}.")
    series = [(reason, [float(sum(r["requests"] for r in bands if r["band"] == b and r["reason"] == reason))
                        for b in range(len(AGE_BANDS))]) for reason in WAIT_REASONS]
    chart = Bars("pending-by-age", "Deletion requests waiting, by how long and why", f"Stacked bars: deletion requests waiting at {w.as_of}, by how long they have "
                 f"waited and why; the oldest has waited {first['days']} days.", list(AGE_BANDS),
                 [s for s in series if any(s[1])], "requests waiting")
    tables = [
        Table("Waiting requests by age and reason", ["waited", "why", "requests", "items", "oldest (days)"],
              [[AGE_BANDS[r["band"]], r["reason"], r["requests"], r["items"], r["oldestDays"]] for r in bands],
              note="A request waiting for both a call and a file counts under each reason."),
        Table(f"The longest-waiting requests (first {OLDEST_SHOWN})",
              ["entry", "requested by", "requested at (UTC)", "days waiting", "items", "why"],
              [[r["entry"], r["user"], r["requestedAt"], r["days"], r["items"], r["reasons"]] for r in oldest],
              highlight=[r["days"] >= 30 for r in oldest], note="Highlighted: waiting 30 days or more."),
    ]
    return Section("pending", "Pending deletion requests", caption, source, [chart], tables)


# ---------------------------------------------------------------- rejects


def rejects(con: duckdb.DuckDBPyConnection, w: Window, *, ultravox_files: bool) -> Section:
    """Rejected records per file and rule over the last runs, and the files rejected whole."""
    params = {"runs": w.runs}
    by_file = rows_of(con, "rejects_by_file", params)
    files = rows_of(con, "rejected_files", params)
    if ultravox_files:
        files = sorted(files + rows_of(con, "rejected_ultravox_files", params), key=lambda r: r["ingestedAt"], reverse=True)
    source = "rejected_rows, cdr_files, deletion_files; sql/report/rejects_by_file.sql, rejected_files.sql"
    runs = plural(w.runs, "run")
    if not by_file and not files:
        return Section("rejects", "Rejected records and files", f"No record or file was rejected in the last {runs}.",
                       source, empty=True)
    per_file: dict[str, int] = {}
    for r in by_file:
        per_file[r["fileName"]] = max(per_file.get(r["fileName"], 0), r["fileRecords"])
    records = sum(per_file.values())
    whole = f"{plural(len(files), 'file')} rejected whole"
    ranked = sorted(per_file, key=lambda f: (-per_file[f], f))
    if ranked:
        worst = ranked[0]
        caption = (f"{plural(records, 'record')} rejected in the last {runs}, most in {worst} "
                   f"({per_file[worst]:,}); {whole}.")
    else:
        caption = f"No record rejected in the last {runs}; {whole}."
    charts: list[Chart] = []
    if by_file:
        shown = ranked[:FILES_CHARTED]
        series, muted = top_series([(r["fileName"], r["rule"], r["records"]) for r in by_file], shown, "other rules")
        charts.append(Bars("rejects-by-file", f"Records rejected per file and rule, last {runs}", f"Horizontal stacked bars: records rejected per file in the last {runs} "
                           f"(the {len(shown)} files with the most), by rule.", shown, series, "records rejected",
                           horizontal=True, muted=muted))
    tables = [
        Table("Rejected records by file and rule", ["file", "kind", "rule", "records"],
              [[r["fileName"], SOURCES.get(r["source"], r["source"]), r["rule"], r["records"]] for r in by_file],
              note="The rule is the reason without the value it quoted; a record broken two ways counts under each rule."),
        Table("Files rejected whole", ["file", "kind", "why", "records rejected", "ingested at (UTC)"],
              [[r["fileName"], r["kind"], r["reason"], r["records"], r["ingestedAt"]] for r in files]),
    ]
    return Section("rejects", "Rejected records and files", caption, source, charts, tables)


# ---------------------------------------------------------------- nightly runs


def nightly(con: duckdb.DuckDBPyConnection, w: Window) -> Section:
    """The nightly runs of the window: duration, rows, outcome; a run of 3× the median stands out."""
    runs = rows_of(con, "nightly_runs", {"first": w.first_day, "end": w.end})
    source = "runs (command `run JOB`, counts); sql/report/nightly_runs.sql"
    if not runs:
        return Section("nightly", "Nightly runs", f"No nightly run (`deletedcalls run`) {w.span()}.", source, empty=True)
    median = runs[0]["medianSeconds"]
    slow = [r["seconds"] is not None and median and r["seconds"] >= 3 * median for r in runs]
    labels = [f"{r['startedAt']:%Y-%m-%d}" for r in runs]
    if len(set(labels)) < len(labels):  # several runs a night: tell them apart by their start
        labels = [f"{r['startedAt']:%Y-%m-%d %H:%M}" for r in runs]
    slowest = max((i for i, s in enumerate(slow) if s), key=lambda i: runs[i]["seconds"], default=None)
    not_ok = [r for r in runs if r["outcome"] != "ok"]
    caption = (f"{plural(len(runs), 'nightly run')} {w.span()}, median {median or 0:,.1f} s; "
               + (f"{sum(slow)} took 3× the median or more (longest: {labels[slowest]}, {runs[slowest]['seconds']:,.1f} s)"
                  if slowest is not None else "none took 3× the median")
               + (f"; {len(not_ok)} did not end ok (last: {labels[runs.index(not_ok[-1])]}, {not_ok[-1]['outcome']})." if not_ok
                  else "; every one ended ok."))
    chart = Runs("nightly-runs", "Nightly runs: duration and rows loaded", f"Bars: duration of each nightly run {w.span()}, coloured by outcome, with the median "
                 "and 3× the median marked; below, rows loaded per run.", labels,
                 [r["seconds"] for r in runs], [r["outcome"] for r in runs], [r["rowsLoaded"] for r in runs], median,
                 [bool(s) for s in slow])
    table = Table("Nightly runs, newest first", ["run", "night", "started (UTC)", "seconds", "× median", "rows loaded", "calls deleted",
                                   "rows purged", "outcome"],
                  [[r["id"], f"{r['startedAt']:%Y-%m-%d}", f"{r['startedAt']:%H:%M:%S}",
                    None if r["seconds"] is None else round(r["seconds"], 1),
                    None if r["seconds"] is None or not median else f"{r['seconds'] / median:.1f}×",
                    r["rowsLoaded"], r["deleted"], r["purged"], r["outcome"]] for r in runs][::-1],
                  highlight=[bool(s) or r["outcome"] != "ok" for s, r in zip(slow, runs, strict=True)][::-1],
                  note="Highlighted: 3× the median or more, or not ended ok.")
    return Section("nightly", "Nightly runs", caption, source, [chart], [table])


# ---------------------------------------------------------------- reads


def weeks(first: date, last: date) -> list[date]:
    """The Mondays of the weeks from first's to last's."""
    monday = first - timedelta(days=first.weekday())
    out = []
    while monday <= last:
        out.append(monday)
        monday += timedelta(days=7)
    return out


def reads(con: duckdb.DuckDBPyConnection, w: Window) -> Section:
    """Who read deleted calls: reads per user per week, refusals highlighted (access_log with the spool)."""
    window = {"first": w.first_day, "end": w.end}
    per_week = rows_of(con, "reads_by_week", window)
    refusals = rows_of(con, "refusals", {**window, "limit": REFUSALS_SHOWN})
    source = "access_log and the access spool (entries not folded yet); sql/report/reads_by_week.sql, refusals.sql"
    if not per_week:
        return Section("reads", "Who read deleted calls", f"Nobody read deleted calls, and nobody was refused, {w.span()}.",
                       source, empty=True)
    total = sum(r["reads"] for r in per_week)
    refused = sum(r["refused"] for r in per_week)
    readers = {r["user"] for r in per_week if r["reads"]}
    by_refused: dict[str, int] = {}
    for r in per_week:
        if r["refused"]:
            by_refused[r["user"]] = by_refused.get(r["user"], 0) + r["refused"]
    who = ", ".join(f"{u} ×{n}" for u, n in sorted(by_refused.items(), key=lambda x: (-x[1], x[0]))[:5])
    caption = (f"{plural(total, 'read')} of deleted calls by {plural(len(readers), 'user')} {w.span()}; "
               + (f"{plural(refused, 'refusal')} ({who})." if refused else "no refusal."))
    labels = [d.isoformat() for d in weeks(min(r["week"] for r in per_week), w.as_of)]  # from the first week with a read
    series, muted = top_series([(r["week"].isoformat(), r["user"], r["reads"]) for r in per_week if r["reads"]], labels,
                               "other users")
    refused_series = [0.0] * len(labels)
    index = {d: i for i, d in enumerate(labels)}
    for r in per_week:
        refused_series[index[r["week"].isoformat()]] += r["refused"]
    if refused:
        series.append((REFUSED, refused_series))
    chart = Bars("reads-by-week", "Reads of deleted calls per week, by user; refusals on top", f"Stacked bars: reads of deleted calls per week (weeks from Monday) {w.span()}, by "
                 f"user, with refusals on top in red; {total} reads, {refused} refusals.", labels, series,
                 "reads and refusals", warn=frozenset({REFUSED}), muted=muted)
    tables = [
        Table("Reads and refusals per week and user, newest first", ["week of", "user", "reads", "refused", "rows returned"],
              [[r["week"], r["user"], r["reads"], r["refused"], r["rowsReturned"]] for r in newest_first(per_week, "week")],
              highlight=[r["refused"] > 0 for r in newest_first(per_week, "week")], note="Highlighted: a refusal that week."),
    ]
    if refusals:
        tables.append(Table(f"Latest refusals (first {REFUSALS_SHOWN}, newest first)", ["at (UTC)", "user", "command", "client", "why"],
                            [[r["at"], r["user"], r["command"], r["client"], r["reason"]] for r in refusals],
                            highlight=[True] * len(refusals)))
    return Section("reads", "Who read deleted calls", caption, source, [chart], tables)

