"""The readers' side: list and get deleted calls, analyst SQL, tokens, on the published stores and the access spool only."""
