// Gust's Node.js worker: speaks the worker protocol (docs/worker-protocol.md) on fd 3.
// Started once per worker (or stem cell) as `node -e <this file>`; loads the function's
// handler (CommonJS or ESM, sync or async) when told to, then serves invocations, several at
// once when the pool's concurrency allows, capturing each one's stdout/stderr separately.
'use strict';
const net = require('net');
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const { AsyncLocalStorage } = require('async_hooks');

const execNs = BigInt(process.env.GUST_EXEC_MONOTONIC_NS || 0);
const sock = new net.Socket({ fd: 3, readable: true, writable: true });
const captures = new AsyncLocalStorage();
let logLimit = 65536;
let handler = null;

// Frames gather until the JavaScript of the current turn is done (a microtask) and leave in
// one write: every reply to the invocations of one read (and any async ones settling
// together) shares a syscall, and goes out before the loop polls again. A text
// body stays a string until then, so the usual reply costs one conversion to bytes, not three.
let pending = null;
let pendingBinary = false;
function send(header, body) {
  if (!pending) {
    pending = [];
    pendingBinary = false;
    queueMicrotask(flush);
  }
  if (typeof body === 'string') {
    const len = Buffer.byteLength(body);
    pending.push(len ? header.slice(0, -1) + ',"len":' + len + '}\n' + body : header + '\n');
  } else if (body && body.length) {
    pending.push(header.slice(0, -1) + ',"len":' + body.length + '}\n', body);
    pendingBinary = true;
  } else {
    pending.push(header + '\n');
  }
}
function sendJson(header) {
  send(JSON.stringify(header), null);
}
function flush() {
  if (!pending) return;
  const parts = pending;
  pending = null;
  if (!pendingBinary) {
    sock.write(parts.length === 1 ? parts[0] : parts.join(''));
  } else {
    sock.write(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))));
  }
}

// console.log and friends write to process.stdout/stderr: route those writes to the
// capture of the invocation they happen in (AsyncLocalStorage follows awaits).
function capture(stream, key) {
  const original = stream.write.bind(stream);
  stream.write = (chunk, encoding, callback) => {
    const store = captures.getStore();
    if (!store) return original(chunk, encoding, callback);
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    const room = logLimit - store.size;
    if (room <= 0) {
      if (text.length) store.truncated = true;
    } else if (text.length > room) {
      store[key].push(text.slice(0, room));
      store.size = logLimit;
      store.truncated = true;
    } else {
      store[key].push(text);
      store.size += text.length;
    }
    const cb = typeof encoding === 'function' ? encoding : callback;
    if (cb) process.nextTick(cb);
    return true;
  };
}
capture(process.stdout, 'stdout');
capture(process.stderr, 'stderr');

// The handler's second argument; one shared method rather than a closure per request.
class Context {
  constructor(c) {
    this.functionName = c.functionName;
    this.functionVersion = c.functionVersion;
    this.memoryLimitInMb = c.memoryLimitInMb;
    this.executionId = c.executionId;
    this.memoryLimitMb = c.memoryLimitMb;
    this.timeoutMs = c.timeoutMs;
    this.deadlineMs = c.deadlineMs;
  }
  getRemainingTimeInMillis() { return Math.max(0, this.deadlineMs - Date.now()); }
}

// A header value as the protocol carries it: a string, or an array of them.
function headerValue(v) {
  return typeof v === 'string' ? v.toWellFormed() : Array.isArray(v) ? v.map((x) => String(x).toWellFormed()) : String(v).toWellFormed();
}

// A handler's return value as [status, headers, body]; the body a string (UTF-8 text) or a
// Buffer.
function toResponse(result) {
  if (result && typeof result === 'object' && !Array.isArray(result) && 'statusCode' in result) {
    const headers = {};
    const given = result.headers;
    if (given) for (const k of Object.keys(given)) headers[k.toWellFormed()] = headerValue(given[k]);
    let body = result.body;
    if (body === undefined || body === null) body = '';
    else if (Buffer.isBuffer(body) || body instanceof Uint8Array) body = Buffer.from(body);
    else if (typeof body === 'string') {
      if (result.isBase64Encoded) body = Buffer.from(body, 'base64');
    } else {
      body = JSON.stringify(body);
      if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    }
    return [Number(result.statusCode), headers, body];
  }
  if (typeof result === 'string') return [200, { 'content-type': 'text/plain; charset=utf-8' }, result];
  const json = JSON.stringify(result);
  return [200, { 'content-type': 'application/json' }, json === undefined ? 'null' : json];
}

