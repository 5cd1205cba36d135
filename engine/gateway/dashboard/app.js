/*
 * Aether risk dashboard: one WebSocket to the gateway (/v1/stream, JSON), no framework, no
 * build step. Market risk per instrument, the account's trading state and risk, recent
 * trading-state events and a chart of mid and spread for the selected instrument.
 *
 * Messages only update plain state; the DOM is written at most once per animation frame, and
 * only the cells whose text changed. A one-second tick ages rows, so a row that stops
 * updating turns stale by itself, and everything turns stale while the socket is down.
 *
 * URL parameters (query or hash): access_token (passed on to the gateway), account (the
 * account shown first), symbol (the instrument charted first), staleAfter (seconds without an
 * update before a LIVE row is marked stale, default 10), maxRateHz (per-instrument update rate
 * asked of the gateway, default 4).
 */
(function () {
  'use strict';

  // ------------------------------------------------------------------ settings

  const params = readParams();
  const TOKEN = params.get('access_token');
  const STALE_AFTER_MS = positive(params.get('staleAfter'), 10) * 1000;
  const RISK_RATE_HZ = positive(params.get('maxRateHz'), 4);
  /** Portfolio updates arrive about once a second; this long without one dims the badge. */
  const ACCOUNT_STALE_MS = 5000;
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const PING_EVERY_MS = 10000;
  /** No message at all for this long means the connection is dead even if TCP says otherwise. */
  const SILENCE_MS = 25000;
  /** A handshake that has not completed by then is abandoned (a black-holed network never refuses). */
  const CONNECT_TIMEOUT_MS = 10000;
  /** Chart history per instrument (a ring), and the time window drawn. */
  const HISTORY = 1500;
  const CHART_WINDOW_MS = 5 * 60 * 1000;
  const MAX_EVENTS = 50;

  function readParams() {
    const p = new URLSearchParams(location.search);
    const h = new URLSearchParams(location.hash.replace(/^#/, ''));
    h.forEach((v, k) => {
      if (!p.has(k)) p.set(k, v);
    });
    return p;
  }

  function positive(text, fallback) {
    const n = Number(text);
    return text !== null && Number.isFinite(n) && n > 0 ? n : fallback;
  }

  // ------------------------------------------------------------------ elements

  const $ = (id) => document.getElementById(id);
  const el = {
    simBanner: $('sim-banner'),
    connBanner: $('conn-banner'),
    env: $('env'),
    conn: $('conn'),
    clock: $('clock'),
    instrBody: $('instr-body'),
    instrCount: $('instr-count'),
    chart: $('chart'),
    chartSymbol: $('chart-symbol'),
    accountSelect: $('account-select'),
    accountName: $('account-name'),
    stateBadge: $('state-badge'),
    stateReason: $('state-reason'),
    limits: $('limits'),
    posBody: $('pos-body'),
    events: $('events'),
    f: {
      equity: $('f-equity'),
      realized: $('f-realized'),
      unrealized: $('f-unrealized'),
      daily: $('f-daily'),
      drawdown: $('f-drawdown'),
      gross: $('f-gross'),
      net: $('f-net'),
      var: $('f-var'),
      varLabel: $('f-var-label'),
    },
  };

  // ------------------------------------------------------------------ state

  /** symbol → Row */
  const rows = new Map();
  /** account → { risk, recvAt, stale } */
  const accounts = new Map();
  const seenEvents = new Set();
  let selectedSymbol = params.get('symbol');
  let selectedAccount = params.get('account');

  let ws = null;
  let connected = false;
  let attempt = 0;
  let retryAt = 0;
  let retryTimer = null;
  let lastMessageAt = 0;
  let connectStartedAt = 0;
  let lastDataAt = 0;
  let pingId = 0;
  let helloSimulated = false;
  let dataSimulated = false;
  let lastError = '';

  let renderQueued = false;
  let tableDirty = false;
  let accountDirty = false;
  let chartDirty = false;

  // ------------------------------------------------------------------ connection

  function streamUrl() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = `${scheme}//${location.host}/v1/stream`;
    if (TOKEN) url += `?access_token=${encodeURIComponent(TOKEN)}`;
    return url;
  }

  function connect() {
    retryTimer = null;
    setConn('connecting');
    let sock;
    try {
      sock = new WebSocket(streamUrl());
    } catch (err) {
      lastError = String(err && err.message ? err.message : err);
      scheduleReconnect();
      return;
    }
    ws = sock;
    connectStartedAt = performance.now();
    let opened = false;
    sock.onopen = () => {
      if (ws !== sock) return;
      opened = true;
      lastMessageAt = performance.now();
      send({ op: 'subscribe', id: 'risk', channels: ['risk.*'], maxRateHz: RISK_RATE_HZ });
      send({ op: 'subscribe', id: 'instruments', channels: ['instruments'] });
      send({ op: 'subscribe', id: 'account', channels: ['portfolio.*', 'events'] });
    };
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      lastMessageAt = performance.now();
      if (typeof ev.data === 'string') onMessage(ev.data);
    };
    // 'error' is always followed by 'close', where the reconnect is scheduled.
    sock.onerror = () => undefined;
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      const wasConnected = connected;
      connected = false;
      // Failed reconnection attempts keep the reason the connection was lost for.
      const why = CLOSE_REASONS[ev.code] || ev.reason;
      if (why) lastError = why;
      else if (wasConnected || !lastError) lastError = wasConnected ? 'connection lost' : 'cannot reach the gateway';
      scheduleReconnect();
      markAllDirty();
      // A refused upgrade is an HTTP status the WebSocket API hides (it only says 1006): ask
      // the REST side with the same token to tell a bad token from a gateway that is down.
      if (!opened) diagnose();
    };
  }

  const CLOSE_REASONS = {
    1001: 'the gateway is shutting down',
    4001: 'closed as a slow consumer (this screen could not keep up)',
    4008: 'closed for sending too many messages',
    4010: 'closed as idle',
    4401: 'the access token was revoked',
  };
  const HTTP_REASONS = {
    401: 'the gateway refused the access token (add ?access_token=… to the page address)',
    403: 'the gateway refused this page\'s origin',
    429: 'too many connections from this address',
    503: 'the gateway is full',
  };

  let diagnosing = false;
  function diagnose() {
    if (diagnosing) return;
    diagnosing = true;
    const headers = TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {};
    fetch('/v1/instruments', { headers, cache: 'no-store' })
      .then((res) => {
        if (HTTP_REASONS[res.status] && !connected) {
          lastError = HTTP_REASONS[res.status];
          renderConnBanner();
        }
      })
      .catch(() => undefined)
      .finally(() => {
        diagnosing = false;
      });
  }

  /**
   * Give up on the current socket now: on a dead network its close handshake could take long,
   * so its own close event is ignored (it no longer is `ws`) and the reconnect starts at once.
   */
  function abandon(why) {
    const sock = ws;
    ws = null;
    connected = false;
    lastError = why;
    try {
      sock.close();
    } catch {
      // already closing
    }
    scheduleReconnect();
    markAllDirty();
  }

  function send(msg) {
    if (ws !== null && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  function scheduleReconnect() {
    // Capped exponential backoff with jitter: a restarting gateway is not stampeded by screens.
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    attempt++;
    retryAt = Date.now() + delay;
    setConn('closed');
    retryTimer = setTimeout(connect, delay);
  }

  function setConn(state) {
    el.conn.dataset.state = state;
    el.conn.className = `conn conn-${state}`;
    const text = state === 'open' ? 'CONNECTED' : state === 'connecting' ? 'CONNECTING' : 'DISCONNECTED';
    if (el.conn.textContent !== text) el.conn.textContent = text;
    renderConnBanner();
  }

  function renderConnBanner() {
    if (connected) {
      el.connBanner.hidden = true;
      return;
    }
    if (el.conn.dataset.state === 'connecting' && attempt === 0) {
      el.connBanner.hidden = true; // first connection: the header says CONNECTING
      return;
    }
    const secs = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    const when = el.conn.dataset.state === 'connecting' ? 'reconnecting now' : `reconnecting in ${secs} s`;
    const last = lastDataAt > 0 ? ` · last data ${new Date(lastDataAt).toLocaleTimeString('en-GB')}` : '';
    const why = lastError ? ` · ${lastError}` : '';
    el.connBanner.textContent = `DISCONNECTED FROM THE RISK ENGINE — figures below are not live · ${when}${last}${why}`;
    el.connBanner.hidden = false;
  }

  // ------------------------------------------------------------------ messages

  function onMessage(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (m === null || typeof m !== 'object') return;
    switch (m.type) {
      case 'hello':
        connected = true;
        attempt = 0;
        lastError = '';
        helloSimulated = m.simulated === true;
        dataSimulated = false;
        el.env.textContent = typeof m.env === 'string' ? m.env : '';
        renderSimBanner();
        setConn('open');
        markAllDirty();
        return;
      case 'snapshot':
      case 'update':
        onData(m);
        return;
      case 'error':
        // A refused subscription or request: shown, not thrown (the page keeps running).
        console.warn('gateway error', m.code, m.reason);
        if (m.id === 'account' && accounts.size === 0) el.stateReason.textContent = `account data unavailable: ${m.reason || m.code}`;
        return;
      default:
        return; // subscribed, unsubscribed, pong, and anything added later
    }
  }

  function onData(m) {
    const channel = typeof m.channel === 'string' ? m.channel : '';
    const items = Array.isArray(m.data) ? m.data : [m.data];
    const stale = m.stale === true;
    if (m.simulated === true && !dataSimulated) {
      dataSimulated = true;
      renderSimBanner();
    }
    lastDataAt = Date.now();
    if (channel.startsWith('risk.')) {
      for (const r of items) if (r && typeof r.symbol === 'string') onRisk(r, stale);
    } else if (channel.startsWith('portfolio.')) {
      for (const a of items) if (a && typeof a.account === 'string') onPortfolio(a, stale);
    } else if (channel === 'instruments') {
      for (const i of items) if (i && typeof i.symbol === 'string') onInstrument(i);
    } else if (channel === 'events') {
      for (const e of items) if (e && typeof e.account === 'string') onEvent(e, m.type === 'snapshot');
    }
  }

  function renderSimBanner() {
    el.simBanner.hidden = !(helloSimulated || dataSimulated);
  }

  // ------------------------------------------------------------------ instruments

  function onRisk(r, stale) {
    let row = rows.get(r.symbol);
    if (row === undefined) row = addRow(r.symbol);
    const prevMid = row.rec === null ? null : row.rec.mid;
    if (r.mid !== null && prevMid !== null && r.mid !== prevMid) row.dir = r.mid > prevMid ? 1 : -1;
    row.rec = r;
    row.msgStale = stale;
    row.recvAt = Date.now();
    row.dirty = true;
    pushHistory(row, row.recvAt, r.health === 'LIVE' && !stale ? r.mid : null, r.health === 'LIVE' && !stale ? r.spreadBps : null);
    if (selectedSymbol === null) selectedSymbol = r.symbol;
    if (r.symbol === selectedSymbol) chartDirty = true;
    tableDirty = true;
    queueRender();
  }

  /**
   * The instrument list: rows for instruments that have no risk record yet (still syncing,
   * refused by the venue), and the reason a book is not live, shown on its row.
   */
  function onInstrument(info) {
    let row = rows.get(info.symbol);
    if (row === undefined) row = addRow(info.symbol);
    row.reason = typeof info.reason === 'string' ? info.reason : null;
    if (row.rec === null) {
      // No record yet: never shown as LIVE, whatever the list says.
      const health = typeof info.health === 'string' && info.health !== 'LIVE' ? info.health : 'SYNCING';
      row.rec = { symbol: info.symbol, health, quiet: false, mid: null, spreadBps: null, volAnnual: null, bidDepth10bps: null, askDepth10bps: null, bidDepth50bps: null, askDepth50bps: null, imbalance: null };
      row.recvAt = Date.now();
    }
    row.dirty = true;
    tableDirty = true;
    queueRender();
  }

  function addRow(symbol) {
    const tr = document.createElement('tr');
    tr.dataset.symbol = symbol;
    tr.tabIndex = 0;
    tr.setAttribute('aria-current', 'false');
    const cell = (cls) => {
      const td = document.createElement('td');
      td.className = cls;
      tr.appendChild(td);
      return td;
    };
    const symCell = document.createElement('th');
    symCell.scope = 'row';
    symCell.className = 'l sym';
    symCell.textContent = symbol;
    tr.appendChild(symCell);
    const row = {
      symbol,
      tr,
      health: cell('l health'),
      mid: cell('mid'),
      spread: cell('spread'),
      vol: cell('vol'),
      depth10: cell('depth10'),
      depth50: cell('depth50'),
      imb: cell('imb-cell'),
      age: cell('age'),
      badge: document.createElement('span'),
      imbText: document.createElement('span'),
      imbFill: document.createElement('span'),
      rec: null,
      reason: null,
      msgStale: false,
      recvAt: 0,
      dir: 0,
      dirty: true,
      shown: Object.create(null),
      hist: { t: new Float64Array(HISTORY), mid: new Float64Array(HISTORY), spread: new Float64Array(HISTORY), head: 0, n: 0 },
    };
    row.badge.className = 'badge';
    row.health.appendChild(row.badge);
    const wrap = document.createElement('span');
    wrap.className = 'imb';
    const bar = document.createElement('span');
    bar.className = 'imb-bar';
    bar.setAttribute('aria-hidden', 'true');
    bar.appendChild(row.imbFill);
    wrap.appendChild(row.imbText);
    wrap.appendChild(bar);
    row.imb.appendChild(wrap);
    tr.addEventListener('click', () => select(symbol));
    tr.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        select(symbol);
      }
    });
    // Keep rows in symbol order.
    const placeholder = el.instrBody.querySelector('tr.placeholder');
    if (placeholder) placeholder.remove();
    let before = null;
    for (const other of el.instrBody.children) {
      if (other.dataset.symbol > symbol) {
        before = other;
        break;
      }
    }
    el.instrBody.insertBefore(tr, before);
    rows.set(symbol, row);
    el.instrCount.textContent = `(${rows.size})`;
    return row;
  }

  function select(symbol) {
    selectedSymbol = symbol;
    for (const row of rows.values()) row.tr.setAttribute('aria-current', row.symbol === symbol ? 'true' : 'false');
    chartDirty = true;
    queueRender();
  }

  function pushHistory(row, t, mid, spread) {
    const h = row.hist;
    h.t[h.head] = t;
    h.mid[h.head] = mid === null || mid === undefined ? NaN : mid;
    h.spread[h.head] = spread === null || spread === undefined ? NaN : spread;
    h.head = (h.head + 1) % HISTORY;
    if (h.n < HISTORY) h.n++;
  }

  /** Why the row must not be read as current, or null when it is live. */
  function staleReason(row, now) {
    if (!connected) return 'DISCONNECTED';
    const r = row.rec;
    if (r.health !== 'LIVE') return r.health; // SYNCING, RESYNCING, STALE, HALTED, REJECTED
    if (row.msgStale) return 'STALE';
    if (now - row.recvAt > STALE_AFTER_MS) return 'NO UPDATES';
    return null;
  }

  const BAD = new Set(['STALE', 'HALTED', 'REJECTED', 'DISCONNECTED']);

  function renderRow(row, now) {
    const r = row.rec;
    const reason = staleReason(row, now);
    const stale = reason !== null;
    const badgeText = reason !== null ? reason : r.quiet ? 'QUIET' : 'LIVE';
    const badgeClass = reason === null ? (r.quiet ? 'badge badge-quiet' : 'badge badge-live') : BAD.has(reason) ? 'badge badge-bad' : 'badge badge-warn';
    setText(row, 'badge', row.badge, badgeText);
    if (row.badge.className !== badgeClass) row.badge.className = badgeClass;
    if (row.tr.dataset.health !== r.health) row.tr.dataset.health = r.health;
    const staleAttr = stale ? 'true' : 'false';
    if (row.tr.dataset.stale !== staleAttr) {
      row.tr.dataset.stale = staleAttr;
      row.tr.classList.toggle('stale', stale);
    }
    const title = stale ? `${row.symbol}: ${reason} — not live${row.reason ? ` (${row.reason})` : ''}` : '';
    if (row.tr.title !== title) row.tr.title = title;
    if (row.dirty) {
      row.dirty = false;
      setText(row, 'mid', row.mid, fmtPrice(r.mid));
      const midClass = `mid${row.dir > 0 ? ' up' : row.dir < 0 ? ' down' : ''}`;
      if (row.mid.className !== midClass) row.mid.className = midClass;
      setText(row, 'spread', row.spread, fmtFixed(r.spreadBps, 2));
      setText(row, 'vol', row.vol, r.volAnnual === null || r.volAnnual === undefined ? '–' : `${(r.volAnnual * 100).toFixed(1)}%`);
      setText(row, 'depth10', row.depth10, `${fmtCompact(r.bidDepth10bps)} / ${fmtCompact(r.askDepth10bps)}`);
      setText(row, 'depth50', row.depth50, `${fmtCompact(r.bidDepth50bps)} / ${fmtCompact(r.askDepth50bps)}`);
      const imb = r.imbalance;
      setText(row, 'imb', row.imbText, imb === null || imb === undefined ? '–' : (imb > 0 ? '+' : '') + imb.toFixed(2));
      const w = imb === null || imb === undefined ? 0 : Math.min(1, Math.abs(imb)) * 50;
      const fillClass = imb !== null && imb !== undefined && imb < 0 ? 'imb-fill ask' : 'imb-fill bid';
      if (row.imbFill.className !== fillClass) row.imbFill.className = fillClass;
      row.imbFill.style.width = `${w.toFixed(1)}%`;
    }
    setText(row, 'age', row.age, fmtAge(now - row.recvAt));
  }

  /** Write text only when it changed (no layout work for unchanged cells). */
  function setText(row, key, node, text) {
    if (row.shown[key] !== text) {
      row.shown[key] = text;
      node.textContent = text;
    }
  }

  // ------------------------------------------------------------------ account

  function onPortfolio(a, stale) {
    accounts.set(a.account, { risk: a, recvAt: Date.now(), stale });
    if (selectedAccount === null) selectedAccount = a.account;
    if (![...el.accountSelect.options].some((o) => o.value === a.account)) {
      const opt = document.createElement('option');
      opt.value = a.account;
      opt.textContent = a.account;
      const opts = [...el.accountSelect.options];
      const before = opts.find((o) => o.value > a.account) || null;
      el.accountSelect.insertBefore(opt, before);
      el.accountSelect.value = selectedAccount;
      el.accountSelect.hidden = accounts.size < 2;
    }
    if (a.account === selectedAccount) {
      accountDirty = true;
      queueRender();
    }
  }

  el.accountSelect.addEventListener('change', () => {
    selectedAccount = el.accountSelect.value;
    accountDirty = true;
    queueRender();
  });

  const LIMIT_NAMES = {
    maxGrossExposure: 'Gross exposure',
    maxNetExposure: 'Net exposure',
    maxPortfolioVar: 'Portfolio VaR',
    maxDailyLoss: 'Daily loss',
    maxDrawdown: 'Drawdown',
  };

  let shownState = '';
  let shownLimits = null;

  function renderAccount(now) {
    const entry = selectedAccount === null ? undefined : accounts.get(selectedAccount);
    if (entry === undefined) return;
    const a = entry.risk;
    el.accountName.textContent = accounts.size < 2 ? a.account : '';
    const state = typeof a.state === 'string' ? a.state : 'UNKNOWN';
    const age = now - entry.recvAt;
    const stale = !connected || entry.stale || age > ACCOUNT_STALE_MS;
    // The badge text changes only on a transition, so screen readers announce transitions only.
    if (shownState !== state) {
      shownState = state;
      el.stateBadge.textContent = state;
      el.stateBadge.dataset.state = state;
    }
    const badgeClass = `state-badge state-${/^[A-Z_]+$/.test(state) ? state : 'unknown'}${stale ? ' state-stale' : ''}`;
    if (el.stateBadge.className !== badgeClass) el.stateBadge.className = badgeClass;
    el.stateBadge.dataset.stale = stale ? 'true' : 'false';
    el.stateBadge.parentElement.classList.toggle('not-live', stale);
    const reason = a.stateReason ? a.stateReason : state === 'ACTIVE' ? 'trading normally' : '';
    const staleNote = stale ? ` · NOT LIVE: last update ${fmtAge(age)} ago` : '';
    el.stateReason.textContent = reason + staleNote;

    money(el.f.equity, a.equity);
    money(el.f.realized, a.realizedPnl);
    money(el.f.unrealized, a.unrealizedPnl);
    money(el.f.daily, a.dailyPnl);
    el.f.drawdown.textContent = fmtMoney(a.drawdown);
    el.f.gross.textContent = fmtMoney(a.grossExposure);
    money(el.f.net, a.netExposure);
    el.f.var.textContent = `${fmtMoney(a.var95)} / ${fmtMoney(a.var99)}`;
    el.f.varLabel.textContent = typeof a.varHorizonSec === 'number' ? `VaR 95/99 · ${fmtHorizon(a.varHorizonSec)}` : 'VaR 95 / 99';

    // Limit use: rebuilt only when a percentage changes.
    const use = a.limitUse && typeof a.limitUse === 'object' ? a.limitUse : {};
    const keys = Object.keys(use).filter((k) => typeof use[k] === 'number');
    const sig = keys.map((k) => `${k}:${use[k].toFixed(3)}`).join(',');
    if (sig !== shownLimits) {
      shownLimits = sig;
      el.limits.replaceChildren();
      if (keys.length === 0) {
        const li = document.createElement('li');
        li.className = 'none';
        li.textContent = 'No account limits configured';
        el.limits.appendChild(li);
      }
      for (const k of keys) {
        const v = use[k];
        const li = document.createElement('li');
        const name = document.createElement('span');
        name.className = 'name';
        name.textContent = LIMIT_NAMES[k] || k;
        const meter = document.createElement('span');
        meter.className = 'meter';
        meter.setAttribute('role', 'meter');
        meter.setAttribute('aria-label', `${LIMIT_NAMES[k] || k} limit use`);
        meter.setAttribute('aria-valuemin', '0');
        meter.setAttribute('aria-valuemax', '100');
        meter.setAttribute('aria-valuenow', String(Math.round(v * 100)));
        const fill = document.createElement('span');
        fill.style.width = `${Math.min(100, Math.max(0, v * 100)).toFixed(1)}%`;
        if (v >= 1) fill.className = 'over';
        else if (v >= 0.8) fill.className = 'warn';
        meter.appendChild(fill);
        const pct = document.createElement('span');
        pct.className = 'pct';
        pct.textContent = `${(v * 100).toFixed(0)}%`;
        li.append(name, meter, pct);
        el.limits.appendChild(li);
      }
    }

    const positions = Array.isArray(a.positions) ? a.positions : [];
    el.posBody.replaceChildren();
    if (positions.length === 0) {
      const tr = document.createElement('tr');
      tr.className = 'placeholder';
      const td = document.createElement('td');
      td.colSpan = 7;
      td.textContent = 'No positions';
      tr.appendChild(td);
      el.posBody.appendChild(tr);
    }
    for (const p of positions) {
      const tr = document.createElement('tr');
      tr.dataset.symbol = p.symbol;
      const add = (text, cls) => {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls) td.className = cls;
        tr.appendChild(td);
        return td;
      };
      const th = document.createElement('th');
      th.scope = 'row';
      th.className = 'l';
      th.textContent = p.symbol;
      tr.appendChild(th);
      add(fmtQty(p.qty), p.qty < 0 ? 'neg' : '');
      add(fmtPrice(p.avgEntry));
      add(fmtMoney(p.notional));
      add(fmtMoney(p.unrealizedPnlMid), signClass(p.unrealizedPnlMid));
      add(fmtMoney(p.var99));
      add(p.health || '–', 'l' + (p.health && p.health !== 'LIVE' ? ' neg' : ''));
      el.posBody.appendChild(tr);
    }
  }

  function money(node, v) {
    node.textContent = fmtMoney(v);
    node.className = signClass(v);
  }

  function signClass(v) {
    return typeof v === 'number' && v < 0 ? 'neg' : '';
  }

  // ------------------------------------------------------------------ events

  function onEvent(e, fromSnapshot) {
    const key = e.eventId || `${e.account}|${e.timeUs}|${e.to}`;
    if (seenEvents.has(key)) return;
    seenEvents.add(key);
    const placeholder = el.events.querySelector('li.placeholder');
    if (placeholder) placeholder.remove();
    const li = document.createElement('li');
    li.dataset.account = e.account;
    li.dataset.to = e.to;
    const time = document.createElement('time');
    const d = new Date(typeof e.timeUs === 'number' ? e.timeUs / 1000 : Date.now());
    time.dateTime = d.toISOString();
    time.textContent = d.toLocaleTimeString('en-GB');
    const acct = document.createElement('span');
    acct.className = 'acct';
    acct.textContent = e.account;
    const change = document.createElement('span');
    change.textContent = `${e.from} → `;
    const to = document.createElement('span');
    to.className = `to-${e.to}`;
    to.textContent = e.to;
    const reason = document.createElement('span');
    reason.className = 'reason';
    reason.textContent = e.manual ? e.reason || 'manual' : `automatic · ${e.reason || ''}`;
    li.append(time, acct, change, to, reason);
    // Newest first; a snapshot's history arrives oldest first, so it is placed by time.
    let before = el.events.firstChild;
    if (fromSnapshot) {
      before = null;
      for (const other of el.events.children) {
        if (Number(other.dataset.t) < (e.timeUs || 0)) {
          before = other;
          break;
        }
      }
    }
    li.dataset.t = String(e.timeUs || 0);
    el.events.insertBefore(li, before);
    while (el.events.children.length > MAX_EVENTS) el.events.lastChild.remove();
    if (seenEvents.size > MAX_EVENTS * 20) seenEvents.clear();
  }

  // ------------------------------------------------------------------ chart

  function drawChart() {
    const canvas = el.chart;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (w === 0 || h === 0) return;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const row = selectedSymbol === null ? undefined : rows.get(selectedSymbol);
    el.chartSymbol.textContent = row === undefined ? '— select an instrument' : `— ${row.symbol}`;
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = '#8b949e';
    if (row === undefined || row.hist.n === 0) {
      ctx.fillText('No data yet', 12, 20);
      return;
    }
    const hist = row.hist;
    const now = Date.now();
    const start = (hist.head - hist.n + HISTORY) % HISTORY;
    // The window grows with the history (at least 30 s) up to CHART_WINDOW_MS, so a page that
    // has just opened does not squeeze its first seconds into the right edge.
    const span = Math.min(CHART_WINDOW_MS, Math.max(30000, now - hist.t[start]));
    const t0 = now - span;
    const padL = 8;
    const padR = 86;
    const midTop = 8;
    const midH = Math.round(h * 0.62);
    const spTop = midTop + midH + 18;
    const spH = h - spTop - 16;
    const plotW = w - padL - padR;

    let mMin = Infinity;
    let mMax = -Infinity;
    let sMax = 0;
    for (let i = 0; i < hist.n; i++) {
      const k = (start + i) % HISTORY;
      if (hist.t[k] < t0) continue;
      const m = hist.mid[k];
      if (!Number.isNaN(m)) {
        if (m < mMin) mMin = m;
        if (m > mMax) mMax = m;
      }
      const s = hist.spread[k];
      if (!Number.isNaN(s) && s > sMax) sMax = s;
    }
    // Grid
    ctx.strokeStyle = '#30363d';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let i = 0; i <= 4; i++) {
      const y = Math.round(midTop + (midH * i) / 4) + 0.5;
      ctx.moveTo(padL, y);
      ctx.lineTo(padL + plotW, y);
    }
    ctx.moveTo(padL, spTop + spH + 0.5);
    ctx.lineTo(padL + plotW, spTop + spH + 0.5);
    ctx.stroke();
    ctx.fillText(`−${span >= 120000 ? `${Math.round(span / 60000)} min` : `${Math.round(span / 1000)} s`}`, padL, h - 3);
    ctx.fillText('now', padL + plotW - 20, h - 3);
    if (mMin === Infinity) {
      ctx.fillText('No live prices in this window', padL + 4, midTop + 16);
      return;
    }
    if (mMax === mMin) {
      const pad = Math.abs(mMin) * 1e-5 || 1e-9;
      mMin -= pad;
      mMax += pad;
    }
    const x = (t) => padL + ((t - t0) / span) * plotW;
    const yMid = (v) => midTop + (1 - (v - mMin) / (mMax - mMin)) * midH;
    const ySp = (v) => spTop + spH - (sMax > 0 ? (v / sMax) * spH : 0);

    line(ctx, hist, start, t0, hist.mid, x, yMid, '#58a6ff');
    line(ctx, hist, start, t0, hist.spread, x, ySp, '#d2a8ff');

    ctx.fillStyle = '#8b949e';
    ctx.fillText(fmtPrice(mMax), padL + plotW + 6, midTop + 8);
    const lastK = (hist.head - 1 + HISTORY) % HISTORY;
    const lastMid = hist.mid[lastK];
    const lastY = Number.isNaN(lastMid) ? NaN : Math.min(midTop + midH - 12, Math.max(midTop + 22, yMid(lastMid) + 4));
    if (Number.isNaN(lastY) || midTop + midH - lastY > 12) ctx.fillText(fmtPrice(mMin), padL + plotW + 6, midTop + midH);
    ctx.fillText(`${sMax.toFixed(2)} bps`, padL + plotW + 6, spTop + 8);
    ctx.fillText('0 bps', padL + plotW + 6, spTop + spH);
    if (!Number.isNaN(lastY)) {
      ctx.fillStyle = '#58a6ff';
      ctx.fillText(fmtPrice(lastMid), padL + plotW + 6, lastY);
    }
  }

  /** A polyline over the window; a NaN (book not live) breaks the line instead of bridging it. */
  function line(ctx, hist, start, t0, values, x, y, colour) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < hist.n; i++) {
      const k = (start + i) % HISTORY;
      const t = hist.t[k];
      if (t < t0) continue;
      const v = values[k];
      if (Number.isNaN(v)) {
        pen = false;
        continue;
      }
      if (pen) ctx.lineTo(x(t), y(v));
      else ctx.moveTo(x(t), y(v));
      pen = true;
    }
    ctx.stroke();
  }

  // ------------------------------------------------------------------ rendering

  function markAllDirty() {
    tableDirty = true;
    accountDirty = true;
    chartDirty = true;
    queueRender();
  }

  function queueRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(render);
  }

  function render() {
    renderQueued = false;
    const now = Date.now();
    if (tableDirty) {
      tableDirty = false;
      for (const row of rows.values()) {
        if (row.rec !== null) renderRow(row, now);
        const sel = row.symbol === selectedSymbol ? 'true' : 'false';
        if (row.tr.getAttribute('aria-current') !== sel) row.tr.setAttribute('aria-current', sel);
      }
    }
    if (accountDirty) {
      accountDirty = false;
      renderAccount(now);
    }
    if (chartDirty) {
      chartDirty = false;
      drawChart();
    }
  }

  // Once a second: ages, staleness by silence, the clock, the reconnect countdown, the chart's
  // sliding window, and the liveness ping.
  let lastPing = 0;
  setInterval(() => {
    const now = Date.now();
    el.clock.textContent = new Date(now).toLocaleTimeString('en-GB');
    renderConnBanner();
    if (ws !== null && ws.readyState === WebSocket.CONNECTING && performance.now() - connectStartedAt > CONNECT_TIMEOUT_MS) {
      abandon(`no answer from the gateway within ${CONNECT_TIMEOUT_MS / 1000} s`);
    } else if (ws !== null && ws.readyState === WebSocket.OPEN) {
      const p = performance.now();
      if (p - lastMessageAt > SILENCE_MS) {
        abandon(`no message for ${Math.round(SILENCE_MS / 1000)} s`);
      } else if (p - lastPing > PING_EVERY_MS) {
        lastPing = p;
        send({ op: 'ping', id: ++pingId });
      }
    }
    markAllDirty();
  }, 1000);

  window.addEventListener('resize', () => {
    chartDirty = true;
    queueRender();
  });

  // ------------------------------------------------------------------ formatting

  function fmtPrice(v) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
    // Prices arrive as the nearest double to the exact decimal and print back exactly.
    let s = String(v);
    if (s.includes('e') || s.length > 16) s = v.toPrecision(10);
    const neg = s.startsWith('-');
    if (neg) s = s.slice(1);
    const dot = s.indexOf('.');
    const int = dot < 0 ? s : s.slice(0, dot);
    const frac = dot < 0 ? '' : s.slice(dot);
    return (neg ? '-' : '') + int.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + frac;
  }

  function fmtQty(v) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
    return String(Number(v.toPrecision(12)));
  }

  function fmtFixed(v, digits) {
    return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–';
  }

  const moneyFormat = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function fmtMoney(v) {
    return typeof v === 'number' && Number.isFinite(v) ? moneyFormat.format(v) : '–';
  }

  function fmtCompact(v) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
    const a = Math.abs(v);
    if (a >= 1e9) return `${(v / 1e9).toFixed(2)}B`;
    if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
    if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
    return v.toFixed(0);
  }

  function fmtAge(ms) {
    if (ms < 0) ms = 0;
    if (ms < 10000) return `${(ms / 1000).toFixed(1)} s`;
    if (ms < 120000) return `${Math.round(ms / 1000)} s`;
    if (ms < 7200000) return `${Math.round(ms / 60000)} min`;
    return `${Math.round(ms / 3600000)} h`;
  }

  function fmtHorizon(sec) {
    if (sec % 86400 === 0) return `${sec / 86400} d`;
    if (sec % 3600 === 0) return `${sec / 3600} h`;
    if (sec % 60 === 0) return `${sec / 60} min`;
    return `${sec} s`;
  }

  // ------------------------------------------------------------------ start

  el.clock.textContent = new Date().toLocaleTimeString('en-GB');
  connect();
})();
