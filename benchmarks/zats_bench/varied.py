"""Realistic traffic for the `Varied*` scenarios: what the publishers send, what each subscriber
subscribes to, how many deliveries each publisher's bytes must cause, and the subscriber's
checking parser.

Real clients change subject, size and reply from one message to the next, so every frame here
differs from the one before it: subjects are drawn at random from a set of 64 (or 256 two-level)
subjects, payload sizes log-uniformly from 16 to 2048 bytes, and in `VariedMany` a quarter of the
messages carry a reply subject and some reach no subscriber at all. Each publisher sends a fixed
block of frames (from its own seed) cut into writes of about 64 KiB, over and over.

Subscribers count honestly: every MSG frame is parsed; its sid must be one of the subscriber's,
its subject must match that sid's filter, its payload must start with the subject (each payload
is `<subject>:` followed by `x`s) and be followed by CRLF exactly at its declared size. Any
mismatch is an error of the run. Expected deliveries are computed by the publisher from its own
frames with this module's own wildcard matcher (not the broker's)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .wire import CRLF, PING, PONG, RECV_SIZE, ServerError

KINDS = ("vpubsub", "vfanout", "vmany", "vqueue")
MIN_SIZE, MAX_SIZE = 16, 2048
FRAMES_PER_BLOCK = 2048
CHUNK = 64 * 1024
REPLY_EVERY = 4  # VariedMany: one message in four carries a reply subject
QUEUE = b"bench-vq"


def sizes(rng: random.Random, n: int) -> list[int]:
    """`n` payload sizes, log-uniform between MIN_SIZE and MAX_SIZE."""
    lo, hi = math.log(MIN_SIZE), math.log(MAX_SIZE + 1)
    return [min(MAX_SIZE, int(math.exp(rng.uniform(lo, hi)))) for _ in range(n)]


def subject_matches(filter_: bytes, subject: bytes) -> bool:
    """NATS wildcard matching (`*` one token, `>` the rest), for the benchmark's own accounting."""
    ft = filter_.split(b".")
    st = subject.split(b".")
    for i, tok in enumerate(ft):
        if tok == b">":
            return len(st) > i
        if i >= len(st) or (tok != b"*" and tok != st[i]):
            return False
    return len(ft) == len(st)


@dataclass
class Traffic:
    """One run's traffic. `subjects`: what publishers publish to; `filters[slot]`: the subjects a
    subscriber slot subscribes to (one SUB each, sids 1..n); `queue`: the queue group every
    subscriber joins (or None)."""

    kind: str
    prefix: bytes
    pubs: int
    subs: int
    subjects: list
    filters: list
    queue: bytes | None

    def frames(self, pub: int) -> list[tuple[int, int, bytes | None]]:
        """Publisher `pub`'s block: (subject index, payload size, reply or None) per frame; no
        two consecutive frames alike."""
        rng = random.Random(f"{self.kind}/{pub}")
        n = len(self.subjects)
        out = []
        prev = -1
        for i, size in enumerate(sizes(rng, FRAMES_PER_BLOCK)):
            idx = rng.randrange(n)
            if idx == prev:
                idx = (idx + 1) % n
            prev = idx
            reply = None
            if self.kind == "vmany" and i % REPLY_EVERY == 0:
                reply = b"_INBOX.%s.%d.%d" % (self.prefix.split(b".")[-1], pub, i)
            out.append((idx, size, reply))
        return out

    def chunks(self, pub: int) -> list[tuple[bytes, int, int]]:
        """Publisher `pub`'s writes: (bytes, frames in it, deliveries they cause)."""
        hits = [self.deliveries(s) for s in self.subjects]
        out = []
        parts: list[bytes] = []
        length = frames = expected = 0
        for idx, size, reply in self.frames(pub):
            subject = self.subjects[idx]
            body = (subject + b":" + b"x" * size)[:size] if size > len(subject) else \
                b"x" * size
            head = b"PUB " + subject + (b" " + reply if reply else b"") + b" %d\r\n" % size
            frame = head + body + CRLF
            parts.append(frame)
            length += len(frame)
            frames += 1
            expected += hits[idx]
            if length >= CHUNK:
                out.append((b"".join(parts), frames, expected))
                parts, length, frames, expected = [], 0, 0, 0
        if parts:
            out.append((b"".join(parts), frames, expected))
        return out

    def deliveries(self, subject: bytes) -> int:
        """MSGs one message on `subject` causes: one per matching SUB, or one for the whole queue
        group when any member matches."""
        n = sum(subject_matches(f, subject) for fs in self.filters for f in fs)
        if self.queue is not None:
            return 1 if n else 0
        return n

    def share(self, slot: int) -> float:
        """Deliveries to subscriber `slot` per published message (for flow control)."""
        if self.queue is not None:
            return 1.0
        # From the publishers' actual blocks, not the subjects' average: a small error here
        # grows with every block sent and would stall flow control on a long run.
        per_subject = [sum(subject_matches(f, s) for f in self.filters[slot]) for s in self.subjects]
        hits = frames = 0
        for pub in range(self.pubs):
            block = self.frames(pub)
            hits += sum(per_subject[idx] for idx, _, _ in block)
            frames += len(block)
        return hits / frames

    def mean_frame(self) -> int:
        """The average MSG frame a subscriber receives, in bytes."""
        sz = sizes(random.Random("mean"), 1000)
        return int(sum(sz) / len(sz)) + len(self.subjects[0]) + 16


