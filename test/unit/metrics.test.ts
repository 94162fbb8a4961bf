// Prometheus endpoint: exact text rendering, and a real server on a free loopback port queried with fetch.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { request } from 'node:http';
import { createLogger } from '../../src/log.js';
import { MetricsServer, parseListen, renderPrometheus, type MetricFamily } from '../../src/daemon/metrics.js';

const log = createLogger({ level: 'silent', out: { write: () => undefined } });

const FAMILIES: MetricFamily[] = [
  {
    name: 'r2mirror_uploaded_bytes_total',
    help: 'Bytes uploaded.\nSecond line with a \\ backslash.',
    type: 'counter',
    samples: [
      { labels: { folder: 'photos' }, value: 1048576 },
      { labels: { folder: 'we"ird\\name\nx', kind: 'multipart' }, value: 0.5 },
    ],
  },
  { name: 'r2mirror_queue_depth', help: 'Files waiting.', type: 'gauge', samples: [{ value: 3 }] },
  { name: 'r2mirror:odd_values', help: 'Special values.', type: 'gauge', samples: [{ value: NaN }, { labels: { s: '+' }, value: Infinity }, { labels: { s: '-' }, value: -Infinity }] },
  { name: 'r2mirror_empty', help: '', type: 'gauge', samples: [] },
];

const EXPECTED = [
  '# HELP r2mirror_uploaded_bytes_total Bytes uploaded.\\nSecond line with a \\\\ backslash.',
  '# TYPE r2mirror_uploaded_bytes_total counter',
  'r2mirror_uploaded_bytes_total{folder="photos"} 1048576',
  'r2mirror_uploaded_bytes_total{folder="we\\"ird\\\\name\\nx",kind="multipart"} 0.5',
  '# HELP r2mirror_queue_depth Files waiting.',
  '# TYPE r2mirror_queue_depth gauge',
  'r2mirror_queue_depth 3',
  '# HELP r2mirror:odd_values Special values.',
  '# TYPE r2mirror:odd_values gauge',
  'r2mirror:odd_values NaN',
  'r2mirror:odd_values{s="+"} +Inf',
  'r2mirror:odd_values{s="-"} -Inf',
  '# HELP r2mirror_empty ',
  '# TYPE r2mirror_empty gauge',
  '',
].join('\n');

test('renderPrometheus: exact text, with label and help escaping and special values', () => {
  assert.equal(renderPrometheus(FAMILIES), EXPECTED);
  assert.equal(renderPrometheus([]), '');
});

test('renderPrometheus: invalid names and duplicates are errors that name them', () => {
  const g = (name: string, labels?: Record<string, string>): MetricFamily => ({ name, help: 'h', type: 'gauge', samples: [{ labels, value: 1 }] });
  assert.throws(() => renderPrometheus([g('1abc')]), /invalid metric name "1abc": must match \[a-zA-Z_:\]\[a-zA-Z0-9_:\]\*/);
  assert.throws(() => renderPrometheus([g('a-b')]), /invalid metric name "a-b"/);
  assert.throws(() => renderPrometheus([g('')]), /invalid metric name ""/);
  assert.throws(() => renderPrometheus([g('ok', { 'bad-label': 'x' })]), /metric ok: invalid label name "bad-label"/);
  assert.throws(() => renderPrometheus([g('ok', { 'a:b': 'x' })]), /invalid label name "a:b"/);
  assert.throws(() => renderPrometheus([g('dup'), g('dup')]), /metric dup is listed twice/);
  assert.doesNotThrow(() => renderPrometheus([g('_ok:x9', { _l9: '' })]));
});

