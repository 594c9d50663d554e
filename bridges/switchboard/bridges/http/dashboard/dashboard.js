// switchboard's dashboard: one snapshot a second over the WebSocket at
// /dashboard/live (the node's status with every actor's counters, the
// edges of the topology, the log lines not seen yet), drawn as a graph
// (d3-force), tables with a sparkline per mailbox (Chart.js) and a log
// tail; a form sends a message to an actor.
'use strict';
(function () {
  const $ = (sel) => document.querySelector(sel);
  const svgNS = 'http://www.w3.org/2000/svg';
  // The token came as ?token= (the server answered with a cookie the
  // WebSocket carries): out of the address bar and the history.
  if (new URLSearchParams(location.search).has('token'))
    window.history.replaceState(null, '', location.pathname);
  const points = 60; // sparkline points (seconds)
  const down = new Set(['waiting', 'stopped', 'failed', 'crashed', 'gave-up', 'down', 'exited']);

  const st = {
    ws: null,
    prev: null, // the previous snapshot
    snapshots: 0,
    charts: new Map(), // actor -> Chart
    depth: new Map(), // actor -> mailbox depths
    graph: { key: '', nodes: new Map(), links: [], sim: null },
    nextId: 1,
    lastSeq: 0, // the last log line shown
    fresh: false, // no snapshot yet on this connection
  };

  // -- formatting -----------------------------------------------------------

  const rate = (x) => (x === undefined || x === null ? '' : x < 10 ? x.toFixed(1) : String(Math.round(x)));
  const bytes = (x) => {
    if (!x) return '';
    const units = ['B', 'KiB', 'MiB', 'GiB'];
    let i = 0;
    while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
    return x.toFixed(i === 0 ? 0 : 1) + ' ' + units[i];
  };
  const duration = (ms) => {
    if (ms === undefined) return '';
    const s = Math.floor(ms / 1000);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + (s % 60) + 's';
    return Math.floor(s / 3600) + 'h' + Math.floor((s % 3600) / 60) + 'm';
  };
  const stateOf = (row) => {
    const s = row.status || {};
    if (s.error) return 'no answer';
    return s.state || 'running';
  };

  // -- the connection -------------------------------------------------------

  function setConn(what) {
    const el = $('#conn-state');
    el.textContent = what;
    el.className = 'state-' + what;
  }

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const ws = new WebSocket(scheme + location.host + '/dashboard/live');
    st.ws = ws;
    setConn('connecting');
    ws.onopen = () => {
      st.fresh = true;
      setConn('live');
    };
    ws.onclose = () => {
      setConn('lost');
      setTimeout(connect, 1000);
    };
    ws.onmessage = (ev) => {
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (m.type === 'snapshot') onSnapshot(m);
      else if (m.type === 'reply') onReply(m);
    };
  }

  // -- a snapshot -----------------------------------------------------------

  function onSnapshot(s) {
    const prev = st.prev;
    const dt = prev ? Math.max(0.001, (s.time_ms - prev.time_ms) / 1000) : 0;
    const rows = (s.status && s.status.actors) || [];
    $('#node-name').textContent = s.node;
    document.title = 'switchboard ' + s.node;
    const cpu = prev && dt > 0 ? (100 * (s.process.cpu_seconds - prev.process.cpu_seconds)) / dt : 0;
    $('#process').textContent = 'RSS ' + bytes(s.process.rss_bytes) + ' · CPU ' + cpu.toFixed(1) + '%' +
      (s.metrics ? '' : ' · metrics off');
    updateActors(rows);
    updateChildren(rows);
    updateSendTargets(rows);
    updateGraph(s, rows, prev, dt);
    appendLog(s.log || []);
    st.fresh = false;
    st.prev = s;
    st.snapshots++;
    document.body.dataset.snapshots = String(st.snapshots);
  }

  function cell(tr, cls, text, title) {
    let td = tr.querySelector('td.' + cls);
    if (!td) return;
    if (td.textContent !== text) td.textContent = text;
    if (title !== undefined) td.title = title;
  }

  // The row of `name` in `body`, made with `cells` if it is new; the
  // second value says whether it is.
  function rowFor(body, name, cells) {
    const tr = body.querySelector('tr[data-name="' + CSS.escape(name) + '"]');
    if (tr) return [tr, false];
    const made = document.createElement('tr');
    made.dataset.name = name;
    made.innerHTML = cells;
    body.appendChild(made);
    return [made, true];
  }

  function updateActors(rows) {
    const body = $('#actors tbody');
    const seen = new Set();
    for (const row of rows) {
      seen.add(row.name);
      const [tr, made] = rowFor(body, row.name,
        '<td class="name"></td><td class="kind"></td><td class="state"></td>' +
        '<td class="mailbox num"></td><td class="spark"><canvas class="spark" width="90" height="22"></canvas></td>' +
        '<td class="in num"></td><td class="out num"></td><td class="errors num"></td><td class="restarts num"></td>');
      if (made) st.charts.set(row.name, sparkline(tr.querySelector('canvas')));
      const m = row.metrics || {};
      const mailbox = m.mailbox !== undefined ? m.mailbox : (row.status || {}).mailbox || 0;
      const state = stateOf(row);
      cell(tr, 'name', row.name);
      cell(tr, 'kind', row.kind);
      cell(tr, 'state', state, row.status && row.status.error ? row.status.error : undefined);
      tr.querySelector('td.state').className = 'state' + (down.has(state) || state === 'no answer' ? ' bad' : '');
      cell(tr, 'mailbox', String(mailbox));
      cell(tr, 'in', row.metrics ? rate(m.in_per_s) : '');
      cell(tr, 'out', row.metrics ? rate(m.out_per_s) : '');
      cell(tr, 'errors', row.metrics ? String(m.errors) : '');
      const restarts = m.restarts !== undefined ? m.restarts : (row.status || {}).restarts;
      cell(tr, 'restarts', restarts === undefined ? '' : String(restarts));
      const depths = st.depth.get(row.name) || [];
      depths.push(mailbox);
      if (depths.length > points) depths.shift();
      st.depth.set(row.name, depths);
      const chart = st.charts.get(row.name);
      chart.data.labels = depths.map(() => '');
      chart.data.datasets[0].data = depths.slice();
      chart.update('none');
    }
    for (const tr of Array.from(body.querySelectorAll('tr'))) {
      if (!seen.has(tr.dataset.name)) {
        const chart = st.charts.get(tr.dataset.name);
        if (chart) chart.destroy();
        st.charts.delete(tr.dataset.name);
        st.depth.delete(tr.dataset.name);
        tr.remove();
      }
    }
  }

  function sparkline(canvas) {
    return new Chart(canvas, {
      type: 'line',
      data: { labels: [], datasets: [{ data: [], borderColor: '#3a6ee8', borderWidth: 1.5, pointRadius: 0, fill: false, tension: 0.2 }] },
      options: {
        animation: false,
        responsive: false,
        events: [],
        plugins: { legend: { display: false }, tooltip: { enabled: false } },
        scales: { x: { display: false }, y: { display: false, min: 0, suggestedMax: 1 } },
      },
    });
  }

  function updateChildren(rows) {
    const body = $('#children tbody');
    const kids = rows.filter((r) => r.kind === 'child-process' || r.kind === 'cluster');
    $('#no-children').hidden = kids.length > 0;
    const seen = new Set();
    for (const row of kids) {
      seen.add(row.name);
      const [tr] = rowFor(body, row.name,
        '<td class="name"></td><td class="state"></td><td class="pid num"></td>' +
        '<td class="restarts num"></td><td class="rss num"></td><td class="cpu num"></td><td class="uptime num"></td>');
      const s = row.status || {};
      const state = stateOf(row);
      cell(tr, 'name', row.name);
      cell(tr, 'state', state);
      tr.querySelector('td.state').className = 'state' + (down.has(state) ? ' bad' : '');
      cell(tr, 'pid', s.pid ? String(s.pid) : '');
      cell(tr, 'restarts', s.restarts === undefined ? '' : String(s.restarts));
      cell(tr, 'rss', bytes(s.rss));
      cell(tr, 'cpu', s.cpu === undefined ? '' : Number(s.cpu).toFixed(1) + '%');
      cell(tr, 'uptime', duration(s.uptime_ms));
    }
    for (const tr of Array.from(body.querySelectorAll('tr')))
      if (!seen.has(tr.dataset.name)) tr.remove();
  }

  function updateSendTargets(rows) {
    const select = $('#send-to');
    const names = rows.filter((r) => r.kind !== 'control').map((r) => r.name);
    const have = Array.from(select.options).map((o) => o.value);
    if (have.join('\n') === names.join('\n')) return;
    const chosen = select.value;
    select.textContent = '';
    for (const n of names) {
      const o = document.createElement('option');
      o.value = n;
      o.textContent = n;
      select.appendChild(o);
    }
    if (names.includes(chosen)) select.value = chosen;
    else if (names.includes('echo')) select.value = 'echo';
  }

  // -- the log --------------------------------------------------------------

  function appendLog(lines) {
    if (lines.length === 0) return;
    const box = $('#log');
    // A new connection sends the kept lines again: the ones shown already
    // are skipped, unless the node started afresh (its lines count from 1).
    if (st.fresh && lines[lines.length - 1].seq < st.lastSeq) {
      box.textContent = '';
      st.lastSeq = 0;
    }
    lines = lines.filter((l) => l.seq > st.lastSeq);
    if (lines.length === 0) return;
    st.lastSeq = lines[lines.length - 1].seq;
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    for (const l of lines) {
      const div = document.createElement('div');
      div.className = 'line level-' + l.level;
      const t = new Date(l.time_ms).toISOString().slice(11, 23);
      div.textContent = t + ' ' + l.level.padEnd(5) + ' ' + (l.actor ? l.actor + ': ' : '') + l.text;
      box.appendChild(div);
    }
    while (box.childElementCount > 500) box.firstElementChild.remove();
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  // -- sending ----------------------------------------------------------------

  function onReply(m) {
    const out = $('#send-reply');
    out.className = m.ok ? '' : 'bad';
    out.textContent = m.ok ? JSON.stringify(m.reply, null, 1) : 'error: ' + m.error;
  }

  $('#send-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const out = $('#send-reply');
    let message;
    try {
      message = JSON.parse($('#send-message').value);
    } catch (e) {
      out.className = 'bad';
      out.textContent = 'not JSON: ' + e.message;
      return;
    }
    if (!st.ws || st.ws.readyState !== WebSocket.OPEN) {
      out.className = 'bad';
      out.textContent = 'not connected';
      return;
    }
    out.className = 'muted';
    out.textContent = 'sent; waiting for the reply';
    st.ws.send(JSON.stringify({ type: 'send', id: st.nextId++, to: $('#send-to').value, message }));
  });

  // -- the graph --------------------------------------------------------------

  function updateGraph(s, rows, prev, dt) {
    const hub = 'node:' + s.node;
    const nodes = new Map();
    const add = (id, label, cls) => {
      if (!nodes.has(id)) nodes.set(id, { id, label, cls });
      return nodes.get(id);
    };
    add(hub, s.node, 'hub');
    const names = new Set(rows.map((r) => r.name));
    const links = [];
    for (const r of rows) {
      const child = r.kind === 'child-process' || r.kind === 'cluster';
      const cls = (child ? 'child' : r.section) + (down.has(stateOf(r)) ? ' down' : '');
      add(r.name, r.name, cls);
      links.push({ source: hub, target: r.name, cls: 'hub' });
      if (r.kind === 'peers' && r.status && Array.isArray(r.status.nodes))
        for (const p of r.status.nodes) {
          add('node:' + p.node, p.node, 'peer' + (p.state === 'down' ? ' down' : ''));
          links.push({ source: hub, target: 'node:' + p.node, cls: 'hub' });
        }
    }
    // An address: an entry of this node, an instance of one (NAME.3), or
    // NODE/ACTOR (drawn to that node).
    const resolve = (name) => {
      if (names.has(name)) return name;
      const dot = name.lastIndexOf('.');
      if (dot > 0 && names.has(name.slice(0, dot))) return name.slice(0, dot);
      const slash = name.indexOf('/');
      if (slash > 0) return add('node:' + name.slice(0, slash), name.slice(0, slash), 'peer').id;
      return null;
    };
    const counted = new Map();
    const before = new Map();
    if (prev) for (const e of prev.edges || []) before.set(e.from + '\u0000' + e.to, e.messages);
    for (const e of s.edges || []) {
      const from = resolve(e.from);
      const to = resolve(e.to);
      if (!from || !to || from === to) continue;
      const key = from + '\u0000' + to;
      const was = before.get(e.from + '\u0000' + e.to);
      // An edge new since the last snapshot carried all its messages in it.
      const r = prev ? Math.max(0, (e.messages - (was || 0)) / dt) : 0;
      const c = counted.get(key) || { source: from, target: to, cls: 'counted', rate: 0, messages: 0 };
      c.rate += r;
      c.messages += e.messages;
      counted.set(key, c);
    }
    for (const w of s.wiring || []) {
      const from = resolve(w.from);
      const to = resolve(w.to);
      if (!from || !to || from === to) continue;
      if (!counted.has(from + '\u0000' + to))
        links.push({ source: from, target: to, cls: 'wired' });
    }
    for (const c of counted.values()) links.push(c);
    draw(nodes, links);
  }

  function draw(nodes, links) {
    const g = st.graph;
    const key = Array.from(nodes.keys()).sort().join(',') + '|' +
      links.map((l) => l.source + '>' + l.target + ':' + l.cls).sort().join(',');
    const svg = $('#graph');
    const w = svg.clientWidth || 600;
    const h = svg.clientHeight || 500;
    if (key !== g.key) {
      // The shape changed: keep where known nodes are, lay out again.
      for (const n of nodes.values()) {
        const old = g.nodes.get(n.id);
        if (old) Object.assign(n, { x: old.x, y: old.y, vx: old.vx, vy: old.vy });
      }
      g.key = key;
      g.nodes = nodes;
      g.links = links.map((l) => Object.assign({}, l));
      build(svg, g);
      if (g.sim) g.sim.stop();
      g.sim = d3.forceSimulation(Array.from(nodes.values()))
        .force('link', d3.forceLink(g.links).id((d) => d.id)
          .distance((l) => (l.cls === 'hub' ? 120 : 90)).strength((l) => (l.cls === 'hub' ? 0.05 : 0.4)))
        .force('charge', d3.forceManyBody().strength(-320))
        .force('center', d3.forceCenter(w / 2, h / 2))
        .force('collide', d3.forceCollide(28))
        .on('tick', () => place(g, w, h));
    } else {
      // Same shape: new classes and rates only.
      for (const n of nodes.values()) {
        const el = g.nodes.get(n.id).el;
        el.setAttribute('class', 'gnode ' + n.cls);
      }
      for (let i = 0; i < links.length; i++) {
        const l = g.links.find((x) => x.source.id === links[i].source && x.target.id === links[i].target && x.cls === links[i].cls);
        if (l && links[i].rate !== undefined) { l.rate = links[i].rate; l.messages = links[i].messages; }
      }
      place(g, w, h);
    }
  }

  function build(svg, g) {
    svg.textContent = '';
    const defs = document.createElementNS(svgNS, 'defs');
    defs.innerHTML = '<marker id="arrow" viewBox="0 0 10 10" refX="24" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">' +
      '<path d="M0,0 L10,5 L0,10 z" fill="#8b93a6"/></marker>';
    svg.appendChild(defs);
    for (const l of g.links) {
      const el = document.createElementNS(svgNS, 'g');
      el.setAttribute('class', 'edge ' + l.cls);
      el.dataset.from = l.source.id || l.source;
      el.dataset.to = l.target.id || l.target;
      const line = document.createElementNS(svgNS, 'line');
      if (l.cls !== 'hub') line.setAttribute('marker-end', 'url(#arrow)');
      el.appendChild(line);
      if (l.cls === 'counted') {
        const t = document.createElementNS(svgNS, 'text');
        t.setAttribute('class', 'rate');
        el.appendChild(t);
      }
      svg.appendChild(el);
      l.el = el;
    }
    for (const n of g.nodes.values()) {
      const el = document.createElementNS(svgNS, 'g');
      el.setAttribute('class', 'gnode ' + n.cls);
      el.dataset.name = n.id;
      const shape = n.cls.startsWith('child')
        ? document.createElementNS(svgNS, 'rect')
        : document.createElementNS(svgNS, 'circle');
      if (shape.tagName === 'rect') {
        shape.setAttribute('x', -10); shape.setAttribute('y', -10);
        shape.setAttribute('width', 20); shape.setAttribute('height', 20);
      } else {
        shape.setAttribute('r', n.cls === 'hub' || n.cls.startsWith('peer') ? 16 : 11);
      }
      const title = document.createElementNS(svgNS, 'title');
      title.textContent = n.id.startsWith('node:') ? 'node ' + n.label : n.label;
      shape.appendChild(title);
      const label = document.createElementNS(svgNS, 'text');
      label.setAttribute('x', 14);
      label.setAttribute('y', 4);
      label.textContent = n.label;
      el.appendChild(shape);
      el.appendChild(label);
      svg.appendChild(el);
      n.el = el;
    }
  }

  function place(g, w, h) {
    const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v || 0));
    for (const n of g.nodes.values()) {
      n.x = clamp(n.x, 20, w - 80);
      n.y = clamp(n.y, 20, h - 20);
      n.el.setAttribute('transform', 'translate(' + n.x.toFixed(1) + ',' + n.y.toFixed(1) + ')');
    }
    for (const l of g.links) {
      const line = l.el.firstChild;
      line.setAttribute('x1', l.source.x); line.setAttribute('y1', l.source.y);
      line.setAttribute('x2', l.target.x); line.setAttribute('y2', l.target.y);
      if (l.cls === 'counted') {
        line.setAttribute('stroke-width', String(1 + Math.min(6, Math.log10(1 + (l.rate || 0)) * 2)));
        const t = l.el.lastChild;
        t.setAttribute('x', (l.source.x + l.target.x) / 2);
        t.setAttribute('y', (l.source.y + l.target.y) / 2 - 3);
        const text = rate(l.rate || 0) + '/s';
        if (t.textContent !== text) t.textContent = text;
        l.el.dataset.rate = String(l.rate || 0);
        l.el.dataset.messages = String(l.messages || 0);
      }
    }
  }

  connect();
})();
