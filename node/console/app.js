// The me2b console. Plain JavaScript, no framework, no inline handlers (the page's
// Content-Security-Policy allows only this file). Text from peers (business names,
// descriptions, offers) only ever goes into text nodes, never into HTML.
'use strict';

// ---- DOM and HTTP helpers -----------------------------------------------------------------

/** h('p', {class: 'x', onclick: f}, 'text', child, [more]) builds an element. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  const add = (child) => {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(add);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  };
  children.forEach(add);
  return el;
}

class NotLoggedIn extends Error {}

/** The most list items the console reads (pages of 1000, followed through `Link`). */
const MAX_LIST_ITEMS = 10000;

/** Calls the API with the session cookie; JSON in, JSON out, the daemon's problem as an Error.
 *  A list is read whole: page after page through the `Link: <...>; rel="next"` header. */
async function api(method, path, body) {
  const first = await call(method, path, body);
  if (method !== 'GET' || !Array.isArray(first.data)) return first.data;
  let items = first.data;
  let next = first.next;
  while (next && items.length < MAX_LIST_ITEMS) {
    const page = await call('GET', next);
    items = items.concat(page.data);
    next = page.next;
  }
  return items;
}

async function call(method, path, body) {
  const options = { method, credentials: 'same-origin', headers: {} };
  if (body instanceof Blob) {
    options.body = body;
    options.headers['Content-Type'] = 'application/octet-stream';
  } else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(path, options);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (response.status === 401) { showLogin(data && data.detail); throw new NotLoggedIn(); }
  if (!response.ok) throw new Error((data && data.detail) || `the node answered ${response.status}`);
  const link = response.headers.get('Link') || '';
  const match = /<([^>]+)>;\s*rel="next"/.exec(link);
  return { data, next: match ? match[1] : null };
}

function notify(text, error) {
  const box = document.getElementById('notice');
  box.replaceChildren(h('div', { class: error ? 'msg error' : 'msg', role: error ? 'alert' : 'status' }, text));
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => box.replaceChildren(), error ? 12000 : 5000);
}

/** Runs an action from a button: disables it meanwhile, reports success or the error. */
function act(button, work, done) {
  return async (event) => {
    if (event) event.preventDefault();
    if (button) button.disabled = true;
    try {
      await work();
      if (done) notify(done);
      await refresh(true);
    } catch (error) {
      if (!(error instanceof NotLoggedIn)) notify(error.message, true);
    } finally {
      if (button) button.disabled = false;
    }
  };
}

// ---- How things read ----------------------------------------------------------------------

const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const UNITS = [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];

function relative(ms) {
  const seconds = (ms - Date.now()) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'second') return relativeFormat.format(Math.round(seconds / size), unit);
  }
  return '';
}

/** A time as people read it: relative, with the local date on hover and for screen readers. */
function when(ms) {
  if (!ms) return '—';
  const date = new Date(ms);
  return h('time', { datetime: date.toISOString(), title: date.toLocaleString() }, relative(ms));
}

function capital(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const ACRONYMS = new Set(['eu', 'us', 'uk', 'id', 'bmi', 'dpv']);

function words(text) {
  const spaced = text.replace(/_/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return capital(spaced.split(' ').map((w) => (ACRONYMS.has(w) ? w.toUpperCase() : w)).join(' '));
}

/** A field as terms name it: `PATH`, `PATH:optional` or `PATH:FACT`. */
function field(text) {
  const at = text.indexOf(':');
  const path = at < 0 ? text : text.slice(0, at);
  const rest = at < 0 ? '' : text.slice(at + 1);
  const name = words(path.split('.').pop());
  if (rest === 'optional') return h('span', {}, name, ' ', h('span', { class: 'muted' }, `(optional · ${path})`));
  if (rest) return h('span', {}, `Only whether “${rest}” holds for your ${name.toLowerCase()}, not the value `, h('span', { class: 'muted' }, `(${path})`));
  return h('span', {}, name, ' ', h('span', { class: 'muted' }, `(${path})`));
}

function pathOf(fieldText) {
  const at = fieldText.indexOf(':');
  return at < 0 ? fieldText : fieldText.slice(0, at);
}

function duration(text) {
  const match = /^(\d+)([smhdwy])$/.exec(text || '');
  if (!match) return text;
  const n = Number(match[1]);
  const unit = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', y: 'year' }[match[2]];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

function usage(text) {
  if (text === 'once') return 'Sent once';
  if (text.startsWith('subscription:')) return `Updates every ${duration(text.slice(13))}`;
  if (text.startsWith('trigger:')) {
    const parts = text.slice(8).split(':');
    return `One event, “${parts[parts.length - 1]}”, when ${parts.slice(1, -1).join(':')} on ${parts[0]}`;
  }
  return text;
}

function contact(text) {
  if (!text || text === 'none') return 'May not send you offers';
  const [count, every] = text.split('/');
  return `May send you up to ${count} offer${count === '1' ? '' : 's'} per ${duration(every)}`;
}

/** Who a business is: its name (unverified), and its key's fingerprint. */
function business(name, fingerprint) {
  return h('span', { class: 'who-is' },
    h('strong', {}, name || 'A business that gave no name'), ' ',
    h('span', { class: 'pill warn', title: 'Anyone can claim a name; compare the fingerprint' }, 'not verified'), ' ',
    h('span', { class: 'fp', title: 'Key fingerprint' }, fingerprint || ''));
}

function termsList(terms) {
  return h('dl', { class: 'terms' },
    h('dt', {}, 'What'), h('dd', {}, h('ul', { class: 'plain' }, terms.fields.map((f) => h('li', {}, field(f))))),
    h('dt', {}, 'Why'), h('dd', {}, capital(terms.purpose_text)),
    h('dt', {}, 'Kept for'), h('dd', {}, duration(terms.retention)),
    h('dt', {}, 'How'), h('dd', {}, usage(terms.use)),
    h('dt', {}, 'In return'), h('dd', {}, terms.compensation === 'none' ? 'Nothing' : terms.compensation),
    h('dt', {}, 'Contact'), h('dd', {}, contact(terms.contact)),
    h('dt', {}, 'Passed on'), h('dd', {}, terms.onward_sharing ? 'May be passed on to others' : 'Not passed on to anyone'),
    h('dt', {}, 'Law'), h('dd', {}, terms.jurisdiction));
}

const measured = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

function showValue(value) {
  if (Array.isArray(value)) {
    const last = value[value.length - 1];
    const count = value.length === 1 ? '1 point' : `${value.length} points`;
    return last ? `${count}; latest ${measured.format(last.value)}${last.tag ? ` (${last.tag})` : ''}` : 'no points';
  }
  if (value && typeof value === 'object' && Array.isArray(value.codes)) return value.codes.join(', ');
  return String(value);
}

/** A typed value as the CLI reads it: a number, true/false, else text. */
function typedValue(text) {
  const trimmed = text.trim();
  if (trimmed !== '' && Number.isFinite(Number(trimmed))) return Number(trimmed);
  if (trimmed === 'true') return true;
  if (trimmed === 'false') return false;
  return trimmed;
}

function lines(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

function table(headers, rows, empty) {
  if (!rows.length) return h('p', { class: 'muted' }, empty || 'Nothing yet.');
  return h('div', { class: 'scroll' }, h('table', { class: 'responsive' },
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c, i) => h('td', { 'data-label': headers[i] }, c)))))));
}

