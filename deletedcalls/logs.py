"""Logging to stderr, as text for people or one JSON object a line for machines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

LOGGER = "deletedcalls"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        extra = " ".join(f"{k}={v}" for k, v in fields.items() if k != "stage")
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"{level}{record.getMessage()}" + (f" ({extra})" if extra else "")


_debugging = False


def setup(log_format: str, quiet: bool, debug: bool = False) -> None:
    global _debugging
    _debugging = debug
    log = logging.getLogger(LOGGER)
    log.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False
    # logging.config.dictConfig (Airflow, import-linter in the tests) disables every logger that exists by default
    log.disabled = False


def debugging() -> bool:
    """--debug was given: an error is raised with its traceback rather than recorded and passed over."""
    return _debugging


def debug(message: str, **fields: object) -> None:
    logging.getLogger(LOGGER).debug(message, extra={"fields": fields})


def info(message: str, **fields: object) -> None:
    logging.getLogger(LOGGER).info(message, extra={"fields": fields})


def warning(message: str, **fields: object) -> None:
    logging.getLogger(LOGGER).warning(message, extra={"fields": fields})


def error(message: str, **fields: object) -> None:
    logging.getLogger(LOGGER).error(message, extra={"fields": fields})
