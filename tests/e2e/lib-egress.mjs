// Test egress proxies for egress.test.mjs: an HTTP CONNECT proxy and a SOCKS5 proxy (RFC
// 1928/1929), tiny and strict, that reach only the names in their `hosts` map (so an
// upstream named `gemini.test` is reachable through them and nowhere else) and record every
// tunnel: the target as asked, and the local port of their own connection to it, which the
// mock sees as the request's remotePort — so each request the mock logs can be traced to the
// proxy that carried it.
import net from 'node:net';

function connectTarget(hosts, host, port) {
  // A name of the map goes where the map says; an IP literal goes where it says.
  const mapped = hosts[host];
  if (mapped) return { host: '127.0.0.1', port: mapped };
  if (net.isIP(host)) return { host, port };
  return null;
}

function relay(a, b) {
  a.pipe(b);
  b.pipe(a);
  const close = () => { a.destroy(); b.destroy(); };
  a.on('error', close);
  b.on('error', close);
  a.on('close', close);
  b.on('close', close);
}

function trackSockets(server) {
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return sockets;
}

// HTTP CONNECT proxy. auth: 'user:password' required in Proxy-Authorization (else 407).
export async function startConnectProxy({ hosts = {}, auth = null, name = 'connect' } = {}) {
  const stats = { name, connections: 0, tunnels: [], refused: [], localPorts: new Set() };
  const server = net.createServer((client) => {
    stats.connections++;
    let head = Buffer.alloc(0);
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16384) client.destroy();
        return;
      }
      client.removeListener('data', onData);
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const rest = head.subarray(end + 4);
      const m = /^CONNECT (\S+):(\d+) HTTP\/1\.1$/.exec(lines[0]);
      const headers = {};
      for (const l of lines.slice(1)) {
        const c = l.indexOf(':');
        headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      const answer = (code, text) => {
        stats.refused.push({ code, line: lines[0] });
        client.end(`HTTP/1.1 ${code} ${text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      };
      if (!m || !headers.host) return answer(400, 'Bad Request');
      if (auth !== null) {
        const want = 'Basic ' + Buffer.from(auth).toString('base64');
        if (headers['proxy-authorization'] !== want) return answer(407, 'Proxy Authentication Required');
      }
      const host = m[1].replace(/^\[|\]$/g, '');
      const target = connectTarget(hosts, host, Number(m[2]));
      if (!target) return answer(502, 'Bad Gateway');
      const up = net.connect(target.port, target.host, () => {
        stats.tunnels.push({ target: `${host}:${m[2]}`, localPort: up.localPort });
        stats.localPorts.add(up.localPort);
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (rest.length) up.write(rest);
        relay(client, up);
      });
      up.on('error', () => { if (!client.destroyed) answer(502, 'Bad Gateway'); });
    };
    client.on('data', onData);
    client.on('error', () => {});
  });
  const sockets = trackSockets(server);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return {
    port,
    stats,
    url: (cred = auth) => `http://${cred ? cred + '@' : ''}127.0.0.1:${port}`,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

// SOCKS5 proxy. auth: 'user:password' demands RFC 1929 authentication.
export async function startSocksProxy({ hosts = {}, auth = null, name = 'socks' } = {}) {
  const stats = { name, connections: 0, tunnels: [], authFailures: 0, localPorts: new Set() };
  const server = net.createServer((client) => {
    stats.connections++;
    let buf = Buffer.alloc(0);
    let state = 'greeting';
    const fail = () => client.destroy();
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (state === 'greeting') {
          if (buf.length < 2) return;
          if (buf[0] !== 5) return fail();
          const n = buf[1];
          if (buf.length < 2 + n) return;
          const methods = [...buf.subarray(2, 2 + n)];
          buf = buf.subarray(2 + n);
          const want = auth === null ? 0 : 2;
          if (!methods.includes(want)) { client.end(Buffer.from([5, 0xff])); return; }
          client.write(Buffer.from([5, want]));
          state = want === 2 ? 'auth' : 'request';
        } else if (state === 'auth') {
          if (buf.length < 2) return;
          if (buf[0] !== 1) return fail();
          const ul = buf[1];
          if (buf.length < 2 + ul + 1) return;
          const pl = buf[2 + ul];
          if (buf.length < 3 + ul + pl) return;
          const user = buf.subarray(2, 2 + ul).toString();
          const pass = buf.subarray(3 + ul, 3 + ul + pl).toString();
          buf = buf.subarray(3 + ul + pl);
          if (`${user}:${pass}` !== auth) {
            stats.authFailures++;
            client.end(Buffer.from([1, 1]));
            return;
          }
          client.write(Buffer.from([1, 0]));
          state = 'request';
        } else if (state === 'request') {
          if (buf.length < 5) return;
          if (buf[0] !== 5 || buf[1] !== 1 || buf[2] !== 0) return fail();
          let host;
          let len;
          const atyp = buf[3];
          if (atyp === 1) {
            len = 4 + 4 + 2;
            if (buf.length < len) return;
            host = [...buf.subarray(4, 8)].join('.');
          } else if (atyp === 4) {
            len = 4 + 16 + 2;
            if (buf.length < len) return;
            const parts = [];
            for (let i = 0; i < 16; i += 2) parts.push(buf.readUInt16BE(4 + i).toString(16));
            host = parts.join(':');
          } else if (atyp === 3) {
            len = 5 + buf[4] + 2;
            if (buf.length < len) return;
            host = buf.subarray(5, 5 + buf[4]).toString();
          } else {
            return fail();
          }
          const port = buf.readUInt16BE(len - 2);
          const rest = buf.subarray(len);
          client.removeListener('data', onData);
          const target = connectTarget(hosts, host, port);
          const reply = (code) => Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
          if (!target) { client.end(reply(4)); return; }  // host unreachable
          const up = net.connect(target.port, target.host, () => {
            stats.tunnels.push({ atyp, target: `${host}:${port}`, localPort: up.localPort });
            stats.localPorts.add(up.localPort);
            client.write(reply(0));
            if (rest.length) up.write(rest);
            relay(client, up);
          });
          up.on('error', () => { if (!client.destroyed) client.end(reply(5)); });
          return;
        }
      }
    };
    client.on('data', onData);
    client.on('error', () => {});
  });
  const sockets = trackSockets(server);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return {
    port,
    stats,
    url: (scheme = 'socks5h', cred = auth) => `${scheme}://${cred ? cred + '@' : ''}127.0.0.1:${port}`,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

// The proxy (by name) that carried each request the mock logged, by the request's remote port.
export function carrierOf(request, proxies) {
  const found = proxies.filter((p) => p.stats.localPorts.has(request.remotePort));
  return found.length === 1 ? found[0].stats.name : null;
}