// ---- Pages: a person ----------------------------------------------------------------------

/** A prompt: a negotiation awaiting the owner, with approve / change / decline. */
function promptCard(n, request) {
  const id = n.id;
  const approve = h('button', { type: 'button', 'data-action': 'approve' }, 'Approve');
  const decline = h('button', { type: 'button', class: 'danger', 'data-action': 'decline' }, 'Decline');
  approve.addEventListener('click', act(approve, () => api('POST', `/v1/pending/${id}/approve`, {}), 'Approved: the agreement is being signed.'));
  decline.addEventListener('click', act(decline, () => api('POST', `/v1/pending/${id}/decline`, {}), 'Declined.'));
  return h('article', { class: 'card prompt', 'data-negotiation': id },
    h('h3', {}, request && request.description ? request.description : words(n.category.split('.').pop())),
    h('p', {}, business(n.business_name, n.peer_fingerprint), ' asks, in ', h('em', {}, n.category), '.'),
    n.offer ? h('p', {}, 'Offer: ', h('strong', {}, n.offer)) : null,
    termsList(n.terms),
    n.reasons.length ? h('div', { class: 'why' }, h('strong', {}, 'Why your agent asks you: '), h('ul', { class: 'plain' }, n.reasons.map((r) => h('li', {}, r)))) : null,
    h('p', { class: 'muted' }, 'Decide ', when(n.deadline_ms), '.'),
    h('div', { class: 'actions' }, approve, counterForm(n), decline));
}

/** Change the terms: fewer fields, a shorter retention, no contact, another compensation. */
function counterForm(n) {
  const boxes = n.terms.fields.map((f) => h('input', { type: 'checkbox', checked: true, value: f }));
  const retention = h('input', { name: 'retention', value: n.terms.retention, 'aria-describedby': `ret-${n.id}` });
  const noContact = h('input', { type: 'checkbox', checked: n.terms.contact === 'none' });
  const compensation = h('input', { name: 'compensation', value: n.terms.compensation });
  const send = h('button', { type: 'submit' }, 'Send these terms');
  const form = h('form', { class: 'stack' },
    h('fieldset', {}, h('legend', {}, 'Share'), n.terms.fields.map((f, i) => h('label', { class: 'check' }, boxes[i], field(f)))),
    h('label', {}, 'Kept for at most', retention, h('span', { class: 'hint', id: `ret-${n.id}` }, 'e.g. 7d; no longer than asked')),
    h('label', { class: 'check' }, noContact, 'No offers'),
    h('label', {}, 'In return', compensation),
    h('div', { class: 'actions' }, send));
  form.addEventListener('submit', act(send, () => api('POST', `/v1/pending/${n.id}/counter`, {
    fields: boxes.filter((b) => b.checked).map((b) => b.value),
    purpose: n.terms.purpose,
    retention: retention.value.trim(),
    use: n.terms.use,
    compensation: compensation.value.trim() || 'none',
    contact: noContact.checked ? 'none' : n.terms.contact,
    jurisdiction: n.terms.jurisdiction,
  }), 'Your terms were sent.'));
  return h('details', { class: 'counter' }, h('summary', { class: 'button secondary' }, 'Change terms…'), form);
}

/** The categories followed: a person hears their requests, a business their intents. */
async function following(what) {
  const categories = await api('GET', '/v1/subscriptions');
  const input = h('input', { name: 'follow', placeholder: 'apparel.shoes', 'aria-label': 'Category to follow', required: true });
  const add = h('button', { type: 'submit', class: 'secondary' }, 'Follow');
  const form = h('form', { class: 'actions', id: 'follow' }, input, add);
  form.addEventListener('submit', act(add, () => api('POST', '/v1/subscriptions', { categories: [input.value.trim()] }), 'Following.'));
  return [
    h('h2', {}, 'Categories you follow'),
    h('p', { class: 'muted' }, `You hear ${what} in these.`),
    categories.length ? h('ul', { class: 'plain' }, categories.map((c) => {
      const stop = h('button', { type: 'button', class: 'quiet' }, 'Stop');
      stop.addEventListener('click', act(stop, () => api('POST', '/v1/subscriptions', { categories: [c], unsubscribe: true }), `No longer following ${c}.`));
      return h('li', {}, c, ' ', stop);
    })) : h('p', { class: 'muted' }, 'None yet.'),
    form,
  ];
}

