"""JetStream's exceptions: an API error answer (`{"error": {"code", "err_code",
"description"}}`) becomes the `APIError` subclass of its err_code (or else of its HTTP-like
code), an answer that is not the expected JSON becomes `InvalidResponseError`, and a request
nobody answers becomes `JetStreamNotEnabledError` / `NoStreamResponseError`. The names follow
nats-py's `nats.js.errors` where it has them."""

from __future__ import annotations

from typing import Any

from ..errors import NoRespondersError, ZatsError


class JetStreamError(ZatsError):
    """Base class of every JetStream error."""


class APIError(JetStreamError):
    """An error answer of the JetStream API: `code` (HTTP-like: 400, 404, 503...), `err_code`
    (nats-server's JSErrCode, e.g. 10059) and `description`."""

    def __init__(self, code: int | None = None, err_code: int | None = None, description: str | None = None):
        self.code = code
        self.err_code = err_code
        self.description = description
        super().__init__(f"{description or 'JetStream API error'} (code={code}, err_code={err_code})")

    @classmethod
    def from_error(cls, err: Any) -> JetStreamError:
        """The exception for the `error` object of an answer (or a status header pair)."""
        if not isinstance(err, dict):
            return InvalidResponseError(f"unexpected error object in JetStream answer: {err!r:.80}")
        code = err.get("code")
        err_code = err.get("err_code")
        desc = err.get("description")
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        err_code = err_code if isinstance(err_code, int) and not isinstance(err_code, bool) else None
        desc = desc if isinstance(desc, str) else None
        kind = _BY_ERR_CODE.get(err_code) if err_code is not None else None
        if kind is None:
            kind = _BY_CODE.get(code, APIError) if code is not None else APIError
        return kind(code, err_code, desc)


class BadRequestError(APIError):
    """code 400."""


class NotFoundError(APIError):
    """code 404."""


class ServiceUnavailableError(APIError):
    """code 503."""


class ServerError(APIError):
    """code 500."""


class StreamNotFoundError(NotFoundError):
    """err_code 10059: no such stream."""


class ConsumerNotFoundError(NotFoundError):
    """err_code 10014: no such consumer."""


class MsgNotFoundError(NotFoundError):
    """err_code 10037: no message at that sequence / for that subject."""


class StreamNameAlreadyInUseError(BadRequestError):
    """err_code 10058: a stream of that name exists with another configuration."""


class ConsumerAlreadyExistsError(BadRequestError):
    """err_code 10148 (or 10105): a consumer of that name exists with another configuration."""


class WrongLastSequenceError(BadRequestError):
    """err_code 10071: `expected_last_seq` / `expected_last_subject_seq` did not hold."""


class WrongLastMsgIDError(BadRequestError):
    """err_code 10070: `expected_last_msg_id` did not hold."""


class StreamMismatchError(BadRequestError):
    """err_code 10060: `expected_stream` names another stream than the one that stored it."""


class JetStreamNotEnabledForAccountError(ServiceUnavailableError):
    """err_code 10039."""


class InvalidResponseError(JetStreamError):
    """The server's answer was not the JSON the API defines (garbage, or another shape)."""


class JetStreamNotEnabledError(JetStreamError, NoRespondersError):
    """Nobody answers `$JS.API` requests: JetStream is not enabled on this server or account."""

    def __init__(self, subject: str = ""):
        NoRespondersError.__init__(self, subject)
        self.args = (f"JetStream is not enabled (no responders for {subject!r})",)


class NoStreamResponseError(JetStreamError, NoRespondersError):
    """A JetStream publish found no stream listening on the subject (no responders)."""

    def __init__(self, subject: str = ""):
        NoRespondersError.__init__(self, subject)
        self.args = (f"no stream stores subject {subject!r}",)


class ConsumerDeletedError(JetStreamError):
    """The consumer was deleted while being consumed (status 409 'Consumer Deleted')."""


class MsgAlreadyAckdError(JetStreamError):
    """The message was already acknowledged (ack, nak, term)."""


class NotJSMessageError(JetStreamError):
    """The message did not come from a JetStream consumer (no `$JS.ACK` reply subject)."""


class FetchError(JetStreamError):
    """A pull request ended with a status the consumer cannot go on after (409 variants
    such as 'Exceeded MaxRequestBatch'): `code` and `description` are the status line's."""

    def __init__(self, code: int, description: str):
        super().__init__(f"pull request failed: {code} {description}")
        self.code = code
        self.description = description


_BY_ERR_CODE: dict[int, type[APIError]] = {
    10059: StreamNotFoundError,
    10014: ConsumerNotFoundError,
    10037: MsgNotFoundError,
    10058: StreamNameAlreadyInUseError,
    10148: ConsumerAlreadyExistsError,
    10105: ConsumerAlreadyExistsError,
    10071: WrongLastSequenceError,
    10070: WrongLastMsgIDError,
    10060: StreamMismatchError,
    10039: JetStreamNotEnabledForAccountError,
}

_BY_CODE: dict[int, type[APIError]] = {
    400: BadRequestError,
    404: NotFoundError,
    500: ServerError,
    503: ServiceUnavailableError,
}
