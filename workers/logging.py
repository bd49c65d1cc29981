"""structlog set-up: one JSON object per line, with the Temporal workflow and run ids on every record.

The SDK logs through the standard library (``workflow.logger``, ``activity.logger``) and puts the Temporal context
in ``extra``; a stdlib handler with structlog's ``ProcessorFormatter`` turns both worlds into the same JSON lines.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
import temporalio.activity
import temporalio.workflow
from structlog.typing import EventDict, WrappedLogger

_TEMPORAL_KEYS = {
    "workflow_id": "workflow_id",
    "run_id": "run_id",
    "workflow_type": "workflow_type",
    "activity_type": "activity_type",
    "activity_id": "activity_id",
    "attempt": "attempt",
    "task_queue": "task_queue",
}


def _lift_temporal_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Flatten the SDK's ``temporal_workflow`` / ``temporal_activity`` extras into top-level keys."""
    for extra_key in ("temporal_workflow", "temporal_activity"):
        context = event_dict.pop(extra_key, None)
        if isinstance(context, dict):
            for key, target in _TEMPORAL_KEYS.items():
                if key in context and target not in event_dict:
                    event_dict[target] = context[key]
    return event_dict


def configure_logging(level: str = "INFO") -> None:
    """Route structlog and stdlib logging to JSON lines on stderr; safe to call more than once."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _lift_temporal_context,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx writes a line per request at INFO: at 1,000 rollouts that is most of the log and a few per cent of
    # the worker's CPU. The activities log what the request meant (weights applied, a delivery's status); the
    # request lines come back with LOG_LEVEL=DEBUG.
    logging.getLogger("httpx").setLevel(logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING)
    # The context is already lifted into JSON keys; the SDK would also append it to every message.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False
