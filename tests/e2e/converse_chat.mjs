// Real-browser test driver: Converse.js in Debian's Chromium (headless, driven by playwright-core)
// connects to parleyd over RFC 7395 WebSocket, logs in, sends a message to a peer and waits for the
// peer's reply to arrive and be shown in the chat. Exit status 0 only if the reply arrived.
//
// Started by the integration test BrowserTest.* (tests/e2e/browser_test.cpp), which runs parleyd
// and the libstrophe peer. Inputs (environment):
//   PARLEY_WS_URL     ws://127.0.0.1:<port>/xmpp-websocket
//   PARLEY_JID, PARLEY_PASSWORD   the Converse.js user
//   PARLEY_PEER       the libstrophe user's bare JID
//   PARLEY_SEND       the body Converse.js sends to the peer
//   PARLEY_EXPECT     the body the peer answers with
//   PARLEY_ROOM       optional: instead of a one-to-one chat, join this XEP-0045 room (nick
//                     PARLEY_NICK, default "web"), send PARLEY_SEND to the room and wait for
//                     PARLEY_EXPECT from the room
//   PARLEY_TIMEOUT_MS (default 60000), CHROMIUM (default /usr/bin/chromium)
// Nothing is downloaded: the page and Converse.js are served from node_modules on 127.0.0.1.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
function need(name) {
  if (!env[name]) {
    console.error(`converse_chat: ${name} is not set`);
    process.exit(2);
  }
  return env[name];
}
const wsUrl = need('PARLEY_WS_URL');
const jid = need('PARLEY_JID');
const password = need('PARLEY_PASSWORD');
const peer = need('PARLEY_PEER');
const toPeer = need('PARLEY_SEND');
const fromPeer = need('PARLEY_EXPECT');
const room = env.PARLEY_ROOM || '';
const nick = env.PARLEY_NICK || 'web';
const timeout = Number(env.PARLEY_TIMEOUT_MS || 60000);
const executablePath = env.CHROMIUM || '/usr/bin/chromium';
const dist = path.join(here, 'node_modules', 'converse.js', 'dist');

const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>Parley WebSocket test</title>
<link rel="stylesheet" href="/dist/converse.min.css"></head>
<body class="converse-fullscreen">
<script type="module">
import converse from '/dist/converse.min.js';  // Converse.js 14 is an ES module
window.parleyTest = { connected: false, received: [] };
converse.plugins.add('parley-test', {
  initialize() {
    const api = this._converse.api;
    window.parleyTest.api = api;
    api.listen.on('connected', () => { window.parleyTest.connected = true; });
    api.listen.on('message', (data) => {
      const body = data.stanza && data.stanza.querySelector('body');
      if (body) window.parleyTest.received.push({ from: data.stanza.getAttribute('from'), body: body.textContent });
    });
  },
});
converse.initialize(${JSON.stringify({
  websocket_url: wsUrl,
  jid,
  password,
  auto_login: true,
  discover_connection_methods: false,
  view_mode: 'fullscreen',
  whitelisted_plugins: ['parley-test'],
  assets_path: '/dist/',
  allow_non_roster_messaging: true,
  play_sounds: false,
  loglevel: 'info',
})});
</script></body></html>`;

const types = {
  '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.woff': 'font/woff', '.woff2': 'font/woff2', '.ttf': 'font/ttf',
  '.map': 'application/json', '.mp3': 'audio/mpeg', '.ogg': 'audio/ogg',
};
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page);
    return;
  }
  {
    // Converse.js loads its chunks and wasm relative to the page or to assets_path: both map to dist/.
    const rel = url.pathname.startsWith('/dist/') ? url.pathname.slice(6) : url.pathname.slice(1);
    const file = path.normalize(path.join(dist, decodeURIComponent(rel)));
    if (file.startsWith(dist + path.sep) && fs.existsSync(file) && fs.statSync(file).isFile()) {
      res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
      fs.createReadStream(file).pipe(res);
      return;
    }
  }
  res.writeHead(404);
  res.end();
});

let browser;
let status = 1;
try {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pageUrl = `http://127.0.0.1:${server.address().port}/`;
  browser = await chromium.launch({
    executablePath,
    headless: true,
    // Root in a container: Chromium's sandbox needs user namespaces it may not have.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const tab = await browser.newPage();
  // Offline and deterministic: nothing but this page's server and parleyd.
  await tab.route((u) => u.hostname !== '127.0.0.1', (r) => r.abort());
  tab.on('console', (m) => { if (m.type() === 'error') console.log(`browser console: ${m.text()}`); });
  tab.on('requestfailed', (r) => { if (new URL(r.url()).hostname === '127.0.0.1') console.log(`browser request failed: ${r.url()}`); });
  tab.on('response', (r) => { if (r.status() >= 400) console.log(`browser got ${r.status()} for ${r.url()}`); });
  tab.on('pageerror', (e) => console.log(`browser page error: ${e.message}`));
  tab.on('websocket', (ws) => console.log(`browser websocket: ${ws.url()}`));
  await tab.goto(pageUrl);
  await tab.waitForFunction(() => window.parleyTest && window.parleyTest.connected, null, { timeout });
  console.log('CONNECTED');
  if (room) {
    // Join as a user would from the UI: the room opens, Converse.js sends its MUC presence and shows
    // the room once the server's self-presence (status 110) arrives.
    await tab.evaluate(async ({ room, nick }) => {
      window.parleyTest.room = await window.parleyTest.api.rooms.open(room, { nick }, true);
    }, { room, nick });
    await tab.waitForFunction(() => window.parleyTest.room && window.parleyTest.room.isEntered(), null, { timeout });
    console.log('JOINED');
    await tab.evaluate(async ({ body }) => { await window.parleyTest.room.sendMessage({ body }); }, { body: toPeer });
  } else {
    await tab.evaluate(async ({ peer, body }) => {
      const chat = await window.parleyTest.api.chats.open(peer, {}, true);
      await chat.sendMessage({ body });
    }, { peer, body: toPeer });
  }
  console.log('SENT');
  await tab.waitForFunction(
    ({ body }) => window.parleyTest.received.some((m) => m.body === body), { body: fromPeer }, { timeout });
  // The reply is not only parsed but shown in the open chat.
  await tab.getByText(fromPeer).first().waitFor({ state: 'visible', timeout: 15000 });
  console.log('RECEIVED');
  status = 0;
} catch (e) {
  console.error(`FAIL: ${e && e.message ? e.message : e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  server.close();
}
process.exit(status);
