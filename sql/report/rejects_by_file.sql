-- Rejected records of the last $runs runs, by file and rule; grain: one row per file and rule. The rule is the
-- reason without the value it quotes (the report shows no field value), so that the same rule groups;
-- a record rejected for two rules counts under each, and fileRecords counts each rejected record once.
WITH recent AS (
    SELECT id FROM runs ORDER BY id DESC LIMIT $runs
),
rejected AS (
    SELECT fileName, source, reasons
    FROM rejected_rows
    WHERE runId IN (SELECT id FROM recent)
),
files AS (
    SELECT fileName, source, count(*) AS fileRecords
    FROM rejected
    GROUP BY ALL
),
reasons AS (
    SELECT fileName, source, unnest(reasons) AS reason
    FROM rejected
)
SELECT
    r.fileName,
    r.source,
    regexp_replace(regexp_replace(r.reason, '\s*\(got .*$', ''), '''[^'']*''', '…', 'g') AS rule,
    count(*) AS records,
    f.fileRecords
FROM reasons AS r
JOIN files AS f USING (fileName, source)
GROUP BY ALL
ORDER BY f.fileRecords DESC, r.fileName, records DESC, rule
