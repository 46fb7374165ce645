// The control plane's dashboard: signs in with an API token, reads the REST API (gRPC JSON
// transcoding, same roles as gRPC) every two seconds and draws the result. Every value from the
// API reaches the page as a text node or an attribute value, never as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'lb.dashboard.token';
  const REFRESH_MS = 2000;
  const EVENTS_SHOWN = 50;
  const CHANGES_SHOWN = 20;
  const BACKEND_STATES = [
    { verb: 'Drain', state: 'draining', css: 'drain' },
    { verb: 'Enable', state: 'enabled', css: 'enable' },
    { verb: 'Disable', state: 'disabled', css: 'disable' },
  ];

  const $ = (id) => document.getElementById(id);

  let session = null;        // { token, role, id }
  let generation = 0;        // bumped at sign-in and sign-out: late answers of an old session are dropped
  let timer = 0;
  let running = false;
  let again = false;
  const pending = new Set(); // backends with a state change in progress
  let rollback = null;       // { to, changes, warnings, busy } while a rollback waits for confirmation
  const drawn = new Map();   // section id -> what it last drew, to skip identical redraws

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // ------------------------------------------------------------------ API

  async function api(token, method, path, body) {
    const headers = { Authorization: 'Bearer ' + token, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiError(0, 'the control plane did not answer (' + error.message + ')');
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const message = data && typeof data.message === 'string' && data.message
        ? data.message
        : 'HTTP ' + response.status + ' ' + response.statusText;
      throw new ApiError(response.status, message);
    }
    return data || {};
  }

  const get = (path) => api(session.token, 'GET', path);

  // ------------------------------------------------------------------ DOM helpers (text only)

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) {
        continue;
      }
      if (key === 'class') {
        node.className = value;
      } else if (key === 'data') {
        for (const [name, v] of Object.entries(value)) {
          node.dataset[name] = String(v);
        }
      } else if (key === 'onclick') {
        node.addEventListener('click', value);
      } else {
        node.setAttribute(key, value === true ? '' : String(value));
      }
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) {
        continue;
      }
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  const badge = (text, kind, title) => el('span', { class: 'badge ' + (kind || ''), title }, text);

  function table(headings, rows, attributes) {
    return el('table', attributes,
      el('thead', null, el('tr', null, headings.map((h) => el('th', { class: h.num ? 'num' : null, scope: 'col' }, h.text ?? h)))),
      el('tbody', null, rows));
  }

  function card(title, facts, body, attributes) {
    return el('div', Object.assign({ class: 'card' }, attributes),
      el('div', { class: 'card-head' }, el('h3', null, title), facts.length ? el('span', { class: 'facts' }, facts) : null),
      body);
  }

  const empty = (text) => el('p', { class: 'empty' }, text);

  // Redraws a section only when what it shows changed (hover and focus survive the refresh).
  function draw(id, data, render) {
    const key = JSON.stringify([data, session && session.role, [...pending]]);
    if (drawn.get(id) === key) {
      return;
    }
    drawn.set(id, key);
    $(id).replaceChildren(...[render(data)].flat());
  }

  // ------------------------------------------------------------------ values

  const num = (value) => Number(value || 0); // int64 arrives as a string, defaults may be absent

  function ago(timestamp) {
    if (!timestamp) {
      return 'never';
    }
    const seconds = Math.round((Date.now() - Date.parse(timestamp)) / 1000);
    if (seconds < 2) {
      return 'just now';
    }
    if (seconds < 120) {
      return seconds + 's ago';
    }
    if (seconds < 7200) {
      return Math.round(seconds / 60) + 'm ago';
    }
    if (seconds < 172800) {
      return Math.round(seconds / 3600) + 'h ago';
    }
    return Math.round(seconds / 86400) + 'd ago';
  }

  const condition = (status, type) => ((status && status.conditions) || []).find((c) => c.type === type);

  const stateKind = (state) => ({ enabled: 'ok', draining: 'warn', disabled: 'error' })[state] || 'muted';
  const healthKind = (health) => ({ healthy: 'ok', unhealthy: 'error', mixed: 'warn' })[health] || 'muted';

  // ------------------------------------------------------------------ sections

  function renderTiers({ status, agents }) {
    const tiers = new Map();
    for (const tier of status.tiers || []) {
      tiers.set(tier.tier, { tier, agents: [] });
    }
    for (const agent of agents) {
      const name = (agent.spec && agent.spec.tier) || '(none)';
      if (!tiers.has(name)) {
        tiers.set(name, { tier: { tier: name }, agents: [] });
      }
      tiers.get(name).agents.push(agent);
    }
    if (tiers.size === 0) {
      return empty('No tier has listeners or agents yet.');
    }
    return [...tiers.values()].sort((a, b) => a.tier.tier.localeCompare(b.tier.tier)).map(({ tier, agents: members }) => {
      const revision = num(tier.revision);
      const facts = [
        revision ? 'revision ' + revision : 'nothing published',
        ' · ' + num(tier.agentsConnected) + '/' + num(tier.agentsTotal) + ' connected',
        ' · ' + num(tier.agentsInSync) + ' in sync',
        ' · ' + num(tier.listeners) + ' listeners',
      ];
      const rows = members.map((agent) => {
        const s = agent.status || {};
        const applied = num(s.appliedRevision);
        const inSync = tier.snapshotHash ? s.appliedHash === tier.snapshotHash : applied >= revision;
        return el('tr', { data: { agent: agent.metadata.name } },
          el('td', null, agent.metadata.name, s.peer ? el('div', { class: 'detail mono' }, s.peer) : null),
          el('td', null, s.connected ? badge('connected', 'ok') : badge('disconnected', 'error')),
          el('td', null, badge(s.phase || 'unknown', { Ready: 'ok', Degraded: 'warn', NotReady: 'error' }[s.phase] || 'muted')),
          el('td', { class: 'num' }, applied + ' / ' + revision, ' ', badge(inSync ? 'current' : 'behind', inSync ? 'ok' : 'warn')),
          el('td', null, s.lastNackError ? el('span', { class: 'error-text' }, s.lastNackError) : el('span', { class: 'muted' }, 'none')),
          el('td', null, ago(s.lastSeen)),
          el('td', { class: 'mono' }, s.softwareVersion || ''));
      });
      return card(tier.tier, facts, rows.length
        ? table(['Agent', 'Connection', 'Phase', { text: 'Applied / current', num: true }, 'Last NACK', 'Last seen', 'Version'], rows)
        : empty('No agent of this tier has registered.'), { data: { tier: tier.tier } });
    });
  }

  // A route's matches and target in one line: "/api POST [x-env] ?v" and "web-v1 90, web-v2 10" or "redirect 301".
  function routeMatches(r) {
    if (!r.matches || !r.matches.length) {
      return r.pathPrefix || '/';
    }
    return r.matches.map((m) => {
      const path = m.path || {};
      const parts = [(path.type === 'Exact' ? '=' : path.type === 'RegularExpression' ? '~' : '') + (path.value || '/')];
      if (m.method) parts.push(m.method);
      if (m.headers && m.headers.length) parts.push('[' + m.headers.map((h) => h.name).join(', ') + ']');
      if (m.queryParams && m.queryParams.length) parts.push('?' + m.queryParams.map((q) => q.name).join('&'));
      return parts.join(' ');
    }).join(' | ');
  }

  function routeTarget(r) {
    const redirect = (r.filters || []).find((f) => f.type === 'RequestRedirect');
    if (redirect) {
      const to = redirect.requestRedirect || {};
      return 'redirect ' + (to.statusCode || 301) + (to.scheme ? ' ' + to.scheme : '');
    }
    const target = (r.backends && r.backends.length)
      ? r.backends.map((b) => b.pool + ' ' + (b.weight === undefined ? 1 : b.weight)).join(', ')
      : (r.pool || '');
    const filters = (r.filters || []).map((f) => f.type);
    return target + (filters.length ? ' (' + filters.join(', ') + ')' : '');
  }

  function agentHealth(backend) {
    const views = (backend.status && backend.status.agents) || [];
    if (views.length === 0) {
      return el('span', { class: 'muted' }, 'no reports');
    }
    return el('div', { class: 'chips' }, views.map((view) => {
      const state = view.state || 'unknown';
      const title = [view.reason, view.since ? 'since ' + new Date(view.since).toLocaleString() : null, view.stale ? 'stale report' : null]
        .filter(Boolean).join(' · ');
      return badge(view.agent + ': ' + state + (view.stale ? ' (stale)' : ''), view.stale ? 'muted' : healthKind(state), title || null);
    }));
  }

  function backendActions(backend, state) {
    const name = backend.metadata.name;
    const busy = pending.has(name);
    return el('div', { class: 'actions' }, BACKEND_STATES.map((action) => el('button', {
      type: 'button',
      class: action.css,
      disabled: busy || state === action.state,
      'aria-label': action.verb + ' backend ' + name,
      onclick: () => setBackendState(name, action.state),
    }, action.verb)));
  }

  function backendRow(backend, admin) {
    const spec = backend.spec || {};
    const status = backend.status || {};
    const state = spec.state || 'enabled';
    const health = status.health || 'unknown';
    return el('tr', { data: { backend: backend.metadata.name } },
      el('td', null, backend.metadata.name),
      el('td', { class: 'mono' }, spec.address || ''),
      el('td', { class: 'num' }, spec.weight ?? 1),
      el('td', { 'data-field': 'state' }, badge(state, stateKind(state))),
      el('td', { 'data-field': 'health' }, badge(health, healthKind(health)),
        el('div', { class: 'detail' }, num(status.healthyAgents) + '/' + num(status.reportingAgents) + ' agents')),
      el('td', { class: 'num', 'data-field': 'in-flight' }, num(status.inFlight)),
      el('td', null, agentHealth(backend)),
      admin ? el('td', null, backendActions(backend, state)) : null);
  }

  function renderPools({ pools, backends }) {
    const admin = session.role === 'admin';
    const byPool = new Map(pools.map((p) => [p.metadata.name, []]));
    const orphans = [];
    for (const backend of backends) {
      (byPool.get(backend.spec && backend.spec.pool) || orphans).push(backend);
    }
    const headings = ['Backend', 'Address', { text: 'Weight', num: true }, 'State', 'Health', { text: 'In flight', num: true }, "Agents' view"];
    if (admin) {
      headings.push('Actions');
    }
    const cards = pools.map((pool) => {
      const spec = pool.spec || {};
      const status = pool.status || {};
      const facts = [spec.protocol || 'http', ' · ', spec.algorithm || 'round-robin'];
      for (const tier of status.tiers || []) {
        const healthy = num(tier.healthy);
        const total = num(tier.total);
        facts.push(' ', badge(tier.tier + ': ' + healthy + '/' + total + ' healthy', total === 0 ? 'muted' : healthy === total ? 'ok' : healthy === 0 ? 'error' : 'warn'));
      }
      for (const c of status.conditions || []) {
        if ((c.type === 'FailingOpen' && c.status === 'True') || (c.type !== 'FailingOpen' && c.status === 'False')) {
          facts.push(' ', badge(c.type + (c.reason ? ': ' + c.reason : ''), 'error', c.message || null));
        }
      }
      const members = byPool.get(pool.metadata.name);
      return card(pool.metadata.name, facts, members.length
        ? table(headings, members.map((b) => backendRow(b, admin)))
        : empty('No backends.'), { data: { pool: pool.metadata.name } });
    });
    if (orphans.length) {
      cards.push(card('(no such pool)', [], table(headings, orphans.map((b) => backendRow(b, admin)))));
    }
    return cards.length ? cards : empty('No pools yet.');
  }

  function renderListeners(listeners) {
    if (listeners.length === 0) {
      return empty('No listeners yet.');
    }
    const rows = listeners.map((listener) => {
      const spec = listener.spec || {};
      const status = listener.status || {};
      const routes = spec.protocol === 'tcp'
        ? [el('li', null, '→ ', spec.pool || '')]
        : (spec.routes || []).map((r) => el('li', null,
          ((r.hosts && r.hosts.length) ? r.hosts.join(', ') : '*') + ' ' + routeMatches(r) + ' → ' + routeTarget(r)));
      const programmed = num(status.agentsProgrammed);
      const total = num(status.agentsTotal);
      const programmedCondition = condition(status, 'Programmed');
      const accepted = condition(status, 'Accepted');
      const failures = (status.agents || []).filter((a) => !a.programmed && a.reason).map((a) => a.agent + ': ' + a.reason);
      return el('tr', { data: { listener: listener.metadata.name } },
        el('td', null, listener.metadata.name),
        el('td', null, spec.tier || ''),
        el('td', null, spec.protocol || ''),
        el('td', { class: 'num' }, spec.port || ''),
        el('td', null, el('ul', { class: 'routes mono' }, routes)),
        el('td', null, (spec.certificates || []).join(', ')),
        el('td', null,
          badge(programmed + '/' + total, total > 0 && programmed === total ? 'ok' : programmed === 0 && total > 0 ? 'error' : total === 0 ? 'muted' : 'warn',
            programmedCondition ? [programmedCondition.reason, programmedCondition.message].filter(Boolean).join(': ') : null),
          accepted && accepted.status === 'False' ? el('div', { class: 'detail error-text' }, 'not accepted: ' + (accepted.message || accepted.reason || '')) : null,
          failures.map((f) => el('div', { class: 'detail warn-text' }, f))));
    });
    return el('div', { class: 'card' }, table(['Listener', 'Tier', 'Protocol', { text: 'Port', num: true }, 'Routes', 'Certificates', 'Programmed'], rows));
  }

  function renderCertificates(certificates) {
    if (certificates.length === 0) {
      return empty('No certificates yet.');
    }
    const rows = certificates.map((certificate) => {
      const status = certificate.status || {};
      const notAfter = status.notAfter ? Date.parse(status.notAfter) : NaN;
      let expiry;
      if (Number.isNaN(notAfter)) {
        expiry = badge('unknown', 'muted');
      } else {
        const days = Math.floor((notAfter - Date.now()) / 86400000);
        expiry = notAfter <= Date.now()
          ? badge('expired ' + (days === -1 ? 'today' : -days - 1 + ' days ago'), 'error')
          : badge(days + (days === 1 ? ' day' : ' days'), days < 30 ? 'warn' : 'ok');
      }
      return el('tr', { data: { certificate: certificate.metadata.name } },
        el('td', null, certificate.metadata.name),
        el('td', null, status.subject || ''),
        el('td', null, (status.dnsNames || []).join(', ')),
        el('td', null, Number.isNaN(notAfter) ? '' : new Date(notAfter).toISOString().slice(0, 10)),
        el('td', { 'data-field': 'expiry' }, expiry),
        el('td', { class: 'num' }, num(status.agentsServing) + '/' + num(status.agentsTotal)),
        el('td', { class: 'mono', title: status.fingerprintSha256 || null }, (status.fingerprintSha256 || '').slice(0, 16)));
    });
    return el('div', { class: 'card' }, table(['Certificate', 'Subject', 'DNS names', 'Not after', 'Expires in', { text: 'Serving', num: true }, 'SHA-256'], rows));
  }

  // The last revisions, newest first; an admin can take the whole configuration back to any
  // older one still kept, after seeing what would change (a dry run of the same call).
  function renderHistory(history) {
    const items = history.items || [];
    if (items.length === 0) {
      return empty('No changes yet.');
    }
    const admin = session.role === 'admin';
    const current = num(history.currentRevision);
    const rows = items.map((entry) => {
      const revision = num(entry.revision);
      const changes = (entry.changes || []).map((c) => el('li', null, c.operation + ' ' + c.kind.toLowerCase() + '/' + c.name));
      const rolledBack = num(entry.rollbackTo);
      return el('tr', { data: { revision } },
        el('td', { class: 'num' }, revision),
        el('td', { title: entry.at ? new Date(entry.at).toLocaleString() : null }, entry.age),
        el('td', null, entry.actor || el('span', { class: 'muted' }, '—'), entry.role ? el('div', { class: 'detail' }, entry.role) : null),
        el('td', null, rolledBack ? badge('rollback to ' + rolledBack, 'warn') : null, el('ul', { class: 'routes mono' }, changes)),
        admin ? el('td', null, revision < current ? el('button', {
          type: 'button',
          class: 'rollback',
          disabled: rollback !== null,
          'aria-label': 'Roll back to revision ' + revision,
          onclick: () => previewRollback(revision),
        }, 'Roll back to here') : badge('current', 'ok')) : null);
    });
    const headings = [{ text: 'Revision', num: true }, 'When', 'Who', 'What changed'];
    if (admin) {
      headings.push('Actions');
    }
    const oldest = num(history.oldestKept);
    return el('div', { class: 'card' }, table(headings, rows),
      oldest > 1 ? el('p', { class: 'detail muted' }, 'Revisions before ' + oldest + ' were compacted.') : null);
  }

  function renderRollbackConfirm() {
    const box = $('rollback-confirm');
    if (!rollback) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    const lines = rollback.changes.map((c) => el('li', { data: { change: c.change } },
      c.kind.toLowerCase() + '/' + c.name + ': ' + ({ added: 'comes back', removed: 'is deleted', changed: 'is changed back' }[c.change] || c.change)));
    box.replaceChildren(
      el('h3', { id: 'rollback-title' }, 'Roll back to revision ' + rollback.to + '?'),
      lines.length
        ? el('div', null, el('p', null, 'One new revision, all or nothing, restoring revision ' + rollback.to + ':'), el('ul', { class: 'mono' }, lines))
        : el('p', null, 'The configuration already equals revision ' + rollback.to + ': nothing would change.'),
      rollback.warnings.map((w) => el('p', { class: 'warn-text' }, w)),
      el('div', { class: 'actions' },
        el('button', { type: 'button', class: 'drain', disabled: rollback.busy || lines.length === 0, onclick: confirmRollback }, 'Confirm rollback to revision ' + rollback.to),
        el('button', { type: 'button', disabled: rollback.busy, onclick: cancelRollback }, 'Cancel')));
    box.hidden = false;
  }

  // Newest first. Each event carries its age as drawn, so the section redraws when an age
  // changes, not only when an event arrives.
  function renderEvents(events) {
    if (events.length === 0) {
      return empty('No events yet.');
    }
    const rows = events.map((e) => el('tr', { class: e.type === 'Warning' ? 'warning' : null, data: { event: e.id, reason: e.reason } },
      el('td', { title: e.lastAt ? new Date(e.lastAt).toLocaleString() : null }, e.age),
      el('td', { 'data-field': 'type' }, badge(e.type || 'Normal', e.type === 'Warning' ? 'warn' : 'muted')),
      el('td', null, e.reason || ''),
      el('td', null, e.kind || '', e.name ? el('div', { class: 'detail mono' }, e.name) : null),
      el('td', null, e.agent || el('span', { class: 'muted' }, '—')),
      el('td', { class: 'num', title: e.firstAt && e.count > 1 ? 'first ' + new Date(e.firstAt).toLocaleString() : null }, e.count),
      el('td', { class: e.type === 'Warning' ? 'message warn-text' : 'message' }, e.message || '')));
    return el('div', { class: 'card' }, table(['Last seen', 'Type', 'Reason', 'Object', 'Agent', { text: 'Count', num: true }, 'Message'], rows));
  }

  function eventRows(list) {
    return (list.items || []).slice().reverse().map((e) => ({
      id: num(e.id),
      age: ago(e.lastAt || e.at),
      lastAt: e.lastAt || e.at || '',
      firstAt: e.firstAt || '',
      type: e.type || '',
      reason: e.reason || '',
      kind: e.kind || '',
      name: e.name || '',
      agent: e.agent || '',
      count: num(e.count) || 1,
      message: e.message || '',
    }));
  }

  // ------------------------------------------------------------------ refresh loop

  async function refresh(gen) {
    // The newest EVENTS_SHOWN events (the API returns them oldest first): one small read, as
    // bounded as the rest, and nothing to merge across refreshes.
    const [status, agents, pools, backends, listeners, certificates, events, history] = await Promise.all([
      get('/v1/status'), get('/v1/agents'), get('/v1/pools'), get('/v1/backends'), get('/v1/listeners'), get('/v1/certificates'),
      get('/v1/events?limit=' + EVENTS_SHOWN), get('/v1/history?limit=' + CHANGES_SHOWN),
    ]);
    if (gen !== generation) {
      return;
    }
    draw('tiers', { status, agents: agents.items || [] }, renderTiers);
    draw('pools', { pools: pools.items || [], backends: backends.items || [] }, renderPools);
    draw('listeners', listeners.items || [], renderListeners);
    draw('certificates', certificates.items || [], renderCertificates);
    draw('events', eventRows(events), renderEvents);
    draw('history', Object.assign({}, history, { items: (history.items || []).map((e) => Object.assign({ age: ago(e.at) }, e)), pendingRollback: rollback && rollback.to }), renderHistory);
    $('updated').textContent = 'revision ' + num(status.revision) + ' · updated ' + new Date().toLocaleTimeString();
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(tick, delay);
  }

  async function tick() {
    if (!session) {
      return;
    }
    if (running) {
      again = true;
      return;
    }
    running = true;
    const gen = generation;
    try {
      await refresh(gen);
      if (gen === generation) {
        $('problem').hidden = true;
        $('live').classList.remove('stale');
      }
    } catch (error) {
      if (gen === generation) {
        if (error.status === 401) {
          signOut('Signed out: ' + error.message);
          return;
        }
        $('problem').textContent = 'Refresh failed: ' + error.message + ' (retrying)';
        $('problem').hidden = false;
        $('live').classList.add('stale');
      }
    } finally {
      running = false;
      if (gen === generation && session) {
        schedule(again ? 0 : REFRESH_MS);
      }
      again = false;
    }
  }

  // ------------------------------------------------------------------ actions

  // Read-modify-write with the resourceVersion just read; a concurrent writer (409, ABORTED)
  // gets one more read and try.
  async function setBackendState(name, state) {
    if (!session || session.role !== 'admin' || pending.has(name)) {
      return;
    }
    const token = session.token;
    const path = '/v1/backends/' + encodeURIComponent(name);
    pending.add(name);
    schedule(0);
    try {
      for (let attempt = 1; ; attempt++) {
        const backend = await api(token, 'GET', path);
        const spec = Object.assign({}, backend.spec);
        if ((spec.state || 'enabled') === state) {
          break;
        }
        spec.state = state;
        try {
          await api(token, 'PUT', path, { backend: { metadata: backend.metadata, spec } });
          break;
        } catch (error) {
          if (error.status !== 409 || attempt >= 2) {
            throw error;
          }
        }
      }
      $('action-error').hidden = true;
    } catch (error) {
      $('action-error').textContent = 'Could not set backend ' + name + ' to ' + state + ': ' + error.message;
      $('action-error').hidden = false;
    } finally {
      pending.delete(name);
      schedule(0);
    }
  }

  // A dry run first: the dialog shows what the rollback would change, and only a confirmation writes.
  async function previewRollback(to) {
    if (!session || session.role !== 'admin' || rollback) {
      return;
    }
    rollback = { to, changes: [], warnings: [], busy: true };
    schedule(0);
    try {
      const preview = await api(session.token, 'POST', '/v1/rollback', { to, dryRun: true });
      if (rollback && rollback.to === to) {
        rollback = { to, changes: preview.changes || [], warnings: preview.warnings || [], busy: false };
        $('action-error').hidden = true;
      }
    } catch (error) {
      rollback = null;
      $('action-error').textContent = 'Could not prepare the rollback to revision ' + to + ': ' + error.message;
      $('action-error').hidden = false;
    }
    renderRollbackConfirm();
    schedule(0);
  }

  async function confirmRollback() {
    if (!rollback || rollback.busy || !session) {
      return;
    }
    const to = rollback.to;
    rollback.busy = true;
    renderRollbackConfirm();
    try {
      const done = await api(session.token, 'POST', '/v1/rollback', { to });
      $('action-error').hidden = true;
      $('updated').textContent = 'rolled back to revision ' + to + ' as revision ' + num(done.revision);
    } catch (error) {
      $('action-error').textContent = 'Rollback to revision ' + to + ' failed: ' + error.message;
      $('action-error').hidden = false;
    } finally {
      rollback = null;
      renderRollbackConfirm();
      schedule(0);
    }
  }

  function cancelRollback() {
    rollback = null;
    renderRollbackConfirm();
    schedule(0);
  }

  // ------------------------------------------------------------------ session

  function showSignIn(message) {
    $('dashboard-view').hidden = true;
    $('session').hidden = true;
    $('sign-in-view').hidden = false;
    $('sign-in-error').textContent = message || '';
    $('token').value = '';
    $('token').focus();
  }

  async function signIn(token) {
    const me = await api(token, 'GET', '/v1/whoami');
    if (me.role !== 'admin' && me.role !== 'viewer') {
      throw new ApiError(403, 'token ' + me.id + ' has role ' + me.role + '; the dashboard needs admin or viewer');
    }
    generation++;
    session = { token, role: me.role, id: me.id };
    sessionStorage.setItem(TOKEN_KEY, token);
    drawn.clear();
    $('who').textContent = me.role + ' · ' + me.id;
    $('sign-in-view').hidden = true;
    $('sign-in-error').textContent = '';
    $('session').hidden = false;
    $('dashboard-view').hidden = false;
    document.body.dataset.role = me.role;
    schedule(0);
  }

  function signOut(message) {
    generation++;
    session = null;
    clearTimeout(timer);
    sessionStorage.removeItem(TOKEN_KEY);
    pending.clear();
    drawn.clear();
    rollback = null;
    renderRollbackConfirm();
    for (const id of ['tiers', 'pools', 'listeners', 'certificates', 'history', 'events', 'who', 'updated', 'problem', 'action-error']) {
      $(id).replaceChildren();
    }
    $('problem').hidden = true;
    $('action-error').hidden = true;
    delete document.body.dataset.role;
    showSignIn(message);
  }

  function start() {
    $('sign-in-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const token = $('token').value.trim();
      if (!token) {
        return;
      }
      $('sign-in').disabled = true;
      try {
        await signIn(token);
        $('token').value = '';
      } catch (error) {
        $('sign-in-error').textContent = error.status === 401 ? 'This token is not accepted: ' + error.message : error.message;
      } finally {
        $('sign-in').disabled = false;
      }
    });
    $('sign-out').addEventListener('click', () => signOut(''));

    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) {
      signIn(saved).catch((error) => {
        sessionStorage.removeItem(TOKEN_KEY);
        showSignIn(error.message);
      });
    } else {
      showSignIn('');
    }
  }

  start();
})();