async function pageRequests() {
  const [pending, requests] = await Promise.all([api('GET', '/v1/pending'), api('GET', '/v1/requests')]);
  const byId = new Map(requests.map((r) => [`request:${r.id}`, r]));
  const waiting = pending.filter((n) => n.state === 'AWAITING_OWNER');
  const expired = pending.filter((n) => n.state === 'EXPIRED');
  return [
    h('h1', {}, 'Requests & prompts'),
    h('h2', {}, `Waiting for you (${waiting.length})`),
    waiting.length ? waiting.map((n) => promptCard(n, byId.get(n.context))) : h('p', { class: 'muted', id: 'no-prompts' }, 'Nothing waits for your decision. Your agent handles what your policy allows.'),
    expired.length ? [h('h2', {}, 'Not decided in time'), table(['Asked', 'By', 'Expired'], expired.map((n) => [n.category, business(n.business_name, n.peer_fingerprint), when(n.expired_at_ms)]))] : null,
    h('h2', {}, 'Requests seen'),
    table(['When', 'Business', 'About', 'Asks for'], requests.map((r) => [when(r.at_ms), business(r.business_name, r.business_fingerprint), r.description || r.category, r.terms.fields.map(pathOf).join(', ')]), 'No requests seen yet. Follow a category to hear them.'),
    await following('businesses\' requests'),
  ];
}

async function pageData() {
  const [records, agreements] = await Promise.all([api('GET', '/v1/data'), api('GET', '/v1/agreements')]);
  const usedBy = (path) => agreements.filter((a) => a.state === 'ACTIVE' && a.terms.fields.some((f) => pathOf(f) === path))
    .map((a) => a.business_name || a.business_fingerprint);
  const path = h('input', { name: 'path', required: true, placeholder: 'body.shoe_size_eu' });
  const value = h('input', { name: 'value', required: true, placeholder: '44' });
  const add = h('button', { type: 'submit' }, 'Save');
  const addForm = h('form', { class: 'stack', id: 'add-record' },
    h('label', {}, 'Field', path, h('span', { class: 'hint' }, 'e.g. body.shoe_size_eu, profile.birthdate')),
    h('label', {}, 'Value', value, h('span', { class: 'hint' }, 'A number, true/false, a date YYYY-MM-DD, or text')),
    h('div', { class: 'actions' }, add));
  addForm.addEventListener('submit', act(add, () => api('PUT', `/v1/data/${encodeURIComponent(path.value.trim())}`, { value: typedValue(value.value) }), 'Saved.'));

  const file = h('input', { type: 'file', name: 'file', required: true });
  const format = h('select', { name: 'format' }, ['gpx', 'tcx', 'fhir', 'apple-health', 'csv', 'vcard'].map((f) => h('option', { value: f }, f)));
  const map = h('input', { name: 'map', placeholder: 'distance_km=activity.running.distance_km' });
  file.addEventListener('change', () => {
    const name = (file.files[0] && file.files[0].name.toLowerCase()) || '';
    const guess = [['.gpx', 'gpx'], ['.tcx', 'tcx'], ['.json', 'fhir'], ['.xml', 'apple-health'], ['.csv', 'csv'], ['.vcf', 'vcard']].find(([ext]) => name.endsWith(ext));
    if (guess) format.value = guess[1];
  });
  const upload = h('button', { type: 'submit' }, 'Import');
  const importForm = h('form', { class: 'stack' },
    h('label', {}, 'File', file, h('span', { class: 'hint' }, 'GPX, TCX, FHIR bundle, Apple Health export.xml, CSV, vCard')),
    h('label', {}, 'Format', format),
    h('label', {}, 'CSV columns', map, h('span', { class: 'hint' }, 'CSV only: COLUMN=PATH, comma-separated')),
    h('div', { class: 'actions' }, upload));
  importForm.addEventListener('submit', act(upload, async () => {
    const chosen = file.files[0];
    if (!chosen) throw new Error('Choose a file first.');
    const query = new URLSearchParams({ format: format.value, file: chosen.name });
    if (map.value.trim()) query.set('map', map.value.trim());
    const report = await api('POST', `/v1/imports?${query}`, chosen);
    notify(`Imported ${report.file}: ${report.added} added, ${report.updated} updated, ${report.duplicates} already known, ${report.rejected_count} rejected.`);
  }));

  const rows = records.map((r) => {
    const edit = h('input', { value: typeof r.value === 'object' ? '' : String(r.value), 'aria-label': `New value for ${r.path}` });
    const save = h('button', { type: 'submit', class: 'secondary' }, 'Save');
    const editForm = h('form', { class: 'actions' }, edit, save);
    editForm.addEventListener('submit', act(save, () => api('PUT', `/v1/data/${encodeURIComponent(r.path)}`, { value: typedValue(edit.value) }), 'Saved.'));
    const remove = confirmButton('Delete…', `Delete ${r.path}`, () => api('DELETE', `/v1/data/${encodeURIComponent(r.path)}`), 'Deleted.');
    const used = usedBy(r.path);
    return [h('code', {}, r.path), showValue(r.value), capital(r.provenance.replace(/:/g, ': ')), when(r.updated_at_ms),
      r.history ? `${r.history} earlier` : '—', used.length ? used.join(', ') : 'none',
      h('details', {}, h('summary', { class: 'button quiet' }, 'Change'), editForm, remove)];
  });
  return [
    h('h1', {}, 'My data'),
    h('p', { class: 'muted' }, 'Held only on this node, encrypted. Nothing leaves it unless an agreement names it.'),
    table(['Field', 'Value', 'From', 'Updated', 'History', 'Shared under', ''], rows, 'Your vault is empty.'),
    h('h2', {}, 'Add or change a field'), addForm,
    h('h2', {}, 'Import a file'), importForm,
  ];
}

