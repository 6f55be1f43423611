"""A warehouse for the review report's benchmark, generated in SQL: no CSV, no ingest.

    python bench/report_warehouse.py HOME [--calls 10000000] [--deleted 1000000] [--as-of 2026-12-15]

Two years of a busy platform, as of --as-of: `calls` live calls; `deleted` deleted calls in the
five months still kept (the oldest of them past its retention), and the counts of nineteen
months before that archived to DR and purged (dr_archives, retention_events, the summary); 12
carriers and 40 users; one deletion entry per 100 deleted calls with its items, and 5% of
the entries' items still pending at every age; 730 nightly runs (a few slow, failed or
rejected), ten CDR files a night, 1% of records rejected under eight rules; an access log of
two years of officers' reads with refusals, and a few entries still in the spool. Every table
the report reads is as large as such a warehouse holds; the report must still aggregate it
in DuckDB within its budget.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# $as_of: the report's date; months are counted back from it. Every statement runs once, in order.
STATEMENTS = [
    # live calls, in id order
    """
    INSERT INTO calls BY NAME
    SELECT i AS id, 1 + i // 1400 AS CDRFileID, 2 + i % 1400 AS lineNumber,
           '+4477' || lpad(CAST(hash(i) % 100000000 AS VARCHAR), 8, '0') AS target,
           CASE WHEN i % 2 = 0 THEN 'A' ELSE 'B' END AS callTypeDirectionFlag, 'N' AS callTypeRecordingFlag,
           CAST($as_of AS DATE) - CAST(i % 700 AS INTEGER) AS startDate, TIME '10:00:00' + INTERVAL (i % 3600) SECOND AS startTime,
           i % 3600 AS duration, CAST((i % 100000) / 10000 AS DECIMAL(18,4)) AS costCDR,
           'C' || lpad(CAST(i % 12 AS VARCHAR), 2, '0') AS carrier, 'L-' || lpad(CAST(i AS VARCHAR), 12, '0') AS carrierCallID,
           timezone('UTC', CAST($as_of AS DATE) - CAST(i % 700 AS INTEGER) + TIME '10:00:00') AS startedAt
    FROM range(1, $calls + 1) AS t(i)
    ORDER BY i
    """,
    # deleted calls in the five months still kept (month 0 = the as-of month .. month 4)
    """
    INSERT INTO deleted_calls BY NAME
    SELECT i AS id, $calls + i AS callId, 1 + i // 1400 AS CDRFileID, 2 + i % 1400 AS lineNumber,
           '+4477' || lpad(CAST(hash(i) % 100000000 AS VARCHAR), 8, '0') AS target, 'A' AS callTypeDirectionFlag,
           'N' AS callTypeRecordingFlag, d - 3 AS startDate, TIME '09:00:00' AS startTime, i % 1800 AS duration,
           CAST((i % 50000) / 10000 AS DECIMAL(18,4)) AS costCDR,
           'C' || lpad(CAST(hash(i * 7) % 12 AS VARCHAR), 2, '0') AS carrier, 'D-' || lpad(CAST(i AS VARCHAR), 12, '0') AS carrierCallID,
           'UAL-' || CAST(i // 100 AS VARCHAR) AS userActivityLog, 'u' || lpad(CAST(hash(i // 100) % 40 AS VARCHAR), 2, '0') AS deletedBy,
           CAST(d AS TIMESTAMP) + INTERVAL 8 HOUR AS deletedAt, strftime(d, '%Y-%m') AS deletedMonth,
           CAST(d AS TIMESTAMP) AS created, CAST(d AS TIMESTAMP) AS updated, 1 AS runId,
           timezone('UTC', d - 3 + TIME '09:00:00') AS startedAt
    FROM (SELECT i, CAST(date_trunc('month', CAST($as_of AS DATE)) - INTERVAL (4 - (i * 5) // ($deleted + 1)) MONTH AS DATE)
                    + CAST(i % 27 AS INTEGER) AS d
          FROM range(1, $deleted + 1) AS t(i))
    ORDER BY i
    """,
    # the summary: the kept months from their rows, and nineteen purged months before them (counts only kept)
    """
    INSERT INTO deleted_calls_summary
    SELECT deletedMonth, carrier, deletedBy, count(*), sum(costCDR), sum(duration) FROM deleted_calls GROUP BY ALL
    """,
    """
    INSERT INTO deleted_calls_summary
    SELECT strftime(CAST(date_trunc('month', CAST($as_of AS DATE)) - INTERVAL (m + 5) MONTH AS DATE), '%Y-%m'),
           'C' || lpad(CAST(c AS VARCHAR), 2, '0'), 'u' || lpad(CAST(u AS VARCHAR), 2, '0'),
           1 + hash(m * 1000 + c * 50 + u) % ($deleted // 2400 + 1), 0, 0
    FROM range(19) AS a(m), range(12) AS b(c), range(40) AS e(u)
    """,
    """
    INSERT INTO dr_archives
    SELECT p || '-part-0001', p, 1, 'dr/deletedMonth=' || p || '/part-0001.parquet', n, n * 60, repeat('0', 64), 1, n,
           '0', CAST(last_day(CAST(p || '-01' AS DATE)) + INTERVAL 91 DAY AS TIMESTAMP), 1
    FROM (SELECT deletedMonth AS p, sum(deletions) AS n FROM deleted_calls_summary
          WHERE deletedMonth NOT IN (SELECT DISTINCT deletedMonth FROM deleted_calls) GROUP BY ALL)
    """,
    """
    INSERT INTO retention_events
    SELECT id, "partition", "rows", CAST(created AS DATE), 90, created, created + INTERVAL 2 MINUTE, 1 FROM dr_archives
    """,
    # one deletion entry per 100 deleted calls, its items resolved; and pending entries of every age
    """
    INSERT INTO user_activity_log
    SELECT 'UAL-' || CAST(k AS VARCHAR), 'u' || lpad(CAST(hash(k) % 40 AS VARCHAR), 2, '0'),
           CAST($as_of AS TIMESTAMP) - INTERVAL (k % 700) DAY, 'delete_calls', 'customer request', '{}', 'carrierCallIds',
           repeat('0', 64), 1, k, CAST($as_of AS TIMESTAMP) - INTERVAL (k % 700) DAY, NULL, 1
    FROM range(0, $deleted // 100 + $deleted // 400 + 2) AS t(k)
    """,
    """
    INSERT INTO deletion_items (userActivityLog, item, kind, carrier, carrierCallID, resolvedAt, resolvedRunId, callsDeleted)
    SELECT 'UAL-' || CAST(i // 100 AS VARCHAR), i % 100, 'carrierCallID', NULL, 'D-' || lpad(CAST(i AS VARCHAR), 12, '0'),
           CAST($as_of AS TIMESTAMP), 1, 1
    FROM range(1, $deleted + 1) AS t(i)
    """,
    """
    INSERT INTO deletion_items (userActivityLog, item, kind, carrier, carrierCallID, cdrFile)
    SELECT 'UAL-' || CAST($deleted // 100 + 1 + i // 20 AS VARCHAR), i % 20,
           CASE WHEN i % 7 = 0 THEN 'cdrFile' ELSE 'carrierCallID' END, NULL,
           CASE WHEN i % 7 = 0 THEN NULL ELSE 'X-' || CAST(i AS VARCHAR) END,
           CASE WHEN i % 7 = 0 THEN 'late-' || CAST(i AS VARCHAR) || '.csv' END
    FROM range(0, $deleted // 20) AS t(i)
    """,
    # 730 nightly runs, a few slow, rejected or failed
    """
    INSERT INTO runs
    SELECT n, 'run nightly', 'batch', s, s + INTERVAL (CASE WHEN n % 97 = 0 THEN 1500 ELSE 280 + hash(n) % 90 END) SECOND,
           CASE WHEN n % 41 = 0 THEN 'failed' WHEN n % 9 = 0 THEN 'rejected' ELSE 'ok' END,
           CASE WHEN n % 41 = 0 THEN 7 WHEN n % 9 = 0 THEN 3 ELSE 0 END,
           '{"ingest-cdr": {"rows": ' || CAST($calls // 730 AS VARCHAR) || '}, "materialise": {"deleted": '
             || CAST($deleted // 150 AS VARCHAR) || '}, "retention": {"rowsPurged": 0}}',
           NULL
    FROM (SELECT n, CAST($as_of AS TIMESTAMP) - INTERVAL (730 - n) DAY + INTERVAL 2 HOUR AS s FROM range(1, 731) AS t(n))
    """,
    # ten CDR files a night; 1% of records rejected under eight rules, a file rejected whole now and then
    """
    INSERT INTO cdr_files
    SELECT f, 'c' || lpad(CAST(f % 12 AS VARCHAR), 2, '0') || '-' || CAST(f AS VARCHAR) || '.csv', repeat('0', 64),
           'C' || lpad(CAST(f % 12 AS VARCHAR), 2, '0'), CASE WHEN f % 211 = 0 THEN 'rejected' ELSE 'loaded' END,
           CASE WHEN f % 211 = 0 THEN 0 ELSE 1400 END, 14, 300000, [],
           CASE WHEN f % 211 = 0 THEN '30 of 1400 records rejected (2.14%), over the limit of 1.00%' END,
           CAST($as_of AS TIMESTAMP) - INTERVAL (730 - 1 - (f - 1) // 10) DAY + INTERVAL 2 HOUR, 1 + (f - 1) // 10, 'canonical', 0.01
    FROM range(1, 7301) AS t(f)
    """,
    """
    INSERT INTO rejected_rows (source, CDRFileID, fileName, lineNumber, reasons, rawLine, runId)
    SELECT 'cdr', f, 'c' || lpad(CAST(f % 12 AS VARCHAR), 2, '0') || '-' || CAST(f AS VARCHAR) || '.csv', 2 + r,
           [CASE r % 8 WHEN 0 THEN 'duration: must be whole seconds >= 0 (got ''-1'')'
                       WHEN 1 THEN 'startDate: must be a real calendar date (got ''2026-02-30'')'
                       WHEN 2 THEN 'target: must be + or a digit, then digits, 3-20 characters (got ''x'')'
                       WHEN 3 THEN 'expected 24 fields as in the header, found 25'
                       WHEN 4 THEN 'costCDR: at most 4 decimal places (got ''1.00001'')'
                       WHEN 5 THEN 'duplicate: carrier and carrierCallID already loaded'
                       WHEN 6 THEN 'startTime: must be HH:MM:SS (got ''25:00:00'')'
                       ELSE 'callTypeDirectionFlag: must be A or B (got ''C'')' END],
           'raw', 1 + (f - 1) // 10
    FROM range(1, 7301) AS a(f), range(0, 14) AS b(r)
    """,
    # two years of officers' reads (every fourth refused for the outsiders)
    """
    INSERT INTO access_log ("user", "at", command, filters, rowsReturned, allowed, reason, entryId, client, tokenId)
    SELECT CASE WHEN k % 50 = 0 THEN 'analyst' || CAST(k % 3 AS VARCHAR) ELSE 'dpo' || CAST(k % 6 AS VARCHAR) END,
           CAST($as_of AS TIMESTAMP) - INTERVAL (k % 730) DAY - INTERVAL (k % 86400) SECOND,
           CASE k % 3 WHEN 0 THEN 'deleted-calls list' WHEN 1 THEN 'sql' ELSE 'deleted-calls get' END, '{}',
           CASE WHEN k % 50 = 0 THEN NULL ELSE k % 100 END, k % 50 <> 0,
           CASE WHEN k % 50 = 0 THEN 'lacks data_protection' END, 'e-' || CAST(k AS VARCHAR), 'cli', NULL
    FROM range(0, $reads) AS t(k)
    """,
    """
    UPDATE counters SET value = CASE name WHEN 'call' THEN $calls WHEN 'deleted_call' THEN $deleted WHEN 'run' THEN 730
                                          WHEN 'cdr_file' THEN 7300 ELSE value END
    """,
]


def build(home: Path, calls: int, deleted: int, as_of: date, reads: int = 100_000) -> None:
    """Create the warehouse in home (which must not exist) and publish it."""
    from deletedcalls.settings import load_settings
    from deletedcalls.store.session import init_warehouse, writing

    settings = load_settings(home)
    init_warehouse(settings)
    params = {"calls": calls, "deleted": deleted, "as_of": as_of, "reads": reads}
    with writing(settings) as session:  # publishes both stores on the way out
        for statement in STATEMENTS:
            wanted = {k: v for k, v in params.items() if f"${k}" in statement}
            session.con.execute("BEGIN")
            session.con.execute(statement, wanted)
            session.con.execute("COMMIT")
        session.con.execute("CHECKPOINT")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("home", type=Path)
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--deleted", type=int, default=1_000_000)
    ap.add_argument("--reads", type=int, default=100_000)
    ap.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 12, 15))
    args = ap.parse_args()
    build(args.home, args.calls, args.deleted, args.as_of, args.reads)


if __name__ == "__main__":
    main()
