"""Request steps on dramatiq: the broker, the one actor, and the sender the web app uses.

The message carries only a request id. What to do, and whether it is still to be done, is in the
database: a handler claims the request (see ``pledge.requests.claims``), so a duplicated, late or
replayed message does nothing harmful, and a lost one is made up for by the dispatcher that
re-sends runnable requests. Retries are the runner's (with its backoff and limits), so the actor
has dramatiq's own retries switched off.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

from pledge.errors import ConfigError

__all__ = ["ACTOR_NAME", "QUEUE_NAME", "RequestQueue", "make_broker"]

ACTOR_NAME = "pledge_run_request"
QUEUE_NAME = "pledge-requests"
_TIME_LIMIT_MS = 6 * 3600 * 1000
"""dramatiq interrupts an actor after its time limit; a step over a huge table may take long, and an
interrupted step is simply re-run later, so the limit is generous."""


def make_broker(url: str, *, namespace: str = "pledge") -> dramatiq.Broker:
    """A broker for ``redis://``, ``rediss://``, ``amqp://``, ``amqps://`` (or ``stub://`` in tests)."""
    scheme = url.partition(":")[0].lower()
    if scheme in ("redis", "rediss"):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, namespace=namespace)  # type: ignore[no-untyped-call]
    if scheme in ("amqp", "amqps"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url)
    if scheme == "stub":
        return StubBroker()
    raise ConfigError(
        f"not a broker URL: {url[:200]!r}",
        hint="use redis://HOST:6379/0 or amqp://USER:PASSWORD@HOST:5672/",
    )


class RequestQueue:
    """Declares the request actor on ``broker``. Without a ``handler`` it only sends (the web
    app); with one, a dramatiq worker on this broker runs it for each message."""

    def __init__(
        self,
        broker: dramatiq.Broker,
        *,
        handler: Callable[[str], None] | None = None,
        queue_name: str = QUEUE_NAME,
    ) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self._handler = handler
        self.actor: dramatiq.Actor[Any, Any] = dramatiq.Actor(
            self._handle,
            broker=broker,
            actor_name=ACTOR_NAME,
            queue_name=queue_name,
            priority=0,
            options={"max_retries": 0, "time_limit": _TIME_LIMIT_MS},
        )

    def _handle(self, request_id: str) -> None:
        if self._handler is None:  # pragma: no cover - a sender process never consumes
            raise RuntimeError("this RequestQueue only sends")
        self._handler(request_id)

    def enqueue(self, request_id: str, *, delay: dt.timedelta | None = None) -> None:
        """Send ``request_id`` to the workers (after ``delay``). Usable as ``on_runnable``."""
        millis = None if delay is None else max(0, int(delay.total_seconds() * 1000))
        self.actor.send_with_options(args=(request_id,), delay=millis)
