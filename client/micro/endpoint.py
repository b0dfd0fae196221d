"""`Endpoint`: one subject a service answers on, its handler and its statistics (requests,
errors, the last error, total and average processing time in nanoseconds).

The handler runs as a subscription callback of the same kind: an `async def` handler gets owned
requests one at a time, in order; a plain `def` handler is called inline while the receive
buffer is parsed, with a zero-copy `data`. A handler that raises is answered with its error: a
`ServiceError`'s code and description, else code 500 and the exception's repr (as nats-py)."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

from ..client import Client
from ..errors import ZatsError
from ..msg import Msg
from ..subscription import Subscription
from .request import Handler, Request, ServiceError
from .schema import EndpointInfo, EndpointStats


class Endpoint:
    """An endpoint of a running service (returned by `add_endpoint`). `name`, `subject`,
    `queue_group`, `metadata`; `stats()` and `info()` give its part of the STATS and INFO
    answers."""

    __slots__ = ("name", "subject", "queue_group", "metadata", "_handler", "num_requests",
                 "num_errors", "last_error", "processing_time", "subscription", "_tasks")

    def __init__(self, name: str, subject: str, queue_group: str, metadata: dict[str, str] | None,
                 handler: Handler):
        self.name = name
        self.subject = subject
        self.queue_group = queue_group
        self.metadata = metadata
        self._handler = handler
        self.subscription: Subscription | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.reset()

    def reset(self) -> None:
        self.num_requests = 0
        self.num_errors = 0
        self.last_error = ""
        self.processing_time = 0

    async def start(self, nc: Client) -> None:
        """Subscribes (queue group `queue_group`) with the callback that suits the handler."""
        handler = self._handler
        cb = self._on_request_async if inspect.iscoroutinefunction(handler) else self._on_request_inline
        self.subscription = await nc.subscribe(self.subject, queue=self.queue_group, cb=cb)

    async def stop(self) -> None:
        """Drains the subscription: requests already received are still answered."""
        sub, self.subscription = self.subscription, None
        if sub is None:
            return
        try:
            await sub.drain()
        except ZatsError:
            sub.unsubscribe()

    def _on_request_inline(self, msg: Msg) -> None:
        start = time.perf_counter_ns()
        request = Request(msg)
        try:
            result = self._handler(request)
            if inspect.iscoroutine(result):
                # a plain function that returned a coroutine: finish it in a task
                task = asyncio.ensure_future(self._finish(request, result, start))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return
        except Exception as exc:  # the handler's failure is the requester's answer
            self._answer_failure(request, exc)
        self._count(request, start)

    async def _on_request_async(self, msg: Msg) -> None:
        start = time.perf_counter_ns()
        request = Request(msg)
        try:
            await self._handler(request)  # type: ignore[misc]  # an async def handler
        except Exception as exc:
            self._answer_failure(request, exc)
        self._count(request, start)

    async def _finish(self, request: Request, result: Any, start: int) -> None:
        try:
            await result
        except Exception as exc:
            self._answer_failure(request, exc)
        self._count(request, start)

    @staticmethod
    def _answer_failure(request: Request, exc: Exception) -> None:
        if isinstance(exc, ServiceError):
            code, description, data = exc.code, exc.description, exc.data
        else:
            code, description, data = "500", repr(exc), b""
        if request.reply:
            try:
                request.respond_error(code, description, data)
                return
            except ZatsError:
                pass  # the connection is gone: count the error all the same
        request.error = f"{code}:{description}"

    def _count(self, request: Request, start: int) -> None:
        self.num_requests += 1
        self.processing_time += time.perf_counter_ns() - start
        if request.error is not None:
            self.num_errors += 1
            self.last_error = request.error

    def info(self) -> EndpointInfo:
        return EndpointInfo(name=self.name, subject=self.subject, queue_group=self.queue_group,
                            metadata=self.metadata)

    def stats(self, data: Any = None) -> EndpointStats:
        n = self.num_requests
        return EndpointStats(
            name=self.name, subject=self.subject, queue_group=self.queue_group, num_requests=n,
            num_errors=self.num_errors, last_error=self.last_error,
            processing_time=self.processing_time,
            average_processing_time=self.processing_time // n if n else 0, data=data)
