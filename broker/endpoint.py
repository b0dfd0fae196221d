"""What delivery reads and writes of the parties to a message, as two small classes:
- Endpoint, every party a message reaches or comes from (a client, route or leaf connection, or
  an internal client): its broker, whether it is closed, its permissions and options (echo,
  headers, and a publisher's verbose and no_responders), the subject index its publishes go to,
  its counters and outbound buffer, whether that output may be held over reads and whether
  its transport paused writing, and the MSG line pieces of the last message it published.
  InternalClient (internal.py) derives from it.
- WireState, an Endpoint over a byte transport, what the read path reads per read: its
  transport, receive buffer and parser, the state that makes a read wait (a CONNECT being
  checked, a TLS upgrade, the rest of a read left for the next slice) and the flags of its
  close and held output. WireConnection (wire.py) derives from it.
- DeliveryState, the broker's part: the endpoints written to in the current read (flushed at
  its end, outbound.flush_touched), whose read it is (`origin`), the output held over reads
  (outbound.HeldOutput), the server's outbound counters, and its options and log. Broker
  (server.py) derives from it.

Compiled, all three are C structs (endpoint.pxd), so that the compiled fan-out and read path
read these fields directly."""

from __future__ import annotations

from zats.protocol.buffer import ReceiveBuffer


class DeliveryState:
    __slots__ = ("touched", "origin", "held", "out_msgs", "out_bytes", "options", "log")

    def __init__(self) -> None:
        self.touched: list = []  # the endpoints written to in this read, to flush at its end
        self.origin = None  # whose read is being flushed (set by Broker)
        self.held = None  # outbound.HeldOutput (set by Broker)
        # `options` and `log`: the broker's options (max_pending, max_payload) and log
        # (trace_enabled), as the read path and a flush read them. Broker sets them (and
        # declares their types) in its __init__.
        # nats-server's counts: a message to each local subscriber, one to each peer connection.
        self.out_msgs = self.out_bytes = 0


class Endpoint:
    __slots__ = ("broker", "closed", "touched", "perms", "echo", "headers", "verbose",
                 "no_responders", "sublist", "out", "in_msgs", "in_bytes", "out_msgs",
                 "out_bytes", "msg_subject", "msg_reply", "msg_size", "msg_head", "msg_tail",
                 "holds_output", "paused")

    def __init__(self, broker) -> None:
        self.broker = broker
        self.closed = False
        # Written to in this read: flushed at its end (the broker's `touched` list).
        self.touched = False
        self.perms = None  # permissions.ConnectionPermissions, when the user has any
        self.echo = True  # gets its own messages back
        self.headers = False  # takes HMSG
        self.verbose = False  # a +OK for each of its ops
        self.no_responders = False  # a 503 status for its request that reaches no one
        self.sublist = None  # its account's subject index (sublist.Sublist), for a publisher
        self.out = bytearray()
        self.in_msgs = self.in_bytes = self.out_msgs = self.out_bytes = 0
        # The MSG line pieces of this publisher's last message (see delivery.deliver).
        self.msg_subject = self.msg_reply = self.msg_head = self.msg_tail = None
        self.msg_size = -1
        # Its output may be held over reads (outbound.HeldOutput): a wire connection's may.
        self.holds_output = False
        # Its transport asked to stop writing: readers wait for it to drain (outbound.py).
        self.paused = False


class WireState(Endpoint):
    __slots__ = ("transport", "rbuf", "parser", "closing", "held", "slice_work", "next_slice",
                 "last_activity", "auth_check", "upgrading", "tls_pending", "room_as_arrives")

    def __init__(self, broker) -> None:
        Endpoint.__init__(self, broker)
        self.transport = None
        self.rbuf = ReceiveBuffer()
        self.parser = None  # the kind's
        # The peer sent -ERR: closed at the end of the read (see WireConnection.err_at).
        self.closing = False
        self.held = False  # its output is held (outbound.HeldOutput)
        # Heavy fan-out counted in this slice of a read, and the call that parses the rest.
        self.slice_work = 0
        self.next_slice = None
        self.last_activity = 0.0  # monotonic
        # A client's CONNECT being checked off the loop: reading resumes after it.
        self.auth_check = None
        # A client's TLS upgrade: `upgrading` until the TLS layer owns the socket (plain text
        # then is an error); `tls_pending` until the handshake is done (nothing is written).
        self.upgrading = False
        self.tls_pending = False
        # Unfinished frames get buffer room as their bytes arrive (peer_parser.room_for), for
        # kinds whose declared sizes have no limit (routes); otherwise all of it at once.
        self.room_as_arrives = False