function invoke(msg, raw) {
  const event = msg.event;
  event.body = event.isBase64Encoded ? raw.toString('base64') : raw.toString('utf8');
  const store = { stdout: [], stderr: [], size: 0, truncated: false };
  const id = msg.id;
  let result;
  try {
    const context = new Context(msg.context || {});
    if (handler.length >= 3) {
      // `(event, context, callback)`: the answer is whichever comes first, the callback or
      // the returned promise.
      result = new Promise((resolve, reject) => {
        const returned = captures.run(store, handler, event, context, (err, value) => (err ? reject(err) : resolve(value)));
        if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
      });
    } else {
      result = captures.run(store, handler, event, context);
    }
  } catch (err) {
    return finish(id, store, false, err);
  }
  // A synchronous handler's reply goes out without a promise; an async one's when it settles.
  let then;
  try {
    then = result && result.then;
  } catch (err) {
    return finish(id, store, false, err);
  }
  if (typeof then === 'function') {
    Promise.resolve(result).then((value) => finish(id, store, true, value), (err) => finish(id, store, false, err));
  } else {
    finish(id, store, true, result);
  }
}

// `ok`: the handler returned `value`; else it threw (or rejected with) `value`. The result's
// header is written by hand: JSON.stringify of the whole object costs more than the handler.
function finish(id, store, ok, value) {
  let status = 200;
  let headers = null;
  let body = null;
  let error = value;
  if (ok) {
    try {
      [status, headers, body] = toResponse(value);
    } catch (err) {
      ok = false;
      error = err;
    }
  }
  let header = '{"type":"result","id":' + id;
  if (!ok) {
    store.stderr.push(((error && error.stack) || String(error)) + '\n');
    header += ',"error":' + JSON.stringify(String((error && error.message) || error).toWellFormed());
    body = null;
  } else {
    header += ',"status":' + (Number.isFinite(status) ? status : 'null') + ',"headers":' + JSON.stringify(headers);
  }
  // toWellFormed: a lone surrogate (printed, or left by cutting a log at the limit) would
  // make JSON that is not UTF-8; it becomes U+FFFD instead.
  if (store.stdout.length) header += ',"stdout":' + JSON.stringify(store.stdout.join('').toWellFormed());
  if (store.stderr.length) header += ',"stderr":' + JSON.stringify(store.stderr.join('').toWellFormed());
  if (store.truncated) header += ',"truncated":true';
  send(header + '}', body);
}

async function load(msg) {
  Object.assign(process.env, msg.env || {});
  const dir = msg.code_dir || '/code';
  process.chdir(dir);
  if (msg.contract === 'appwrite') return loadAppwrite(msg, dir);
  if (msg.contract === 'azion') return loadAzion(msg, dir);
  qinling = msg.contract === 'qinling';
  const spec = msg.handler || (qinling ? 'main.main' : 'main.handle');
  const dot = spec.lastIndexOf('.');
  const moduleName = dot > 0 ? spec.slice(0, dot) : 'main';
  const fnName = dot > 0 ? spec.slice(dot + 1) : spec;
  const started = process.hrtime.bigint();
  const file = ['.js', '.mjs', '.cjs', ''].map((ext) => path.join(dir, moduleName + ext)).find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
  if (!file) throw new Error(`no module ${moduleName}.js, .mjs or .cjs in the code folder`);
  // require() is several ms faster than a first import(); ES modules (.mjs, or .js under
  // "type": "module") are refused by require and go through import().
  let ns;
  try {
    ns = file.endsWith('.mjs') ? await import(pathToFileURL(file).href) : require(file);
  } catch (err) {
    if (!err || err.code !== 'ERR_REQUIRE_ESM') throw err;
    ns = await import(pathToFileURL(file).href);
  }
  let fn = ns[fnName];
  if (typeof fn !== 'function' && ns.default) fn = ns.default[fnName];
  if (typeof fn !== 'function') throw new Error(`module ${path.basename(file)} has no function ${fnName}`);
  handler = fn;
  return Number((process.hrtime.bigint() - started) / 1000n);
}

// The `appwrite` contract (Appwrite 0.15's Node runtime): the entrypoint file exports the
// function, called as `(req, res)` and answered with res.send or res.json. Nothing here runs
// for the `gust` contract.
let appwrite = false;
let appwriteEnv = {};
const TEXT = 'text/plain; charset=utf-8';
const NO_ANSWER = 'the function settled without calling res.send or res.json';

