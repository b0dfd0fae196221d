// nats.js (the nats.ws package) over WebSocket from node, for tests/test_js_websocket.py.
// Usage: node --experimental-websocket ws_client.mjs WS_URL PREFIX
// Subscribes to PREFIX.>, publishes to itself with and without headers, asks the test's
// responder on svc.PREFIX, publishes PREFIX.done for the test's own subscriber, and prints one
// JSON line per result; exit code 0 only when all of it worked.
import { connect, headers, StringCodec } from "nats.ws";

const [url, prefix] = process.argv.slice(2);
const sc = StringCodec();
const out = (obj) => console.log(JSON.stringify(obj));

const nc = await connect({ servers: url, timeout: 5000 });
out({ connected: nc.getServer(), headers: nc.info.headers === true });

const sub = nc.subscribe(`${prefix}.>`, { max: 2 });
const got = (async () => {
  const msgs = [];
  for await (const m of sub) {
    msgs.push({
      subject: m.subject,
      data: sc.decode(m.data),
      trace: m.headers ? m.headers.get("X-Trace") : null,
    });
  }
  return msgs;
})();
nc.publish(`${prefix}.plain`, sc.encode("hello from node"));
const h = headers();
h.set("X-Trace", "node-1");
nc.publish(`${prefix}.hdr`, sc.encode("with headers"), { headers: h });
out({ received: await got });

const rh = headers();
rh.set("X-Asked-By", "node");
const reply = await nc.request(`svc.${prefix}`, sc.encode("ping"), { timeout: 5000, headers: rh });
out({ reply: sc.decode(reply.data), served_by: reply.headers ? reply.headers.get("Served-By") : null });

nc.publish(`${prefix}-done`, sc.encode("bye"));
await nc.drain();
out({ closed: true });
