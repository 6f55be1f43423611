-- Reading: the analysts' deletion summary (no phone numbers), kept by materialise so it outlives purges.
CREATE TABLE deleted_calls_summary (
    deletedMonth VARCHAR NOT NULL,         -- YYYY-MM of deletedAt
    carrier      VARCHAR NOT NULL,
    deletedBy    VARCHAR NOT NULL,
    deletions    BIGINT NOT NULL,          -- calls deleted
    costCDR      DECIMAL(38, 4) NOT NULL,  -- their wholesale cost, pence
    duration     BIGINT NOT NULL,          -- their total duration, seconds
    PRIMARY KEY (deletedMonth, carrier, deletedBy)
);
INSERT INTO deleted_calls_summary
SELECT deletedMonth, carrier, deletedBy, count(*), sum(costCDR), sum(duration)
FROM deleted_calls
GROUP BY ALL;
