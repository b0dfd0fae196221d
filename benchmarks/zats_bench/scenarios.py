"""The scenarios, their names, and the default `compare` matrix.

A scenario is a shape of traffic (kind), a payload size and a number of clients. Names follow
nats-server's own benchmarks (Pub0b, Pub128B, Pub32K, PubSub, FanOut, FanIn, QueueSub, ReqRep),
with the client counts and the size spelled out so that a name says everything:

    Pub128B            one publisher, no subscriber (the broker parses and drops)
    PubSub128B         one publisher -> one subscriber
    FanOut10x128B      one publisher -> 10 subscribers (each gets every message)
    FanIn10x128B       10 publishers -> one subscriber
    QueueSub5x128B     one publisher -> a queue group of 5 (each message to one member)
    ReqRep128B         request/reply round trips, one in flight
    ReqRep128B_W16     request/reply with 16 requests in flight
    IdleConns10k       10,000 idle connections: broker RSS per connection

Realistic traffic (varied.py): subject, size (16-2048 B) and reply change from message to
message, and subscribers parse and check every frame:

    VariedPubSub       one publisher -> one wildcard subscriber, 64 subjects
    VariedFanOut5      one publisher -> 5 wildcard subscribers, 64 subjects
    VariedMany4x4      4 publishers x 4 subscribers, 256 two-level subjects, each subscriber on
                       a subset by wildcards; some messages reach nobody, a quarter have replies
    VariedQueue5       one publisher -> a queue group of 5 on a wildcard, 64 subjects

JetStream (jetstream.py; each broker started with `-js -sd <fresh dir>`):

    JsPubSync128B      acknowledged publishes to a file stream, one in flight (latency)
    JsPubAsync128B     the same with 256 in flight; JsPubAsyncMem128B to a memory stream
    JsFetch100         a pull consumer reading a filled stream, fetch batches of 100, each acked
    JsPush             a push consumer reading a filled stream, each message acked
    KvPut, KvGet       KV puts (PubAck checked) and direct gets, one in flight

Sizes: `0b`..`127b` in bytes (lower-case b under 128, as nats-server names them), `128B`..,
`1K` = 1024, `1M` = 1048576."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace

KINDS = ("pub", "pubsub", "fanout", "fanin", "queue", "reqrep", "conns",
         "vpubsub", "vfanout", "vmany", "vqueue", "jspub", "jsfetch", "jspush", "kvput", "kvget")
JS = ("jspub", "jsfetch", "jspush", "kvput", "kvget")
JS_ASYNC_WINDOW = 256
JS_FETCH_BATCH = 100
VARIED = ("vpubsub", "vfanout", "vmany", "vqueue")

_PREFIX = {"pub": "Pub", "pubsub": "PubSub", "fanout": "FanOut", "fanin": "FanIn",
           "queue": "QueueSub", "reqrep": "ReqRep", "conns": "IdleConns",
           "vpubsub": "VariedPubSub", "vfanout": "VariedFanOut", "vmany": "VariedMany",
           "vqueue": "VariedQueue"}
_KIND_OF_PREFIX = {v.lower(): k for k, v in _PREFIX.items()}
# Family words accepted on the command line, besides the nats-style prefixes.
ALIASES = {
    "pub": "pub", "pub-only": "pub", "pubonly": "pub",
    "pubsub": "pubsub", "pub-sub": "pubsub",
    "fanout": "fanout", "fan-out": "fanout",
    "fanin": "fanin", "fan-in": "fanin",
    "queue": "queue", "queuesub": "queue", "queue-group": "queue",
    "reqrep": "reqrep", "req-rep": "reqrep", "request-reply": "reqrep", "request": "reqrep",
    "conns": "conns", "idleconns": "conns", "idle-conns": "conns", "memory": "conns",
    "vpubsub": "vpubsub", "varied": "vpubsub", "variedpubsub": "vpubsub",
    "vfanout": "vfanout", "variedfanout": "vfanout", "varied-fanout": "vfanout",
    "vmany": "vmany", "variedmany": "vmany", "varied-many": "vmany",
    "vqueue": "vqueue", "variedqueue": "vqueue", "varied-queue": "vqueue",
    "jspub": "jspub", "jsfetch": "jsfetch", "jspush": "jspush", "kvput": "kvput",
    "kvget": "kvget",
}

DEFAULT_FANOUT = 10
DEFAULT_FANIN = 10
DEFAULT_QUEUE = 5
DEFAULT_CONNS = 10_000


def format_size(size: int) -> str:
    if size < 128:
        return f"{size}b"
    if size % (1 << 20) == 0:
        return f"{size >> 20}M"
    if size % 1024 == 0:
        return f"{size >> 10}K"
    return f"{size}B"


def parse_size(text: str) -> int:
    """`128`, `128B`, `0b`, `16K`, `16KB`, `16KiB`, `1M`, `1MB` -> bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([bBkKmM]?)(?:i?[bB])?\s*", text)
    if not m:
        raise ValueError(f"bad size {text!r} (examples: 0, 128, 16K, 1M)")
    n, unit = int(m.group(1)), m.group(2).lower()
    return n * {"": 1, "b": 1, "k": 1024, "m": 1 << 20}[unit]


