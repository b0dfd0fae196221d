"""JetStream: persistent streams and consumers.

`store` defines the storage interface (StreamStore, ConsumerStore, their state types and
errors), modelled on nats-server's store interfaces; `memstore` keeps a stream in memory and
`filestore` in an append-only, checksummed log of block files. The API layer ($JS.API handlers,
streams and consumers) is built on top of these and never touches files itself.
"""
