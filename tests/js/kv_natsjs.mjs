// KV through nats.js (npm nats 2.x) against the server at argv[2], bucket argv[3]: prints one
// JSON transcript of what the server answered (values, revisions, operations, watch and history
// deltas, direct and batch direct gets with their Nats-* headers, status), with times left out.
// tests/test_js_kv.py runs it against zats and nats-server and compares the transcripts.
import { connect, KvWatchInclude, StringCodec } from "nats";

const [url, bucket] = process.argv.slice(2);
const sc = StringCodec();
const nc = await connect({ servers: url });
const js = nc.jetstream();
const jsm = await nc.jetstreamManager();
const out = {};

const entry = (e) => e && { key: e.key, value: sc.decode(e.value), revision: e.revision,
  operation: e.operation, delta: e.delta, length: e.length };
const failure = async (fn) => {
  try { await fn(); return "no error"; } catch (err) { return String(err.message); }
};
const headersOf = (h) => {
  const o = {};
  for (const [k, v] of h) if (k !== "Nats-Time-Stamp") o[k] = v;
  return o;
};

const kv = await js.views.kv(bucket, { history: 5 });
out.puts = [await kv.put("a", sc.encode("1")), await kv.put("a", sc.encode("2")),
  await kv.create("b.c", sc.encode("x")), await kv.put("d", sc.encode("dee"))];
out.createAgain = await failure(() => kv.create("b.c", sc.encode("y")));
out.badUpdate = await failure(() => kv.update("a", sc.encode("3"), 1));
out.update = await kv.update("a", sc.encode("3"), 2);
await kv.delete("b.c");
await kv.purge("d");
out.get = [entry(await kv.get("a")), entry(await kv.get("b.c")), entry(await kv.get("d")),
  entry(await kv.get("a", { revision: 1 })), entry(await kv.get("nope"))];

out.history = [];
for await (const e of await kv.history({ key: "a" })) out.history.push(entry(e));

out.keys = [];
for await (const k of await kv.keys()) out.keys.push(k);
out.keys.sort();

// A watcher with the whole history, then a live update, until the live one arrives.
out.watch = [];
const w = await kv.watch({ key: ">", include: KvWatchInclude.AllHistory });
let live = false;
for await (const e of w) {
  out.watch.push(entry(e));
  if (e.delta === 0 && !live) {
    live = true;
    await kv.put("live", sc.encode("now"));
  } else if (e.key === "live") {
    break;
  }
}
w.stop();

// Updates only, headers only: the next change, its value left out and its size in Nats-Msg-Size.
const u = await kv.watch({ key: "a", include: KvWatchInclude.UpdatesOnly, headers_only: true });
await kv.put("a", sc.encode("four"));
for await (const e of u) {
  out.updatesOnly = entry(e);
  break;
}
u.stop();

const stream = `KV_${bucket}`;
const dm = await jsm.direct.getMessage(stream, { last_by_subj: `$KV.${bucket}.a` });
out.direct = { subject: dm.subject, seq: dm.seq, data: sc.decode(dm.data), headers: headersOf(dm.header) };
out.directMissing = await failure(() => jsm.direct.getMessage(stream, { last_by_subj: `$KV.${bucket}.none` }));
out.batch = [];
// nats.js ends a batch at the first message without a payload (a DEL or PURGE marker looks like
// the EOB to it): ask for keys that hold values.
const lastOf = [`$KV.${bucket}.a`, `$KV.${bucket}.live`];
for await (const m of await jsm.direct.getBatch(stream, { multi_last: lastOf })) {
  out.batch.push({ subject: m.subject, seq: m.seq, data: sc.decode(m.data), headers: headersOf(m.header) });
}

const st = await kv.status();
out.status = { bucket: st.bucket, values: st.values, history: st.history, ttl: st.ttl,
  backingStore: st.backingStore, size: st.size, storage: st.storage };
out.purgeDeletes = await kv.purgeDeletes(-1);
out.keysAfter = [];
for await (const k of await kv.keys()) out.keysAfter.push(k);
out.keysAfter.sort();
out.destroy = await kv.destroy();
console.log(JSON.stringify(out));
await nc.close();
