"""The JetStream scenarios' load generator: one worker process per run that sets up its own
stream (or KV bucket), fills it when the scenario reads, and then, between GO and its report,
does only the measured traffic:

- `jspub`: acknowledged publishes to a file or memory stream, `window` in flight (1: sync);
  every PubAck is parsed and must name the stream and the next sequence number;
- `jsfetch`: a durable pull consumer (explicit ack) read with fetch requests of `window`
  messages, one request in flight, every message acked; each delivery's stream sequence must be
  the next one, and its subject and size those published with that sequence;
- `jspush`: a push consumer (explicit ack, 1,000 unacknowledged at most) created at GO on a
  filled stream, every message checked and acked as above;
- `kvput` / `kvget`: puts to a KV bucket (PubAck checked) / direct gets of its keys (the
  answer's Nats-Subject header and size checked), `window` in flight.

Subjects vary within the stream's subject space (`bench.<run>.<region>.<n>` over 64 subjects;
KV keys over 1,024). Publishers rotate through pre-encoded frames; only the reply inbox's
counter changes per message. After the traffic the worker sends PING and reads its PONG (so the
broker has processed the last acks while the CPU meter runs), reports, and deletes its stream
once the parent says STOP (outside the measured time)."""

from __future__ import annotations

import json
import time
from array import array
from collections import deque

from .wire import PING, PONG, Conn, ServerError, payload
from .workers import STOP, _error_text, _init_worker, _orphaned, _wait_for_go, window_room

KINDS = ("jspub", "jsfetch", "jspush", "kvput", "kvget")
SUBJECTS = 64
KEYS = 1024
FILL_WINDOW = 256
PUSH_MAX_ACK_PENDING = 1000
DEFAULT_FILL = 40_000  # per second of --duration: what a reading scenario's stream holds


def stream_subject(run_id: str, i: int) -> bytes:
    """The subject of the i-th message (0-based) of a run's stream: 8 regions x 8 names."""
    k = i % SUBJECTS
    return b"bench.%s.r%d.n%d" % (run_id.encode(), k >> 3, k & 7)


def kv_key(i: int) -> bytes:
    return b"k.%d" % (i % KEYS)


class Frames:
    """Splits what a server sends into MSG/HMSG frames (subject, sid, reply, headers, payload);
    counts PING and PONG, skips +OK; -ERR raises. No I/O: `feed` takes the bytes received."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.pongs = 0
        self.pings = 0  # not answered yet

    def feed(self, data: bytes) -> list:
        """The complete frames so far, as (subject, sid, reply, headers, payload)."""
        buf = self.buf
        buf += data
        out = []
        pos, end = 0, len(buf)
        while pos < end:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            c = buf[pos]
            if c == 77 or c == 72:  # MSG / HMSG
                parts = bytes(buf[pos:eol]).split()
                if c == 72:
                    hlen, tlen = int(parts[-2]), int(parts[-1])
                else:
                    hlen, tlen = 0, int(parts[-1])
                stop = eol + 2 + tlen + 2
                if stop > end:
                    break
                body = bytes(buf[eol + 2:eol + 2 + tlen])
                reply = parts[3] if len(parts) == (6 if c == 72 else 5) else None
                out.append((parts[1], parts[2], reply, body[:hlen], body[hlen:]))
                pos = stop
                continue
            line = bytes(buf[pos:eol])
            if line == b"PING":
                self.pings += 1
            elif line == b"PONG":
                self.pongs += 1
            elif line.startswith(b"-ERR"):
                raise ServerError(line.decode(errors="replace"))
            pos = eol + 2
        if pos:
            del buf[:pos]
        return out


class Reader(Frames):
    """Frames read from a connection's socket; PINGs are answered."""

    def __init__(self, conn: Conn):
        super().__init__()
        self.conn = conn
        self.sock = conn.sock

    def read(self) -> list:
        """One recv; the complete frames so far, as (subject, sid, reply, headers, payload)."""
        data = self.sock.recv(256 * 1024)
        if not data:
            raise ServerError("connection closed by the server")
        out = self.feed(data)
        if self.pings:
            self.sock.sendall(PONG * self.pings)
            self.pings = 0
        return out

    def flush(self) -> None:
        want = self.pongs + 1
        self.sock.sendall(PING)
        while self.pongs < want:
            for _ in self.read():
                raise ServerError("unexpected message while flushing")


