"""Logging set-up, and one structured line per prediction."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from canvasflow.engine.prediction import Prediction

log = logging.getLogger("canvasflow.prediction")


def configure(fmt: str = "text", level: str = "info") -> None:
    """Log to stderr, as JSON lines when ``fmt`` is ``json``."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class PredictionLog:
    """Writes one line per finished prediction: canvas, chat, status, timings and token
    usage. The question and answer only with ``log_prompts``; keys never."""

    def __init__(self, log_prompts: bool = False) -> None:
        self.log_prompts = log_prompts

    def started(self, prediction: Prediction) -> None:
        pass

    def finished(self, prediction: Prediction) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        ctx = prediction.ctx
        fields = {
            "canvas": ctx.canvas_id,
            "chatId": ctx.chat_id,
            "sessionId": ctx.session_id,
            "chatMessageId": ctx.chat_message_id,
            "status": prediction.status,
            "model": prediction.outcome.model,
            "ttft_ms": prediction.ttft_ms,
            "latency_ms": prediction.latency_ms,
            "tokens": prediction.outcome.usage.completion_tokens or prediction.outcome.tokens,
            "usage": prediction.outcome.usage.as_dict(),
        }
        if prediction.error is not None:
            fields["error_code"] = prediction.error["code"]
        if prediction.aborted_by:
            fields["aborted_by"] = prediction.aborted_by
        if self.log_prompts:
            fields["question"] = ctx.question
            fields["answer"] = prediction.outcome.text
        log.info(
            "prediction %s canvas=%s chat=%s status=%s tokens=%d ttft_ms=%s latency_ms=%d",
            ctx.chat_message_id,
            ctx.canvas_id,
            ctx.chat_id,
            prediction.status,
            fields["tokens"],
            prediction.ttft_ms,
            prediction.latency_ms,
            extra=fields,
        )
