"""The connection status values of `Client.status` (nats-py's names and numbers), shared by the
client and its outbound buffer, which picks its limit and its errors by status."""

DISCONNECTED = 0
CONNECTED = 1
CLOSED = 2
RECONNECTING = 3
CONNECTING = 4
DRAINING_SUBS = 5
DRAINING_PUBS = 6