def _format_count(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


@dataclass(frozen=True)
class Scenario:
    kind: str
    size: int = 128
    pubs: int = 1  # publishers (requesters for reqrep)
    subs: int = 0  # subscribers (repliers for reqrep, queue members for queue)
    window: int = 1  # requests in flight (reqrep)
    conns: int = 0  # idle connections (conns)
    transport: str = "nats"  # "ws": every client over the broker's websocket listener
    storage: str = ""  # JetStream: "file" or "memory"

    @property
    def name(self) -> str:
        return ("Ws" if self.transport == "ws" else "") + self._name

    @property
    def _name(self) -> str:
        if self.kind in JS:
            return self._js_name
        prefix = _PREFIX[self.kind]
        if self.kind == "vpubsub":
            return prefix
        if self.kind in ("vfanout", "vqueue"):
            return f"{prefix}{self.subs}"
        if self.kind == "vmany":
            return f"{prefix}{self.pubs}x{self.subs}"
        size = format_size(self.size)
        if self.kind in ("pub", "pubsub"):
            return f"{prefix}{size}"
        if self.kind == "fanout":
            return f"{prefix}{self.subs}x{size}"
        if self.kind == "fanin":
            return f"{prefix}{self.pubs}x{size}"
        if self.kind == "queue":
            return f"{prefix}{self.subs}x{size}"
        if self.kind == "reqrep":
            return f"{prefix}{size}" + (f"_W{self.window}" if self.window > 1 else "")
        return f"{prefix}{_format_count(self.conns)}"

    @property
    def _js_name(self) -> str:
        k = self.kind
        size = "" if self.size == 128 else f"_S{format_size(self.size)}"
        if k == "jspub":
            mode = "Sync" if self.window == 1 else "Async"
            w = f"_W{self.window}" if self.window not in (1, JS_ASYNC_WINDOW) else ""
            mem = "Mem" if self.storage == "memory" else ""
            return f"JsPub{mode}{mem}{format_size(self.size)}{w}"
        if k == "jsfetch":
            return f"JsFetch{self.window}{size}"
        if k == "jspush":
            return f"JsPush{size}"
        name = "KvPut" if k == "kvput" else "KvGet"
        return name + size + (f"_W{self.window}" if self.window > 1 else "")

    @property
    def description(self) -> str:
        over = " over WebSocket" if self.transport == "ws" else ""
        return self._description + over

    @property
    def _description(self) -> str:
        k = self.kind
        if k == "pub":
            return f"{self.pubs} publisher(s), no subscriber"
        if k == "pubsub":
            return f"{self.pubs} publisher(s) -> {self.subs} subscriber(s)"
        if k == "fanout":
            return f"1 publisher -> {self.subs} subscribers"
        if k == "fanin":
            return f"{self.pubs} publishers -> 1 subscriber"
        if k == "queue":
            return f"1 publisher -> queue group of {self.subs}"
        if k == "reqrep":
            return f"request/reply, {self.window} in flight, {self.subs} replier(s)"
        if k == "jspub":
            return f"acked publish to a {self.storage} stream, {self.window} in flight"
        if k == "jsfetch":
            return f"pull consumer, fetch {self.window} at a time, each acked"
        if k == "jspush":
            return "push consumer, each message acked"
        if k in ("kvput", "kvget"):
            return f"KV {'put' if k == 'kvput' else 'direct get'}, {self.window} in flight"
        if k in VARIED:
            return f"varied traffic, {self.pubs} publisher(s) -> {self.subs} subscriber(s)"
        return f"{self.conns} idle connections"

    @property
    def fanout(self) -> int:
        """Deliveries per published message."""
        if self.kind in ("pubsub", "fanout", "fanin"):
            return self.subs
        if self.kind == "queue":
            return 1
        return 0

    def to_dict(self) -> dict:
        return {"name": self.name, **asdict(self)}


def make(kind: str, size: int = 128, *, pubs: int | None = None, subs: int | None = None,
         window: int | None = None, conns: int | None = None) -> Scenario:
    """A scenario of `kind` with that kind's default client counts for anything not given."""
    kind = ALIASES.get(kind.lower(), kind)
    if kind == "pub":
        return Scenario("pub", size, pubs=pubs or 1, subs=0)
    if kind == "pubsub":
        return Scenario("pubsub", size, pubs=pubs or 1, subs=subs or 1)
    if kind == "fanout":
        return Scenario("fanout", size, pubs=1, subs=subs or DEFAULT_FANOUT)
    if kind == "fanin":
        return Scenario("fanin", size, pubs=pubs or DEFAULT_FANIN, subs=1)
    if kind == "queue":
        return Scenario("queue", size, pubs=pubs or 1, subs=subs or DEFAULT_QUEUE)
    if kind == "reqrep":
        return Scenario("reqrep", size, pubs=1, subs=subs or 1, window=window or 1)
    if kind == "conns":
        return Scenario("conns", 0, pubs=0, subs=0, conns=conns or DEFAULT_CONNS)
    if kind == "vpubsub":
        return Scenario("vpubsub", 0, pubs=1, subs=1)
    if kind in ("vfanout", "vqueue"):
        return Scenario(kind, 0, pubs=1, subs=subs or 5)
    if kind == "vmany":
        return Scenario("vmany", 0, pubs=pubs or 4, subs=subs or 4)
    if kind == "jspub":
        return Scenario("jspub", size, pubs=1, subs=0, window=window or 1, storage="file")
    if kind == "jsfetch":
        return Scenario("jsfetch", size, pubs=1, subs=0, window=window or JS_FETCH_BATCH,
                        storage="file")
    if kind in ("jspush", "kvput", "kvget"):
        return Scenario(kind, size, pubs=1, subs=0, window=window or 1, storage="file")
    raise ValueError(f"unknown scenario {kind!r}; kinds: {', '.join(KINDS)}")


_NAME = re.compile(r"(?i)(PubSub|Pub|FanOut|FanIn|QueueSub|ReqRep)(?:(\d+)x)?(\d+[bkm]?)(?:_W(\d+))?")
_VARIED = re.compile(r"(?i)(VariedPubSub|VariedFanOut|VariedMany|VariedQueue)(\d+)?(?:x(\d+))?")
_CONNS = re.compile(r"(?i)IdleConns(\d+)(k?)")
_JSPUB = re.compile(r"(?i)JsPub(Sync|Async)(Mem)?(\d+[bkm]?)(?:_W(\d+))?")
_JSREAD = re.compile(r"(?i)(JsFetch|JsPush|KvPut|KvGet)(\d+)?(?:_S(\d+[bkm]?))?(?:_W(\d+))?")


def parse_name(name: str) -> Scenario:
    """The scenario a nats-style name stands for: `PubSub16K`, `FanOut10x128B`, `ReqRep128B_W16`,
    `IdleConns10k`, ...; a `Ws` prefix (`WsPubSub128B`) runs it over the websocket listener."""
    if name[:2].lower() == "ws" and name[2:3].isupper():
        return replace(parse_name(name[2:]), transport="ws")
    m = _VARIED.fullmatch(name)
    if m:
        prefix, a, b = m.groups()
        kind = _KIND_OF_PREFIX[prefix.lower()]
        if kind == "vpubsub" and a:
            raise ValueError(f"{name!r}: VariedPubSub takes no client count")
        if kind == "vmany":
            return make(kind, pubs=int(a) if a else None, subs=int(b) if b else None)
        if b:
            raise ValueError(f"{name!r}: one client count only")
        return make(kind, subs=int(a) if a else None)
    m = _JSPUB.fullmatch(name)
    if m:
        mode, mem, size, window = m.groups()
        w = int(window) if window else (1 if mode.lower() == "sync" else JS_ASYNC_WINDOW)
        if mode.lower() == "sync" and w != 1:
            raise ValueError(f"{name!r}: JsPubSync has one in flight; use JsPubAsync..._W{w}")
        return replace(make("jspub", parse_size(size), window=w),
                       storage="memory" if mem else "file")
    m = _JSREAD.fullmatch(name)
    if m:
        prefix, n, size, window = m.groups()
        kind = prefix.lower()
        if kind == "jsfetch":
            if window:
                raise ValueError(f"{name!r}: the batch is the number (JsFetch1000)")
            window = n
        elif n:
            raise ValueError(f"{name!r}: {prefix} takes no number")
        if kind == "jspush" and window:
            raise ValueError(f"{name!r}: JsPush takes no window")
        return make(kind, parse_size(size) if size else 128,
                    window=int(window) if window else None)
    m = _CONNS.fullmatch(name)
    if m:
        return make("conns", conns=int(m.group(1)) * (1000 if m.group(2) else 1))
    m = _NAME.fullmatch(name)
    if not m:
        raise ValueError(f"unknown scenario name {name!r} (examples: Pub128B, PubSub16K, "
                         f"FanOut10x128B, FanIn10x128B, QueueSub5x128B, ReqRep128B_W16, "
                         f"IdleConns10k)")
    prefix, n, size, window = m.groups()
    kind = _KIND_OF_PREFIX[prefix.lower()]
    n = int(n) if n else None
    if n is not None and kind in ("pub", "pubsub", "reqrep"):
        raise ValueError(f"{name!r}: {prefix} takes no client count")
    if window and kind != "reqrep":
        raise ValueError(f"{name!r}: only ReqRep takes a window")
    sz = parse_size(size)
    if kind == "fanin":
        return make(kind, sz, pubs=n)
    return make(kind, sz, subs=n, window=int(window) if window else None)


def resolve(spec: str, *, size: int = 128, pubs: int | None = None, subs: int | None = None,
            window: int | None = None, conns: int | None = None) -> Scenario:
    """A command-line scenario: a family word (`pubsub`, `fan-out`, ...) completed by the options,
    or a full nats-style name."""
    if spec.lower() in ALIASES:
        return make(spec, size, pubs=pubs, subs=subs, window=window, conns=conns)
    return parse_name(spec)


# The default compare matrix: the realistic rows of issue 11, then every issue-4 target (one
# repeated frame), the pub-only sizes that frame the parser's cost (nats-server's Pub0b..Pub32K).
# Realistic traffic first (the headline figures); then the repeated-frame rows.
DEFAULT_MATRIX = (
    "VariedPubSub", "VariedFanOut5", "VariedMany4x4", "VariedQueue5",
    "ReqRep128B", "ReqRep128B_W16",
    "Pub0b", "Pub128B", "Pub32K",
    "PubSub128B", "PubSub16K", "PubSub1M",
    "FanOut10x128B", "FanIn10x128B", "QueueSub5x128B",
    "IdleConns10k",
)


# The JetStream rows (`--scenarios js`): not in the default matrix, whose run they would double.
JS_MATRIX = (
    "JsPubSync128B", "JsPubAsync128B", "JsPubAsyncMem128B", "JsFetch100", "JsFetch1000",
    "JsPush", "KvPut", "KvGet",
)


def default_matrix() -> list[Scenario]:
    return [parse_name(n) for n in DEFAULT_MATRIX]


@dataclass(frozen=True)
class Target:
    """An issue-4 target: `metric` ratio zats/nats-server must be >= (or <=) `value`; for
    `kib_per_conn` the value is absolute (zats's own KiB per idle connection)."""

    metric: str  # "per_cpu", "p50", "kib_per_conn"
    op: str  # ">=" or "<="
    value: float
    text: str

    def holds(self, measured: float | None) -> bool | None:
        if measured is None:
            return None
        return measured >= self.value if self.op == ">=" else measured <= self.value


TARGETS = {
    # issue 11: realistic traffic at least as cheap per message as nats-server's
    "VariedPubSub": Target("per_cpu", ">=", 1.0, "msgs/CPU-s >= 1.0x"),
    "VariedFanOut5": Target("per_cpu", ">=", 1.0, "msgs/CPU-s >= 1.0x"),
    "VariedMany4x4": Target("per_cpu", ">=", 1.0, "msgs/CPU-s >= 1.0x"),
    "VariedQueue5": Target("per_cpu", ">=", 1.0, "msgs/CPU-s >= 1.0x"),
    "ReqRep128B_W16": Target("p50", "<=", 1.0, "p50 latency <= 1.0x"),
    "PubSub128B": Target("per_cpu", ">=", 0.5, "msgs/CPU-s >= 0.5x"),
    "FanOut10x128B": Target("per_cpu", ">=", 0.5, "msgs/CPU-s >= 0.5x"),
    "FanIn10x128B": Target("per_cpu", ">=", 0.4, "msgs/CPU-s >= 0.4x"),
    "QueueSub5x128B": Target("per_cpu", ">=", 0.4, "msgs/CPU-s >= 0.4x"),
    "PubSub16K": Target("per_cpu", ">=", 0.7, "msgs/CPU-s >= 0.7x"),
    "PubSub1M": Target("per_cpu", ">=", 0.7, "msgs/CPU-s >= 0.7x"),
    "ReqRep128B": Target("p50", "<=", 1.5, "p50 latency <= 1.5x"),
    "WsPubSub128B": Target("per_cpu", ">=", 1.0, "msgs/CPU-s >= 1.0x"),  # issue 14
    "IdleConns10k": Target("kib_per_conn", "<=", 10.0, "<= 10 KiB RSS/conn"),
    # JetStream (file streams, each broker at its default sync policy)
    "JsPubAsync128B": Target("per_cpu", ">=", 1.0, "msgs/CPU-s >= 1.0x"),
    "JsFetch100": Target("per_cpu", ">=", 1.0, "msgs/CPU-s >= 1.0x"),
    "JsFetch1000": Target("per_cpu", ">=", 1.0, "msgs/CPU-s >= 1.0x"),
    "JsPubSync128B": Target("p50", "<=", 1.0, "p50 latency <= 1.0x"),
}