// An ES module (.mjs, or .js under "type": "module") is refused by require and imported.
async function requireOrImport(file) {
  try {
    return file.endsWith('.mjs') ? await import(pathToFileURL(file).href) : require(file);
  } catch (err) {
    if (!err || err.code !== 'ERR_REQUIRE_ESM') throw err;
    return import(pathToFileURL(file).href);
  }
}

async function loadAppwrite(msg, dir) {
  const entry = msg.entrypoint || 'index.js';
  const started = process.hrtime.bigint();
  const ns = await requireOrImport(path.join(dir, entry));
  // module.exports = fn; or a default export (ES modules, transpiled TypeScript).
  let fn = typeof ns === 'function' ? ns : ns && ns.default;
  if (typeof fn !== 'function' && fn && typeof fn.default === 'function') fn = fn.default;
  if (typeof fn !== 'function') {
    throw new Error(`${entry} exports no function: Appwrite calls module.exports = async (req, res) => { ... }`);
  }
  appwriteEnv = Object.assign({}, msg.env || {});
  handler = fn;
  appwrite = true;
  return Number((process.hrtime.bigint() - started) / 1000n);
}

function httpStatus(status) {
  if (status === undefined || status === null) return 200;
  const code = Number(status);
  if (!Number.isInteger(code) || code < 100 || code > 599) throw new TypeError(`${status} is not an HTTP status code`);
  return code;
}

function invokeAppwrite(msg, raw) {
  const id = msg.id;
  const headers = msg.event.headers || {};
  const payload = raw.toString('utf8');
  const env = Object.assign({}, appwriteEnv);
  const given = msg.context && msg.context.trigger;
  // Appwrite's name for API and HTTP runs alike is `http`.
  const trigger = given === 'schedule' || given === 'event' ? given : 'http';
  env.APPWRITE_FUNCTION_TRIGGER = trigger;
  env.APPWRITE_FUNCTION_DATA = payload;
  if (trigger === 'event') {
    env.APPWRITE_FUNCTION_EVENT = headers['x-gust-event'] || '';
    env.APPWRITE_FUNCTION_EVENT_DATA = payload;
  }
  const req = { payload, env, variables: env, headers };
  const store = { stdout: [], stderr: [], size: 0, truncated: false };
  // The first send or json call is the answer; later ones change nothing.
  let answer = null;
  const res = {
    send(text, status) {
      if (answer) return;
      const body = text === undefined || text === null ? '' : Buffer.isBuffer(text) ? text : String(text);
      answer = [httpStatus(status), TEXT, body];
    },
    json(obj, status) {
      if (answer) return;
      const json = JSON.stringify(obj);
      answer = [httpStatus(status), 'application/json', json === undefined ? '' : json];
    },
  };
  let result;
  try {
    result = captures.run(store, handler, req, res);
  } catch (err) {
    return finishAppwrite(id, store, answer, false, err);
  }
  let then;
  try {
    then = result && result.then;
  } catch (err) {
    return finishAppwrite(id, store, answer, false, err);
  }
  if (typeof then === 'function') {
    Promise.resolve(result).then(() => finishAppwrite(id, store, answer, true), (err) => finishAppwrite(id, store, answer, false, err));
  } else {
    finishAppwrite(id, store, answer, true);
  }
}

// `ok`: the handler returned; else it threw `error`. An answer given before a failure stands,
// with the trace in the logs; without one, the trace is the answer, as in Appwrite.
function finishAppwrite(id, store, answer, ok, error) {
  let status;
  let type;
  let body;
  let failure = null;
  if (!ok) {
    const trace = (error && error.stack) || String(error);
    store.stderr.push(trace + '\n');
    if (!answer) {
      failure = String((error && error.message) || error);
      [status, type, body] = [500, TEXT, trace];
    }
  }
  if (answer) [status, type, body] = answer;
  else if (ok) [failure, status, type, body] = [NO_ANSWER, 500, TEXT, NO_ANSWER];
  let header = '{"type":"result","id":' + id + ',"status":' + status + ',"headers":{"content-type":"' + type + '"}';
  if (failure !== null) header += ',"error":' + JSON.stringify(failure.toWellFormed());
  if (store.stdout.length) header += ',"stdout":' + JSON.stringify(store.stdout.join('').toWellFormed());
  if (store.stderr.length) header += ',"stderr":' + JSON.stringify(store.stderr.join('').toWellFormed());
  if (store.truncated) header += ',"truncated":true';
  send(header + '}', body);
}

