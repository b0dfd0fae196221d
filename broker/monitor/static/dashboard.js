"use strict";
// The dashboard: polls the monitoring endpoints of the server that serves it and redraws.
// No libraries: the charts are SVG polylines. ?refresh=<ms> sets the polling period.
(function () {
  const params = new URLSearchParams(location.search);
  const PERIOD = Math.max(100, Number(params.get("refresh")) || 1000);
  const POINTS = 120;  // samples kept per chart
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const series = { msgs: { in: [], out: [] }, bytes: { in: [], out: [] } };
  let last = null;  // the previous /varz: counters and time, for rates

  function human(n, unit) {
    const k = 1000;
    const steps = ["", "k", "M", "G", "T"];
    let i = 0;
    while (Math.abs(n) >= k && i < steps.length - 1) { n /= k; i++; }
    const text = i === 0 ? String(Math.round(n * 10) / 10) : n.toFixed(n < 10 ? 2 : 1);
    return text + (i || unit ? " " : "") + steps[i] + (unit || "");
  }

  async function getJSON(path) {
    const resp = await fetch(path, { cache: "no-store" });
    if (!resp.ok) throw new Error(path + ": HTTP " + resp.status);
    return resp.json();
  }

  function setText(id, text) { const el = $(id); if (el.textContent !== text) el.textContent = text; }

  const HTML_TAGS = new Set(["tr", "td", "dt", "dd"]);  // the rest are drawn in SVG

  function el(tag, attrs, text) {
    const node = HTML_TAGS.has(tag) ? document.createElement(tag) : document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function draw(svgId, data, unit) {
    const svg = $(svgId);
    const w = 600, h = 160, top = 8, left = 0;
    const max = niceMax(Math.max(0, ...data.in, ...data.out));
    svg.replaceChildren();
    for (const f of [0, 0.5, 1]) {
      const y = top + (h - top) * (1 - f);
      svg.append(el("line", { class: "grid", x1: left, x2: w, y1: y, y2: y }));
      svg.append(el("text", { x: 4, y: Math.max(y - 3, 10) }, human(max * f, unit)));
    }
    for (const dir of ["in", "out"]) {
      const values = data[dir];
      const step = w / (POINTS - 1);
      const x0 = w - step * (values.length - 1);
      const points = values.map((v, i) =>
        (x0 + i * step).toFixed(1) + "," + (top + (h - top) * (1 - v / max)).toFixed(1)).join(" ");
      svg.append(el("polyline", { class: dir, points: points }));
    }
    svg.dataset.max = String(max);
    svg.dataset.latestIn = String(data.in.length ? data.in[data.in.length - 1] : 0);
    svg.dataset.latestOut = String(data.out.length ? data.out[data.out.length - 1] : 0);
  }

  function push(list, value) { list.push(value); if (list.length > POINTS) list.shift(); }

  function rows(tableId, items, cells, empty) {
    const body = $(tableId).tBodies[0];
    const made = items.map((item) => {
      const tr = el("tr");
      for (const [value, numeric] of cells(item)) {
        tr.append(el("td", numeric ? { class: "num" } : {}, String(value)));
      }
      return tr;
    });
    if (!made.length) {
      const tr = el("tr");
      tr.append(el("td", { class: "empty", colspan: $(tableId).tHead.rows[0].cells.length }, empty));
      made.push(tr);
    }
    body.replaceChildren(...made);
    $(tableId).dataset.count = String(items.length);
  }

  function onVarz(v) {
    setText("server", (v.server_name && v.server_name !== v.server_id ? v.server_name + " · " : "") + v.server_id);
    setText("connections", human(v.connections));
    setText("total_connections", human(v.total_connections));
    setText("subscriptions", human(v.subscriptions));
    setText("slow_consumers", human(v.slow_consumers));
    setText("routes", String(v.routes));
    setText("leafnodes", String(v.leafnodes));
    setText("mem", human(v.mem, "B"));
    setText("cpu", v.cpu + " %");
    setText("uptime", v.uptime);
    const now = Date.parse(v.now);
    if (last && now > last.now) {
      const dt = (now - last.now) / 1000;
      const rate = (key) => Math.max(0, (v[key] - last[key]) / dt);
      push(series.msgs.in, rate("in_msgs")); push(series.msgs.out, rate("out_msgs"));
      push(series.bytes.in, rate("in_bytes")); push(series.bytes.out, rate("out_bytes"));
      setText("in_msgs_rate", human(rate("in_msgs")));
      setText("out_msgs_rate", human(rate("out_msgs")));
      setText("in_bytes_rate", human(rate("in_bytes"), "B"));
      setText("out_bytes_rate", human(rate("out_bytes"), "B"));
    }
    last = { now: now, in_msgs: v.in_msgs, out_msgs: v.out_msgs, in_bytes: v.in_bytes, out_bytes: v.out_bytes };
    draw("chart-msgs", series.msgs, "");
    draw("chart-bytes", series.bytes, "B");
  }

  function onJetStream(jsz) {
    const panel = $("jetstream-panel");
    if (!jsz || jsz.disabled) { panel.hidden = true; return; }
    const cfg = jsz.config || {};
    const items = [
      ["Memory", human(jsz.memory || 0, "B") + " of " + human(cfg.max_memory || 0, "B")],
      ["Storage", human(jsz.storage || 0, "B") + " of " + human(cfg.max_storage || 0, "B")],
      ["Streams", human(jsz.streams || 0)], ["Consumers", human(jsz.consumers || 0)],
      ["Messages", human(jsz.messages || 0)], ["Bytes", human(jsz.bytes || 0, "B")],
      ["Accounts", human(jsz.accounts || 0)],
      ["API requests", human((jsz.api || {}).total || 0) + " (" + human((jsz.api || {}).errors || 0) + " errors)"],
    ];
    $("jetstream").replaceChildren(...items.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    panel.hidden = false;
  }

  async function poll() {
    try {
      const varz = await getJSON("./varz");
      onVarz(varz);
      const js = varz.jetstream && varz.jetstream.config;  // /varz says whether JetStream runs
      const [routez, leafz, subjectz, jsz] = await Promise.all([
        getJSON("./routez"), getJSON("./leafz"), getJSON("./subjectz?limit=10"),
        js ? getJSON("./jsz") : Promise.resolve(null)]);
      rows("route-list", routez.routes || [], (r) => [[r.rid], [r.remote_name || r.remote_id],
        [r.ip + ":" + r.port], [human(r.in_msgs), true], [human(r.out_msgs), true], [r.subscriptions, true]],
        "no routes");
      rows("leaf-list", leafz.leafs || [], (l) => [[l.name || "–"], [l.account], [l.ip + ":" + l.port],
        [human(l.in_msgs), true], [human(l.out_msgs), true], [l.subscriptions, true]], "no leafnodes");
      rows("subjects", subjectz.subjects || [], (s) => [[s.subject], [s.account],
        [human(s.msgs_per_sec), true], [human(s.msgs), true], [s.subscriptions, true]], "no subscriptions");
      onJetStream(jsz);
      $("status").className = "status live";
      setText("status", "live · every " + PERIOD / 1000 + " s");
    } catch (err) {
      $("status").className = "status error";
      setText("status", String(err.message || err));
    }
    setTimeout(poll, PERIOD);
  }

  poll();
})();
