// recsys storefront widget: a dependency-free ES module, served as is by GET /widget.js.
//
//   <script type="module" src="https://recs.example/widget.js" data-key="PUBLIC_KEY"></script>
//   <div data-recsys="recommendations" data-user="u1" data-token="…" data-n="6"></div>
//   <div data-recsys="similar" data-item="sku-1"></div>
//   <div data-recsys="cross-sell" data-items="sku-1,sku-2"></div>
//   <div data-recsys="session"></div>  <div data-recsys="popular"></div>
//   <div data-recsys="new-arrivals" data-category="shoes"></div>
//
// Optional attributes: data-category (popular and new arrivals: a category path), data-title (a
// heading), data-link ("/p/{item_id}": a card's link when the item has no url), data-currency (ISO
// code), data-user / data-token (on the script: the page's signed-in customer). Cards are themed
// with CSS variables (--recsys-*). Impressions (when a list is half visible) and clicks are sent
// with the response's request_id by navigator.sendBeacon; nothing here ever throws into the page
// or delays it: a server that is down leaves the containers empty, marked
// data-recsys-state="failed".

export const KINDS = ['recommendations', 'similar', 'cross-sell', 'session', 'popular', 'new-arrivals'];
export const SEEN_KEY = 'recsys-seen';
export const VISITOR_KEY = 'recsys-visitor';
export const MAX_SEEN = 20;
export const MAX_N = 24;
const TIMEOUT_MS = 4000;

const STYLE = `
.recsys { font: var(--recsys-font, inherit); color: var(--recsys-color, inherit); margin: var(--recsys-margin, 1rem 0); }
.recsys__heading { font-size: var(--recsys-heading-size, 1.2rem); margin: 0 0 .5rem; }
.recsys__list { display: grid; grid-template-columns: repeat(auto-fill, minmax(var(--recsys-card-width, 10rem), 1fr));
  gap: var(--recsys-gap, .75rem); list-style: none; margin: 0; padding: 0; }
.recsys__card { background: var(--recsys-card-bg, #fff); border: var(--recsys-card-border, 1px solid #ddd);
  border-radius: var(--recsys-radius, .5rem); overflow: hidden; }
.recsys__link { display: flex; flex-direction: column; gap: .25rem; padding: var(--recsys-card-padding, .5rem);
  color: inherit; text-decoration: none; height: 100%; box-sizing: border-box; }
.recsys__link:focus-visible { outline: 2px solid var(--recsys-accent, #0b57d0); outline-offset: 2px; }
.recsys__image { width: 100%; aspect-ratio: 1; object-fit: cover; background: var(--recsys-image-bg, #f3f3f3); }
.recsys__name { font-weight: 600; }
.recsys__price { color: var(--recsys-accent, #0b57d0); }
`;

// ---- what to ask for (pure: unit-tested with node --test) ----

/** The request a container asks for: {method, path, body?}; null when it cannot ask (a missing
 * item or user, an unknown kind). */
export function requestFor(kind, data, seen) {
  const n = Math.min(Math.max(parseInt(data.n || '6', 10) || 6, 1), MAX_N);
  const query = `?n=${n}`;
  const id = (value) => encodeURIComponent(value);
  const inCategory = data.category ? `&category=${id(data.category)}` : '';
  switch (kind) {
    case 'recommendations':
      return data.user ? { method: 'GET', path: `v1/users/${id(data.user)}/recommendations${query}` } : null;
    case 'similar':
      return data.item ? { method: 'GET', path: `v1/items/${id(data.item)}/similar${query}` } : null;
    case 'cross-sell': {
      const items = splitIds(data.items || data.item || '');
      if (!items.length) return null;
      return { method: 'POST', path: `v1/cross-sell${query}`, body: { items } };
    }
    case 'session':
      return { method: 'POST', path: `v1/sessions/recommendations${query}`, body: { items: seen.slice(-MAX_SEEN) } };
    case 'popular':
      return { method: 'GET', path: `v1/popular${query}${inCategory}` };
    case 'new-arrivals':
      return { method: 'GET', path: `v1/new-arrivals${query}${inCategory}` };
    default:
      return null;
  }
}

