// Everyday work a function may do with Node's own modules: each step runs and reports "ok" or
// its error, so a system call the sandbox wrongly denies shows up as the step that broke.
const fs = require('fs');
const fsp = require('fs/promises');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const zlib = require('zlib');
const http = require('http');
const net = require('net');
const dgram = require('dgram');
const dns = require('dns/promises');
const tls = require('tls');
const { execSync, spawn } = require('child_process');
const { Worker } = require('worker_threads');

async function files() {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'everyday-'));
  const file = path.join(root, 'a.txt');
  await fsp.writeFile(file, 'hello\n'.repeat(1000));
  await fsp.copyFile(file, file + '.copy');
  await fsp.rename(file + '.copy', file + '.moved');
  await fsp.chmod(file, 0o600);
  await fsp.utimes(file, 1, 1);
  await fsp.symlink(file, file + '.link');
  await fsp.readlink(file + '.link');
  await fsp.truncate(file + '.moved', 3);
  const handle = await fsp.open(file, 'r+');
  await handle.sync();
  await handle.close();
  fs.appendFileSync(file, 'sync write');
  fs.readFileSync(file);
  await fsp.mkdir(path.join(root, 'sub', 'deeper'), { recursive: true });
  const names = (await fsp.readdir(root, { withFileTypes: true })).map((e) => e.name).sort();
  await fsp.stat(file);
  await fsp.rm(root, { recursive: true });
  return names;
}

function processes() {
  const out = execSync('echo from sh; ls / >/dev/null').toString().trim();
  return new Promise((resolve, reject) => {
    const cat = spawn('cat');
    let echoed = '';
    cat.stdout.on('data', (chunk) => (echoed += chunk));
    cat.on('error', reject);
    cat.on('close', (code) => resolve([out, echoed, code]));
    cat.stdin.end('piped');
  });
}

function threads() {
  const code = `const { parentPort } = require('worker_threads');
    parentPort.postMessage([1, 2, 3].map((x) => x * x));`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true });
    worker.on('message', resolve);
    worker.on('error', reject);
  });
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

async function network() {
  const server = http.createServer((req, res) => res.end('served'));
  const port = await listen(server);
  const body = await new Promise((resolve, reject) => {
    http.get(`http://localhost:${port}/`, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
  server.close();
  const echo = net.createServer((socket) => socket.pipe(socket));
  const echoPort = await listen(echo);
  const echoed = await new Promise((resolve, reject) => {
    const client = net.connect(echoPort, '127.0.0.1', () => client.end('tcp'));
    let text = '';
    client.on('data', (c) => (text += c));
    client.on('end', () => resolve(text));
    client.on('error', reject);
  });
  echo.close();
  const datagram = await new Promise((resolve, reject) => {
    const receiver = dgram.createSocket('udp4');
    receiver.on('error', reject);
    receiver.on('message', (msg) => {
      receiver.close();
      resolve(msg.toString());
    });
    receiver.bind(0, '127.0.0.1', () => {
      const sender = dgram.createSocket('udp4');
      sender.send('datagram', receiver.address().port, '127.0.0.1', () => sender.close());
    });
  });
  const address = await dns.lookup('localhost', { family: 4 });
  return [body, echoed, datagram, address.address];
}

async function data() {
  const digest = crypto.createHash('sha256').update(crypto.randomBytes(32)).digest('hex');
  const key = await new Promise((resolve, reject) =>
    crypto.pbkdf2('secret', 'salt', 1000, 32, 'sha256', (e, k) => (e ? reject(e) : resolve(k))));
  const packed = await new Promise((resolve, reject) =>
    zlib.gzip(Buffer.alloc(10000, 'z'), (e, b) => (e ? reject(e) : resolve(b))));
  tls.createSecureContext();
  const big = Buffer.alloc(16 << 20, 1);
  return [digest.length, key.length, zlib.gunzipSync(packed).length, big.length];
}

function system() {
  return {
    cpus: os.cpus().length > 0,
    interfaces: Object.keys(os.networkInterfaces()).length >= 0,
    memory: os.totalmem() > 0,
    load: os.loadavg().length,
    user: os.userInfo().username,
    uptime: os.uptime() > 0,
    rss: process.memoryUsage().rss > 0,
    cpu: process.cpuUsage().user >= 0,
    resources: process.resourceUsage().maxRSS > 0,
    hrtime: process.hrtime.bigint() > 0n,
  };
}

const STEPS = { files, processes, threads, network, data, system };

exports.handle = async () => {
  const results = {};
  for (const [name, step] of Object.entries(STEPS)) {
    try {
      results[name] = { ok: true, value: await step() };
    } catch (e) {
      results[name] = { ok: false, error: String(e && e.stack ? e.stack : e) };
    }
  }
  return results;
};
