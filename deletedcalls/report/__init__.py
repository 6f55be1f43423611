"""The review report: one page of charts and tables from a published store, for an officer or an analyst."""
