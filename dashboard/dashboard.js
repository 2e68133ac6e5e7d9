// The dashboard's script (plain browser JavaScript, no build step): it follows the admin listener's
// event stream (a state each second, log lines with the token), draws the instances table and a uPlot
// chart per service, and sends the actions (restart, scale, stop) with the token from the URL fragment.
/* global uPlot */
(() => {
  const TOKEN_HEADER = 'x-msup-token';
  /** Seconds of history each chart keeps. */
  const WINDOW = 120;
  const MAX_LOG_LINES = 1000;
  /** What the Scale box must hold (empty or half-typed, it reads as '', which Number() takes as 0). */
  const COUNT = /^\d+$/;
  /** How long a refused stream waits before the page asks again (the Retry-After msup sends with a 503). */
  const REFUSED_RETRY_MS = 10_000;

  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
  const $ = (id) => document.getElementById(id);
  const services = new Map();
  const logLines = [];
  /** The msup run this page follows, and the last line of it shown (a reconnect replays lines it has). */
  let run = null;
  let lastSeq = 0;

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function notice(text, kind = 'info') {
    const n = $('notice');
    n.textContent = text;
    n.dataset.kind = kind;
  }

  const fmtDuration = (ms) => {
    if (ms === null) return '–';
    const s = Math.floor(ms / 1000);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  };
  const fmtBytes = (n) => (n === null ? '–' : `${(n / 1048576).toFixed(1)} MiB`);
  const fmtCpu = (n) => (n === null ? '–' : `${n.toFixed(1)}%`);
  const fmtExit = (e) => {
    if (!e) return '–';
    // No code and no signal: it ran, and how it ended is not known (the reason says why).
    const unknown = !e.error && !e.signal && e.code === null;
    const how = e.error
      ? `could not start: ${e.error}`
      : e.signal
        ? e.signal
        : unknown
          ? `ended (${e.reason ?? 'exit unknown'})`
          : `code ${e.code}`;
    return `${how}, ${fmtDuration(Date.now() - e.at)} ago${e.reason && !unknown ? ` (${e.reason})` : ''}`;
  };

  // --- actions --------------------------------------------------------------------------------------
  /** Sends an action; `buttons` stay disabled until it is answered (a double click is one action). */
  async function act(name, body, buttons = []) {
    if (buttons.some((b) => b.disabled)) return;
    for (const b of buttons) b.disabled = true;
    notice(`${name}…`);
    try {
      const res = await fetch(`/api/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [TOKEN_HEADER]: token },
        body: JSON.stringify(body),
      });
      const answer = await res.json();
      if (!answer.ok) notice(`${name} refused: ${answer.error.message}`, 'error');
      else notice(`${name} done${body.service ? ` (${body.service})` : ''}`);
    } catch (error) {
      notice(`${name} failed: ${error.message}`, 'error');
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  // --- one service's card ---------------------------------------------------------------------------
  /** Charts follow their box's width. */
  const resized = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const plot = entry.target.plot;
      const width = Math.floor(entry.contentRect.width);
      if (plot && width > 0 && width !== plot.width) plot.setSize({ width, height: plot.height });
    }
  });

  function chart(target, title, series) {
    const width = Math.max(280, Math.floor(target.getBoundingClientRect().width) || 420);
    const opts = {
      width,
      height: 160,
      legend: { show: true, live: false },
      scales: { x: { time: true } },
      axes: [{}, { size: 50 }],
      series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 1.5, spanGaps: false }))],
    };
    const data = [[], ...series.map(() => [])];
    const plot = new uPlot(opts, data, target);
    target.plot = plot;
    resized.observe(target);
    return { plot, data, title };
  }

  function createCard(info) {
    const figures = el('span', { class: 'figures' });
    const actions = el('div', { class: 'actions' });
    if (token && document.body.dataset.readOnly !== 'true') {
      const count = el('input', {
        type: 'number',
        min: '0',
        value: String(info.instances.length),
        'aria-label': `instances of ${info.name}`,
        'data-role': 'count',
      });
      // Typed in: the box keeps it (focus may have gone to the Scale button) until it is sent or emptied.
      count.addEventListener('input', () => {
        count.dataset.edited = 'true';
      });
      count.addEventListener('change', () => {
        if (!COUNT.test(count.value)) delete count.dataset.edited;
      });
      const buttons = [];
      const scale = () => {
        // Never a scale to zero by accident.
        if (!COUNT.test(count.value)) {
          notice(`scale: enter a number of instances for ${info.name}`, 'error');
          return;
        }
        const n = Number(count.value);
        if (n === 0 && !confirm(`Stop every instance of ${info.name}?`)) return;
        delete count.dataset.edited;
        act('scale', { service: info.name, count: n }, buttons);
      };
      buttons.push(
        el('button', {
          type: 'button',
          'data-action': 'restart',
          text: 'Rolling restart',
          onclick: () => act('restart', { service: info.name }, buttons),
        }),
        el('button', { type: 'button', 'data-action': 'scale', text: 'Scale', onclick: scale }),
      );
      actions.append(buttons[0], count, buttons[1]);
    }
    const tbody = el('tbody');
    const table = el(
      'table',
      { class: 'instances' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...['instance', 'state', 'ready', 'pid', 'restarts', 'uptime', 'CPU', 'memory', 'last exit'].map(
            (h) => el('th', { text: h }),
          ),
        ),
      ),
      tbody,
    );
    const rpsBox = el(
      'div',
      { class: 'chart', 'data-chart': 'requests' },
      el('h3', { text: 'requests/s and errors/s' }),
    );
    const latBox = el('div', { class: 'chart', 'data-chart': 'latency' }, el('h3', { text: 'latency (ms)' }));
    const head = el('div', { class: 'service-head' }, el('h2', { text: info.name }));
    if (info.url) head.append(el('a', { href: info.url, text: info.url, target: '_blank', rel: 'noopener' }));
    head.append(figures, actions);
    const card = el('article', { class: 'service', 'data-service': info.name }, head, table);
    $('services').append(card);
    // Charts for a service the proxy serves (a port or a route), once its first rates come.
    const addCharts = () => {
      card.append(el('div', { class: 'charts' }, rpsBox, latBox));
      return {
        rps: chart(rpsBox, 'requests', [
          ['req/s', '#2f5fb3'],
          ['errors/s', '#c62828'],
        ]),
        latency: chart(latBox, 'latency', [
          ['p50', '#1a7f37'],
          ['p99', '#b35900'],
        ]),
      };
    };
    const entry = {
      card,
      tbody,
      figures,
      charts: null,
      addCharts,
      points: 0,
      count: actions.querySelector('input'),
    };
    const filter = $('log-filter');
    filter.append(el('option', { value: info.name, text: info.name }));
    return entry;
  }

  function push(c, at, values) {
    c.data[0].push(at / 1000);
    values.forEach((v, i) => {
      c.data[i + 1].push(v);
    });
    if (c.data[0].length > WINDOW) for (const column of c.data) column.shift();
    c.plot.setData(c.data);
  }

  function render(state) {
    const seen = new Set();
    for (const info of state.services) {
      seen.add(info.name);
      let entry = services.get(info.name);
      if (!entry) {
        entry = createCard(info);
        services.set(info.name, entry);
      }
      entry.tbody.replaceChildren(
        ...info.instances.map((i) =>
          el(
            'tr',
            { 'data-instance': String(i.index) },
            el('td', { text: `${info.name}#${i.index}` }),
            el('td', { class: 'state', 'data-state': i.state, text: i.state }),
            el('td', { text: i.ready ? 'yes' : 'no' }),
            el('td', { 'data-field': 'pid', text: i.pid === null ? '–' : String(i.pid) }),
            el('td', { 'data-field': 'restarts', text: String(i.restarts) }),
            el('td', { text: fmtDuration(i.uptimeMs) }),
            el('td', { text: fmtCpu(i.cpuPercent) }),
            el('td', { text: fmtBytes(i.memoryBytes) }),
            el('td', { text: fmtExit(i.lastExit) }),
          ),
        ),
      );
      entry.card.dataset.instances = String(info.instances.length);
      // The box shows the count as it is now (a scale from the command line, a reload), unless being typed in.
      if (entry.count && entry.count.dataset.edited !== 'true' && document.activeElement !== entry.count)
        entry.count.value = String(info.instances.length);
      entry.card.dataset.ready = String(info.instances.filter((i) => i.ready).length);
      entry.figures.textContent =
        info.rps === null ? '' : `${info.rps.toFixed(1)} req/s · ${info.inFlight} in flight`;
      // A refresh between samples (an instance changed) carries the last sample's `at`: no new point.
      if (info.rps !== null && state.at > (entry.lastAt ?? 0)) {
        entry.lastAt = state.at;
        entry.charts ??= entry.addCharts();
        const ms = (s) => (s === null ? null : Math.round(s * 100000) / 100);
        push(entry.charts.rps, state.at, [info.rps, info.errors]);
        push(entry.charts.latency, state.at, [ms(info.p50), ms(info.p99)]);
        entry.points++;
        entry.card.dataset.points = String(entry.points);
        entry.card.dataset.rps = String(info.rps);
      }
    }
    for (const [name, entry] of services) {
      if (seen.has(name)) continue;
      entry.card.remove();
      services.delete(name);
      const option = $('log-filter').querySelector(`option[value="${CSS.escape(name)}"]`);
      if (option) {
        const selected = option.selected;
        option.remove();
        // Its lines were the ones shown: the panel shows all again (no change event comes for it).
        if (selected) {
          $('log-filter').value = '';
          redrawLogs();
        }
      }
    }
  }

  // --- logs -----------------------------------------------------------------------------------------
  function lineNode(line) {
    const who =
      line.service === null ? 'msup' : line.index === null ? line.service : `${line.service}#${line.index}`;
    const time = new Date(line.time).toLocaleTimeString();
    return el(
      'div',
      { class: line.stream, 'data-service': line.service ?? '' },
      el('span', { class: 'who', text: `${time} ${who} | ` }),
      line.level && line.stream === 'msup' ? `${line.level}: ${line.text}` : line.text,
    );
  }

  function shownLines() {
    const filter = $('log-filter').value;
    return filter === '' ? logLines : logLines.filter((l) => l.service === filter);
  }

  function redrawLogs() {
    $('logs').replaceChildren(...shownLines().map(lineNode));
    follow();
  }

  function follow() {
    if ($('log-follow').checked) $('logs').scrollTop = $('logs').scrollHeight;
  }

  function addLines(batch) {
    const filter = $('log-filter').value;
    const box = $('logs');
    const shown = (line) => filter === '' || line.service === filter;
    for (const line of batch.lines) {
      // Lines this page has (a reconnect, or a second viewer's replay, sends them again).
      if (line.seq !== undefined) {
        if (line.seq <= lastSeq) continue;
        lastSeq = line.seq;
      }
      logLines.push(line);
      if (shown(line)) box.append(lineNode(line));
    }
    if (batch.skipped > 0) {
      const gap = {
        time: Date.now(),
        service: null,
        index: null,
        stream: 'msup',
        text: `${batch.skipped} lines skipped`,
      };
      logLines.push(gap);
      if (shown(gap)) box.append(lineNode(gap));
    }
    // The oldest go, from the list and from the page (no redraw: a selection in the panel stays).
    if (logLines.length > MAX_LOG_LINES) {
      for (const line of logLines.splice(0, logLines.length - MAX_LOG_LINES)) {
        if (shown(line)) box.firstElementChild?.remove();
      }
    }
    follow();
  }

  // --- the stream -----------------------------------------------------------------------------------
  function connect() {
    const source = new EventSource(token ? `/api/events?token=${encodeURIComponent(token)}` : '/api/events');
    const badge = $('connection');
    source.addEventListener('open', () => {
      badge.textContent = 'live';
      badge.dataset.state = 'live';
      badge.title = '';
    });
    source.addEventListener('error', () => {
      badge.dataset.state = 'lost';
      if (source.readyState !== EventSource.CLOSED) {
        badge.textContent = 'reconnecting';
        return;
      }
      // Refused (a 503: too many pages watch this msup), which the browser never retries: the page does.
      source.close();
      badge.textContent = 'refused, retrying';
      badge.title =
        'msup refused the live feed (too many dashboard pages are open?); this page asks again every 10 s';
      setTimeout(connect, REFUSED_RETRY_MS);
    });
    source.addEventListener('hello', (e) => hello(JSON.parse(e.data)));
    source.addEventListener('state', (e) => render(JSON.parse(e.data)));
    source.addEventListener('lines', (e) => addLines(JSON.parse(e.data)));
  }

  /** The stream's first event: which run of msup, and whether the token was good. */
  function hello(info) {
    if (info.run !== run) {
      // Another run (msup restarted on the same port): its lines count from 1 again.
      run = info.run;
      lastSeq = 0;
    }
    if (token && !info.lines)
      readOnly("the token in this page's address is not this msup's (from an earlier run?)");
  }

  /** Without a token this msup takes: no buttons, and the log panel says why it is empty. */
  function readOnly(why) {
    const mode = $('mode');
    mode.textContent = 'read-only';
    mode.dataset.mode = 'read-only';
    $('stop-all').hidden = true;
    for (const actions of document.querySelectorAll('.actions')) actions.hidden = true;
    document.body.dataset.readOnly = 'true';
    const locked = $('logs-locked');
    locked.hidden = false;
    if (why)
      locked.textContent = `Log lines and actions need the token of the dashboard URL msup printed at start: ${why}.`;
  }

  function init() {
    const mode = $('mode');
    if (token) {
      mode.textContent = 'control';
      mode.dataset.mode = 'control';
      const stop = $('stop-all');
      stop.hidden = false;
      stop.addEventListener('click', () => {
        if (confirm('Stop msup and every service it runs?')) act('stop', {});
      });
    } else {
      readOnly();
    }
    $('log-filter').addEventListener('change', redrawLogs);
    $('log-follow').addEventListener('change', follow);
    connect();
  }

  init();
})();