def traffic(kind: str, prefix: str, pubs: int, subs: int) -> Traffic:
    p = prefix.encode()
    if kind == "vmany":
        subjects = [b"%s.%d.%d" % (p, a, b) for a in range(16) for b in range(16)]
        # Subscriber k: the first tokens a = k, k+4, k+8, and the second token b = k; first
        # tokens 12..15 with b >= subs reach nobody.
        filters = [[b"%s.%d.*" % (p, a) for a in range(k, 12, 4)] + [b"%s.*.%d" % (p, k)]
                   for k in range(subs)]
        return Traffic(kind, p, pubs, subs, subjects, filters, None)
    subjects = [b"%s.%d" % (p, i) for i in range(64)]
    filters = [[p + b".*"] for _ in range(subs)]
    return Traffic(kind, p, pubs, subs, subjects, filters, QUEUE if kind == "vqueue" else None)


class Checker:
    """Parses and checks every frame a varied-traffic subscriber receives (see the module
    docstring); counts MSGs, PINGs and PONGs as wire.Scanner does."""

    __slots__ = ("buf", "msgs", "pings", "pongs", "bytes", "error", "_ok", "_allowed")

    def __init__(self, t: Traffic, slot: int):
        self.buf = bytearray()
        self.msgs = self.pings = self.pongs = self.bytes = 0
        self.error: str | None = None
        # (subject, sid) pairs already checked against the filters: True when it matches.
        self._ok: dict[tuple[bytes, bytes], bool] = {}
        self._allowed = {b"%d" % (i + 1): f for i, f in enumerate(t.filters[slot])}

    def feed_from(self, sock) -> int:
        data = sock.recv(RECV_SIZE)
        if data:
            self.feed(data)
        return len(data)

    def feed(self, data: bytes) -> None:
        self.bytes += len(data)
        buf = self.buf
        buf += data
        pos = 0
        end = len(buf)
        find = buf.find
        ok = self._ok
        msgs = 0
        while pos < end:
            eol = find(b"\r\n", pos, end)
            if eol < 0:
                break
            if buf.startswith(b"MSG ", pos):
                args = bytes(buf[pos + 4:eol]).split(b" ")
                size = int(args[-1])
                start = eol + 2
                stop = start + size
                if stop + 2 > end:
                    break
                subject, sid = args[0], args[1]
                good = ok.get((subject, sid))
                if good is None:
                    f = self._allowed.get(sid)
                    good = ok[(subject, sid)] = f is not None and subject_matches(f, subject)
                tag = subject + b":"
                if not good or (len(args) == 4 and not args[2].startswith(b"_INBOX.")) or \
                        len(args) not in (3, 4) or buf[stop:stop + 2] != CRLF or \
                        (size > len(tag) and not buf.startswith(tag, start)):
                    self.error = f"bad frame {bytes(buf[pos:min(eol, pos + 120)])!r}"
                    raise ServerError(self.error)
                msgs += 1
                pos = stop + 2
            else:
                if buf.startswith(PING, pos):
                    self.pings += 1
                elif buf.startswith(PONG, pos):
                    self.pongs += 1
                elif buf.startswith(b"-ERR", pos):
                    self.error = bytes(buf[pos:eol]).decode(errors="replace")
                    raise ServerError(self.error)
                pos = eol + 2
        self.msgs += msgs
        del buf[:pos]
