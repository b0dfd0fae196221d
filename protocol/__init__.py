"""zats.protocol: the NATS client protocol as data, shared by broker and client, with no I/O:
the receive buffer and parsers, frame encoders, INFO/CONNECT structs, subject rules, headers and
the exact -ERR texts."""