/** A button that asks to be clicked again before it acts. */
function confirmButton(label, confirmLabel, work, done) {
  const first = h('button', { type: 'button', class: 'quiet' }, label);
  const second = h('button', { type: 'button', class: 'danger', hidden: true, 'data-confirm': true }, confirmLabel);
  first.addEventListener('click', () => { first.hidden = true; second.hidden = false; second.focus(); });
  second.addEventListener('click', act(second, work, done));
  return h('span', {}, first, second);
}

function receiptStatus(a, person) {
  if (a.deletion_receipt) return h('span', { class: 'pill good', 'data-receipt': 'yes' }, person ? 'Deleted: signed receipt held' : 'Deleted, receipt sent');
  if (a.revocation) {
    const r = a.revocation;
    if (r.status === 'not confirmed') return h('span', { class: 'pill bad' }, `No receipt: ${r.reason || 'not confirmed'}`);
    if (r.status === 'acknowledged') return h('span', { class: 'pill warn' }, 'Revocation received, receipt pending');
    return h('span', { class: 'pill warn' }, 'Revocation sent, waiting for the business');
  }
  return null;
}

const STATE_PILL = { ACTIVE: 'good', REVOKED: 'warn', EXPIRED: '', DELETED: '', VOID: 'bad' };

function agreementCard(a, person) {
  const revoke = person && a.revocable
    ? confirmButton('Revoke…', 'Yes, revoke: they must delete it', () => api('POST', `/v1/agreements/${a.id}/revoke`, { reason: 'revoked in the console' }), 'Revoked: waiting for the deletion receipt.')
    : null;
  return h('article', { class: 'card agreement', 'data-agreement': a.id, 'data-state': a.state },
    h('h3', {}, person ? business(a.business_name, a.business_fingerprint) : h('span', {}, 'A person ', h('span', { class: 'fp' }, a.person_fingerprint || ''))),
    h('p', {}, h('span', { class: `pill ${STATE_PILL[a.state] || ''}` }, words(a.state)), ' agreed ', when(a.finalized_at_ms),
      a.state === 'ACTIVE' ? [' · to be deleted ', when(a.retention_ends_ms)] : a.changed_at_ms ? [' · changed ', when(a.changed_at_ms)] : null, ' ', receiptStatus(a, person)),
    h('details', {}, h('summary', {}, 'Terms'), termsList(a.terms)),
    h('div', { class: 'actions' }, h('a', { class: 'button secondary', href: `/v1/agreements/${a.id}/signed`, download: `agreement-${a.id.slice(0, 16)}.json` }, 'Download signed agreement'), revoke),
    !person && a.state === 'ACTIVE' && a.terms.contact !== 'none' ? offerForm(a) : null);
}

/** A business's personal offer under an agreement that allows contact (the engine keeps the cap). */
function offerForm(a) {
  const description = h('input', { name: 'description', required: true, placeholder: 'Pegasus 41 in your size' });
  const price = h('input', { name: 'price', required: true, placeholder: '99 EUR' });
  const valid = h('input', { name: 'valid_for', value: '7d' });
  const send = h('button', { type: 'submit' }, 'Send offer');
  const form = h('form', { class: 'stack offer' },
    h('p', { class: 'muted' }, contact(a.terms.contact).replace('May send you', 'You may send')),
    h('label', {}, 'Offer', description), h('label', {}, 'Price', price), h('label', {}, 'Stands for', valid),
    h('div', { class: 'actions' }, send));
  form.addEventListener('submit', act(send, () => api('POST', '/v1/offers', { agreement_id: a.id, description: description.value.trim(), price: price.value.trim(), valid_for: valid.value.trim() || null }), 'Offer sent.'));
  return h('details', {}, h('summary', { class: 'button secondary' }, 'Send a personal offer…'), form);
}

async function pageAgreements() {
  const agreements = await api('GET', '/v1/agreements');
  const person = me.role === 'person';
  agreements.sort((x, y) => y.finalized_at_ms - x.finalized_at_ms);
  const active = agreements.filter((a) => a.state === 'ACTIVE');
  const ended = agreements.filter((a) => a.state !== 'ACTIVE');
  return [
    h('h1', {}, 'Agreements'),
    h('h2', {}, `Active (${active.length})`),
    active.length ? active.map((a) => agreementCard(a, person)) : h('p', { class: 'muted' }, 'No active agreements.'),
    h('h2', {}, `Revoked, expired, deleted (${ended.length})`),
    ended.length ? ended.map((a) => agreementCard(a, person)) : h('p', { class: 'muted' }, 'None.'),
  ];
}

