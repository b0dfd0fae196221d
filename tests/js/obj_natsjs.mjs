// The object store through nats.js (npm nats 2.x) against the server at argv[2], bucket argv[3]:
// prints one JSON transcript (infos without nuid/mtime, digests, list, links, watch, seal,
// status, errors). tests/test_js_kv.py runs it against zats and nats-server and compares.
import { connect } from "nats";
import { createHash } from "node:crypto";

const [url, bucket] = process.argv.slice(2);
const nc = await connect({ servers: url });
const js = nc.jetstream();
const out = {};

const infoOf = (i) => i && { name: i.name, bucket: i.bucket, size: i.size, chunks: i.chunks,
  digest: i.digest, deleted: i.deleted, description: i.description ?? null,
  link: i.options?.link ?? null };
const failure = async (fn) => {
  try { await fn(); return "no error"; } catch (err) { return String(err.message); }
};
// Deterministic bytes: the same object on both servers.
const blob = (size, seed) => {
  const b = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
};

const os = await js.views.os(bucket, { description: "js files" });
const big = blob(2 * 1024 * 1024 + 5, 7);
out.put = infoOf(await os.putBlob({ name: "big.bin", description: "big" }, big));
out.small = infoOf(await os.putBlob({ name: "small", options: { max_chunk_size: 100 } }, blob(1000, 3)));
const got = await os.getBlob("big.bin");
out.sameBytes = Buffer.compare(Buffer.from(got), Buffer.from(big)) === 0;
out.sha = createHash("sha256").update(got).digest("base64url");
out.info = infoOf(await os.info("big.bin"));
out.missing = await os.info("missing");
out.link = infoOf(await os.link("lnk", await os.info("big.bin")));
const viaLink = await os.getBlob("lnk");
out.viaLinkSame = Buffer.compare(Buffer.from(viaLink), Buffer.from(big)) === 0;
out.list = (await os.list()).map(infoOf).sort((a, b) => a.name.localeCompare(b.name));
out.delete = (await os.delete("small")).success;
out.afterDelete = await os.getBlob("small");
out.watch = [];
const w = await os.watch({ includeHistory: true });
for await (const i of w) {
  if (i === null) break;
  out.watch.push(infoOf(i));
  if (out.watch.length === 3) break;
}
w.stop();
out.update = await failure(() => os.update("big.bin", { name: "big.bin", description: "changed" }));
out.updated = infoOf(await os.info("big.bin"));
await os.seal();
const st = await os.status();
out.status = { bucket: st.bucket, sealed: st.sealed, size: st.size, description: st.description,
  storage: st.storage, backingStore: st.backingStore };
out.putSealed = await failure(() => os.putBlob({ name: "late" }, blob(10, 1)));
out.destroy = await os.destroy();
console.log(JSON.stringify(out));
await nc.close();