export function splitIds(text) {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

/** `seen` with `item` moved to the end, at most MAX_SEEN kept. */
export function withSeen(seen, item) {
  const kept = seen.filter((x) => x !== item);
  kept.push(item);
  return kept.slice(-MAX_SEEN);
}

/** The query string of an events beacon: the key and, for a signed-in customer, their token. */
export function beaconQuery(key, token) {
  const parts = [];
  if (key) parts.push(`key=${encodeURIComponent(key)}`);
  if (token) parts.push(`user_token=${encodeURIComponent(token)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

/** One impression event per shown item (the experiment report counts distinct request and item). */
export function impressionEvents(user, answer, now) {
  return answer.items.map((item) => ({
    user_id: user, item_id: item.item_id, event_type: 'impression', request_id: answer.request_id,
    timestamp: now,
  }));
}

export function clickEvent(user, answer, itemId, now) {
  return { user_id: user, item_id: itemId, event_type: 'click', request_id: answer.request_id, timestamp: now };
}

/** What a card shows: title (the id when the answer has none), price text, image, link. */
export function cardOf(item, linkTemplate, currency, locale) {
  const props = item.properties || {};
  const url = item.url || props.url || (linkTemplate ? linkTemplate.replace('{item_id}', encodeURIComponent(item.item_id)) : '');
  const image = item.image_url || props.image_url || '';
  const price = typeof item.price === 'number' && Number.isFinite(item.price) ? priceText(item.price, currency, locale) : '';
  return { id: item.item_id, title: item.title || item.item_id, price, image, url };
}

export function priceText(value, currency, locale) {
  try {
    if (currency) return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(value);
  } catch (_) { /* an unknown currency code: the plain number */ }
  return value.toFixed(2);
}

// ---- the page (browser only) ----

function storage(kind) {
  try { return kind === 'local' ? window.localStorage : window.sessionStorage; } catch (_) { return null; }
}

function readSeen() {
  try { return JSON.parse(storage('session')?.getItem(SEEN_KEY) || '[]').filter((x) => typeof x === 'string'); } catch (_) { return []; }
}

export function markSeen(item) {
  if (!item) return;
  try { storage('session')?.setItem(SEEN_KEY, JSON.stringify(withSeen(readSeen(), item))); } catch (_) { /* full or disabled */ }
}

function visitorId() {
  const store = storage('local');
  let id = null;
  try { id = store?.getItem(VISITOR_KEY); } catch (_) { /* disabled */ }
  if (!id) {
    id = `v-${crypto.randomUUID ? crypto.randomUUID() : Math.random().toString(36).slice(2)}`;
    try { store?.setItem(VISITOR_KEY, id); } catch (_) { /* disabled */ }
  }
  return id;
}

function settingsOf(script) {
  const data = script ? script.dataset : {};
  return {
    base: new URL('.', import.meta.url),
    key: data.key || '',
    user: data.user || '',
    token: data.token || '',
    currency: data.currency || '',
    locale: data.locale || undefined,
  };
}

function ownScript() {
  for (const script of document.querySelectorAll('script[type="module"][src]')) {
    if (script.src === import.meta.url) return script;
  }
  return document.querySelector('script[data-recsys-widget]');
}

function send(settings, token, events) {
  if (!events.length) return;
  const url = new URL(`v1/events${beaconQuery(settings.key, token)}`, settings.base);
  // text/plain needs no CORS preflight, which a beacon cannot make; the server reads it as JSON.
  const body = new Blob([JSON.stringify({ events })], { type: 'text/plain;charset=UTF-8' });
  try {
    if (navigator.sendBeacon && navigator.sendBeacon(url, body)) return;
    fetch(url, { method: 'POST', body, keepalive: true, credentials: 'omit' }).catch(() => {});
  } catch (_) { /* never into the page */ }
}

const details = new Map();  // item id -> promise of its catalogue fields (GET /v1/items/{id})

/** The item's catalogue fields (title, price, properties: image_url, url), asked once per page;
 * null when the server does not know it (or has no such endpoint). */
function detailsOf(settings, itemId) {
  if (!details.has(itemId)) {
    details.set(itemId, ask(settings, { method: 'GET', path: `v1/items/${encodeURIComponent(itemId)}` }, '', false));
  }
  return details.get(itemId);
}

async function ask(settings, request, token, picks = true) {
  const headers = { Accept: 'application/json' };
  if (settings.key) headers['X-API-Key'] = settings.key;
  if (token) headers['X-User-Token'] = token;
  if (request.body) headers['Content-Type'] = 'application/json';
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const response = await fetch(new URL(request.path, settings.base), {
      method: request.method, headers, credentials: 'omit', signal: controller.signal,
      body: request.body ? JSON.stringify(request.body) : undefined,
    });
    if (!response.ok) return null;
    const answer = await response.json();
    return answer && (!picks || Array.isArray(answer.items)) ? answer : null;
  } catch (_) {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** Picks answers hold ids and scores; the cards' titles, prices, images and links come from the
 * catalogue, asked per item unless the answer carries them (or data-details="off"). */
async function withDetails(settings, answer, wanted) {
  if (!wanted) return answer;
  const items = await Promise.all(answer.items.map(async (item) => {
    if (item.title) return item;
    const found = await detailsOf(settings, item.item_id);
    return found ? { ...found, ...item, title: found.title || item.item_id } : item;
  }));
  return { ...answer, items };
}

function render(container, answer, settings, user, token) {
  const data = container.dataset;
  const section = element('section', 'recsys');
  const heading = data.title ? element('h2', 'recsys__heading', data.title) : null;
  if (heading) {
    heading.id = `recsys-${answer.request_id}`;
    section.setAttribute('aria-labelledby', heading.id);
    section.append(heading);
  } else {
    section.setAttribute('aria-label', 'Recommended products');
  }
  const list = element('ol', 'recsys__list');
  answer.items.forEach((item, index) => {
    const card = cardOf(item, data.link, data.currency || settings.currency, settings.locale);
    const entry = element('li', 'recsys__card');
    entry.dataset.itemId = card.id;
    entry.dataset.position = String(index + 1);
    const link = card.url ? element('a', 'recsys__link') : element('div', 'recsys__link');
    if (card.url) link.href = card.url;
    if (card.image) {
      const image = element('img', 'recsys__image');
      image.src = card.image;
      image.alt = '';  // the title beside it names the product
      image.loading = 'lazy';
      link.append(image);
    }
    link.append(element('span', 'recsys__name', card.title));
    if (card.price) link.append(element('span', 'recsys__price', card.price));
    link.addEventListener('click', () => {
      markSeen(card.id);
      send(settings, token, [clickEvent(user, answer, card.id, Date.now() / 1000)]);
      container.dispatchEvent(new CustomEvent('recsys:click', {
        bubbles: true, detail: { item_id: card.id, position: index + 1, request_id: answer.request_id },
      }));
    });
    entry.append(link);
    list.append(entry);
  });
  section.append(list);
  container.replaceChildren(section);
  container.dataset.recsysState = 'shown';
  container.dataset.requestId = answer.request_id;
  whenVisible(section, () => {
    send(settings, token, impressionEvents(user, answer, Date.now() / 1000));
    container.dataset.recsysImpression = 'sent';
  });
}

function whenVisible(node, then) {
  if (typeof IntersectionObserver === 'undefined') { then(); return; }
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) {
      observer.disconnect();
      then();
    }
  }, { threshold: 0.5 });
  observer.observe(node);
}

async function fill(container, settings, visitor) {
  const data = container.dataset;
  if (data.recsysState) return;  // filled or being filled
  container.dataset.recsysState = 'loading';
  const user = data.user || settings.user || visitor;
  const token = data.token || (user === settings.user ? settings.token : '');
  const kind = data.recsys;
  if (kind === 'similar' || (kind === 'cross-sell' && data.item)) markSeen(data.item);
  const named = data.user || settings.user;  // personal picks are for a signed-in customer only
  const request = requestFor(kind, { ...data, user: named }, readSeen());
  const answer = request ? await ask(settings, request, token) : null;
  if (!answer || !answer.items.length) {
    container.dataset.recsysState = answer ? 'empty' : 'failed';
    return;
  }
  render(container, await withDetails(settings, answer, data.details !== 'off'), settings, user, token);
}

function adoptStyle() {
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);  // a constructed sheet: no inline <style>, so CSP style-src 'self' is enough
    document.adoptedStyleSheets = [sheet, ...document.adoptedStyleSheets];
  } catch (_) { /* an older browser: unstyled cards, still usable */ }
}

/** Fills every [data-recsys] container under `root` not filled yet. */
export function mount(root = document) {
  const settings = settingsOf(ownScript());
  const visitor = visitorId();
  for (const seenNode of root.querySelectorAll('[data-recsys-seen]')) markSeen(seenNode.dataset.recsysSeen);
  const containers = [...root.querySelectorAll('[data-recsys]')].filter((node) => KINDS.includes(node.dataset.recsys));
  return Promise.all(containers.map((node) => fill(node, settings, visitor).catch(() => {
    node.dataset.recsysState = 'failed';
  })));
}

if (typeof document !== 'undefined') {
  adoptStyle();
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', () => { mount(); }, { once: true });
  } else {
    mount();
  }
}