async function pageIntents() {
  const negotiations = await api('GET', '/v1/negotiations');
  const answers = negotiations.filter((n) => n.context.startsWith('intent:'));
  const category = h('input', { name: 'category', required: true, placeholder: 'apparel.shoes' });
  const spec = h('textarea', { name: 'spec', placeholder: 'size_eu=44\ncolour=blue' });
  const price = h('input', { name: 'max_price', placeholder: '120 EUR' });
  const shares = h('textarea', { name: 'shares', placeholder: 'body.shoe_size_eu\nactivity.running_km:optional' });
  const expires = h('select', { name: 'expires' }, [['1d', '1 day'], ['7d', '1 week'], ['14d', '2 weeks'], ['30d', '30 days']].map(([v, t]) => h('option', { value: v, selected: v === '7d' }, t)));
  const publish = h('button', { type: 'submit' }, 'Publish');
  const form = h('form', { class: 'stack' },
    h('label', {}, 'I want', category, h('span', { class: 'hint' }, 'A category, e.g. apparel.shoes')),
    h('label', {}, 'Details', spec, h('span', { class: 'hint' }, 'One KEY=VALUE per line')),
    h('label', {}, 'At most', price),
    h('label', {}, 'I would share', shares, h('span', { class: 'hint' }, 'One field per line, for a better offer')),
    h('label', {}, 'Stands for', expires),
    h('div', { class: 'actions' }, publish));
  form.addEventListener('submit', act(publish, () => api('POST', '/v1/intents', {
    category: category.value.trim(),
    spec: Object.fromEntries(lines(spec.value).map((l) => { const at = l.indexOf('='); return at < 0 ? [l, ''] : [l.slice(0, at).trim(), l.slice(at + 1).trim()]; })),
    max_price: price.value.trim() || null,
    shares: lines(shares.value),
    expires: expires.value,
  }), 'Published, without your name: businesses that sell it can answer.'));
  return [
    h('h1', {}, 'Intents'),
    h('p', { class: 'muted' }, 'Say what you want; businesses answer with offers, and your agent picks within your policy.'),
    form,
    h('h2', {}, 'Offers that came back'),
    answers.length ? answers.map((n) => n.state === 'AWAITING_OWNER' ? promptCard(n, null)
      : h('article', { class: 'card' }, h('h3', {}, n.offer || n.category), h('p', {}, h('span', { class: 'pill' }, words(n.state)), ' ', business(n.business_name, n.peer_fingerprint))))
      : h('p', { class: 'muted' }, 'No offers yet.'),
  ];
}

async function pageOffers() {
  const [offers, agreements] = await Promise.all([api('GET', '/v1/offers'), api('GET', '/v1/agreements')]);
  const byId = new Map(agreements.map((a) => [a.id, a]));
  const groups = new Map();
  for (const offer of offers) {
    if (!groups.has(offer.agreement_id)) groups.set(offer.agreement_id, []);
    groups.get(offer.agreement_id).push(offer);
  }
  const cards = [...groups.entries()].map(([id, list]) => {
    const a = byId.get(id);
    const stop = a && a.state === 'ACTIVE'
      ? confirmButton('Stop these offers…', 'Revoke the agreement', () => api('POST', `/v1/agreements/${id}/revoke`, { reason: 'no more offers' }), 'Revoked: no more offers, and your data is deleted.')
      : null;
    return h('article', { class: 'card' },
      h('h3', {}, a ? business(a.business_name, a.business_fingerprint) : 'A business'),
      a ? h('p', { class: 'muted' }, contact(a.terms.contact), ' (the limit you agreed; more is refused).') : null,
      table(['Offer', 'Price', 'Until', 'Received'], list.map((o) => [o.description, o.price, when(o.valid_until_ms), when(o.at_ms)])),
      h('div', { class: 'actions' }, stop,
        h('span', { class: 'muted' }, 'Contact permission is part of the agreement: stopping offers revokes it.')));
  });
  return [h('h1', {}, 'Offers'), cards.length ? cards : h('p', { class: 'muted' }, 'No offers. Businesses can only send them under an agreement that allows contact.')];
}

async function pageLedger() {
  const [report, entries] = await Promise.all([api('GET', '/v1/ledger/verify'), api('GET', '/v1/ledger')]);
  const banner = report.valid
    ? h('div', { class: 'state good', id: 'ledger-state' }, `Verified: ${report.entries} entries, hash-chained and signed; ${report.agreements} agreements and ${report.receipts} deletion receipts check out.`)
    : h('div', { class: 'state bad', id: 'ledger-state', role: 'alert' }, `Broken: ${report.error}`);
  entries.sort((x, y) => y.sequence - x.sequence);
  const shown = entries.slice(0, 500);
  return [
    h('h1', {}, 'Ledger'), banner,
    shown.length < entries.length ? h('p', { class: 'muted' }, `The latest ${shown.length} of ${entries.length} entries; all of them were verified.`) : null,
    table(['#', 'When', 'What', 'With', 'Fields'], shown.map((e) => [String(e.sequence), when(e.at_ms), words(e.kind), e.peer_fingerprint ? h('span', { class: 'fp' }, e.peer_fingerprint) : '—', e.fields.join(', ') || '—'])),
  ];
}

