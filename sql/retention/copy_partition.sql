-- Write one partition's rows (up to an id) to a Parquet file, zstd, in id order; grain: one row per deleted call.
-- deletedMonth is left out: in Hive layout it is the folder name (deletedMonth=YYYY-MM), and a column of
-- the same name inside the file breaks pyarrow and Spark dataset reads.
COPY (SELECT * EXCLUDE (deletedMonth) FROM deleted_calls WHERE deletedMonth = $partition AND id <= $max_id ORDER BY id)
TO $path (FORMAT parquet, COMPRESSION zstd)
