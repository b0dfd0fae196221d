"""`JetStreamManager`: the management half of the JetStream API, named as nats-py names it:
account info, streams (add/update/info/delete/purge/list/names), consumers
(add/info/delete/list/names) and stored messages (get, direct get, delete)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

from zats.protocol.headers import Headers, decode_headers

from .api import Api, check_name, convert
from .errors import APIError, InvalidResponseError, MsgNotFoundError, NotFoundError
from .structs import (
    AccountInfo,
    ConsumerConfig,
    ConsumerInfo,
    RawStreamMsg,
    StreamConfig,
    StreamInfo,
    to_wire,
)


class StoredMsg(msgspec.Struct):
    """A message read from a stream: `data` bytes, `headers` a `Headers` or None, `time` the
    RFC 3339 time the stream stored it (None from a direct get of a server that omits it)."""

    subject: str
    seq: int
    data: bytes
    headers: Any = None
    time: str | None = None

    @property
    def header(self) -> Headers | None:
        """Alias of `headers` (nats-py's name)."""
        h: Headers | None = self.headers
        return h


_DIRECT_HEADERS = ("Nats-Stream", "Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp")


def _direct_answer(msg: Any) -> StoredMsg:
    """The stored message a DIRECT.GET answered with (its headers name it), or the typed error
    its status says."""
    headers = msg.headers
    if headers is None:
        raise InvalidResponseError("DIRECT.GET answered without headers")
    status = headers.status
    if status is not None:
        if status == 404:
            raise MsgNotFoundError(404, 10037, headers.description or "no message found")
        raise APIError.from_error({"code": status, "description": headers.description})
    try:
        subject = headers["Nats-Subject"]
        seq = int(headers["Nats-Sequence"])
    except (KeyError, ValueError):
        raise InvalidResponseError("DIRECT.GET answered without Nats-Subject/Nats-Sequence") from None
    ts = headers.get("Nats-Time-Stamp")
    own = None
    if len(headers) > len(_DIRECT_HEADERS):  # the message has headers of its own
        own = Headers([(k, v) for k, v in headers.items() if k not in _DIRECT_HEADERS]) or None
    return StoredMsg(subject, seq, bytes(msg.data), own, ts)


def _config(cls: type[Any], config: Any, params: dict[str, Any]) -> Any:
    if config is None:
        return cls(**params)
    if params:
        return msgspec.structs.replace(config, **params)
    return config


class JetStreamManager:
    """JetStream management over one connection (`nc.jetstream()` is a `JetStreamContext`,
    which has all of these too)."""

    def __init__(self, api: Api):
        self._api = api

    async def account_info(self) -> AccountInfo:
        """The account's JetStream usage and limits."""
        return await self._api.call(AccountInfo, self._api.subject("INFO"))

    # ---------------------------------------------------------------------------- streams

    async def add_stream(self, config: StreamConfig | None = None, **params: Any) -> StreamInfo:
        """Creates a stream (`config`, or its fields as keywords). Creating one again with the
        same configuration answers its info; with another, `StreamNameAlreadyInUseError`."""
        cfg = _config(StreamConfig, config, params)
        name = check_name(cfg.name or "", "stream name")
        return await self._api.call(StreamInfo, self._api.subject("STREAM", "CREATE", name), to_wire(cfg))

    async def update_stream(self, config: StreamConfig | None = None, **params: Any) -> StreamInfo:
        """Changes a stream's configuration."""
        cfg = _config(StreamConfig, config, params)
        name = check_name(cfg.name or "", "stream name")
        return await self._api.call(StreamInfo, self._api.subject("STREAM", "UPDATE", name), to_wire(cfg))

    async def stream_info(self, name: str, subjects_filter: str | None = None) -> StreamInfo:
        """A stream's configuration and state (`subjects_filter`: also the message count of each
        matching subject, in `state.subjects`)."""
        body = {"subjects_filter": subjects_filter} if subjects_filter else None
        return await self._api.call(StreamInfo, self._api.subject("STREAM", "INFO", check_name(name, "stream name")), body)

    async def delete_stream(self, name: str) -> bool:
        answer = await self._api.request(self._api.subject("STREAM", "DELETE", check_name(name, "stream name")))
        return bool(answer.get("success"))

    async def purge_stream(self, name: str, seq: int | None = None, subject: str | None = None,
                           keep: int | None = None) -> int:
        """Removes messages (all; those of `subject`; those below `seq`; all but the last `keep`)
        and returns how many were removed."""
        body: dict[str, Any] = {}
        if seq is not None:
            body["seq"] = seq
        if subject is not None:
            body["filter"] = subject
        if keep is not None:
            body["keep"] = keep
        answer = await self._api.request(self._api.subject("STREAM", "PURGE", check_name(name, "stream name")), body or None)
        purged = answer.get("purged", 0)
        return purged if isinstance(purged, int) else 0

    async def streams_info(self, subject: str | None = None) -> list[StreamInfo]:
        """Every stream's info (all pages), of those storing `subject` when given."""
        return [convert(StreamInfo, s) for s in await self._paged("STREAM.LIST", "streams", subject=subject)]

    list_streams = streams_info

    async def stream_names(self, subject: str | None = None) -> list[str]:
        """Every stream's name (all pages), of those storing `subject` when given."""
        names = await self._paged("STREAM.NAMES", "streams", subject=subject)
        if not all(isinstance(n, str) for n in names):
            raise InvalidResponseError("STREAM.NAMES answered names that are not strings")
        return names

    async def find_stream_name_by_subject(self, subject: str) -> str:
        """The stream that stores `subject`; `NotFoundError` when none does."""
        names = await self.stream_names(subject)
        if not names:
            raise NotFoundError(404, None, f"no stream matches subject {subject!r}")
        return names[0]

    async def _paged(self, api: str, key: str, *names: str, subject: str | None = None) -> list[Any]:
        items: list[Any] = []
        subj = self._api.subject(*api.split("."), *names)
        while True:
            body: dict[str, Any] = {"offset": len(items)}
            if subject:
                body["subject"] = subject
            answer = await self._api.request(subj, body)
            page = answer.get(key) or []
            total = answer.get("total", 0)
            if not isinstance(page, list) or not isinstance(total, int):
                raise InvalidResponseError(f"{api} answered a page that is not a list")
            items.extend(page)
            if not page or len(items) >= total:
                return items

    # ---------------------------------------------------------------------------- consumers

    async def add_consumer(self, stream: str, config: ConsumerConfig | None = None, **params: Any) -> ConsumerInfo:
        """Creates (or, same configuration, finds) a consumer on `stream`: named when
        `config.name` or `durable_name` is set, else ephemeral with a server-chosen name."""
        cfg = _config(ConsumerConfig, config, params)
        check_name(stream, "stream name")
        name = cfg.name or cfg.durable_name
        if name:
            check_name(name, "consumer name")
            tokens = ["CONSUMER", "CREATE", stream, name]
            if cfg.filter_subject and not cfg.filter_subjects:
                tokens.append(cfg.filter_subject)
        else:
            tokens = ["CONSUMER", "CREATE", stream]
        body = {"stream_name": stream, "config": to_wire(cfg)}
        return await self._api.call(ConsumerInfo, self._api.subject(*tokens), body)

    async def consumer_info(self, stream: str, consumer: str) -> ConsumerInfo:
        return await self._api.call(ConsumerInfo, self._api.subject(
            "CONSUMER", "INFO", check_name(stream, "stream name"), check_name(consumer, "consumer name")))

    async def delete_consumer(self, stream: str, consumer: str) -> bool:
        answer = await self._api.request(self._api.subject(
            "CONSUMER", "DELETE", check_name(stream, "stream name"), check_name(consumer, "consumer name")))
        return bool(answer.get("success"))

    async def consumers_info(self, stream: str) -> list[ConsumerInfo]:
        """Every consumer's info on `stream` (all pages)."""
        items = await self._paged("CONSUMER.LIST", "consumers", check_name(stream, "stream name"))
        return [convert(ConsumerInfo, c) for c in items]

    list_consumers = consumers_info

    async def consumer_names(self, stream: str) -> list[str]:
        names = await self._paged("CONSUMER.NAMES", "consumers", check_name(stream, "stream name"))
        if not all(isinstance(n, str) for n in names):
            raise InvalidResponseError("CONSUMER.NAMES answered names that are not strings")
        return names

    # ---------------------------------------------------------------------------- messages

    async def get_msg(self, stream: str, seq: int | None = None, subject: str | None = None,
                      next: bool = False, direct: bool = False) -> StoredMsg:
        """A stored message: by `seq`; the last of `subject`; with `next`, the first at or
        after `seq` (of `subject` when given). `direct` reads it through `DIRECT.GET` (any
        replica answers; the stream needs `allow_direct`). `MsgNotFoundError` when there is
        none."""
        check_name(stream, "stream name")
        body: dict[str, Any] = {}
        if next:
            body["seq"] = seq or 1
            if subject:
                body["next_by_subj"] = subject
        elif subject is not None:
            body["last_by_subj"] = subject
        elif seq is not None:
            body["seq"] = seq
        else:
            raise ValueError("get_msg needs seq or subject")
        if direct:
            return await self._direct_get(stream, body)
        answer = await self._api.request(self._api.subject("STREAM", "MSG", "GET", stream), body)
        raw = convert(RawStreamMsg, answer.get("message"))
        try:
            data = base64.b64decode(raw.data) if raw.data else b""
            headers = decode_headers(base64.b64decode(raw.hdrs)) if raw.hdrs else None
        except (binascii.Error, ValueError):
            raise InvalidResponseError("STREAM.MSG.GET answered a message that is not base64") from None
        return StoredMsg(raw.subject, raw.seq, data, headers, raw.time)

    async def _direct_get(self, stream: str, body: dict[str, Any]) -> StoredMsg:
        last = body.get("last_by_subj")
        if last is not None and len(body) == 1 and "*" not in last and ">" not in last:
            return await self.direct_get_last(stream, last)
        msg = await self._api.nc.request(self._api.subject("DIRECT", "GET", stream),
                                         msgspec.json.encode(body), timeout=self._api.timeout)
        return _direct_answer(msg)

    async def direct_get_last(self, stream: str, subject: str) -> StoredMsg:
        """The last message of `subject` (no wildcards) through DIRECT.GET, the subject in the
        request's own (no JSON to encode or parse, as nats.go's KV get does). `stream` is not
        checked again: the key/value get, which calls this for every key, holds a checked name."""
        msg = await self._api.nc.request(self._api.subject("DIRECT", "GET", stream, subject), b"",
                                         timeout=self._api.timeout)
        return _direct_answer(msg)

    async def delete_msg(self, stream: str, seq: int, erase: bool = False) -> bool:
        """Deletes message `seq` (overwriting its bytes when `erase`)."""
        body = {"seq": seq} if erase else {"seq": seq, "no_erase": True}
        answer = await self._api.request(self._api.subject("STREAM", "MSG", "DELETE", check_name(stream, "stream name")), body)
        return bool(answer.get("success"))