async function pagePolicy() {
  const [policy, vocabulary] = await Promise.all([api('GET', '/v1/policy'), vocab()]);
  const rules = h('div', { class: 'rules' });
  const ruleRow = (rule) => {
    const path = h('input', { value: rule.path, 'aria-label': 'Fields under', required: true });
    const share = h('select', { 'aria-label': 'Share' }, [['raw', 'the value'], ['derived-only', 'only yes/no facts'], ['never', 'never']].map(([v, t]) => h('option', { value: v, selected: rule.share === v }, t)));
    const purposes = vocabulary.purposes.map((p) => h('input', { type: 'checkbox', value: p.name, checked: rule.purposes.includes(p.name) }));
    const ask = h('input', { type: 'checkbox', checked: rule.ask_owner });
    const retention = h('input', { value: rule.max_retention || '', placeholder: 'as overall', 'aria-label': 'Kept at most' });
    const categories = h('input', { value: (rule.categories || []).join(', '), placeholder: 'all', 'aria-label': 'Only in categories' });
    const remove = h('button', { type: 'button', class: 'quiet' }, 'Remove rule');
    const summary = h('summary', {});
    const describe = () => summary.replaceChildren(h('strong', {}, path.value || 'New rule'), ': ', share.selectedOptions[0].textContent, ask.checked ? ', ask me' : '');
    const box = h('details', { class: 'card rule', open: !rule.path }, summary,
      h('div', { class: 'stack' },
        h('label', {}, 'Fields under', path), h('label', {}, 'Share', share),
        h('fieldset', {}, h('legend', {}, 'For'), vocabulary.purposes.map((p, i) => h('label', { class: 'check' }, purposes[i], capital(p.text)))),
        h('label', { class: 'check' }, ask, 'Ask me even then'),
        h('label', {}, 'Kept at most', retention), h('label', {}, 'Only in categories', categories), h('div', {}, remove)));
    [path, share, ask].forEach((input) => input.addEventListener('input', describe));
    describe();
    box.read = () => ({ path: path.value.trim(), share: share.value, purposes: purposes.filter((p) => p.checked).map((p) => p.value), ask_owner: ask.checked, max_retention: retention.value.trim() || null, categories: categories.value.split(',').map((c) => c.trim()).filter(Boolean) });
    remove.addEventListener('click', () => box.remove());
    return box;
  };
  policy.rules.forEach((rule) => rules.append(ruleRow(rule)));
  const addRule = h('button', { type: 'button', class: 'secondary' }, 'Add a rule');
  addRule.addEventListener('click', () => rules.append(ruleRow({ path: '', share: 'raw', purposes: [], ask_owner: true, categories: [] })));
  const maxRetention = h('input', { name: 'max_retention', value: policy.max_retention });
  const minCompensation = h('input', { name: 'min_compensation', value: policy.min_compensation });
  const maxContact = h('input', { name: 'max_contact', value: policy.max_contact });
  const onward = h('input', { type: 'checkbox', checked: policy.allow_onward_sharing });
  const counter = h('input', { type: 'checkbox', checked: policy.counter });
  const perIntent = h('input', { type: 'number', min: 1, value: policy.max_agreements_per_intent });
  const denied = h('textarea', {}, policy.denied_businesses.join('\n'));
  const allowed = h('textarea', {}, policy.allowed_businesses.join('\n'));
  const save = h('button', { type: 'submit' }, 'Save policy');
  const form = h('form', { class: 'stack wide', id: 'policy' },
    h('p', { class: 'muted' }, 'Your agent agrees on its own within these limits and asks you about everything else.'),
    h('label', {}, 'Longest anyone keeps your data', maxRetention, h('span', { class: 'hint' }, 'e.g. 90d')),
    h('label', {}, 'Least you accept in return', minCompensation, h('span', { class: 'hint' }, 'e.g. none, 10% discount, 5 EUR')),
    h('label', {}, 'Most offers you allow', maxContact, h('span', { class: 'hint' }, 'e.g. 2/30d, or none')),
    h('label', { class: 'check' }, onward, 'Allow passing data on to others'),
    h('label', { class: 'check' }, counter, 'Counter terms that go too far (instead of declining)'),
    h('label', {}, 'Offers accepted per intent', perIntent),
    h('h2', {}, 'Rules by field'), h('p', { class: 'muted' }, 'The most specific rule applies. Open one to change it.'), rules, h('div', {}, addRule),
    h('label', {}, 'Never deal with (business keys, one per line)', denied),
    h('label', {}, 'Only deal with (empty: anyone)', allowed),
    h('div', { class: 'actions' }, save));
  form.addEventListener('submit', act(save, () => api('PUT', '/v1/policy', {
    rules: [...rules.children].map((box) => box.read()),
    max_retention: maxRetention.value.trim(), min_compensation: minCompensation.value.trim(), max_contact: maxContact.value.trim(),
    allow_onward_sharing: onward.checked, counter: counter.checked, max_agreements_per_intent: Number(perIntent.value),
    denied_businesses: lines(denied.value), allowed_businesses: lines(allowed.value),
  }), 'Policy saved.'));
  return [h('h1', {}, 'Policy'), form];
}

// ---- Pages: a business --------------------------------------------------------------------

async function pageCampaigns() {
  const [requests, agreements, negotiations, vocabulary] = await Promise.all([api('GET', '/v1/requests'), api('GET', '/v1/agreements'), api('GET', '/v1/negotiations'), vocab()]);
  const category = h('input', { name: 'category', required: true, placeholder: 'apparel.shoes' });
  const description = h('input', { name: 'description', placeholder: 'Find your next running shoe' });
  const fields = h('textarea', { name: 'fields', required: true, placeholder: 'body.shoe_size_eu\nactivity.running_km:optional' });
  const purpose = h('select', { name: 'purpose' }, vocabulary.purposes.map((p) => h('option', { value: p.name }, capital(p.text))));
  const retention = h('input', { name: 'retention', value: '30d', required: true });
  const use = h('input', { name: 'use', value: 'once' });
  const compensation = h('input', { name: 'compensation', placeholder: '10% discount' });
  const contactField = h('input', { name: 'contact', placeholder: 'none, or 1/30d' });
  const expires = h('input', { name: 'expires', value: '7d' });
  const publish = h('button', { type: 'submit' }, 'Publish request');
  const form = h('form', { class: 'stack', id: 'campaign' },
    h('label', {}, 'Category', category), h('label', {}, 'About', description),
    h('label', {}, 'Fields', fields, h('span', { class: 'hint' }, 'One per line: PATH, PATH:optional, or PATH:FACT (e.g. profile.birthdate:age >= 18)')),
    h('label', {}, 'Purpose', purpose), h('label', {}, 'Kept for', retention),
    h('label', {}, 'Use', use, h('span', { class: 'hint' }, 'once, subscription:7d, or trigger:PATH:FACT:EVENT')),
    h('label', {}, 'In return', compensation), h('label', {}, 'Contact', contactField), h('label', {}, 'Stands for', expires),
    h('div', { class: 'actions' }, publish));
  form.addEventListener('submit', act(publish, () => api('POST', '/v1/campaigns', {
    category: category.value.trim(), description: description.value.trim(), fields: lines(fields.value),
    purpose: purpose.value, retention: retention.value.trim(), use: use.value.trim() || 'once',
    compensation: compensation.value.trim() || null, contact: contactField.value.trim() || null, expires: expires.value.trim() || null,
  }), 'Published on gossip to everyone following the category.'));
  const count = (list, context) => list.filter((x) => x.context === context).length;
  requests.sort((x, y) => y.at_ms - x.at_ms);
  return [
    h('h1', {}, 'Campaigns'),
    h('h2', {}, 'Published'),
    table(['When', 'Category', 'About', 'Negotiations', 'Agreements', 'Ends'], requests.map((r) => [when(r.at_ms), r.category, r.description || '—', String(count(negotiations, `request:${r.id}`)), String(count(agreements, `request:${r.id}`)), when(r.terms.expires_at_ms)]), 'No requests published yet.'),
    h('h2', {}, 'Publish a request'), form,
    await following('people\'s intents'),
  ];
}

