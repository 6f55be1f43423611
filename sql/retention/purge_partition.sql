-- Delete the archived rows of one partition from the warehouse (marks them deleted; the file rewrite erases them).
DELETE FROM deleted_calls WHERE deletedMonth = $partition AND id <= $max_id
