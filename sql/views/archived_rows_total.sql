-- Rows that left the warehouse for DR archives; grain: one row per archive part.
CREATE OR REPLACE VIEW archived_rows_total AS
SELECT "rows" FROM dr_archives;