async function pageReceived() {
  const [received, agreements] = await Promise.all([api('GET', '/v1/received'), api('GET', '/v1/agreements')]);
  const byId = new Map(agreements.map((a) => [a.id, a]));
  const cards = received.map((r) => {
    const a = byId.get(r.agreement_id);
    return h('article', { class: 'card', 'data-agreement': r.agreement_id },
      h('h3', {}, 'A person ', h('span', { class: 'fp' }, a ? a.person_fingerprint : '')),
      a ? h('p', {}, 'For ', words(a.terms.purpose.replace(/-/g, ' ')), ' · delete ', when(a.retention_ends_ms)) : null,
      table(['Field', 'Value', 'Received'], Object.entries(r.items).map(([path, item]) => [h('code', {}, path),
        'value' in item ? showValue(item.value) : 'predicate' in item ? `${item.predicate}: ${item.holds ? 'yes' : 'no'}` : `event ${item.event}`, when(item.at_ms)])));
  });
  return [h('h1', {}, 'Received data'), h('p', { class: 'muted' }, 'Held under each agreement until its retention ends or the person revokes it.'), cards.length ? cards : h('p', { class: 'muted' }, 'Nothing received.')];
}

async function pageReceipts() {
  const agreements = await api('GET', '/v1/agreements');
  const deleted = agreements.filter((a) => a.state === 'DELETED' || a.state === 'REVOKED');
  return [h('h1', {}, 'Deletion receipts'),
    h('p', { class: 'muted' }, 'When a person revokes, this node deletes their data and sends a signed receipt.'),
    table(['Person', 'State', 'Since'], deleted.map((a) => [h('span', { class: 'fp' }, a.person_fingerprint), a.state === 'DELETED' ? h('span', { class: 'pill good' }, 'Deleted, receipt sent') : h('span', { class: 'pill warn' }, words(a.state)), when(a.changed_at_ms)]), 'No revocations.')];
}

async function pageDemand() {
  const rows = await api('GET', '/v1/demand');
  const max = Math.max(1, ...rows.map((r) => r.count));
  const chart = h('div', { class: 'chart', role: 'list' }, rows.map((r) => h('div', { class: 'bar', role: 'listitem' },
    h('span', { class: 'label' }, r.category, r.spec ? h('span', { class: 'muted' }, ` · ${r.spec}`) : h('span', { class: 'muted' }, ' · all')),
    h('span', { class: 'fill', style: null, 'data-width': String(Math.round((100 * r.count) / max)) }),
    h('span', { class: 'n' }, String(r.count)))));
  // Widths are set from script, not inline style attributes (the CSP forbids those).
  chart.querySelectorAll('.fill').forEach((bar) => { bar.style.width = `${bar.dataset.width}%`; });
  return [h('h1', {}, 'Demand'), h('p', { class: 'muted' }, 'Intents seen, counted by category and detail: never who sent them.'), rows.length ? chart : h('p', { class: 'muted' }, 'No intents seen yet.')];
}

async function pageCatalog() {
  const catalog = await api('GET', '/v1/catalog');
  const editor = h('textarea', { 'aria-label': 'Catalog as JSON', rows: 14 }, JSON.stringify(catalog, null, 2));
  const save = h('button', { type: 'submit' }, 'Save catalog');
  const form = h('form', { class: 'stack wide' }, editor, h('div', { class: 'actions' }, save));
  form.addEventListener('submit', act(save, () => {
    let parsed;
    try { parsed = JSON.parse(editor.value); } catch (error) { throw new Error(`The catalog is not valid JSON: ${error.message}`); }
    return api('PUT', '/v1/catalog', parsed);
  }, 'Catalog saved.'));
  return [h('h1', {}, 'Catalog'),
    table(['Category', 'Product', 'Price', 'Wants'], catalog.items.map((i) => [i.category, i.description, i.price, i.fields.join(', ')]), 'No products: intents get no answer.'),
    h('h2', {}, 'Edit'), form, await counterLimits()];
}

/** What this business's agent agrees to when a person changes the terms. */
async function counterLimits() {
  const policy = await api('GET', '/v1/business/policy');
  const accept = h('input', { type: 'checkbox', checked: policy.accept_counters });
  const maxCompensation = h('input', { value: policy.max_compensation || '', placeholder: 'as each campaign offers' });
  const minRetention = h('input', { value: policy.min_retention });
  const derived = h('input', { type: 'checkbox', checked: policy.derived_for_raw });
  const save = h('button', { type: 'submit' }, 'Save limits');
  const form = h('form', { class: 'stack', id: 'counter-limits' },
    h('label', { class: 'check' }, accept, 'Consider changed terms from people'),
    h('label', {}, 'Most compensation in a counter', maxCompensation),
    h('label', {}, 'Shortest useful retention', minRetention),
    h('label', { class: 'check' }, derived, 'A yes/no fact may stand in for a required value'),
    h('div', { class: 'actions' }, save));
  form.addEventListener('submit', act(save, () => api('PUT', '/v1/business/policy', { accept_counters: accept.checked, max_compensation: maxCompensation.value.trim() || null, min_retention: minRetention.value.trim(), derived_for_raw: derived.checked }), 'Limits saved.'));
  return [h('h2', {}, 'When people change the terms'), form];
}

