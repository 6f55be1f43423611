-- Rows that left the warehouse for DR archives (none until retention is enforced); grain: one row per archive part.
CREATE OR REPLACE VIEW archived_rows_total AS
SELECT CAST(0 AS BIGINT) AS "rows" WHERE false;
