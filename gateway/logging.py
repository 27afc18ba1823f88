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


def configure_logging(settings: Settings) -> None:
    """Route the gateway's loggers (`dpor.*`) at the configured level; JSON lines when `log_json` is set."""
    # Strawberry logs every error of every operation at ERROR, without the request id, expected ones (a rate
    # limit, a validation error) included. schema/extensions/error_codes.py logs each error once, at the level
    # its kind deserves and with the request id; Strawberry's copy would only add noise to the ERROR stream.
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)
    logger = logging.getLogger("dpor")
    logger.setLevel(settings.log_level)
    if settings.log_json and not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        # The JSON handler is the gateway's own; records are not printed twice through the root logger.
        logger.propagate = False