class Session:
    """A worker's connection: one inbox subscription for every reply (`_INBOX.<run>.<slot>.*`)."""

    def __init__(self, job: dict):
        self.conn = Conn(job["url"], name=f"zats-bench-js-{job['slot']}", headers=True)
        self.inbox = b"_INBOX.%s.%d" % (job["run_id"].encode(), job["slot"])
        self.conn.sock.sendall(b"SUB %s.* 1\r\n" % self.inbox)
        self.reader = Reader(self.conn)
        self.reader.flush()
        self.sock = self.conn.sock
        self.n = 0

    def request(self, subject: bytes, body: bytes = b"", timeout: float = 30.0) -> tuple:
        """(headers, payload) of the answer to one request."""
        self.n += 1
        reply = b"%s.q%d" % (self.inbox, self.n)
        self.sock.settimeout(timeout)
        self.sock.sendall(b"PUB %s %s %d\r\n%s\r\n" % (subject, reply, len(body), body))
        while True:
            for subj, _sid, _r, hdr, data in self.reader.read():
                if subj == reply:
                    return hdr, data
                raise ServerError(f"unexpected message on {subj!r}")

    def api(self, subject: str, req: dict | None = None) -> dict:
        _, data = self.request(subject.encode(), json.dumps(req).encode() if req else b"")
        resp = json.loads(data)
        if resp.get("error"):
            raise ServerError(f"{subject}: {resp['error']}")
        return resp

    def close(self) -> None:
        self.conn.close()


def _acked_publishes(s: Session, frames: list, stream: str, first_seq: int, window: int,
                     count: int | None, deadline: float | None, phase=None,
                     lat: array | None = None, progress=None) -> tuple[int, int]:
    """Publishes frames[i % len] (each `PUB subject <inbox>.` waiting for its counter) with
    `window` in flight, checking every PubAck: (sent, acked). Stops at `count` or `deadline`."""
    inbox = s.inbox + b"."
    cut = len(inbox)
    body_of = [(head + inbox, tail) for head, tail in frames]
    nf = len(body_of)
    sent = acked = 0
    stamps: deque[int] = deque()
    perf_ns = time.perf_counter_ns
    sock = s.sock
    closing = False
    seq = first_seq
    while True:
        if not closing:
            room, closing = window_room(sent, acked, window, count, deadline)
            if room > 0:
                out = []
                for k in range(sent, sent + room):
                    head, tail = body_of[k % nf]
                    out.append(b"%s%d%s" % (head, k, tail))
                now = perf_ns()
                sock.sendall(b"".join(out))
                stamps.extend([now] * room)
                sent += room
        if closing and acked >= sent:
            break
        if phase is not None and phase.value >= STOP:
            raise RuntimeError("stopped by the parent")
        msgs = s.reader.read()
        if not msgs:
            continue
        now = perf_ns()
        for subj, _sid, _reply, _hdr, data in msgs:
            if int(subj[cut:]) != acked:
                raise ServerError(f"PubAck for {subj!r} out of order (expected #{acked})")
            ack = json.loads(data)
            if ack.get("error") or ack.get("stream") != stream or ack.get("seq") != seq:
                raise ServerError(f"bad PubAck {data[:200]!r} (expected seq {seq} of {stream})")
            seq += 1
            acked += 1
            t = stamps.popleft()
            if lat is not None:
                lat.append(now - t)
        if progress is not None:
            progress(acked)
    return sent, acked


def _pub_frames(subjects: list, size: int) -> list:
    """(head, tail) per subject: `PUB <subject> ` + reply + ` <size>\\r\\n<payload>\\r\\n`."""
    tail = b" %d\r\n%s\r\n" % (size, payload(size))
    return [(b"PUB " + subj + b" ", tail) for subj in subjects]


def _stream_config(name: str, subjects: list, storage: str, kv: bool = False) -> dict:
    cfg = {"name": name, "subjects": subjects, "storage": storage, "retention": "limits",
           "discard": "old", "num_replicas": 1}
    if kv:
        cfg.update(max_msgs_per_subject=1, discard="new", allow_rollup_hdrs=True,
                   deny_delete=True, allow_direct=True)
    return cfg


