-- A restored archive's rows (the decrypted stream registered as batches) with their partition put back as the last
-- column, as in the warehouse's deleted_calls; grain: one deleted call.
CREATE TABLE deleted_calls AS SELECT *, CAST($partition AS VARCHAR) AS deletedMonth FROM batches
