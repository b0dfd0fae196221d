"""Object store buckets (ADR-20) through nats-py's `js.create_object_store()` /
`js.object_store()`, differential: each scenario runs against zats and nats-server (both
`-js -sd DIR`) and the transcripts — object infos, digests, the stream's layout and state,
errors — must be equal. Multi-chunk objects (several MiB in 128 KiB chunks on
`$O.<bucket>.C.<nuid>`, the meta on `$O.<bucket>.M.<base64url name>` with a rollup), SHA-256
digests, info, list, delete, links, watch, seal, status and update_meta."""

from __future__ import annotations

import base64
import hashlib
import json
import random

import pytest
from nats.js import api
from nats.js.errors import ObjectNotFoundError

from support.jsdiff import same_on_both, volatile_free
from support.servers import KINDS, start_server


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    started = {}
    try:
        for kind in KINDS:
            started[kind] = start_server(kind, "-js", "-sd", str(tmp_path_factory.mktemp(f"obj-{kind}")))
        yield started
    finally:
        for srv in started.values():
            srv.stop()


def blob(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def info_of(info) -> dict:
    """An ObjectInfo without what differs between runs (nuid, mtime)."""
    return volatile_free(info.as_dict())


async def error_of(coro) -> tuple:
    try:
        await coro
    except Exception as err:  # noqa: BLE001 - the transcript records whichever error the client raised
        return (type(err).__name__, getattr(err, "err_code", None), getattr(err, "description", None))
    return ("no error",)


def meta_subject(bucket: str, name: str) -> str:
    return f"$O.{bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


async def test_put_get_multi_chunk_info_list_delete(servers):
    big, small = blob(3 * 1024 * 1024 + 17, 1), blob(1000, 2)

    async def scenario(js, unique):
        bucket = unique("o")
        obs = await js.create_object_store(bucket, config=api.ObjectStoreConfig(description="files"))
        stream = f"OBJ_{bucket}"
        t = [info_of(await obs.put("dir/big.bin", big))]
        t.append(info_of(await obs.put("small", small, meta=api.ObjectMeta(
            description="tiny", headers={"X-Kind": ["test"]},
            options=api.ObjectMetaOptions(max_chunk_size=300)))))
        got = await obs.get("dir/big.bin")
        t.append((got.data == big, info_of(got.info)))
        got = await obs.get("small")
        t.append((got.data == small, info_of(got.info)))
        t.append(info_of(await obs.get_info("small")))
        t.append(sorted(i.name for i in await obs.list()))
        si = await js.stream_info(stream)
        t.append((si.state.messages, si.state.bytes, si.config.subjects, si.config.allow_rollup_hdrs,
                  si.config.discard, si.config.allow_direct, si.config.max_msgs_per_subject))
        # The layout: chunks on $O.<bucket>.C.<nuid>, the meta last on $O.<bucket>.M.<b64 name>.
        first = await js.get_msg(stream, seq=1)
        nuid = json.loads((await js.get_last_msg(stream, meta_subject(bucket, "dir/big.bin"))).data)["nuid"]
        t.append((first.subject == f"$O.{bucket}.C.{nuid}", len(first.data)))
        meta = await js.get_last_msg(stream, meta_subject(bucket, "small"))
        t.append((meta.headers, volatile_free(json.loads(meta.data))))
        t.append(await error_of(obs.get("missing")))
        # Replacing an object drops the old chunks (purged by subject).
        t.append(info_of(await obs.put("small", b"replaced")))
        si = await js.stream_info(stream)
        t.append((si.state.messages, si.state.bytes))
        await obs.delete("small")
        t.append(await error_of(obs.get("small")))
        t.append(info_of(await obs.get_info("small", show_deleted=True)))
        t.append(sorted(i.name for i in await obs.list(ignore_deletes=True)))
        t.append(sorted((i.name, i.deleted) for i in await obs.list()))
        si = await js.stream_info(stream)
        t.append((si.state.messages, si.state.bytes))
        again = await js.object_store(bucket)
        t.append(hashlib.sha256((await again.get("dir/big.bin")).data).hexdigest())
        t.append(await error_of(js.object_store(unique("none"))))
        assert await js.delete_object_store(bucket)
        t.append(await error_of(js.object_store(bucket)))
        return t

    t = await same_on_both(servers, scenario)
    assert t[0]["chunks"] == 25 and t[0]["size"] == len(big)
    assert t[0]["digest"] == "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(big).digest()).decode()
    assert t[2][0] and t[3][0]


async def test_links_watch_update_meta_seal_status(servers):
    async def scenario(js, unique):
        bucket = unique("o")
        obs = await js.create_object_store(bucket)
        target = await obs.put("target", blob(200_000, 3))
        # A link to one object, written as nats.js's addLink writes it.
        link = {"name": "lnk", "bucket": bucket, "nuid": target.nuid, "size": 0, "chunks": 0,
                "mtime": "2026-01-01T00:00:00Z", "digest": "",
                "options": {"link": {"bucket": bucket, "name": "target"}}}
        await js.publish(meta_subject(bucket, "lnk"), json.dumps(link).encode(),
                         headers={"Nats-Rollup": "sub"})
        t = [(await obs.get("lnk")).data == blob(200_000, 3)]
        w = await obs.watch()
        seen = []
        while (e := await w.updates(timeout=2)) is not None:
            seen.append((e.name, e.size, e.deleted))
        t.append(sorted(seen))
        await obs.put("later", b"x")
        e = await w.updates(timeout=2)
        t.append((e.name, e.size))
        await w.stop()
        await obs.update_meta("target", api.ObjectMeta(name="target", description="changed"))
        t.append(info_of(await obs.get_info("target")))
        t.append(await error_of(obs.update_meta("missing", api.ObjectMeta(name="missing"))))
        status = await obs.status()
        t.append((status.bucket, status.sealed, status.size, status.description))
        await obs.seal()
        status = await obs.status()
        t.append((status.sealed, status.stream_info.config.sealed, status.stream_info.config.deny_delete))
        t.append(await error_of(obs.put("after-seal", b"no")))
        t.append(await error_of(obs.delete("target")))
        t.append((await obs.get("target")).data == blob(200_000, 3))
        return t

    t = await same_on_both(servers, scenario)
    assert t[0] is True and t[6] == (True, True, True)


@pytest.mark.parametrize("kind", KINDS)
async def test_missing_object(servers, kind):
    import nats

    nc = await nats.connect(servers[kind].url)
    try:
        obs = await nc.jetstream().create_object_store(f"miss{kind.replace('-', '')}")
        with pytest.raises(ObjectNotFoundError):
            await obs.get_info("nothing")
    finally:
        await nc.close()
