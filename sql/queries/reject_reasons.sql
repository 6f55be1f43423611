-- Example: the most common reasons CDR records were rejected; grain: one row per reason.
SELECT reason, count(*) AS records, count(DISTINCT fileName) AS files
FROM (SELECT fileName, unnest(reasons) AS reason FROM rejected_rows WHERE source = 'cdr')
GROUP BY reason
ORDER BY records DESC
