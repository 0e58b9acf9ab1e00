// Draws the estate the way people sketch it: regions as boxes holding their
// nodes, arrows for replication links labelled with live lag and RTT, red or
// amber where something is wrong. Refreshes itself from api/v1/topology.
'use strict';

const REFRESH_MS = 1000;
const LAGGING_SECONDS = 1;

// Geometry of the drawing, in SVG user units (pixels).
const MARGIN = 24;
const NODE_W = 220;
const NODE_H = 94;
const NODE_GAP = 30; // room for an intra-region arrow and its label
const REGION_PAD = 28;
const REGION_HEAD = 62;
const REGION_FOOT = 22;
const CLUSTER_HEAD = 20;
const CLUSTER_PAD = 8;
const REGION_W = NODE_W + 2 * REGION_PAD;
const REGION_GAP = 170; // room for the labels of arrows between neighbours
const ROW_GAP = 90;
const LANE_H = 26; // one lane per arrow that jumps over a region
const MIN_SCALE = 0.75;
const LABEL_H = 15;
const LABEL_CHAR_W = 6.9; // average advance of the 12px bold label font

const SVG = 'http://www.w3.org/2000/svg';

let last = null; // last snapshot drawn, for redraws on resize

function el(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return e;
}

function text(x, y, cls, content, anchor) {
  return el('text', { x, y, class: cls, 'text-anchor': anchor }, content);
}

function title(content) {
  return el('title', {}, content);
}

