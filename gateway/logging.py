"""Structured logs: one JSON object per line, with the request's facts as top-level keys.

The stdlib `logging` plus this formatter (no extra dependency): loggers pass facts through `extra=`
(request_id, subject, operation, duration_ms, sql_statements, cost, outcome), and the formatter writes every
such attribute that is not part of a plain LogRecord.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.settings import Settings

# Attributes every LogRecord has; anything else on a record came from `extra=` and is written out.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


# The gateway's own loggers (its packages, and the names its modules log under).
APP_LOGGERS = ("dpor", "dpor_gateway", "auth", "db", "gateway", "resolvers", "schema")


def configure_logging(settings: Settings) -> None:
    """The gateway's loggers at the configured level; with `log_json`, every record as a JSON line on stderr."""
    for name in APP_LOGGERS:
        logging.getLogger(name).setLevel(settings.log_level)
    root = logging.getLogger()
    if settings.log_json and not any(isinstance(handler.formatter, JsonFormatter) for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
