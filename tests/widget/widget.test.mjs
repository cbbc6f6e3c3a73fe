// The widget's pure parts, with Node's built-in test runner (make test runs: node --test tests/widget).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  MAX_N, MAX_SEEN, beaconQuery, cardOf, clickEvent, impressionEvents, priceText, requestFor, splitIds,
  withSeen,
} from '../../serving/static/widget.js';

test('each kind asks its endpoint, ids escaped', () => {
  assert.deepEqual(requestFor('recommendations', { user: 'u 1/x', n: '4' }, []),
    { method: 'GET', path: 'v1/users/u%201%2Fx/recommendations?n=4' });
  assert.deepEqual(requestFor('similar', { item: 'sku-1' }, []), { method: 'GET', path: 'v1/items/sku-1/similar?n=6' });
  assert.deepEqual(requestFor('cross-sell', { items: 'a, b,,c' }, []),
    { method: 'POST', path: 'v1/cross-sell?n=6', body: { items: ['a', 'b', 'c'] } });
  assert.deepEqual(requestFor('cross-sell', { item: 'a' }, []).body, { items: ['a'] });
  assert.deepEqual(requestFor('session', {}, ['a', 'b']).body, { items: ['a', 'b'] });
  assert.equal(requestFor('popular', {}, []).path, 'v1/popular?n=6');
  assert.equal(requestFor('new-arrivals', { n: '3' }, []).path, 'v1/new-arrivals?n=3');
  assert.equal(requestFor('new-arrivals', { category: 'pets/cat food' }, []).path,
    'v1/new-arrivals?n=6&category=pets%2Fcat%20food');
  assert.equal(requestFor('popular', { category: 'pets' }, []).path, 'v1/popular?n=6&category=pets');
});

test('a container missing what it needs asks nothing', () => {
  assert.equal(requestFor('recommendations', {}, []), null);
  assert.equal(requestFor('similar', {}, []), null);
  assert.equal(requestFor('cross-sell', { items: ' , ' }, []), null);
  assert.equal(requestFor('bestsellers', {}, []), null);
});

test('n is clamped to 1..MAX_N, junk means the default', () => {
  assert.equal(requestFor('popular', { n: '1000' }, []).path, `v1/popular?n=${MAX_N}`);
  assert.equal(requestFor('popular', { n: '-3' }, []).path, 'v1/popular?n=1');
  assert.equal(requestFor('popular', { n: 'lots' }, []).path, 'v1/popular?n=6');
});

test('seen items: latest last, no repeats, bounded', () => {
  assert.deepEqual(withSeen(['a', 'b', 'c'], 'a'), ['b', 'c', 'a']);
  let seen = [];
  for (let i = 0; i < MAX_SEEN + 5; i += 1) seen = withSeen(seen, `i${i}`);
  assert.equal(seen.length, MAX_SEEN);
  assert.equal(seen.at(-1), `i${MAX_SEEN + 4}`);
  assert.deepEqual(requestFor('session', {}, [...seen, ...seen]).body.items.length, MAX_SEEN);
  assert.deepEqual(splitIds(''), []);
});

test('beacons carry the key and the token in the query, escaped', () => {
  assert.equal(beaconQuery('', ''), '');
  assert.equal(beaconQuery('pub&1', ''), '?key=pub%261');
  assert.equal(beaconQuery('pub', 'ab12'), '?key=pub&user_token=ab12');
});

test('impressions: one per shown item with the request id; a click names its item', () => {
  const answer = { request_id: 'r-1', items: [{ item_id: 'a', score: 1 }, { item_id: 'b', score: 0.5 }] };
  const events = impressionEvents('v-1', answer, 100);
  assert.deepEqual(events.map((e) => [e.item_id, e.event_type, e.request_id, e.user_id, e.timestamp]),
    [['a', 'impression', 'r-1', 'v-1', 100], ['b', 'impression', 'r-1', 'v-1', 100]]);
  assert.deepEqual(clickEvent('u1', answer, 'b', 5),
    { user_id: 'u1', item_id: 'b', event_type: 'click', request_id: 'r-1', timestamp: 5 });
});

test('cards: catalogue fields when known, else the id; link from url, properties or template', () => {
  const bare = cardOf({ item_id: 'sku 9' }, '/p/{item_id}', '', 'en');
  assert.deepEqual(bare, { id: 'sku 9', title: 'sku 9', price: '', image: '', url: '/p/sku%209' });
  const full = cardOf({ item_id: 'a', title: 'Shoe', price: 9.5, properties: { image_url: '/i.png', url: '/shoe' } }, '', 'EUR', 'en');
  assert.equal(full.title, 'Shoe');
  assert.equal(full.image, '/i.png');
  assert.equal(full.url, '/shoe');
  assert.match(full.price, /9\.50/);
  assert.equal(cardOf({ item_id: 'a', price: Number.NaN }, '', '', 'en').price, '');
  assert.equal(priceText(3, 'NOT-A-CODE', 'en'), '3.00');
});

test('the module loads without a DOM (nothing runs at import outside a browser)', async () => {
  const module = await import('../../serving/static/widget.js');
  assert.equal(typeof module.mount, 'function');
});
