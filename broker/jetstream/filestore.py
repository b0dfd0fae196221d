"""The file store (`storage: file`): a stream's messages in an append-only log of block files.

Layout of a stream's directory:

    msgs/00000001.blk ...  the log, in blocks of about `block_size` bytes (records.py)
    state.dat              the floor (messages below it are gone) and a last sequence, written
                           atomically by purge, compact, truncate and block removal
    meta.inf               the API layer's metadata for the stream (its config), opaque here
    obs/<name>/o.dat       a consumer's state, written atomically; obs/<name>/meta.inf its config

At open, the index (the shared `IndexedStore` one) is rebuilt by scanning the blocks: each
record's checksum is verified, and a torn or corrupt record ends its block there (the block is
cut and a warning logged). Removals append TOMBSTONE records; a sealed block whose live part has
shrunk below half is rewritten with only what is still needed, and a block with nothing needed
is deleted.

Writes are batched: `store_msg` appends the record's pieces to a write buffer, and `flush()`
writes them with one writev (then fsyncs with `sync_always`); `call_soon` (an event loop's)
makes the store flush itself once per loop iteration. Without `sync_always`, blocks are fsynced
every `sync_interval` seconds (nats-server's default: 2 minutes) and when the store stops.

Reads hand out memoryviews over a read-only mmap of the block (no copy of the payload), but a
message of at most _COPY_MAX bytes (headers and payload) as bytes copied from the map: making a
view costs more than copying that much. A message still in the write buffer is served from
there. Files are never shortened in place
while mapped (a view over a cut page would fault): truncation rewrites the block.

A full disk (ENOSPC) or file size limit (EFBIG) makes the write fail with `StorageFull`: the
messages of the failed batch are taken out again (the store is as it was at the last good
flush), and later stores write through at once until the disk has room.
"""

from __future__ import annotations

import errno
import heapq
import mmap
import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from zlib import crc32

from zats.broker.log import Logger

from . import records
from .consumer_state import MemConsumerStore, decode_consumer_state, encode_consumer_state
from .index import SIZE, SUBJ, TS, IndexedStore
from .records import CRC_LEN, HEADER_LEN, MAX_RECORD, MAX_SUBJECT, MSG, SKIP, TOMBSTONE, message_pieces
from .store import (
    ConsumerStore,
    ConsumerStoreConfig,
    CorruptState,
    MsgTooLarge,
    StorageFull,
    StorageType,
    StoreConfig,
    StoredMsg,
    StoreError,
    msg_size_file,
    stored_msg,
)

__all__ = ["FileStore", "FileStoreOptions", "FileConsumerStore"]

# Entry: (subject, ts, size, expires, block index, offset, record length, headers length). The
# block is named by its index (`_by_index`), not held: an entry of bytes and integers alone is
# one the cyclic garbage collector stops tracking, and a stream of a million messages would
# otherwise be traversed by every full collection (JsPubAsync128B: 17% of the broker's CPU).
_BLK, _OFF, _RLEN, _HLEN = 4, 5, 6, 7
# A record's fixed head and CRC lengths, under names of this module's that the compiled build
# declares C integers (filestore.pxd): reading a message then boxes no integer.
_HEAD_LEN, _CRC_LEN = HEADER_LEN, CRC_LEN

_STATE = struct.Struct("<4sQQ")  # magic, floor, last
_STATE_MAGIC = b"ZJS1"
_FLUSH_AT = 1 << 20  # flush early once this much is buffered
_IOV_MAX = 1024
# Headers and payload up to this size are read out as bytes (a copy of 4 KiB costs a tenth of
# making a memoryview: about 2,000 instructions a view, compiled); larger ones as views.
_COPY_MAX = 4096
COMPILED = not __file__.endswith(".py")
_FULL_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_TOMB_LEN = _HEAD_LEN + _CRC_LEN


