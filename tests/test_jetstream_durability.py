"""File store durability: a writer killed with SIGKILL at random points loses no acknowledged
message (sync_always), the store always reopens, and consumer state never runs ahead of the
stream; a truly full disk (a small tmpfs) gives StorageFull."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from zats.broker.jetstream.filestore import FileStore, FileStoreOptions
from zats.broker.jetstream.store import AckPolicy, ConsumerStoreConfig, StorageFull, StorageType, StoreConfig

_WRITER = textwrap.dedent(
    """
    import random, sys
    from zats.broker.jetstream.filestore import FileStore, FileStoreOptions
    from zats.broker.jetstream.store import AckPolicy, ConsumerStoreConfig, StoreConfig, StorageType
    fs = FileStore(sys.argv[1], StoreConfig(storage=StorageType.FILE),
                   FileStoreOptions(block_size=16384, sync_always=True))
    c = fs.consumer_store("c", 0, ConsumerStoreConfig(AckPolicy.NONE))
    rnd = random.Random(int(sys.argv[2]))
    while True:
        seqs = []
        for _ in range(rnd.randint(1, 20)):
            seq = fs.state().last_seq + 1
            body = b"%d:" % seq + bytes([seq % 251]) * rnd.randint(0, 300)
            seqs.append(fs.store_msg(b"d.%d" % (seq % 5), None, body)[0])
        rm = 0
        if rnd.random() < 0.2:
            fs.remove_msg(seqs[0])
            rm = seqs[0]
        fs.flush()  # written and fsynced: now acknowledged
        c.update_delivered(seqs[-1], seqs[-1], 1, 0)
        sys.stdout.write("%d %d %d\\n" % (seqs[0], seqs[-1], rm))
        sys.stdout.flush()
    """
)


def _check(path, acked, removed):
    fs = FileStore(path, StoreConfig(storage=StorageType.FILE), FileStoreOptions(block_size=16384))
    st = fs.state()
    assert st.last_seq >= max(acked, default=0)
    for seq in acked:
        if seq in removed:
            continue
        m = fs.load_msg(seq)
        assert bytes(m.data).startswith(b"%d:" % seq) and set(bytes(m.data)[len(b"%d:" % seq) :]) <= {seq % 251}
        assert m.subject == b"d.%d" % (seq % 5)
    c = fs.consumer_store("c", 0, ConsumerStoreConfig(AckPolicy.NONE))
    assert c.state().delivered.stream <= st.last_seq
    fs.stop()


def test_sigkill_loses_no_acknowledged_message(tmp_path):
    rnd = random.Random(7)
    acked: list[int] = []
    removed: set[int] = set()
    deadline = time.monotonic() + 15
    for kill in range(10):
        if time.monotonic() > deadline:
            break
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path), str(kill)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        # let it run until it has acknowledged some batches, then kill it mid-flight
        want = rnd.randint(3, 40)
        lines = []
        while len(lines) < want:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        time.sleep(rnd.random() * 0.05)
        os.kill(proc.pid, signal.SIGKILL)
        rest, err = proc.communicate()
        lines += rest.splitlines(keepends=True)
        assert lines, err.decode()
        for line in lines:
            if line.endswith(b"\n"):
                first, last, rm = map(int, line.split())
                acked.extend(range(first, last + 1))
                if rm:
                    removed.add(rm)
        _check(tmp_path, acked, removed)
    assert len(acked) > 100


def test_full_tmpfs_gives_storage_full(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        fs = FileStore(mnt / "s", StoreConfig(storage=StorageType.FILE), FileStoreOptions(block_size=64 * 1024))
        acked = 0
        with pytest.raises(StorageFull) as info:
            for _ in range(1000):
                for _ in range(10):
                    fs.store_msg(b"full", None, b"y" * 1000)
                fs.flush()
                acked = fs.state().last_seq
        assert "No space left on device" in str(info.value)
        assert info.value.err_code == 10023 and info.value.first_lost > acked > 0
        assert fs.state().last_seq == info.value.first_lost - 1
        fs.stop()
        fs = FileStore(mnt / "s", StoreConfig(storage=StorageType.FILE))
        assert fs.state().last_seq >= acked
        assert bytes(fs.load_msg(acked).data) == b"y" * 1000
        fs.stop()
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
