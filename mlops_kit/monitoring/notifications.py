"""Notifications of the continuous-training loop: JSON posted to the spec's webhooks.

The body (``body: generic``, the default) is one JSON object::

    {
      "text": "[mlops-kit] purchase@1: check run 7 failed: 14 violations ...",
      "event": "violations",          # violations, retraining, refused or promotion
      "model": "purchase",
      "version": 1,
      "check_run_id": 7,
      "at": "2026-11-20T06:00:00+00:00",
      "details": {...}                # per event: the violations, the trigger and its guard ...
    }

Slack's incoming webhooks show ``text`` and ignore the other fields; Google Chat's refuse fields
they do not know, so a Google Chat channel takes ``body: text``, which posts ``{"text": ...}``
only. ``text`` has ``&``, ``<`` and ``>`` escaped as both expect, so a logged value such as
``<!channel>`` cannot mention or link anyone.

A notification that fails (refused, unreachable, slower than the channel's timeout, its URL
variable unset) is recorded on the check run and never fails the check.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlops_kit.backends import redact_secrets
from mlops_kit.errors import ConfigError

if TYPE_CHECKING:
    from mlops_kit.monitoring.spec import NotificationChannel, NotificationEvent

_TEXT_LIMIT = 3000
"""Characters of ``text``: Slack cuts a message's text at 40,000, Google Chat at 4,096 bytes."""
_ELLIPSIS = "…"


@dataclass(frozen=True)
class Event:
    """Something the loop tells people about.

    Attributes:
        kind: which event (a channel receives the kinds it lists).
        text: one line for people (unescaped; escaped when sent).
        model: the model name.
        version: the version the check watched.
        check_run_id: the check run it belongs to.
        details: structured data for receivers that read JSON.
    """

    kind: NotificationEvent
    text: str
    model: str
    version: int
    check_run_id: int
    details: Mapping[str, Any] = field(default_factory=dict)


def escape_text(text: str) -> str:
    """``text`` with ``&``, ``<`` and ``>`` escaped, as Slack and Google Chat require."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def limited_text(text: str) -> str:
    """``text`` escaped and cut to :data:`_TEXT_LIMIT` characters with an ellipsis.

    The limit holds for the escaped text, which is what the receiver counts, and the cut never
    falls inside an escape.
    """
    escaped = escape_text(text)
    if len(escaped) <= _TEXT_LIMIT:
        return escaped
    kept: list[str] = []
    size = len(_ELLIPSIS)
    for char in text:
        piece = escape_text(char)
        size += len(piece)
        if size > _TEXT_LIMIT:
            break
        kept.append(piece)
    return "".join(kept) + _ELLIPSIS


def body(event: Event, channel: NotificationChannel, at: datetime) -> dict[str, Any]:
    """The JSON body ``channel`` receives for ``event`` (see the module docstring)."""
    text = limited_text(f"[mlops-kit] {event.text}")
    if channel.body == "text":
        return {"text": text}
    return {
        "text": text,
        "event": event.kind,
        "model": event.model,
        "version": event.version,
        "check_run_id": event.check_run_id,
        "at": at.isoformat(),
        "details": dict(event.details),
    }


def _post(url: str, payload: dict[str, Any], timeout: float) -> None:
    request = urllib.request.Request(  # noqa: S310 - the spec's webhook, http(s) only
        url,
        data=json.dumps(payload, default=str).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        response.read()


def _failure(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"refused: HTTP {exc.code} {exc.reason}"
    reason = getattr(exc, "reason", None) or exc
    if isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError):
        return "no answer within the timeout"
    return redact_secrets(" ".join(str(reason).split()))


def notify(
    channels: Sequence[NotificationChannel],
    events: Sequence[Event],
    environ: Mapping[str, str],
    at: datetime,
) -> list[dict[str, Any]]:
    """Post each event to each channel that lists its kind; never raise.

    Args:
        channels: the spec's channels.
        events: what happened, in order.
        environ: where ``${VARIABLE}`` webhook URLs are read.
        at: the moment stated in the bodies.

    Returns:
        One record per post: channel, event, ``delivered``, and ``error`` when not delivered.
    """
    records: list[dict[str, Any]] = []
    for event in events:
        for channel in channels:
            if event.kind not in channel.events:
                continue
            record: dict[str, Any] = {"channel": channel.name, "event": event.kind}
            try:
                _post(channel.url(environ), body(event, channel, at), channel.timeout)
            except ConfigError as exc:
                record |= {"delivered": False, "error": str(exc)}
            except (OSError, ValueError, http.client.HTTPException) as exc:
                # URLError, HTTPError, timeouts and refused connections are OSErrors; a garbled
                # answer is an HTTPException.
                record |= {"delivered": False, "error": _failure(exc)}
            else:
                record["delivered"] = True
            records.append(record)
    return records