// The `qinling` contract (Qinling's Node runtime): `(context, input)`, the input the body as
// JSON when it is an object, `{__function_input: body}` otherwise, null when empty; what the
// handler returns (or resolves to) is the answer, as JSON.
let qinling = false;
function invokeQinling(msg, raw) {
  const text = raw.toString('utf8');
  let input = null;
  if (text.trim()) {
    try {
      input = JSON.parse(text);
    } catch {
      input = null;
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) input = { __function_input: text };
  }
  const store = { stdout: [], stderr: [], size: 0, truncated: false };
  const id = msg.id;
  const answer = (value) => {
    const json = JSON.stringify(value);
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: json === undefined ? 'null' : json };
  };
  let result;
  try {
    result = captures.run(store, handler, {}, input);
  } catch (err) {
    return finish(id, store, false, err);
  }
  Promise.resolve(result).then((value) => {
    let reply;
    try {
      reply = answer(value);
    } catch (err) {
      return finish(id, store, false, err);
    }
    finish(id, store, true, reply);
  }, (err) => finish(id, store, false, err));
}

// The `azion` contract (Azion's edge runtime): the code registers a fetch listener
// (`addEventListener("fetch", e => e.respondWith(...))`, `e.args` the instance's arguments,
// readable as `e.args.key` and `e.args("key")`) or exports `default { fetch(request, env, ctx) }`
// (`ctx.args`); either is given a standard Request and answers with a standard Response.
let azion = null;
let azionEnv = null;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

class FetchEvent {
  constructor(request, args, pending) {
    this.type = 'fetch';
    this.request = request;
    this.args = args;
    this.responded = false;
    this.response = undefined;
    this.pending = pending;
  }
  respondWith(response) {
    if (this.responded) throw new Error('event.respondWith was already called');
    this.responded = true;
    this.response = response;
  }
  waitUntil(promise) { this.pending.push(Promise.resolve(promise)); }
  passThroughOnException() {}
}

async function loadAzion(msg, dir) {
  const spec = msg.handler || 'main.default';
  const dot = spec.lastIndexOf('.');
  const moduleName = dot > 0 ? spec.slice(0, dot) : spec;
  const exportName = dot > 0 ? spec.slice(dot + 1) : 'default';
  const started = process.hrtime.bigint();
  const file = ['.js', '.mjs', '.cjs', ''].map((ext) => path.join(dir, moduleName + ext)).find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
  if (!file) throw new Error(`no module ${moduleName}.js, .mjs or .cjs in the code folder`);
  // The globals of Azion's runtime that Node lacks; the code registers its listener at load.
  let listener = null;
  globalThis.addEventListener = (type, fn) => {
    if (type === 'fetch' && typeof fn === 'function') listener = fn;
  };
  globalThis.Azion = { env: { get: (key) => process.env[key] } };
  globalThis.EdgeRuntime = 'gust';
  azionEnv = Object.freeze(Object.assign({}, msg.env || {}));
  const ns = await requireOrImport(file);
  if (listener) {
    azion = { listener };
  } else {
    // ES module: the namespace's export; CommonJS: module.exports itself (or its `default`).
    const candidates = [ns && ns[exportName], ns && ns.default, ns && ns.default && ns.default.default, ns];
    const mod = candidates.find((c) => c && typeof c.fetch === 'function');
    if (!mod) {
      throw new Error(`${path.basename(file)} neither calls addEventListener("fetch", ...) nor exports default { fetch(request, env, ctx) }`);
    }
    azion = { module: mod };
  }
  return Number((process.hrtime.bigint() - started) / 1000n);
}

// `args` as Azion's reference shows both ways: a function of the key that also carries them.
function callableArgs(args) {
  const object = args !== null && typeof args === 'object';
  const get = (key) => (key === undefined ? args : object ? args[key] : undefined);
  Object.defineProperty(get, 'toJSON', { value: () => args, configurable: true, writable: true });
  if (object) {
    for (const k of Object.keys(args)) Object.defineProperty(get, k, { value: args[k], enumerable: true, writable: true, configurable: true });
  }
  return get;
}