function truncate(s, n) {
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

// wrap packs the pieces of s (split after sep) into at most two lines of n
// characters, cutting the second short if it must.
function wrap(s, sep, n) {
  const lines = [''];
  for (const piece of s.split(sep).map((p, i, all) => (i < all.length - 1 ? p + sep : p))) {
    const line = lines[lines.length - 1];
    if (line && (line + piece).trimEnd().length > n) lines.push(piece);
    else lines[lines.length - 1] = line + piece;
  }
  const first = truncate(lines[0].trimEnd(), n);
  return lines.length === 1 ? [first] : [first, truncate(lines.slice(1).join('').trimEnd(), n)];
}

// ---- Formatting ----------------------------------------------------------

function duration(seconds) {
  if (seconds < 0.001) return (seconds * 1e6).toFixed(0) + ' µs';
  if (seconds < 1) return (seconds * 1000).toFixed(seconds < 0.1 ? 1 : 0) + ' ms';
  if (seconds < 60) return seconds.toFixed(1) + ' s';
  if (seconds < 3600) return Math.floor(seconds / 60) + ' min ' + Math.round(seconds % 60) + ' s';
  return Math.floor(seconds / 3600) + ' h ' + Math.round((seconds % 3600) / 60) + ' min';
}

function rttBetween(snap, a, b) {
  for (const w of snap.wan || []) {
    if ((w.from_region === a && w.to_region === b) || (w.from_region === b && w.to_region === a)) {
      return w.rtt_seconds;
    }
  }
  return null;
}

// threadsText says in a few words what is wrong with a channel's threads.
function threadsText(ch, long) {
  const io = ch.io_running === 'Yes';
  const thread = long ? ' thread' : '';
  if (!io && !ch.sql_running) return long ? 'IO and SQL threads stopped' : 'stopped';
  if (!io) return `IO${thread} ${ch.io_running === 'Connecting' ? 'connecting' : 'stopped'}`;
  return `SQL${thread} stopped`;
}

function gtidBehind(ch) {
  return Object.values(ch.gtid_lag || {}).reduce((a, b) => a + b, 0);
}

// ---- What is wrong -------------------------------------------------------

// analyse decides the state of every node and link and lists the problems,
// worst first. States: ok, warn (amber), bad (red).
function analyse(snap) {
  const nodes = new Map();
  const links = [];
  const problems = [];
  const worse = (a, b) => (a === 'bad' || b === 'bad' ? 'bad' : a === 'warn' || b === 'warn' ? 'warn' : 'ok');
  const problem = (severity, subject, detail, note) => problems.push({ severity, subject, detail, note });

  for (const n of snap.nodes || []) {
    const v = { node: n, state: 'ok', notes: [] };
    nodes.set(n.name, v);
    const flag = (severity, note, detail) => {
      v.state = worse(v.state, severity);
      v.notes.push(note + (detail ? ': ' + detail : ''));
      problem(severity, n.name, note, detail);
    };
    if (!n.up) {
      flag('bad', 'is down', n.error || 'probe failed');
      continue;
    }
    if (n.error) flag('warn', 'probe incomplete', n.error);
    if (n.errant && n.errant.length) {
      flag('bad', 'has errant transactions (written locally in a domain it does not own)', n.errant.join(', '));
    }
    if (n.writable && n.read_only) flag('warn', 'should take writes but is read-only');
    if (!n.writable && !n.read_only) flag('warn', 'should be read-only but is writable');
    const g = n.galera;
    if (g) {
      if (!g.ready || g.cluster_status !== 'Primary') {
        flag('bad', 'Galera: not in a primary component', `status ${g.cluster_status}, state ${g.local_state}, ready ${g.ready}`);
      } else if (g.local_state !== 'Synced') {
        flag('warn', 'Galera: ' + g.local_state);
      }
      if (g.flow_control_paused > 0.1) {
        flag('warn', `Galera: paused by flow control ${(g.flow_control_paused * 100).toFixed(0)}% of the time`);
      }
    }
  }

  for (const n of snap.nodes || []) {
    for (const ch of n.replication || []) {
      const link = {
        id: n.name + '/' + ch.connection,
        replica: n,
        channel: ch,
        source: ch.source_node,
        state: 'ok',
        rtt: ch.source_region === n.region ? null : rttBetween(snap, ch.source_region, n.region),
      };
      const subject = `${ch.source_node || ch.source_region} → ${n.name}`;
      const via = `connection '${ch.connection}'`;
      if (ch.io_running !== 'Yes' || !ch.sql_running) {
        link.state = 'bad';
        const errors = [];
        if (ch.last_io_error) errors.push(`IO error ${ch.last_io_errno}: ${ch.last_io_error}`);
        if (ch.last_sql_error) errors.push(`SQL error ${ch.last_sql_errno}: ${ch.last_sql_error}`);
        link.note = 'replication broken: ' + threadsText(ch, true);
        link.errors = errors.join('\n');
        problem('bad', subject, `${link.note}, ${via}`, link.errors);
        const v = nodes.get(n.name);
        if (v) v.state = worse(v.state, 'bad');
      } else if (ch.lag_seconds !== null && ch.lag_seconds !== undefined && ch.lag_seconds > LAGGING_SECONDS) {
        link.state = 'warn';
        link.note = `lagging ${duration(ch.lag_seconds)} behind`;
        problem('warn', subject, `${link.note}, ${via}`, gtidBehind(ch) ? `${gtidBehind(ch)} transactions to apply` : '');
      } else if (ch.lag_seconds === null || ch.lag_seconds === undefined) {
        link.state = 'unknown';
        link.note = 'lag unknown (no heartbeat seen)';
      }
      links.push(link);
    }
  }

  for (const w of snap.wan || []) {
    if (w.error) problem('warn', `${w.from_region} ↔ ${w.to_region}`, 'round trip not measured', w.error);
  }

  const order = { bad: 0, warn: 1 };
  problems.sort((a, b) => order[a.severity] - order[b.severity]);
  return { nodes, links, problems };
}

// ---- Layout --------------------------------------------------------------

// layout places regions in rows of equal-width boxes, their nodes stacked
// inside grouped by cluster, and reserves a lane above a row for each arrow
// that must jump over a region.
function layout(snap, links, width) {
  const regions = (snap.regions || []).map((r) => ({ region: r, name: r.name, nodes: [] }));
  const byName = new Map(regions.map((r) => [r.name, r]));
  for (const n of snap.nodes || []) {
    if (!byName.has(n.region)) {
      const r = { region: { name: n.region }, name: n.region, nodes: [] };
      regions.push(r);
      byName.set(n.region, r);
    }
    byName.get(n.region).nodes.push(n);
  }

  // As many regions side by side as fit when drawn at no less than
  // MIN_SCALE; the drawing is then scaled down to the page's width.
  const rowWidth = (n) => 2 * MARGIN + n * (REGION_W + REGION_GAP) - REGION_GAP;
  let columns = Math.max(1, regions.length);
  while (columns > 1 && rowWidth(columns) * MIN_SCALE > width) columns--;
  columns = Math.max(1, Math.ceil(regions.length / Math.ceil(regions.length / columns))); // balance the rows
  const viewWidth = Math.max(width, rowWidth(columns));
  const nodePos = new Map();

  // Stack each region's nodes, a frame around each cluster of several nodes.
  for (const r of regions) {
    r.clusters = [];
    let y = REGION_HEAD;
    let current = null;
    for (const n of r.nodes) {
      if (!current || current.name !== n.cluster) {
        current = { name: n.cluster, kind: n.cluster_kind, nodes: [] };
        r.clusters.push(current);
      }
      current.nodes.push(n);
    }
    for (const c of r.clusters) {
      const framed = c.nodes.length > 1;
      c.framed = framed;
      c.y = y;
      if (framed) y += CLUSTER_HEAD;
      c.nodes.forEach((n, i) => {
        nodePos.set(n.name, { region: r, dx: REGION_PAD, dy: y, index: i });
        y += NODE_H + NODE_GAP;
      });
      y -= NODE_GAP;
      if (framed) y += CLUSTER_PAD;
      c.h = y - c.y;
      y += NODE_GAP;
    }
    r.h = Math.max(y - NODE_GAP + REGION_FOOT, REGION_HEAD + 40);
  }

  // Rows, with lanes for the arrows between non-neighbours of a row.
  const rows = [];
  regions.forEach((r, i) => {
    r.row = Math.floor(i / columns);
    r.col = i % columns;
    if (!rows[r.row]) rows[r.row] = { regions: [], lanes: 0 };
    rows[r.row].regions.push(r);
  });
  for (const l of links) {
    const a = nodePos.get(l.source);
    const b = nodePos.get(l.replica.name);
    if (a && b && a.region.row === b.region.row && Math.abs(a.region.col - b.region.col) > 1) {
      l.lane = rows[a.region.row].lanes++;
    }
  }

  const left = (viewWidth - rowWidth(columns)) / 2 + MARGIN;
  let y = MARGIN;
  for (const row of rows) {
    row.laneBase = y + row.lanes * LANE_H;
    y = row.laneBase + (row.lanes ? 14 : 0);
    for (const r of row.regions) {
      r.x = left + r.col * (REGION_W + REGION_GAP);
      r.y = y;
    }
    y += Math.max(...row.regions.map((r) => r.h)) + ROW_GAP;
  }
  for (const p of nodePos.values()) {
    p.x = p.region.x + p.dx;
    p.y = p.region.y + p.dy;
  }
  return { regions, rows, nodePos, width: viewWidth, height: y - ROW_GAP + MARGIN };
}

// ---- Drawing -------------------------------------------------------------

function drawRegion(snap, r, analysis) {
  const reg = r.region;
  const g = el('g', { class: 'region', 'data-region': r.name, transform: `translate(${r.x},${r.y})` });
  g.append(el('rect', { class: 'box', width: REGION_W, height: r.h, rx: 10 }));
  g.append(el('text', { x: 16, y: 28 },
    el('tspan', { class: 'name' }, r.name),
    reg.location ? el('tspan', { class: 'location', dx: 8 }, reg.location) : null));

  if (reg.gtid_domain_id !== undefined) g.append(text(16, 48, 'facts', 'GTID domain ' + reg.gtid_domain_id));
  if (reg.writable !== undefined) {
    const label = reg.writable ? 'writes' : 'read-only';
    const w = label.length * 6.6 + 16;
    g.append(el('g', { class: 'badge' + (reg.writable ? ' writes' : ''), transform: `translate(${REGION_W - 12 - w},14)` },
      el('rect', { width: w, height: 18, rx: 9 }),
      text(w / 2, 13, '', label, 'middle')));
  }
  if (r.name === snap.controller_region) {
    g.append(text(REGION_W - 12, 48, 'facts', 'controller here', 'end'));
  } else if (snap.controller_region) {
    const rtt = rttBetween(snap, snap.controller_region, r.name);
    if (rtt !== null && rtt !== undefined) g.append(text(REGION_W - 12, 48, 'facts', `rtt ${duration(rtt)} from ${snap.controller_region}`, 'end'));
  }

  for (const c of r.clusters) {
    if (!c.framed) continue;
    const member = c.nodes.find((n) => n.up && n.galera);
    const about = [c.name, c.kind];
    if (member) about.push(`${member.galera.cluster_status} · size ${member.galera.cluster_size}`);
    g.append(el('g', { class: 'cluster', 'data-cluster': c.name },
      el('rect', { x: REGION_PAD - CLUSTER_PAD, y: c.y, width: NODE_W + 2 * CLUSTER_PAD, height: c.h, rx: 6 }),
      text(REGION_PAD, c.y + 14, '', about.join(' · '))));
  }
  if (!r.nodes.length) g.append(text(REGION_W / 2, REGION_HEAD + 22, 'facts', 'no nodes', 'middle'));
  for (const n of r.nodes) g.append(drawNode(analysis.nodes.get(n.name)));
  return g;
}

function drawNode(v) {
  const n = v.node;
  const classes = ['node', 'role-' + (n.role || 'replica')];
  if (!n.up) classes.push('down');
  if (v.state !== 'ok') classes.push(v.state);
  const pos = v.pos;
  const g = el('g', { class: classes.join(' '), 'data-node': n.name, transform: `translate(${pos.dx},${pos.dy})` });

  const tip = [`${n.name} (${n.role}) in ${n.region}, cluster ${n.cluster}`];
  if (n.up) {
    tip.push(`read_only ${n.read_only ? 'ON' : 'OFF'}; the layout wants it ${n.writable ? 'writable' : 'read-only'}`);
    tip.push('gtid_current_pos ' + (n.gtid_current_pos || '(empty)'));
    tip.push('gtid_binlog_pos ' + (n.gtid_binlog_pos || '(empty)'));
    tip.push('gtid_slave_pos ' + (n.gtid_slave_pos || '(empty)'));
  }
  if (n.probe_ns) tip.push('probe ' + duration(n.probe_ns / 1e9));
  tip.push(...v.notes);
  g.append(title(tip.join('\n')));

  g.append(el('rect', { class: 'box', width: NODE_W, height: NODE_H, rx: 6 }));
  g.append(el('rect', { class: 'accent', width: 5, height: NODE_H - 2, x: 1, y: 1, rx: 2 }));
  g.append(text(16, 23, 'name', n.name));
  const role = n.role || 'replica';
  const rw = role.length * 6.6 + 14;
  g.append(el('g', { class: 'role', transform: `translate(${NODE_W - 10 - rw},9)` },
    el('rect', { width: rw, height: 18, rx: 4 }),
    text(rw / 2, 13, '', role, 'middle')));

  const detail = (cls, lines) => lines.forEach((line, i) => g.append(text(16, 68 + i * 15, cls, line)));
  if (!n.up) {
    g.append(text(16, 47, 'state', 'down'));
    detail('gtid', wrap(n.error || 'probe failed', ' ', 31));
    return g;
  }
  g.append(el('circle', { class: 'dot', cx: 20, cy: 43, r: 4.5 }));
  const mismatch = n.writable === n.read_only;
  let state = n.read_only ? 'read-only' : 'writable';
  if (mismatch) state += n.writable ? ', should write' : ', should not';
  g.append(text(30, 47, 'state' + (n.read_only ? '' : ' writes') + (mismatch ? ' mismatch' : ''), state));
  let aside = '';
  if (n.galera) aside = `${n.galera.local_state} · ${n.galera.cluster_size} nodes`;
  else if (n.probe_ns) aside = 'probe ' + duration(n.probe_ns / 1e9);
  if (!mismatch) g.append(text(NODE_W - 10, 47, 'aside', aside, 'end'));
  if (n.errant && n.errant.length) {
    detail('gtid errant', wrap('errant ' + n.errant.join(','), ',', 28));
  } else {
    detail('gtid', wrap(n.gtid_current_pos || 'no GTID yet', ',', 28));
  }
  return g;
}

// assignPorts gives every arrow between regions its own point on the side
// of each node it joins, spread along that side so arrows never share an
// end. On a side, arrows jumping over regions come first (the highest lane
// on top), then by the height of the node at the other end, a left-to-right
// arrow above its right-to-left twin so the pair runs parallel.
function assignPorts(links, nodePos) {
  const sides = new Map();
  const attach = (pos, side, end) => {
    const k = pos.region.name + '/' + pos.dy + side;
    if (!sides.has(k)) sides.set(k, { pos, side, ends: [] });
    sides.get(k).ends.push(end);
  };
  for (const l of links) {
    const a = nodePos.get(l.source);
    const b = nodePos.get(l.replica.name);
    if (!a || !b || a.region === b.region) continue;
    const sameColumn = a.region.col === b.region.col;
    l.right = b.region.x > a.region.x;
    attach(a, sameColumn || l.right ? 'R' : 'L', { link: l, end: 'from', other: b });
    attach(b, sameColumn || !l.right ? 'R' : 'L', { link: l, end: 'to', other: a });
  }
  const key = (e) => [e.link.lane === undefined ? 1 : 0, -(e.link.lane || 0), e.other.y, e.link.right ? 0 : 1];
  const compare = (x, y) => {
    const kx = key(x);
    const ky = key(y);
    for (let i = 0; i < kx.length; i++) if (kx[i] !== ky[i]) return kx[i] - ky[i];
    return 0;
  };
  for (const { pos, side, ends } of sides.values()) {
    ends.sort(compare);
    ends.forEach((e, i) => {
      e.link[e.end] = { x: side === 'R' ? pos.x + NODE_W : pos.x, y: pos.y + (NODE_H * (i + 1)) / (ends.length + 1), side };
    });
  }
}

// linkPath returns the SVG path of an arrow from a source node to a replica
// node and where its label goes.
function linkPath(l, a, b, row) {
  if (a.region === b.region) {
    // Inside a region: down the left of the nodes, into the replica's top.
    const x = a.x + 44;
    const label = { lx: x + 10, anchor: 'start' };
    if (b.index === a.index + 1 && b.y > a.y) {
      return { d: `M${x},${a.y + NODE_H} L${x},${b.y - 2}`, ly: b.y - NODE_GAP / 2 + 4, ...label };
    }
    const side = a.x - 14;
    const down = b.y > a.y;
    const ay = a.y + NODE_H / 2;
    const by = down ? b.y - NODE_GAP / 2 : b.y + NODE_H + NODE_GAP / 2;
    const ey = down ? b.y - 2 : b.y + NODE_H + 2;
    const d = `M${a.x},${ay} Q${side},${ay} ${side},${ay + (down ? 16 : -16)} L${side},${by + (down ? -10 : 10)}` +
      ` Q${side},${by} ${side + 14},${by} L${x - 8},${by} Q${x},${by} ${x},${ey}`;
    return { d, ly: by + 4, ...label };
  }
  const { from, to } = l;
  const step = (side) => (side === 'R' ? 1 : -1);
  const arrow = l.right ? ' →' : '';
  const back = l.right ? '' : '← ';
  if (l.lane !== undefined) {
    // Over the regions in between, in a lane of its own above the row.
    // Higher lanes come down closer to the regions, so lanes nest without crossing.
    const top = row.laneBase - l.lane * LANE_H;
    const out = REGION_PAD + 16 + (row.lanes - 1 - l.lane) * 12;
    const gx1 = from.x + step(from.side) * out;
    const gx2 = to.x + step(to.side) * out;
    const s1 = step(from.side);
    const s2 = step(to.side);
    const r = 8;
    const d = [
      `M${from.x},${from.y}`, `L${gx1 - s1 * r},${from.y}`, `Q${gx1},${from.y} ${gx1},${from.y - r}`,
      `L${gx1},${top + r}`, `Q${gx1},${top} ${gx1 - s2 * r},${top}`,
      `L${gx2 + s2 * r},${top}`, `Q${gx2},${top} ${gx2},${top + r}`,
      `L${gx2},${to.y - r}`, `Q${gx2},${to.y} ${gx2 - s2 * r},${to.y}`, `L${to.x + s2 * 2},${to.y}`,
    ].join(' ');
    return { d, lx: (gx1 + gx2) / 2, ly: top - 6, anchor: 'middle', back, arrow };
  }
  const bend = Math.max(50, Math.abs(to.x - from.x) / 2);
  const c1 = from.x + step(from.side) * bend;
  const c2 = to.x + step(to.side) * bend;
  const d = `M${from.x},${from.y} C${c1},${from.y} ${c2},${to.y} ${to.x + step(to.side) * 2},${to.y}`;
  const midX = (from.x + 3 * c1 + 3 * c2 + to.x) / 8;
  const midY = (from.y + to.y) / 2;
  if (a.region.col === b.region.col) {
    // Same column, another row: the label sits right of the bulge, in the gap.
    return { d, lx: midX + 8, ly: midY + 4, anchor: 'start' };
  }
  if (a.region.row !== b.region.row) return { d, lx: midX, ly: midY + 4, anchor: 'middle', back, arrow };
  // Neighbours: left-to-right labels above the curve, right-to-left ones below.
  const ly = l.right ? Math.min(from.y, to.y) - 7 : Math.max(from.y, to.y) + 16;
  return { d, lx: (from.x + to.x) / 2, ly, anchor: 'middle', back, arrow };
}

function drawLink(l, placed, taken) {
  const a = placed.nodePos.get(l.source);
  const b = placed.nodePos.get(l.replica.name);
  if (!a || !b) return null;
  const ch = l.channel;
  const state = { bad: 'broken', warn: 'lagging', unknown: 'unknown' }[l.state];
  const marker = state || 'ok';

  const parts = [];
  if (l.state === 'bad') parts.push(threadsText(ch));
  else parts.push('lag ' + (ch.lag_seconds === null || ch.lag_seconds === undefined ? '?' : duration(ch.lag_seconds)));
  if (l.rtt !== null && l.rtt !== undefined) parts.push('rtt ' + duration(l.rtt));

  const tip = [`${ch.source_node} (${ch.source_region}) → ${l.replica.name} (${l.replica.region}), connection '${ch.connection}'`];
  tip.push(`IO ${ch.io_running}, SQL ${ch.sql_running ? 'running' : 'stopped'}`);
  tip.push('heartbeat lag ' + (ch.lag_seconds === null || ch.lag_seconds === undefined ? 'unknown' : duration(ch.lag_seconds)));
  tip.push('Seconds_Behind_Master ' + (ch.seconds_behind_master === null || ch.seconds_behind_master === undefined ? 'NULL' : ch.seconds_behind_master));
  for (const [domain, n] of Object.entries(ch.gtid_lag || {})) tip.push(`domain ${domain}: ${n} transactions behind`);
  if (l.note) tip.push(l.note);
  if (l.errors) tip.push(l.errors);

  const p = linkPath(l, a, b, placed.rows[a.region.row]);
  const line = el('g', { class: state ? 'link ' + state : 'link', 'data-link': l.id },
    title(tip.join('\n')),
    el('path', { class: 'halo', d: p.d }),
    el('path', { class: 'line', d: p.d, 'marker-end': `url(#arrow-${marker})` }));
  const label = el('g', { class: state ? 'link-label ' + state : 'link-label', 'data-link-label': l.id },
    title(tip.join('\n')),
    placeLabel(p, (p.back || '') + parts.join(' · ') + (p.arrow || ''), taken));
  return { line, label };
}

// placeLabel moves a label down until it overlaps none already placed
// (taken holds their boxes), and returns its text element.
function placeLabel(p, content, taken) {
  const w = content.length * LABEL_CHAR_W;
  const x0 = p.anchor === 'middle' ? p.lx - w / 2 : p.anchor === 'end' ? p.lx - w : p.lx;
  let y = p.ly;
  const clashes = (b) => x0 < b.x + b.w && b.x < x0 + w && y - LABEL_H < b.y && b.y - LABEL_H < y;
  for (let tries = 0; tries < 12 && taken.some(clashes); tries++) y += LABEL_H;
  taken.push({ x: x0, y, w });
  return text(p.lx, y, '', content, p.anchor);
}

function markers() {
  const defs = el('defs');
  for (const name of ['ok', 'lagging', 'broken', 'unknown']) {
    defs.append(el('marker', {
      id: 'arrow-' + name, viewBox: '0 0 10 10', refX: 9, refY: 5,
      markerWidth: 11, markerHeight: 11, orient: 'auto', markerUnits: 'userSpaceOnUse',
    }, el('path', { d: 'M0,0 L10,5 L0,10 z' })));
  }
  return defs;
}

function drawMap(snap, analysis) {
  const svg = document.getElementById('map');
  const width = document.getElementById('canvas').clientWidth || 1200;
  const placed = layout(snap, analysis.links, width);
  assignPorts(analysis.links, placed.nodePos);
  for (const [name, pos] of placed.nodePos) {
    const v = analysis.nodes.get(name);
    if (v) v.pos = pos;
  }
  const regions = el('g', { class: 'regions' });
  const lines = el('g', { class: 'links' });
  const labels = el('g', { class: 'labels' });
  for (const r of placed.regions) regions.append(drawRegion(snap, r, analysis));
  // Healthy links first so a broken one is drawn on top where they cross.
  const rank = { ok: 0, unknown: 1, warn: 2, bad: 3 };
  const ordered = [...analysis.links].sort((x, y) => rank[x.state] - rank[y.state]);
  const taken = [];
  for (const l of ordered) {
    const drawn = drawLink(l, placed, taken);
    if (!drawn) continue;
    lines.append(drawn.line);
    labels.append(drawn.label);
  }
  svg.setAttribute('viewBox', `0 0 ${placed.width} ${placed.height}`);
  svg.style.height = (placed.height * width) / placed.width + 'px';
  svg.replaceChildren(markers(), regions, lines, labels);
}

// ---- Page ----------------------------------------------------------------

function drawProblems(problems) {
  const list = document.getElementById('problems');
  if (!problems.length) {
    const li = document.createElement('li');
    li.className = 'none';
    li.textContent = 'No problems: every node is up and every replication link is running.';
    list.replaceChildren(li);
    return;
  }
  list.replaceChildren(...problems.map((p) => {
    const li = document.createElement('li');
    li.className = p.severity;
    const subject = document.createElement('span');
    subject.className = 'subject';
    subject.textContent = p.subject;
    li.append(subject, document.createTextNode(p.detail));
    if (p.note) {
      const detail = document.createElement('div');
      detail.className = 'detail';
      detail.textContent = p.note;
      li.append(detail);
    }
    return li;
  }));
}

function drawHeader(snap, problems) {
  document.getElementById('topology').textContent = snap.topology || 'estate';
  document.getElementById('architecture').textContent = snap.architecture || '';
  document.getElementById('controller').textContent = snap.controller_region ? 'controller in ' + snap.controller_region : '';
  const summary = document.getElementById('summary');
  const bad = problems.filter((p) => p.severity === 'bad').length;
  const warn = problems.length - bad;
  summary.className = 'pill ' + (bad ? 'bad' : warn ? 'warn' : 'ok');
  summary.textContent = problems.length ? `${problems.length} problem${problems.length > 1 ? 's' : ''}` : 'all healthy';
  document.title = (problems.length ? `(${problems.length}) ` : '') + 'Meridian · ' + (snap.topology || '');
}

function render(snap) {
  const analysis = analyse(snap);
  drawHeader(snap, analysis.problems);
  drawMap(snap, analysis);
  drawProblems(analysis.problems);
  last = snap;
  document.body.dataset.updated = new Date().toISOString();
  document.body.dataset.snapshotAt = snap.at;
}

function showFreshness() {
  const f = document.getElementById('freshness');
  if (!last) return;
  const age = (Date.now() - Date.parse(last.at)) / 1000;
  f.textContent = 'probed ' + new Date(last.at).toLocaleTimeString() + (age >= 2 ? ` (${duration(age)} ago)` : '');
}

function banner(message) {
  const b = document.getElementById('banner');
  b.hidden = !message;
  b.textContent = message || '';
}

async function refresh() {
  try {
    const res = await fetch('api/v1/topology', { cache: 'no-store' });
    if (res.status === 503) {
      banner('The controller has not finished its first probe round yet.');
    } else if (!res.ok) {
      throw new Error(`HTTP ${res.status}`);
    } else {
      const snap = await res.json();
      const ageMs = Date.now() - Date.parse(snap.at);
      const stale = snap.interval_ns > 0 && ageMs > 3 * (snap.interval_ns / 1e6) + 5000;
      banner(stale ? `The last probe round finished at ${new Date(snap.at).toLocaleTimeString()}: the controller may be stuck.` : '');
      render(snap);
    }
  } catch (err) {
    banner(`Cannot reach the controller (${err.message}): showing what it last reported.`);
  } finally {
    showFreshness();
    setTimeout(refresh, REFRESH_MS);
  }
}

// ---- Residency -----------------------------------------------------------

function cells(...values) {
  const tr = document.createElement('tr');
  for (const v of values) {
    const td = document.createElement('td');
    td.textContent = v;
    tr.append(td);
  }
  return tr;
}

function drawResidency(view) {
  const section = document.getElementById('residency');
  section.hidden = false;
  document.getElementById('residency-tables').replaceChildren(...(view.tables || []).map((r) => cells(r.match, r.home)));
  document.getElementById('residency-jurisdictions').replaceChildren(...(view.jurisdictions || []).map((j) =>
    cells(j.country + (j.name ? ' (' + j.name + ')' : ''), j.region, j.law || '', j.local_storage ? 'required' : '')));
  const verdict = document.getElementById('residency-verdict');
  const report = view.report;
  const violations = (report && report.violations) || [];
  const incomplete = (report && report.incomplete) || [];
  if (!report) {
    verdict.className = 'verdict warn';
    verdict.textContent = 'Waiting for the first residency audit…';
  } else if (violations.length) {
    verdict.className = 'verdict bad';
    verdict.textContent = `${violations.length} finding${violations.length > 1 ? 's' : ''} of personal data outside its region (audit at ${new Date(report.at).toLocaleTimeString()})`;
  } else if (incomplete.length) {
    verdict.className = 'verdict warn';
    verdict.textContent = 'Audit incomplete: ' + incomplete.join(', ') + ' could not be read.';
  } else {
    verdict.className = 'verdict ok';
    verdict.textContent = `Every personal row is in its jurisdiction's region (audit at ${new Date(report.at).toLocaleTimeString()}).`;
  }
  document.getElementById('residency-violations').replaceChildren(...violations.map((v) => {
    const li = document.createElement('li');
    li.textContent = `${v.node} (region ${v.region}): ${v.rows} row(s) of ${v.table} belonging to region ${v.home}`;
    return li;
  }));
}

async function refreshResidency() {
  try {
    const res = await fetch('api/v1/residency', { cache: 'no-store' });
    if (res.ok) drawResidency(await res.json());
  } catch (err) {
    // The topology banner already says when the controller is unreachable.
  } finally {
    setTimeout(refreshResidency, 5 * REFRESH_MS);
  }
}

window.addEventListener('resize', () => {
  if (last) drawMap(last, analyse(last));
});
refresh();
refreshResidency();