def worker(job: dict, phase, counters, results) -> None:
    """One JetStream scenario (job["kind"]), set up, measured between GO and its report."""
    _init_worker()
    slot = job["slot"]
    res = {"role": "js", "slot": slot, "sent": 0, "expected": 0, "received": 0, "t0": None,
           "t1": None, "latencies_ns": b"", "error": None}
    s = None
    stream = None
    lat = array("q")
    try:
        s = Session(job)
        kind, size, window = job["kind"], job["size"], max(1, job.get("window") or 1)
        run = job["run_id"]
        count, duration = job.get("count"), job.get("duration")
        parent = job["parent"]
        subjects = [stream_subject(run, i) for i in range(SUBJECTS)]

        def progress(n: int) -> None:
            counters[slot] = n

        if kind in ("kvput", "kvget"):
            bucket = f"b{run}"
            stream = f"KV_{bucket}"
            s.api(f"$JS.API.STREAM.CREATE.{stream}",
                  _stream_config(stream, [f"$KV.{bucket}.>"], "file", kv=True))
            keys = [b"$KV.%s.%s" % (bucket.encode(), kv_key(i)) for i in range(KEYS)]
        else:
            stream = f"S{run}"
            s.api(f"$JS.API.STREAM.CREATE.{stream}",
                  _stream_config(stream, [f"bench.{run}.>"], job.get("storage") or "file"))
        fill = 0
        if kind in ("jsfetch", "jspush", "kvget"):
            fill = KEYS if kind == "kvget" else (count or int(DEFAULT_FILL * max(0.1, duration or 1)))
            frames = _pub_frames(keys if kind == "kvget" else subjects, size)
            sent, acked = _acked_publishes(s, frames, stream, 1, FILL_WINDOW, fill, None,
                                           progress=progress)  # progress: no stall alarm
            if acked != fill:
                raise ServerError(f"filled {acked} of {fill}")
            counters[slot] = 0
        if kind == "jsfetch":
            s.api(f"$JS.API.CONSUMER.CREATE.{stream}.C",
                  {"stream_name": stream, "config": {"durable_name": "C", "ack_policy": "explicit",
                                                     "deliver_policy": "all"}})
        results.put(("ready", slot))
        if not _wait_for_go(phase, parent):
            return
        s.sock.settimeout(job.get("stall_timeout", 30.0))
        t0 = time.perf_counter()
        deadline = t0 + duration if duration and kind in ("jspub", "kvput", "kvget") else None
        if kind in ("jspub", "kvput"):
            frames = _pub_frames(keys if kind == "kvput" else subjects, size)
            sent, got = _acked_publishes(s, frames, stream, 1, window, count, deadline, phase,
                                         lat, progress)
            res["sent"], res["expected"], res["received"] = sent, sent, got
        elif kind == "kvget":
            res.update(_direct_gets(s, stream, keys, size, window, count, deadline, phase, lat,
                                    progress))
        else:
            res["expected"] = fill
            res["received"] = _consume(s, kind, stream, subjects, size, window, fill, phase,
                                       progress)
            res["sent"] = fill
        s.reader.flush()  # the broker has processed every ack
        res["t0"], res["t1"] = t0, time.perf_counter()
    except BaseException as exc:  # reported to the parent, never raised out of the process
        res["error"] = _error_text(exc)
        res["received"] = res["received"] or int(counters[slot])
    finally:
        res["latencies_ns"] = lat.tobytes()
        results.put(("done", slot, res))
        if s is not None:
            # Delete the stream once the run's CPU has been read (the parent's STOP).
            if stream is not None and res["error"] is None:
                while phase.value < STOP and not _orphaned(parent):
                    time.sleep(0.01)
                try:
                    s.api(f"$JS.API.STREAM.DELETE.{stream}")
                except Exception:
                    pass
            s.close()