// The request as the application's domain received it: full URL, method, headers, body.
function azionRequest(msg, raw) {
  const ev = msg.event;
  const given = ev.headers || {};
  const proto = given['x-forwarded-proto'] === 'https' ? 'https' : 'http';
  const query = ev.rawQueryString;
  const url = proto + '://' + (given.host || 'localhost') + ev.path + (query ? '?' + query : '');
  const headers = new Headers();
  for (const k of Object.keys(given)) {
    try { headers.append(k, given[k]); } catch { /* a value Headers refuses is left out */ }
  }
  const init = { method: ev.httpMethod, headers };
  if (raw.length && ev.httpMethod !== 'GET' && ev.httpMethod !== 'HEAD') {
    init.body = raw;
    init.duplex = 'half';
  }
  const request = new Request(url, init);
  const forwarded = (given['x-forwarded-for'] || '').split(',')[0].trim();
  request.metadata = { request_id: msg.context && msg.context.executionId, remote_addr: forwarded, server_protocol: 'HTTP/1.1' };
  return request;
}

// A Response as [status, headers, body] for the result frame, its body read whole.
async function azionAnswer(response) {
  if (!response || typeof response.arrayBuffer !== 'function' || !response.headers || !('status' in response)) {
    throw new TypeError(`the function answered with ${response === undefined ? 'nothing' : typeof response}, not a Response`);
  }
  // A fetched response's body comes decoded: its encoding and length no longer apply.
  const fetched = response.type && response.type !== 'default';
  const headers = {};
  for (const [k, v] of response.headers) {
    if (k === 'set-cookie' || HOP_BY_HOP.has(k) || (fetched && k === 'content-encoding')) continue;
    headers[k] = v;
  }
  const cookies = typeof response.headers.getSetCookie === 'function' ? response.headers.getSetCookie() : [];
  if (cookies.length) headers['set-cookie'] = cookies;
  const body = response.body === null ? '' : Buffer.from(await response.arrayBuffer());
  return { statusCode: response.status, headers, body };
}

function invokeAzion(msg, raw) {
  const id = msg.id;
  const store = { stdout: [], stderr: [], size: 0, truncated: false };
  const args = msg.context && msg.context.args !== undefined ? msg.context.args : {};
  const pending = [];
  let answered;
  try {
    answered = captures.run(store, () => {
      const request = azionRequest(msg, raw);
      let result;
      if (azion.listener) {
        const event = new FetchEvent(request, callableArgs(args), pending);
        azion.listener(event);
        if (!event.responded) throw new Error('the fetch listener did not call event.respondWith(...)');
        result = event.response;
      } else {
        const ctx = { args, waitUntil: (p) => { pending.push(Promise.resolve(p)); } };
        result = azion.module.fetch(request, azionEnv, ctx);
      }
      return Promise.resolve(result).then(azionAnswer);
    });
  } catch (err) {
    return finish(id, store, false, err);
  }
  // Work handed to waitUntil ends before the answer leaves, so its output is in the logs.
  const settle = () => (pending.length ? Promise.allSettled(pending) : Promise.resolve([]));
  answered.then(
    (value) => settle().then((done) => {
      for (const r of done) if (r.status === 'rejected') store.stderr.push(((r.reason && r.reason.stack) || String(r.reason)) + '\n');
      finish(id, store, true, value);
    }),
    (err) => finish(id, store, false, err),
  );
}

let buffer = Buffer.alloc(0);
let loaded = false;
function onFrame(msg, raw) {
  if (msg.type === 'invoke') {
    if (appwrite) invokeAppwrite(msg, raw);
    else if (azion) invokeAzion(msg, raw);
    else if (qinling) invokeQinling(msg, raw);
    else invoke(msg, raw);
  } else if (msg.type === 'load' && !loaded) {
    loaded = true;
    logLimit = msg.log_limit || logLimit;
    load(msg).then(
      (importUs) => sendJson({ type: 'loaded', import_us: importUs }),
      (err) => { sendJson({ type: 'error', message: (err && err.stack) || String(err) }); flush(); sock.end(); },
    );
  }
}
sock.on('data', (chunk) => {
  buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
  for (;;) {
    const nl = buffer.indexOf(10);
    if (nl < 0) return;
    const msg = JSON.parse(buffer.toString('utf8', 0, nl));
    const size = msg.len || 0;
    if (buffer.length < nl + 1 + size) return;
    const raw = buffer.subarray(nl + 1, nl + 1 + size);
    buffer = buffer.subarray(nl + 1 + size);
    onFrame(msg, raw);
  }
});
sock.on('end', () => process.exit(0));
sock.on('error', () => process.exit(1));

sendJson({
  type: 'hello', protocol: 1, runtime: 'node20', version: process.versions.node,
  interpreter_us: execNs ? Number((process.hrtime.bigint() - execNs) / 1000n) : null,
  exec_ns: execNs ? String(execNs) : null,
});
