"""Ingestion: read a delivered file once, map it by its profile, validate it, and load it into the warehouse."""