@dataclass(slots=True)
class FileStoreOptions:
    block_size: int = 8 * 1024 * 1024
    sync_always: bool = False
    sync_interval: float = 120.0  # seconds
    call_soon: Callable | None = None  # loop.call_soon: flush once per loop iteration
    call_later: Callable | None = None  # loop.call_later: expiry and interval syncs on timers
    logger: object | None = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes, sync: bool = True) -> None:
    """Replace `path` by `data` so that a crash leaves either the old or the new content."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if sync:
        _fsync_dir(path.parent)


def _storage_error(exc: OSError) -> StoreError:
    if exc.errno in _FULL_ERRNOS:
        return StorageFull(os.strerror(exc.errno))
    return StoreError(f"write failed: {exc}")


class _Block:
    """One block file. `written` bytes are on disk; the active block's `end` also counts what is
    in the write buffer."""

    __slots__ = (
        "index", "path", "fd", "written", "end", "live", "live_bytes", "max_ref", "dead", "needed", "_map", "_view",
    )

    def __init__(self, index: int, path: Path) -> None:
        self.index = index
        self.path = path
        self.fd = -1
        self.written = 0
        self.end = 0
        self.live = 0  # messages still in the index
        self.live_bytes = 0  # their record bytes
        self.max_ref = 0  # highest sequence any record here refers to
        self.dead: set[int] = set()  # removed messages whose records are still here
        self.needed = 0  # tombstones here whose message record still exists
        self._map = None
        self._view = None

    def mapped(self, end: int) -> memoryview:
        """A view of the whole block file, mapped at least up to `end`."""
        view = self._view
        if view is None or end > len(view):
            self.remap()
            view = self._view
        return view

    def remap(self) -> None:
        # Outstanding views keep an older map alive; it is released when they are.
        self._map = self._view = None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if size:
                self._map = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
                self._view = memoryview(self._map)
        finally:
            os.close(fd)

    def drop_map(self) -> None:
        self._map = self._view = None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.drop_map()


def _copy(view: memoryview, start: int, end: int) -> bytes:
    """view[start:end] as bytes, for 0 <= start <= end <= len(view). Compiled, C copies straight
    from the map (filestore.pxd)."""
    if COMPILED:
        return _view_copy(view, start, end)  # noqa: F821
    return view[start:end].tobytes()


class FileStore(IndexedStore):
    """A stream's messages on disk; see the module docstring."""

    def __init__(
        self,
        directory: str | os.PathLike,
        config: StoreConfig,
        options: FileStoreOptions | None = None,
        metadata: bytes | None = None,
    ) -> None:
        self.options = options = options or FileStoreOptions()
        super().__init__(config, options.call_later)
        # What every store and flush reads of the options (fixed for the store's life).
        self._sync_always = options.sync_always
        self._block_size = options.block_size
        self._call_soon = options.call_soon
        self.directory = Path(directory)
        self._log = options.logger or Logger()
        self._mdir = self.directory / "msgs"
        self._mdir.mkdir(parents=True, exist_ok=True)
        (self.directory / "obs").mkdir(exist_ok=True)
        if metadata is not None:
            _write_atomic(self.directory / "meta.inf", metadata)
        self._blocks: list[_Block] = []
        self._by_index: dict[int, _Block] = {}
        self._wbuf: list = []
        self._wlen = 0
        self._unflushed: dict[int, tuple] = {}
        self._unflushed_first = 0  # lowest message sequence in the write buffer
        self._flush_scheduled = False
        self._write_through = False  # after a StorageFull: write every store at once
        self._failed: StorageFull | None = None  # raised by the next flush() call
        self._compact_candidates: set[_Block] = set()
        # removed message -> (block with its record, block with its tombstone), while the
        # record is still on disk and above the floor: the tombstone is needed until then
        self._dead: dict[int, tuple[_Block, _Block]] = {}
        self._dirty_consumers: set[FileConsumerStore] = set()
        self._floor_seq = 0
        self._state_last = 0
        self._last_sync = monotonic()
        self._sync_timer = None
        self._unsynced = False
        self._recover()
        if config.max_age or config.allow_msg_ttl or self._ttls:
            self.update_config(config)
        self._arm_sync_timer()

    @property
    def type(self) -> StorageType:
        return StorageType.FILE

    def metadata(self) -> bytes | None:
        try:
            return (self.directory / "meta.inf").read_bytes()
        except FileNotFoundError:
            return None

    def write_metadata(self, metadata: bytes) -> None:
        _write_atomic(self.directory / "meta.inf", metadata)

    # --- recovery ---

    def _recover(self) -> None:
        floor = last = 0
        try:
            magic, floor, last = _STATE.unpack((self.directory / "state.dat").read_bytes())
            if magic != _STATE_MAGIC:
                raise ValueError
        except FileNotFoundError:
            pass
        except (ValueError, struct.error):
            self._log.warn("JetStream store %s: state.dat is corrupt, ignoring it", self.directory)
            floor = last = 0
        self._floor_seq, self._state_last = floor, last
        for tmp in self._mdir.glob("*.tmp"):
            tmp.unlink()
        names = sorted(p for p in self._mdir.glob("*.blk"))
        msgs = self._msgs
        ttls = []
        for path in names:
            blk = _Block(int(path.stem), path)
            self._blocks.append(blk)
            self._by_index[blk.index] = blk
            size = path.stat().st_size
            good = 0
            if size:
                blk.remap()
                view = blk._view
                for off, rlen, kind, seq, ts, expires, slen, hlen in records.scan(view, size):
                    good = off + rlen
                    if kind == MSG:
                        if seq > last:
                            last = seq
                        blk.max_ref = max(blk.max_ref, seq)
                        if seq < floor:
                            continue
                        s0 = off + _HEAD_LEN
                        subject = bytes(view[s0 : s0 + slen])
                        dlen = rlen - _HEAD_LEN - slen - hlen - _CRC_LEN
                        size_ = 22 + slen + dlen + 8 + (4 + hlen if hlen else 0)
                        old = msgs.pop(seq, None)
                        if old is not None:  # a sequence used again after a failed write
                            was = self._by_index[old[_BLK]]
                            was.live -= 1
                            was.live_bytes -= old[_RLEN]
                        msgs[seq] = (subject, ts, size_, expires, blk.index, off, rlen, hlen)
                        blk.live += 1
                        blk.live_bytes += rlen
                        if expires > 0:
                            ttls.append((expires, seq))
                    elif kind == TOMBSTONE:
                        blk.max_ref = max(blk.max_ref, seq)
                        old = msgs.pop(seq, None)
                        if old is not None:
                            self._mark_dead(seq, old, blk)
                    else:  # SKIP
                        last = max(last, expires)
                        blk.max_ref = max(blk.max_ref, expires)
                view = None
                blk.drop_map()
            if good < size:
                self._log.warn(
                    "JetStream store %s: block %s has a torn or corrupt record at offset %d "
                    "(%d bytes cut)",
                    self.directory,
                    path.name,
                    good,
                    size - good,
                )
                self._cut(blk, good)
            blk.written = blk.end = good
        # Messages of a sequence reused after a truncate were re-inserted; keep the dict in order.
        if any(a > b for a, b in zip(msgs, list(msgs)[1:], strict=False)):
            self._msgs = msgs = dict(sorted(msgs.items()))
        self._last = last
        fss = self._fss
        nbytes = 0
        for seq, e in msgs.items():
            nbytes += e[SIZE]
            ss = fss.get(e[SUBJ])
            if ss is None:
                fss[e[SUBJ]] = [1, seq, seq, False, False]
            else:
                ss[0] += 1
                ss[2] = seq
        self._bytes = nbytes
        if msgs:
            first = next(iter(msgs))
            self._first, self._first_ts = first, msgs[first][TS]
            self._last_ts = msgs[next(reversed(msgs))][TS]
        elif floor or last:
            self._first = max(floor, last + 1)
            self._last = max(last, self._first - 1)
        if ttls:
            heapq.heapify(ttls)
            self._ttls = ttls
        for blk in self._blocks[:-1]:
            self._consider(blk)
        if self._blocks:
            self._open_active(self._blocks[-1])

    def _cut(self, blk: _Block, size: int) -> None:
        """Shorten a block file (only before it is mapped, or by rewriting it)."""
        blk.drop_map()
        if size == 0:
            os.truncate(blk.path, 0)
        else:
            with open(blk.path, "rb") as f:
                keep = f.read(size)
            _write_atomic(blk.path, keep)

    # --- blocks ---

    def _open_active(self, blk: _Block) -> None:
        blk.fd = os.open(blk.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _new_block(self) -> _Block:
        index = self._blocks[-1].index + 1 if self._blocks else 1
        blk = _Block(index, self._mdir / f"{index:08d}.blk")
        try:
            self._open_active(blk)
            if self.options.sync_always:
                _fsync_dir(self._mdir)
        except OSError as exc:
            raise _storage_error(exc) from None
        self._blocks.append(blk)
        self._by_index[index] = blk
        return blk

    def _active_for(self, rlen: int) -> _Block:
        blocks = self._blocks
        if blocks:
            blk = blocks[-1]
            if blk.end == 0 or blk.end + rlen <= self._block_size:
                return blk
            self._flush_writes()
            new = self._new_block()
            try:
                os.fsync(blk.fd)
            except OSError as exc:
                raise _storage_error(exc) from None
            blk.close()
            self._consider(blk)
            return new
        return self._new_block()

    # --- writing ---

    _size = staticmethod(msg_size_file)  # (subject, headers, data): one call, not two, per store

    def _append(self, pieces, rlen: int) -> None:
        if len(pieces) == 1:
            self._wbuf.append(pieces[0])
        else:
            self._wbuf.extend(pieces)
        self._wlen += rlen
        if self._wlen >= _FLUSH_AT:
            self._flush_writes()
        elif not self._flush_scheduled and self._call_soon is not None:
            self._flush_scheduled = True
            self._call_soon(self._auto_flush)

    def _put(self, subject, headers, data, seq, ts, expires, size) -> tuple:
        if type(subject) is not bytes:
            subject = bytes(subject)
        if len(subject) > MAX_SUBJECT:
            raise MsgTooLarge("message too large")
        if headers is not None and type(headers) is not bytes:
            headers = bytes(headers)
        if type(data) is not bytes:
            data = bytes(data)
        pieces, rlen = message_pieces(subject, headers, data, seq, ts, expires)
        if rlen >= MAX_RECORD:
            raise MsgTooLarge("message too large")
        if self._write_through:
            self._flush_writes()  # fails at once while the disk is still full
        blk = self._active_for(rlen)
        off = blk.end
        blk.end += rlen
        blk.live += 1
        blk.live_bytes += rlen
        if seq > blk.max_ref:
            blk.max_ref = seq
        if not self._unflushed:
            self._unflushed_first = seq
        self._unflushed[seq] = (headers, data)
        self._append(pieces, rlen)
        if self._write_through:
            try:
                self._flush_writes()
            except StoreError:
                blk.live -= 1
                blk.live_bytes -= rlen
                raise
        return (subject, ts, size, expires, blk.index, off, rlen, len(headers) if headers else 0)

    def _control(self, kind: int, seq: int, arg: int = 0) -> _Block:
        rec = records.control_record(kind, seq, arg)
        blk = self._active_for(len(rec))
        blk.end += len(rec)
        ref = arg if kind == SKIP else seq
        if ref > blk.max_ref:
            blk.max_ref = ref
        self._append((rec,), len(rec))
        return blk

    def _skipped(self, seq: int, last: int) -> None:
        self._control(SKIP, seq, last)

    def _auto_flush(self) -> None:
        self._flush_scheduled = False
        if self._closed:
            return
        try:
            self._flush_writes()
            self._flush_consumers()
        except StorageFull as exc:
            self._failed = exc
            self._log.error("JetStream store %s: %s", self.directory, exc)
        except StoreError as exc:
            self._log.error("JetStream store %s: %s", self.directory, exc)

    def flush(self) -> None:
        if self._closed:
            return
        failed, self._failed = self._failed, None
        if failed is not None:
            raise failed
        self._flush_writes()
        self._flush_consumers()

    def sync(self) -> None:
        self.flush()
        self._sync_all()

    def _flush_writes(self) -> None:
        if not self._wbuf:
            return
        blk = self._blocks[-1]
        pieces, self._wbuf = self._wbuf, []
        total, self._wlen = self._wlen, 0
        fd = blk.fd
        start = blk.written
        sync_always = self._sync_always
        try:
            n = len(pieces)
            i = 0
            while i < n:
                if n <= _IOV_MAX:  # the whole batch in one writev (`total` is its length)
                    chunk, want = pieces, total
                else:
                    chunk = pieces[i : i + _IOV_MAX]
                    want = sum(map(len, chunk))
                wrote = os.writev(fd, chunk)
                if wrote < want:
                    # A short write: go on with the rest of the chunk.
                    rest = b"".join(chunk)[wrote:]
                    while rest:
                        wrote = os.write(fd, rest)
                        rest = rest[wrote:]
                i += _IOV_MAX
            if sync_always:
                os.fdatasync(fd)
        except OSError as exc:
            err = _storage_error(exc)
            err.first_lost = self._rollback(blk, start)
            self._write_through = isinstance(err, StorageFull)
            self._log.error("JetStream store %s: write failed: %s", self.directory, exc)
            raise err from None
        blk.written = start + total
        self._unflushed.clear()
        self._write_through = False
        if not sync_always:
            self._unsynced = True
            if self._call_later is None and monotonic() - self._last_sync >= self.options.sync_interval:
                self._sync_all()

    def _rollback(self, blk: _Block, start: int) -> int:
        """A write failed: cut what reached the file and take out the messages it held.
        Returns the first sequence taken out (last_seq + 1 when none)."""
        try:
            os.ftruncate(blk.fd, start)
        except OSError:
            pass
        blk.end = start
        lost = sorted(self._unflushed)
        self._unflushed.clear()
        if lost:
            self._truncate_index(lost[0] - 1)
            return lost[0]
        return self._last + 1

    def _truncate_index(self, seq: int) -> None:
        """Take messages above `seq` out of the index only (their records were not written)."""
        msgs = self._msgs
        for s in [s for s in reversed(msgs) if s > seq]:
            e = msgs.pop(s)
            blk = self._by_index[e[_BLK]]
            blk.live -= 1
            blk.live_bytes -= e[_RLEN]
            self._bytes -= e[SIZE]
            ss = self._fss[e[SUBJ]]
            if ss[0] == 1:
                del self._fss[e[SUBJ]]
            else:
                ss[0] -= 1
                ss[4] = True
        self._last = seq
        if msgs:
            self._last_ts = msgs[next(reversed(msgs))][TS]
        else:
            self._first, self._first_ts = seq + 1, 0

    def _sync_all(self) -> None:
        for blk in self._blocks:
            if blk.fd >= 0:
                try:
                    os.fsync(blk.fd)
                except OSError as exc:
                    self._log.error("JetStream store %s: fsync failed: %s", self.directory, exc)
        self._last_sync = monotonic()
        self._unsynced = False

    def _arm_sync_timer(self) -> None:
        if self.options.call_later is not None and not self.options.sync_always and not self._closed:
            self._sync_timer = self.options.call_later(self.options.sync_interval, self._on_sync_timer)

    def _on_sync_timer(self) -> None:
        self._sync_timer = None
        if self._closed:
            return
        if self._unsynced:
            self._auto_flush()
            self._sync_all()
            for c in list(self._consumers.values()):
                c._sync()
        self._arm_sync_timer()

    # --- reading ---

    def _get(self, seq: int, e: tuple) -> StoredMsg:
        blk = self._by_index[e[_BLK]]
        off = e[_OFF]
        if off >= blk.written:
            headers, data = self._unflushed[seq]
            return stored_msg(e[SUBJ], seq, headers, data, e[TS])
        end = off + e[_RLEN]
        view = blk.mapped(end)
        subject = e[SUBJ]
        h0 = off + _HEAD_LEN + len(subject)
        hlen = e[_HLEN]
        d0 = h0 + hlen
        d1 = end - _CRC_LEN
        if d1 - h0 <= _COPY_MAX:
            return stored_msg(subject, seq, _copy(view, h0, d0) if hlen else None,
                              _copy(view, d0, d1), e[TS])
        return stored_msg(subject, seq, view[h0:d0] if hlen else None, view[d0:d1], e[TS])

    def _get_headers(self, seq: int, e: tuple):
        headers = self._get(seq, e).headers
        return None if headers is None else bytes(headers)

    # --- removal ---

    def _forget(self, seq: int, e: tuple, erase: bool) -> None:
        blk = self._by_index[e[_BLK]]
        if e[_OFF] >= blk.written:
            # Still in the write buffer: the record will be written, and the tombstone after it.
            self._unflushed.pop(seq, None)
        self._mark_dead(seq, e, self._control(TOMBSTONE, seq))
        if erase:
            self._erase(seq, e)
        if blk.fd < 0:
            self._consider(blk)

    def _mark_dead(self, seq: int, e: tuple, tomb: _Block) -> None:
        blk = self._by_index[e[_BLK]]
        blk.live -= 1
        blk.live_bytes -= e[_RLEN]
        blk.dead.add(seq)
        tomb.needed += 1
        self._dead[seq] = (blk, tomb)

    def _release(self, seq: int, check: bool = True) -> None:
        """The record of removed message `seq` is gone: its tombstone is no longer needed."""
        d = self._dead.pop(seq, None)
        if d is None:  # a sequence used again (truncate, failed write): already let go
            return
        blk, tomb = d
        blk.dead.discard(seq)
        tomb.needed -= 1
        if check and tomb is not blk and tomb.fd < 0:
            self._consider(tomb)

    def _raise_floor(self) -> None:
        """Persist first_seq as the floor and last_seq, and let go of what they make useless."""
        first = self._first
        if self._floor_seq < first or self._state_last < self._last:
            self._write_state(first, self._last)
        below = [s for s in self._dead if s < first]
        for s in below:
            self._release(s, check=False)

    def _erase(self, seq: int, e: tuple) -> None:
        """Overwrite a removed message's payload on disk (its tombstone is written first)."""
        self._flush_writes()
        blk, off, rlen = self._by_index[e[_BLK]], e[_OFF], e[_RLEN]
        p0 = off + _HEAD_LEN + len(e[SUBJ])
        junk = os.urandom(rlen - _CRC_LEN - (p0 - off))
        fd = os.open(blk.path, os.O_RDWR)
        try:
            head = os.pread(fd, p0 - off, off)
            os.pwrite(fd, junk, p0)
            os.pwrite(fd, struct.pack("<I", crc32(junk, crc32(head))), off + rlen - _CRC_LEN)
            if self.options.sync_always:
                os.fdatasync(fd)
        except OSError as exc:
            raise _storage_error(exc) from None
        finally:
            os.close(fd)

    def _consider(self, blk: _Block) -> None:
        """A sealed block lost live messages or needed tombstones: delete it when nothing in it
        matters any more, rewrite it when more than half of it is dead."""
        if blk.fd >= 0 or blk.index not in self._by_index:
            return
        if blk.max_ref < self._first or (blk.live == 0 and blk.needed == 0):
            self._raise_floor()
            if blk.max_ref < self._first or blk.needed == 0:
                self._drop_block(blk)
        elif (blk.live_bytes + blk.needed * _TOMB_LEN) * 2 < blk.written:
            self._compact_candidates.add(blk)

    def _drop_block(self, blk: _Block) -> None:
        blk.close()
        self._blocks.remove(blk)
        del self._by_index[blk.index]
        self._compact_candidates.discard(blk)
        for seq in list(blk.dead):
            self._release(seq)
        try:
            blk.path.unlink()
        except FileNotFoundError:
            pass

    def _compact_blocks(self) -> None:
        """Rewrite the sealed blocks that are mostly dead."""
        todo, self._compact_candidates = self._compact_candidates, set()
        self._raise_floor()
        for blk in sorted(todo, key=lambda b: b.index):
            if blk.index in self._by_index and blk.fd < 0:
                self._rewrite(blk)

    def _rewrite(self, blk: _Block, upto: int | None = None) -> None:
        """Write a block anew with its live messages and the records still needed; with `upto`,
        only what lies before that offset (a truncate)."""
        msgs = self._msgs
        dead = self._dead
        released = []
        blk.remap()
        view = blk._view
        size = blk.written if upto is None else upto
        keep = []
        moved = {}
        new_off = 0
        live = live_bytes = max_ref = 0
        if view is not None:
            for off, rlen, kind, seq, _ts, expires, _sl, _hl in records.scan(view, size):
                if kind == MSG:
                    e = msgs.get(seq)
                    if e is None or e[_BLK] != blk.index or e[_OFF] != off:
                        if seq in blk.dead:
                            released.append(seq)
                        continue
                    moved[seq] = new_off
                    live += 1
                    live_bytes += rlen
                elif kind == TOMBSTONE:
                    # Needed while the record of the message it removes is on disk.
                    d = dead.get(seq)
                    if d is None or d[1] is not blk or d[0] is blk:
                        continue
                ref = expires if kind == SKIP else seq
                max_ref = max(max_ref, ref)
                keep.append(view[off : off + rlen])
                new_off += rlen
        data = b"".join(keep)
        keep = None
        view = None
        blk.drop_map()
        try:
            _write_atomic(blk.path, data, sync=True)
        except OSError as exc:
            raise _storage_error(exc) from None
        for seq, off in moved.items():
            e = msgs[seq]
            msgs[seq] = e[:_OFF] + (off,) + e[_OFF + 1 :]
        blk.written = blk.end = len(data)
        blk.live, blk.live_bytes, blk.max_ref = live, live_bytes, max_ref
        for seq in released:
            blk.dead.discard(seq)
            self._release(seq)

    # --- bulk removals ---

    def _write_state(self, floor: int, last: int) -> None:
        self._floor_seq, self._state_last = floor, last
        try:
            _write_atomic(self.directory / "state.dat", _STATE.pack(_STATE_MAGIC, floor, last))
        except OSError as exc:
            raise _storage_error(exc) from None

    def _floor(self, first: int, last: int) -> None:
        self._write_state(first, last)
        self._raise_floor()
        if self._unflushed and self._unflushed_first < first:
            for s in [s for s in self._unflushed if s < first]:
                del self._unflushed[s]
        for blk in list(self._blocks):
            if blk.max_ref < first and blk is not self._blocks[-1]:
                self._drop_block(blk)
        active = self._blocks[-1] if self._blocks else None
        if active is not None and active.max_ref < first:
            # Everything in the active block is gone too: start a fresh one.
            self._wbuf, self._wlen = [], 0
            self._unflushed.clear()
            self._drop_block(active)
            self._new_block()
        self._recount()

    def _truncated(self, seq: int) -> None:
        self._flush_writes()
        self._write_state(0 if seq == 0 else self._first, seq)
        for blk in reversed(list(self._blocks)):
            cut = self._first_offset_above(blk, seq)
            if cut == 0:
                self._drop_block(blk)
            elif cut is not None:
                blk.close()
                self._rewrite(blk, cut)
        if self._blocks and self._blocks[-1].fd < 0:
            self._open_active(self._blocks[-1])
        where = self._rebuild_dead()
        # Tombstones cut away with the tail may have removed messages still below `seq`.
        msgs, dead = self._msgs, self._dead
        for s, blk in where.items():
            if s not in msgs and s not in dead:
                tomb = self._control(TOMBSTONE, s)
                blk.dead.add(s)
                tomb.needed += 1
                dead[s] = (blk, tomb)
        self._recount()
        self._flush_writes()

    def _rebuild_dead(self) -> dict[int, _Block]:
        """Work out again which tombstones are needed, from the blocks; returns where the
        record of each message at or above first_seq lies."""
        self._dead = dead = {}
        where: dict[int, _Block] = {}
        first = self._first
        for blk in self._blocks:
            blk.dead = set()
            blk.needed = 0
        for blk in self._blocks:
            blk.remap()
            view = blk._view
            if view is None:
                continue
            for _off, _rlen, kind, seq, _ts, _exp, _sl, _hl in records.scan(view, blk.written):
                if seq < first:
                    continue
                if kind == MSG:
                    where[seq] = blk
                elif kind == TOMBSTONE and seq not in dead:
                    b = where.get(seq)
                    if b is not None and seq not in self._msgs:
                        b.dead.add(seq)
                        blk.needed += 1
                        dead[seq] = (b, blk)
            view = None
            blk.drop_map()
        return where

    def _first_offset_above(self, blk: _Block, seq: int) -> int | None:
        """Where the first record about a sequence above `seq` starts in `blk`, None if none."""
        if blk.max_ref <= seq:
            return None
        blk.remap()
        view = blk._view
        if view is None:
            return None
        found = None
        for off, _rlen, kind, s, _ts, expires, _sl, _hl in records.scan(view, blk.written):
            if (expires if kind == SKIP else s) > seq:
                found = off
                break
        view = None
        blk.drop_map()
        return found

    def _recount(self) -> None:
        for blk in self._blocks:
            blk.live = blk.live_bytes = 0
        by_index = self._by_index
        for e in self._msgs.values():
            blk = by_index[e[_BLK]]
            blk.live += 1
            blk.live_bytes += e[_RLEN]

    # --- lifecycle ---

    def stop(self) -> None:
        if self._closed:
            return
        try:
            self._flush_writes()
            self._flush_consumers()
            self._sync_all()
        finally:
            for c in list(self._consumers.values()):
                c.stop()
            for blk in self._blocks:
                blk.close()
            if self._sync_timer is not None:
                self._sync_timer.cancel()
                self._sync_timer = None
            self._close()

    def delete(self) -> None:
        for blk in self._blocks:
            blk.close()
        self._wbuf = []
        self._unflushed.clear()
        for c in list(self._consumers.values()):
            c.stop()
        self._consumers.clear()
        if self._sync_timer is not None:
            self._sync_timer.cancel()
            self._sync_timer = None
        self._close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def maintenance(self) -> None:
        """Rewrite mostly-dead blocks now (flush does it too)."""
        self._compact_blocks()

    # --- consumers ---

    def consumer_store(
        self, name: str, created: int, config: ConsumerStoreConfig, metadata: bytes | None = None
    ) -> ConsumerStore:
        self._check_open()
        cs = FileConsumerStore(self, name, created, config, metadata)
        self._consumers[name] = cs
        return cs

    def consumer_names(self) -> list[str]:
        """Consumers with state on disk (to restore them at start)."""
        return sorted(p.name for p in (self.directory / "obs").iterdir() if p.is_dir())

    def _flush_consumers(self) -> None:
        if self._compact_candidates:
            self._compact_blocks()
        if not self._dirty_consumers:
            return
        dirty, self._dirty_consumers = self._dirty_consumers, set()
        for c in dirty:
            c._write()


class FileConsumerStore(MemConsumerStore):
    """A consumer's state kept in memory and written atomically to obs/<name>/o.dat when the
    stream flushes, after the stream's own writes: the saved state never refers to messages the
    stream's files lack. At open, a saved state beyond the stream's last sequence (the stream
    lost its unsynced tail in a machine crash) is pulled back to it."""

    on_disk = True

    def __init__(self, stream: FileStore, name: str, created: int, config, metadata):
        super().__init__(name, created, config, metadata)
        self._stream = stream
        self._dir = stream.directory / "obs" / name
        self._dir.mkdir(parents=True, exist_ok=True)
        if metadata is not None:
            _write_atomic(self._dir / "meta.inf", metadata)
        else:
            try:
                self._metadata = (self._dir / "meta.inf").read_bytes()
            except FileNotFoundError:
                pass
        try:
            buf = (self._dir / "o.dat").read_bytes()
        except FileNotFoundError:
            buf = None
        if buf is not None:
            try:
                self._state = decode_consumer_state(buf)
            except CorruptState:
                stream._log.warn("JetStream consumer %s/%s: state is corrupt, starting over", stream.directory, name)
            self._clamp(stream._last)

    def _clamp(self, last: int) -> None:
        st = self._state
        if st.delivered.stream > last:
            st.delivered.stream = last
            st.ack_floor.stream = min(st.ack_floor.stream, last)
            for s in [s for s in st.pending if s > last]:
                del st.pending[s]
            for s in [s for s in st.redelivered if s > last]:
                del st.redelivered[s]

    def _changed(self) -> None:
        if not self._closed:
            self._stream._dirty_consumers.add(self)

    def _write(self) -> None:
        if self._closed:
            return
        _write_atomic(self._dir / "o.dat", encode_consumer_state(self._state), sync=self._stream.options.sync_always)

    def _sync(self) -> None:
        if not self._closed:
            _write_atomic(self._dir / "o.dat", encode_consumer_state(self._state), sync=True)

    def update_config(self, config: ConsumerStoreConfig, metadata: bytes | None = None) -> None:
        super().update_config(config, metadata)
        if metadata is not None:
            _write_atomic(self._dir / "meta.inf", metadata)

    def flush(self) -> None:
        """Write the state now (the stream's writes go first)."""
        self._stream._flush_writes()
        self._stream._dirty_consumers.discard(self)
        self._write()

    def stop(self) -> None:
        if not self._closed:
            self._stream._flush_writes()
            self._stream._dirty_consumers.discard(self)
            self._sync()
        self._closed = True

    def delete(self) -> None:
        self._closed = True
        self._stream._dirty_consumers.discard(self)
        self._stream.remove_consumer(self)
        shutil.rmtree(self._dir, ignore_errors=True)