test('parseListen: accepted forms', () => {
  assert.deepEqual(parseListen('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListen('[::1]:9464'), { host: '::1', port: 9464 });
  assert.deepEqual(parseListen('[::]:1'), { host: '::', port: 1 });
  assert.deepEqual(parseListen(':9464'), { host: '', port: 9464 });
  assert.deepEqual(parseListen('localhost:65535'), { host: 'localhost', port: 65535 });
  assert.deepEqual(parseListen('metrics.example.internal:80'), { host: 'metrics.example.internal', port: 80 });
  assert.deepEqual(parseListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
});

test('parseListen: clear errors', () => {
  assert.throws(() => parseListen('127.0.0.1:65536'), /^Error: metrics\.listen 127\.0\.0\.1:65536: port 65536 is out of range \(1-65535\)$/);
  assert.throws(() => parseListen('127.0.0.1:http'), /metrics\.listen 127\.0\.0\.1:http: port "http" is not a number from 1 to 65535/);
  assert.throws(() => parseListen('127.0.0.1:'), /port "" is not a number/);
  assert.throws(() => parseListen('127.0.0.1:-1'), /port "-1" is not a number/);
  assert.throws(() => parseListen('127.0.0.1'), /metrics\.listen 127\.0\.0\.1: expected HOST:PORT, \[IPv6\]:PORT or :PORT/);
  assert.throws(() => parseListen('9464'), /expected HOST:PORT.*; for every interface write :9464/);
  assert.throws(() => parseListen('::1:9464'), /metrics\.listen ::1:9464: an IPv6 address needs brackets: \[::1\]:9464/);
  assert.throws(() => parseListen('[127.0.0.1]:9464'), /"127\.0\.0\.1" in brackets is not an IPv6 address/);
  assert.throws(() => parseListen('300.1.1.1:9464'), /"300\.1\.1\.1" is not an IPv4 address or a host name/);
  assert.throws(() => parseListen('bad_host:9464'), /"bad_host" is not an IPv4 address or a host name/);
  assert.throws(() => parseListen(''), /metrics\.listen "": expected HOST:PORT/);
  assert.throws(() => parseListen('a b:1'), /metrics\.listen "a b:1": /);
});

test('server: /metrics, /healthz in both states, 404, 405, HEAD', async () => {
  let healthy = { ok: true, reason: '' };
  let collected = 0;
  const srv = await MetricsServer.start({
    listen: '127.0.0.1:0',
    collect: () => { collected++; return FAMILIES; },
    health: () => healthy,
    log,
  });
  try {
    assert.match(srv.url, /^http:\/\/127\.0\.0\.1:[1-9]\d*\/$/);
    const m = await fetch(new URL('metrics', srv.url));
    assert.equal(m.status, 200);
    assert.equal(m.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(await m.text(), EXPECTED);
    assert.equal(collected, 1);
    const q = await fetch(new URL('metrics?name[]=x', srv.url));
    assert.equal(q.status, 200, 'a query string is ignored');
    await q.text();

    const h = await fetch(new URL('healthz', srv.url));
    assert.equal(h.status, 200);
    assert.equal(await h.text(), 'ok\n');
    healthy = { ok: false, reason: 'folder photos: root is missing (unmounted?)' };
    const h2 = await fetch(new URL('healthz', srv.url));
    assert.equal(h2.status, 503);
    assert.equal(await h2.text(), 'folder photos: root is missing (unmounted?)\n');

    const nf = await fetch(new URL('nope', srv.url));
    assert.equal(nf.status, 404);
    await nf.text();
    const root = await fetch(srv.url);
    assert.equal(root.status, 404);
    await root.text();

    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await fetch(new URL('metrics', srv.url), { method });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.get('allow'), 'GET, HEAD');
      await r.text();
    }
    const head = await fetch(new URL('metrics', srv.url), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(EXPECTED)));
    assert.equal(await head.text(), '');
  } finally {
    await srv.close();
  }
});

test('server: a collect() that throws gives 500, a health() that throws gives 503', async () => {
  const srv = await MetricsServer.start({
    listen: '127.0.0.1:0',
    collect: () => [{ name: 'bad name', help: '', type: 'gauge', samples: [] }],
    health: () => { throw new Error('store is closed'); },
    log,
  });
  try {
    const m = await fetch(new URL('metrics', srv.url));
    assert.equal(m.status, 500);
    assert.match(await m.text(), /invalid metric name "bad name"/);
    const h = await fetch(new URL('healthz', srv.url));
    assert.equal(h.status, 503);
    assert.equal(await h.text(), 'health check failed: store is closed\n');
  } finally {
    await srv.close();
  }
});

test('server: [::1] when the machine has IPv6 loopback', async (t) => {
  const probe = createServer();
  const v6 = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
  if (!v6) return t.skip('no IPv6 loopback on this machine');
  const srv = await MetricsServer.start({ listen: '[::1]:0', collect: () => [], health: () => ({ ok: true, reason: '' }), log });
  try {
    assert.match(srv.url, /^http:\/\/\[::1\]:\d+\/$/);
    const r = await fetch(new URL('metrics', srv.url));
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '');
  } finally {
    await srv.close();
  }
});

test('server: a port in use and an invalid address reject with a message naming the address', async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const port = (holder.address() as { port: number }).port;
  try {
    await assert.rejects(
      MetricsServer.start({ listen: `127.0.0.1:${port}`, collect: () => [], health: () => ({ ok: true, reason: '' }), log }),
      { message: `metrics.listen 127.0.0.1:${port}: address already in use` },
    );
  } finally {
    await new Promise((r) => holder.close(r));
  }
  await assert.rejects(
    MetricsServer.start({ listen: '127.0.0.1:99999', collect: () => [], health: () => ({ ok: true, reason: '' }), log }),
    { message: 'metrics.listen 127.0.0.1:99999: port 99999 is out of range (1-65535)' },
  );
  // 192.0.2.1 (TEST-NET-1) is not assigned to this machine: binding fails at once, no packet is sent.
  await assert.rejects(
    MetricsServer.start({ listen: '192.0.2.1:0', collect: () => [], health: () => ({ ok: true, reason: '' }), log }),
    { message: 'metrics.listen 192.0.2.1:0: address not available on this machine' },
  );
});

test('server: close() is idempotent and drops keep-alive connections', async () => {
  const srv = await MetricsServer.start({ listen: '127.0.0.1:0', collect: () => [], health: () => ({ ok: true, reason: '' }), log });
  const url = new URL('healthz', srv.url);
  // Open a keep-alive connection that stays idle: close() must not wait for it.
  const agentRes = await new Promise<number>((resolve, reject) => {
    const req = request(url, { headers: { Connection: 'keep-alive' } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', reject);
    req.end();
  });
  assert.equal(agentRes, 200);
  const t0 = Date.now();
  const a = srv.close();
  const b = srv.close();
  assert.equal(a, b, 'the same promise');
  await a;
  await srv.close();
  assert.ok(Date.now() - t0 < 2000, 'close() waited for an idle connection');
  await assert.rejects(fetch(url), /fetch failed/);
});