def _direct_gets(s: Session, stream: str, keys: list, size: int, window: int, count, deadline,
                 phase, lat: array, progress) -> dict:
    inbox = s.inbox + b"."
    cut = len(inbox)
    prefix = b"PUB $JS.API.DIRECT.GET.%s." % stream.encode()
    heads = [(prefix + key + b" " + inbox, key) for key in keys]
    nk = len(heads)
    sock = s.sock
    perf_ns = time.perf_counter_ns
    stamps: deque[int] = deque()
    sent = got = 0
    closing = False
    while True:
        if not closing:
            room, closing = window_room(sent, got, window, count, deadline)
            if room > 0:
                now = perf_ns()
                sock.sendall(b"".join([b"%s%d 0\r\n\r\n" % (heads[k % nk][0], k)
                                       for k in range(sent, sent + room)]))
                stamps.extend([now] * room)
                sent += room
        if closing and got >= sent:
            break
        if phase.value >= STOP:
            raise RuntimeError("stopped by the parent")
        msgs = s.reader.read()
        if not msgs:
            continue
        now = perf_ns()
        for subj, _sid, _reply, hdr, data in msgs:
            k = int(subj[cut:])
            if k != got:
                raise ServerError(f"direct get answer {subj!r} out of order (expected #{got})")
            key = heads[k % nk][1]
            if b"Nats-Subject: " + b"$KV." not in hdr or key + b"\r\n" not in hdr \
                    or len(data) != size:
                raise ServerError(f"bad direct get answer {hdr[:200]!r} ({len(data)} bytes)")
            got += 1
            lat.append(now - stamps.popleft())
        progress(got)
    return {"sent": sent, "expected": sent, "received": got}


def _consume(s: Session, kind: str, stream: str, subjects: list, size: int, batch: int,
             total: int, phase, progress) -> int:
    """Reads the whole stream (`total` messages) through a pull (fetch `batch` at a time) or a
    push consumer, acking each message; returns the messages that passed the checks."""
    sock = s.sock
    ack_prefix = b"$JS.ACK.%s." % stream.encode()
    nsub = len(subjects)
    got = 0
    if kind == "jsfetch":
        pull = b"PUB $JS.API.CONSUMER.MSG.NEXT.%s.C %s.f " % (stream.encode(), s.inbox)
        expires = 30 * 10**9
    else:
        # A subscription of its own: nats-server does not count the inbox's wildcard as interest
        # in a push consumer's deliver subject. The consumer's answer arrives on the inbox.
        deliver = b"_PUSH.%s" % s.inbox[len(b"_INBOX."):]
        sock.sendall(b"".join([
            b"SUB %s 2\r\n" % deliver,
            _api_frame(s, f"$JS.API.CONSUMER.CREATE.{stream}.P",
                       {"stream_name": stream,
                        "config": {"durable_name": "P", "ack_policy": "explicit",
                                   "deliver_policy": "all", "deliver_subject": deliver.decode(),
                                   "max_ack_pending": PUSH_MAX_ACK_PENDING}})]))
    want = 0
    created = kind == "jsfetch"
    while got < total:
        if kind == "jsfetch" and got >= want:
            n = min(batch, total - got)
            req = json.dumps({"batch": n, "expires": expires}).encode()
            sock.sendall(b"%s%d\r\n%s\r\n" % (pull, len(req), req))
            want = got + n
        if phase.value >= STOP:
            raise RuntimeError("stopped by the parent")
        acks = []
        for subj, _sid, reply, hdr, data in s.reader.read():
            if not created and subj.startswith(s.inbox + b".q"):
                resp = json.loads(data)
                if resp.get("error"):
                    raise ServerError(f"push consumer: {resp['error']}")
                created = True
                continue
            if hdr or reply is None or not reply.startswith(ack_prefix):
                raise ServerError(f"unexpected {subj!r} {hdr[:100]!r} {data[:100]!r}")
            # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
            sseq = int(reply.split(b".")[5])
            if sseq != got + 1 or subj != subjects[got % nsub] or len(data) != size:
                raise ServerError(f"message #{got + 1}: seq {sseq}, {subj!r}, {len(data)} bytes")
            got += 1
            acks.append(b"PUB %s 0\r\n\r\n" % reply)
        if acks:
            sock.sendall(b"".join(acks))
            progress(got)
    return got


def _api_frame(s: Session, subject: str, req: dict) -> bytes:
    s.n += 1
    body = json.dumps(req).encode()
    return b"PUB %s %s.q%d %d\r\n%s\r\n" % (subject.encode(), s.inbox, s.n, len(body), body)
