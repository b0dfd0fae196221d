"""What a service accepts as its configuration (ADR-32, with nats.go's expressions): service and
endpoint names, the SemVer version, subjects and queue groups, group names and metadata. Bad input
raises `ServiceConfigError` before anything is subscribed."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import ZatsError

# semver.org's suggested expression
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
_NAME = re.compile(r"^[A-Za-z0-9\-_]+$")
# nats.go's rule for endpoint subjects and queue groups: no space, '>' only at the end
_SUBJECT = re.compile(r"^[^ >]*[>]?$")
_WHITESPACE = re.compile(r"\s")


class ServiceConfigError(ZatsError, ValueError):
    """A service, endpoint or group was configured with a name, version, subject, queue group or
    metadata the service API does not accept."""


def check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ServiceConfigError(
            f"invalid {what} name {name!r}: it must be non-empty and hold only A-Z, a-z, 0-9, '-' and '_'")
    return name


def check_version(version: object) -> str:
    if not isinstance(version, str) or not _SEMVER.match(version):
        raise ServiceConfigError(f"invalid version {version!r}: it must be a SemVer version such as 1.0.0")
    return version


def check_subject(subject: object, what: str) -> str:
    if (not isinstance(subject, str) or not subject or not _SUBJECT.match(subject)
            or _WHITESPACE.search(subject) or "" in subject.split(".")):
        raise ServiceConfigError(f"invalid {what} {subject!r}: a subject with no spaces or empty tokens, "
                                 "'>' only as the last token")
    return subject


def check_queue_group(queue_group: object) -> str:
    if not isinstance(queue_group, str) or not queue_group or _WHITESPACE.search(queue_group) \
            or not _SUBJECT.match(queue_group):
        raise ServiceConfigError(f"invalid queue group {queue_group!r}")
    return queue_group


def check_group_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise ServiceConfigError(f"invalid group name {prefix!r}")
    if prefix and (">" in prefix or _WHITESPACE.search(prefix) or "" in prefix.split(".")):
        raise ServiceConfigError(f"invalid group name {prefix!r}: a subject prefix without '>' or spaces")
    return prefix


def check_metadata(metadata: Mapping[str, str] | None, what: str) -> dict[str, str] | None:
    """A copy of `metadata` (immutable once set, so the caller's dict may change freely)."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ServiceConfigError(f"invalid {what} metadata: a mapping of strings to strings")
    return dict(metadata)
