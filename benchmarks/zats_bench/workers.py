"""The load-generating processes. Each one is a single client connection on a blocking socket:

- `publisher`: sends one pre-encoded PUB frame repeated in large writes (about 64 KiB each), for
  a count or until a deadline, then PING/PONG so the broker has processed every message;
- `varied_publisher`: sends a block of frames that vary in subject, size and reply (varied.py);
- `subscriber`: counts MSG frames with `wire.Scanner` (no per-message parse), or parses and
  checks every one with `varied.Checker` for varied traffic; on DRAIN it sends PING and reads
  to the PONG, after which every message the broker will ever send it is counted;
- `requester` / `replier`: request/reply round trips with unique reply subjects, latency per
  request, one or `window` requests in flight;
- `idle_conns`: opens many connections that do nothing (the broker's memory per connection).

They coordinate with the parent through shared memory: `phase` (SETUP -> GO -> DRAIN -> STOP, or
ABORT) and one int64 progress counter per worker (messages sent or received so far, which is also
what publishers read for flow control). Each worker puts ("ready", slot) on the result queue once
connected, then ("done", slot, result-dict) when finished, whatever happened."""

from __future__ import annotations

import os
import signal
import socket
import time
from array import array
from collections import deque

from . import varied
from .wire import PING, PONG, Conn, ServerError, connect_frame, parse_url, payload, pub_frame

SETUP, GO, DRAIN, STOP, ABORT = 0, 1, 2, 3, 4
CHUNK = 64 * 1024
SKIP_FRAMES_FROM = 4096  # payload size from which subscribers skip payloads instead of scanning
POLL = 0.01  # seconds a waiting worker sleeps or blocks before looking at `phase` again


def _init_worker() -> None:
    # The parent coordinates shutdown (Ctrl-C included); workers only watch `phase`.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _orphaned(parent: int) -> bool:
    return os.getppid() != parent


def _wait_for_go(phase, parent: int) -> bool:
    while True:
        p = phase.value
        if p == GO:
            return True
        if p >= STOP or _orphaned(parent):
            return False
        time.sleep(0.0005)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ServerError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _lag(counters, pub_slots, plain_slots, queue_slots, shares=None) -> int:
    """Messages published but not yet received by the slowest receiver. `shares[slot]`: the
    deliveries a plain subscriber gets per published message, when not 1 (varied traffic)."""
    sent = 0
    for i in pub_slots:
        sent += counters[i]
    got = None
    if plain_slots:
        if shares:
            got = int(min(counters[i] / shares[i] for i in plain_slots))
        else:
            got = min(counters[i] for i in plain_slots)
    if queue_slots:
        q = 0
        for i in queue_slots:
            q += counters[i]
        got = q if got is None else min(got, q)
    return 0 if got is None else sent - got


def window_room(sent: int, done: int, window: int, count: int | None,
                deadline: float | None) -> tuple[int, bool]:
    """(requests that may be sent now with `window` in flight, whether that is the last send):
    `count` requests in all, or as many as fit before `deadline`."""
    if deadline is not None:
        closing = time.perf_counter() >= deadline
        return (0 if closing else window - (sent - done)), closing
    room = min(window - (sent - done), count - sent)
    return room, sent + room >= count


