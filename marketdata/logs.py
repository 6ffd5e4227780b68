"""Structured logging for every part: JSON lines when not on a terminal, readable when on one.

Events are named `<noun>.<past-verb>` with values in keys (`log.info("ws.connected", url=...)`).
The stdlib root logger is routed through the same renderer so library logs (aiokafka, faust,
uvicorn) come out in one format.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["auto", "json", "console"]


def configure_logging(level: str = "INFO", fmt: LogFormat = "auto", *, part: str = "") -> None:
    """Configure structlog and stdlib logging once, in `main()`."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if part:
        shared.insert(0, _bind_part(part))
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info if use_json else _identity,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for chatty in ("httpx", "httpcore"):  # one INFO line per request is noise, not signal
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


def _identity(
    _logger: object,
    _name: str,
    event: structlog.types.EventDict,
) -> structlog.types.EventDict:
    return event


def _bind_part(part: str) -> structlog.types.Processor:
    def add_part(
        _logger: object,
        _name: str,
        event: structlog.types.EventDict,
    ) -> structlog.types.EventDict:
        event.setdefault("part", part)
        return event

    return add_part


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
