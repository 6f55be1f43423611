-- The rows of one partition up to an id, in id order, as archived: every column but deletedMonth (the partition is
-- the folder's name, deletedMonth=YYYY-MM, Hive style); grain: one deleted call. dr/ streams it into the archive.
SELECT * EXCLUDE (deletedMonth) FROM deleted_calls WHERE deletedMonth = $partition AND id <= $max_id ORDER BY id