def publisher(job: dict, phase, counters, results) -> None:
    _init_worker()
    slot = job["slot"]
    res = {"role": "pub", "slot": slot, "sent": 0, "t0": None, "t1": None, "error": None}
    conn = None
    try:
        conn = Conn(job["url"], name=f"zats-bench-pub-{slot}")
        conn.flush()
        frame = pub_frame(job["subject"].encode(), job["size"])
        per = max(1, CHUNK // len(frame))
        chunk = frame * per
        count = job.get("count")
        duration = job.get("duration")
        max_lag = job.get("max_lag") or 0
        pub_slots, plain, queue = job["pub_slots"], job["plain_slots"], job["queue_slots"]
        parent = job["parent"]
        results.put(("ready", slot))
        if not _wait_for_go(phase, parent):
            return
        sock = conn.sock
        sock.settimeout(job.get("stall_timeout", 30.0))
        t0 = time.perf_counter()
        deadline = t0 + duration if duration else None
        sent = writes = 0
        while True:
            if deadline is None:
                n = min(per, count - sent)
                if n <= 0:
                    break
            else:
                if time.perf_counter() >= deadline:
                    break
                n = per
            if max_lag:
                waited = False
                pause = 0.00005
                while _lag(counters, pub_slots, plain, queue) >= max_lag:
                    if phase.value >= STOP or _orphaned(parent):
                        raise RuntimeError("stopped while waiting for subscribers")
                    # Back off: spinning publishers would steal the CPU the subscribers need.
                    time.sleep(pause)
                    pause = min(pause * 2, 0.002)
                    waited = True
                if waited and deadline is not None and time.perf_counter() >= deadline:
                    break
            if phase.value >= STOP:
                raise RuntimeError("stopped by the parent")
            sock.sendall(chunk if n == per else frame * n)
            sent += n
            counters[slot] = sent
            writes += 1
            if not writes & 255:
                conn.poll()  # answer server PINGs, notice -ERR, on long runs
        res["sent"] = sent
        conn.flush(timeout=job.get("stall_timeout", 30.0))
        res["t0"], res["t1"] = t0, time.perf_counter()
    except BaseException as exc:  # reported to the parent, never raised out of the process
        res["error"] = _error_text(exc)
        res["sent"] = int(counters[slot])
    finally:
        results.put(("done", slot, res))
        if conn is not None:
            conn.close()


def varied_publisher(job: dict, phase, counters, results) -> None:
    """A publisher of varied traffic (see varied.py): its block of frames, cut into writes,
    sent over and over (a count is rounded up to whole writes). Reports the deliveries its
    messages must cause as `expected`."""
    _init_worker()
    slot = job["slot"]
    res = {"role": "pub", "slot": slot, "sent": 0, "expected": 0, "t0": None, "t1": None,
           "error": None}
    conn = None
    try:
        conn = Conn(job["url"], name=f"zats-bench-pub-{slot}")
        conn.flush()
        t = varied.traffic(job["kind"], job["subject"], job["pubs"], job["subs"])
        chunks = t.chunks(job["pub_index"])
        count = job.get("count")
        duration = job.get("duration")
        max_lag = job.get("max_lag") or 0
        pub_slots, plain, queue = job["pub_slots"], job["plain_slots"], job["queue_slots"]
        shares = job.get("shares")
        parent = job["parent"]
        results.put(("ready", slot))
        if not _wait_for_go(phase, parent):
            return
        sock = conn.sock
        sock.settimeout(job.get("stall_timeout", 30.0))
        t0 = time.perf_counter()
        deadline = t0 + duration if duration else None
        sent = expected = writes = 0
        i = 0
        while True:
            if deadline is None:
                if sent >= count:
                    break
            elif time.perf_counter() >= deadline:
                break
            if max_lag:
                pause = 0.00005
                while _lag(counters, pub_slots, plain, queue, shares) >= max_lag:
                    if phase.value >= STOP or _orphaned(parent):
                        raise RuntimeError("stopped while waiting for subscribers")
                    time.sleep(pause)
                    pause = min(pause * 2, 0.002)
            if phase.value >= STOP:
                raise RuntimeError("stopped by the parent")
            data, frames, hits = chunks[i]
            i = (i + 1) % len(chunks)
            sock.sendall(data)
            sent += frames
            expected += hits
            counters[slot] = sent
            writes += 1
            if not writes & 255:
                conn.poll()
        res["sent"], res["expected"] = sent, expected
        conn.flush(timeout=job.get("stall_timeout", 30.0))
        res["t0"], res["t1"] = t0, time.perf_counter()
    except BaseException as exc:
        res["error"] = _error_text(exc)
        res["sent"] = int(counters[slot])
    finally:
        results.put(("done", slot, res))
        if conn is not None:
            conn.close()


def subscriber(job: dict, phase, counters, results) -> None:
    _init_worker()
    slot = job["slot"]
    res = {"role": "sub", "slot": slot, "received": 0, "bytes": 0, "t_first": None,
           "t_last": None, "drained": False, "error": None}
    conn = None
    parent = job["parent"]
    try:
        queue = job.get("queue")
        if job.get("kind") in varied.KINDS:
            # Varied traffic: every frame parsed and checked; one SUB per filter, sids 1..n.
            t = varied.traffic(job["kind"], job["subject"], job["pubs"], job["subs"])
            conn = Conn(job["url"], name=f"zats-bench-sub-{slot}",
                        scanner=varied.Checker(t, slot))
            qname = b" " + t.queue if t.queue else b""
            sub = b"".join(b"SUB %s%s %d\r\n" % (f, qname, i + 1)
                           for i, f in enumerate(t.filters[slot]))
        else:
            conn = Conn(job["url"], name=f"zats-bench-sub-{slot}",
                        skip_frames=job["size"] >= SKIP_FRAMES_FROM)
            sub = b"SUB %s%s %d\r\n" % (job["subject"].encode(),
                                       b" " + queue.encode() if queue else b"", slot + 1)
        conn.flush(sub)
        sc = conn.scanner
        base_msgs, base_bytes = sc.msgs, sc.bytes
        results.put(("ready", slot))
        sock = conn.sock
        sock.settimeout(POLL)
        last = 0
        want_pong = None
        perf = time.perf_counter
        t_first = t_last = None
        while True:
            try:
                conn.recv()
            except TimeoutError:
                if _orphaned(parent):
                    raise RuntimeError("parent gone") from None
            got = sc.msgs - base_msgs
            if got != last:
                last = got
                counters[slot] = got
                t_last = perf()
                if t_first is None:
                    t_first = t_last
            p = phase.value
            if p == ABORT:
                break
            if want_pong is None and p >= DRAIN:
                # Every publisher has had its PONG: everything it sent is in our outbound
                # queue at the broker, ahead of the PONG that answers this PING.
                want_pong = sc.pongs + 1
                sock.sendall(PING)
            if want_pong is not None and sc.pongs >= want_pong:
                res["drained"] = True
                break
        res["received"] = got
        res["bytes"] = sc.bytes - base_bytes
        res["t_first"], res["t_last"] = t_first, t_last
    except BaseException as exc:
        res["error"] = _error_text(exc)
        if conn is not None:
            res["received"] = conn.scanner.msgs
    finally:
        results.put(("done", slot, res))
        if conn is not None:
            conn.close()


def requester(job: dict, phase, counters, results) -> None:
    _init_worker()
    slot = job["slot"]
    res = {"role": "req", "slot": slot, "sent": 0, "received": 0, "t0": None, "t1": None,
           "latencies_ns": [], "error": None}
    conn = None
    lat = array("q")
    try:
        conn = Conn(job["url"], name=f"zats-bench-req-{slot}")
        inbox = b"_INBOX.%s.%d" % (job["run_id"].encode(), slot)
        conn.flush(b"SUB %s.* %d\r\n" % (inbox, slot + 1))
        size = job["size"]
        head = b"PUB " + job["subject"].encode() + b" " + inbox + b"."
        body = b" %d\r\n%s\r\n" % (size, payload(size))
        window = max(1, job.get("window", 1))
        count = job.get("count")
        duration = job.get("duration")
        parent = job["parent"]
        results.put(("ready", slot))
        if not _wait_for_go(phase, parent):
            return
        sock = conn.sock
        sock.settimeout(job.get("stall_timeout", 30.0))
        sc = conn.scanner
        base = sc.msgs
        perf_ns = time.perf_counter_ns
        t0 = time.perf_counter()
        deadline = t0 + duration if duration else None
        sent = done = 0
        stamps: deque[int] = deque()
        closing = False
        while True:
            if not closing:
                room, closing = window_room(sent, done, window, count, deadline)
                if room > 0:
                    frames = b"".join([head + b"%d" % (sent + k) + body for k in range(room)])
                    now = perf_ns()
                    sock.sendall(frames)
                    stamps.extend([now] * room)
                    sent += room
            if closing and done >= sent:
                break
            if phase.value >= STOP:
                raise RuntimeError("stopped by the parent")
            conn.recv()
            got = sc.msgs - base
            if got > done:
                now = perf_ns()
                pop = stamps.popleft
                for _ in range(got - done):
                    lat.append(now - pop())
                done = got
                counters[slot] = done
        res["t0"], res["t1"] = t0, time.perf_counter()
        res["sent"], res["received"] = sent, done
    except BaseException as exc:
        res["error"] = _error_text(exc)
        res["received"] = len(lat)
    finally:
        res["latencies_ns"] = lat.tobytes()
        results.put(("done", slot, res))
        if conn is not None:
            conn.close()


def replier(job: dict, phase, counters, results) -> None:
    _init_worker()
    slot = job["slot"]
    res = {"role": "rep", "slot": slot, "replied": 0, "error": None}
    conn = None
    parent = job["parent"]
    try:
        conn = Conn(job["url"], name=f"zats-bench-rep-{slot}")
        queue = job.get("queue")
        conn.flush(b"SUB %s%s %d\r\n" % (job["subject"].encode(),
                                         b" " + queue.encode() if queue else b"", slot + 1))
        results.put(("ready", slot))
        sock = conn.sock
        sock.settimeout(POLL)
        buf = bytearray()
        bodies: dict[int, bytes] = {}
        replied = 0
        while phase.value < STOP:
            try:
                data = sock.recv(256 * 1024)
            except TimeoutError:
                if _orphaned(parent):
                    raise RuntimeError("parent gone") from None
                continue
            if not data:
                raise ServerError("connection closed by the server")
            buf += data
            out = []
            pos = 0
            end = len(buf)
            while pos < end:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                if buf.startswith(b"MSG ", pos):
                    parts = bytes(buf[pos:eol]).split()
                    size = int(parts[-1])
                    stop = eol + 4 + size
                    if stop > end:
                        break
                    if len(parts) == 5:
                        body = bodies.get(size)
                        if body is None:
                            body = bodies[size] = b" %d\r\n%s\r\n" % (size, payload(size))
                        out.append(b"PUB " + parts[3] + body)
                    pos = stop
                else:
                    if buf.startswith(PING, pos):
                        out.append(PONG)
                    elif buf.startswith(b"-ERR", pos):
                        raise ServerError(bytes(buf[pos:eol]).decode(errors="replace"))
                    pos = eol + 2
            if pos:
                del buf[:pos]
            if out:
                sock.sendall(b"".join(out))
                replied += len(out)
                counters[slot] = replied
        res["replied"] = replied
    except BaseException as exc:
        res["error"] = _error_text(exc)
    finally:
        results.put(("done", slot, res))
        if conn is not None:
            conn.close()


def idle_conns(job: dict, phase, counters, results) -> None:
    """Opens `conns` connections (CONNECT + PING, waits for each PONG), reports ("open", slot),
    holds them until STOP."""
    _init_worker()
    from .servers import raise_fd_limit

    raise_fd_limit()
    slot = job["slot"]
    res = {"role": "conns", "slot": slot, "opened": 0, "t0": None, "t1": None, "error": None}
    socks: list[socket.socket] = []
    parent = job["parent"]
    try:
        host, port = parse_url(job["url"])
        hello = connect_frame(f"zats-bench-idle-{slot}") + PING
        n = job["conns"]
        batch = job.get("batch", 500)
        results.put(("ready", slot))
        if not _wait_for_go(phase, parent):
            return
        t0 = time.perf_counter()
        for start in range(0, n, batch):
            group = []
            for _ in range(min(batch, n - start)):
                s = socket.create_connection((host, port), timeout=30.0)
                s.sendall(hello)
                group.append(s)
            for s in group:
                data = b""
                while PONG not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        raise ServerError("connection closed by the server")
                    if b"-ERR" in chunk:
                        raise ServerError(chunk.decode(errors="replace").strip())
                    data = data[-8:] + chunk
            socks.extend(group)
            counters[slot] = len(socks)
            if phase.value >= STOP:
                raise RuntimeError("stopped by the parent")
        res["t0"], res["t1"] = t0, time.perf_counter()
        res["opened"] = len(socks)
        results.put(("open", slot))
        while phase.value < STOP and not _orphaned(parent):
            time.sleep(POLL)
    except BaseException as exc:
        res["error"] = _error_text(exc)
        res["opened"] = len(socks)
    finally:
        for s in socks:
            s.close()
        results.put(("done", slot, res))