// ---- The frame: login, menu, live updates -------------------------------------------------

const PAGES = {
  person: [['requests', 'Requests & prompts', pageRequests], ['data', 'My data', pageData], ['agreements', 'Agreements', pageAgreements],
    ['intents', 'Intents', pageIntents], ['offers', 'Offers', pageOffers], ['ledger', 'Ledger', pageLedger], ['policy', 'Policy', pagePolicy]],
  business: [['campaigns', 'Campaigns', pageCampaigns], ['received', 'Received data', pageReceived], ['agreements', 'Agreements', pageAgreements],
    ['receipts', 'Deletion receipts', pageReceipts], ['demand', 'Demand', pageDemand], ['catalog', 'Catalog', pageCatalog], ['ledger', 'Ledger', pageLedger]],
};

let me = null;
let vocabulary = null;

async function vocab() {
  if (!vocabulary) vocabulary = await api('GET', '/v1/vocabulary');
  return vocabulary;
}

function currentPage() {
  const pages = PAGES[me.role];
  const name = location.hash.replace(/^#\/?/, '');
  return pages.find(([key]) => key === name) || pages[0];
}

function showLogin(reason) {
  document.getElementById('nav').replaceChildren();
  document.getElementById('who').replaceChildren();
  document.getElementById('logout').hidden = true;
  document.getElementById('main').replaceChildren(h('section', { class: 'card login', id: 'login' },
    h('h1', {}, 'Log in to your node'),
    h('p', {}, 'In a terminal on this computer, run ', h('code', {}, 'me2b open'), ' and open the link it prints. Each link works once.'),
    reason ? h('p', { class: 'muted' }, reason) : null));
}

async function renderNav() {
  let waiting = 0;
  if (me.role === 'person') {
    try { waiting = (await api('GET', '/v1/pending')).filter((n) => n.state === 'AWAITING_OWNER').length; } catch (_) { /* shown on the page */ }
  }
  const [current] = currentPage();
  document.getElementById('nav').replaceChildren(...PAGES[me.role].map(([key, label]) => h('a', { href: `#/${key}`, 'aria-current': key === current ? 'page' : null, id: `nav-${key}` },
    label, key === 'requests' && waiting ? h('span', { class: 'badge', id: 'badge', 'aria-label': `${waiting} waiting` }, String(waiting)) : null)));
  document.title = waiting ? `(${waiting}) me2b console` : 'me2b console';
}

let rendering = Promise.resolve();

/** Renders the current page again, unless the person is typing in it. */
function refresh(force) {
  rendering = rendering.then(async () => {
    const main = document.getElementById('main');
    // Typing, an open form, or a confirmation just asked for: a live update must not wipe
    // them. Checked again once the page's data is in, since the person may have begun since.
    const busy = () => {
      const focused = main.contains(document.activeElement) ? document.activeElement : null;
      const typing = focused && (/^(INPUT|TEXTAREA|SELECT)$/.test(focused.tagName) || 'confirm' in focused.dataset);
      return typing || main.querySelector('details[open] form') !== null;
    };
    await renderNav();
    if (!force && busy()) return;
    const [, label, page] = currentPage();
    try {
      const content = await page();
      if (!force && busy()) return;
      main.replaceChildren(...[content].flat(2).filter(Boolean));
      main.dataset.page = label;
    } catch (error) {
      if (!(error instanceof NotLoggedIn)) main.replaceChildren(h('h1', {}, label), h('p', { role: 'alert' }, error.message));
    }
  }).catch(() => {});
  return rendering;
}

const LIVE = ['awaiting-owner', 'agreement-finalized', 'negotiation-terminated', 'terms-exchanged', 'data-sent', 'data-received', 'offer-received',
  'agreement-revoked', 'agreement-expired', 'agreement-void', 'data-deleted', 'deletion-receipt', 'revocation-not-confirmed', 'prompt-expired',
  'request-seen', 'intent-seen', 'published'];

function follow() {
  const events = new EventSource('/v1/events');
  let timer = null;
  const soon = () => { clearTimeout(timer); timer = setTimeout(() => refresh(false), 150); };
  LIVE.forEach((kind) => events.addEventListener(kind, soon));
  events.addEventListener('awaiting-owner', () => notify('A request waits for your decision.'));
  events.addEventListener('deletion-receipt', () => notify('A business confirmed deleting your data, with a signed receipt.'));
}

async function start() {
  const login = /^#login=([0-9a-f]{16,128})$/.exec(location.hash);
  if (login) {
    // The code leaves the address bar and this history entry before anything else happens.
    history.replaceState(null, '', '/#/');
    const answer = await fetch('/console/session', { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code: login[1] }) });
    if (!answer.ok) {
      const body = await answer.json().catch(() => ({}));
      showLogin(body.detail || 'That link did not work.');
      return;
    }
  }
  try { me = await api('GET', '/v1/status'); } catch (_) { return; }
  document.getElementById('who').replaceChildren(h('strong', {}, me.name), ` · ${me.role} node · ${me.connected_peers} peer${me.connected_peers === 1 ? '' : 's'} connected`);
  const logout = document.getElementById('logout');
  logout.hidden = false;
  logout.addEventListener('click', async () => { await fetch('/console/session', { method: 'DELETE', credentials: 'same-origin' }); showLogin('Logged out.'); });
  window.addEventListener('hashchange', () => { refresh(true).then(() => document.getElementById('main').focus({ preventScroll: true })); });
  follow();
  await refresh(true);
}

start();
