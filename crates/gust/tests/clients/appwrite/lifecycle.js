// The whole life of a function through Appwrite's official Node SDK (node-appwrite@7.0.3, the
// 0.15 generation), against a running Gust: runtimes, create, a chunked deployment, the build,
// activation, sync and async executions, paging, an update that changes the vars, a retried
// build, the errors the SDK raises, and deletion.
//
// Environment: APPWRITE_ENDPOINT (…/compat/appwrite/v1), APPWRITE_PROJECT, APPWRITE_KEY (all
// scopes), APPWRITE_READ_KEY (read only), WORKDIR (a scratch folder). Run from the npm folder
// that holds node-appwrite.
'use strict';

const assert = require('assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const sdk = require('node-appwrite');

const { APPWRITE_ENDPOINT, APPWRITE_PROJECT, APPWRITE_KEY, APPWRITE_READ_KEY, WORKDIR } =
  process.env;
const CHUNK = 5 * 1024 * 1024;

const HANDLER = `
module.exports = async (req, res) => {
  const p = req.payload.startsWith('{') ? JSON.parse(req.payload) : {};
  console.log('printed by the function');
  res.json({
    hello: p.name || 'world',
    payload: req.payload,
    greeting: req.env.GREETING,
    functionId: req.env.APPWRITE_FUNCTION_ID,
    trigger: req.env.APPWRITE_FUNCTION_TRIGGER,
    variablesToo: req.variables === req.env || JSON.stringify(req.variables) === JSON.stringify(req.env),
    processEnv: process.env.GREETING,
  });
};
`;

function functions(key = APPWRITE_KEY, project = APPWRITE_PROJECT) {
  const client = new sdk.Client().setEndpoint(APPWRITE_ENDPOINT).setProject(project).setKey(key);
  return new sdk.Functions(client);
}

// A .tar.gz of `files` (name → Buffer), written by hand: ustar headers, 512-byte blocks.
function archive(name, files) {
  const blocks = [];
  for (const [fileName, data] of Object.entries(files)) {
    const header = Buffer.alloc(512);
    header.write(fileName, 0);
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  const file = path.join(WORKDIR, name);
  fs.writeFileSync(file, zlib.gzipSync(Buffer.concat(blocks)));
  return file;
}

async function expectError(call, code, type) {
  try {
    await call();
  } catch (e) {
    assert.ok(e instanceof sdk.AppwriteException, String(e));
    assert.equal(e.code, code, e.message);
    assert.equal(e.type, type, e.message);
    return e;
  }
  assert.fail(`expected ${code} ${type}, got no error`);
}

async function waitFor(read, done, what, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function main() {
  const fns = functions();

  const runtimes = await fns.listRuntimes();
  const ids = runtimes.runtimes.map((r) => r.$id);
  assert.ok(ids.includes('python-3.11') && ids.includes('node-20.0'), ids.join());

  const created = await fns.create('sdk-node', 'Hello from Node', ['role:all'], 'node-20.0',
    { GREETING: 'hi' }, undefined, '0 0 1 1 *', 20);
  assert.equal(created.$id, 'sdk-node');
  assert.equal(created.name, 'Hello from Node');
  assert.deepEqual(created.vars, { GREETING: 'hi' });
  assert.equal(created.schedule, '0 0 1 1 *');
  assert.equal(created.timeout, 20);
  assert.equal(created.deployment, '');
  const fid = created.$id;
  await expectError(() => fns.create(fid, 'again', [], 'node-20.0'), 409, 'document_already_exists');

  // Over 5 MiB, so it goes up in chunks; random padding keeps it from compressing.
  const big = archive('big.tar.gz', {
    'src/index.js': Buffer.from(HANDLER),
    'padding.bin': crypto.randomBytes(6 * 1024 * 1024),
  });
  assert.ok(fs.statSync(big).size > CHUNK);
  const deployment = await fns.createDeployment(fid, 'src/index.js',
    sdk.InputFile.fromPath(big, 'code.tar.gz'), true);
  assert.equal(deployment.resourceId, fid);
  assert.equal(deployment.size, fs.statSync(big).size);
  const did = deployment.$id;
  const built = await waitFor(() => fns.getDeployment(fid, did),
    (d) => d.status === 'ready' || d.status === 'failed', 'the build');
  assert.equal(built.status, 'ready', JSON.stringify(built));

  const activated = await fns.updateDeployment(fid, did);
  assert.equal(activated.deployment, did);
  assert.ok(activated.scheduleNext > Date.now() / 1000, JSON.stringify(activated));

  const sync = await fns.createExecution(fid, JSON.stringify({ name: 'sdk' }), false);
  assert.equal(sync.status, 'completed', JSON.stringify(sync));
  assert.equal(sync.statusCode, 200);
  assert.equal(sync.trigger, 'http');
  assert.deepEqual(JSON.parse(sync.response), {
    hello: 'sdk', payload: '{"name":"sdk"}', greeting: 'hi', functionId: fid, trigger: 'http',
    variablesToo: true, processEnv: 'hi',
  });

  const queued = await fns.createExecution(fid, 'plain text'); // async is the default
  assert.ok(['waiting', 'processing', 'completed'].includes(queued.status), queued.status);
  const finished = await waitFor(() => fns.getExecution(fid, queued.$id),
    (e) => e.status === 'completed' || e.status === 'failed', 'the async execution');
  assert.equal(finished.status, 'completed', JSON.stringify(finished));
  assert.equal(JSON.parse(finished.response).payload, 'plain text');

  const first = await fns.listExecutions(fid, 1);
  assert.equal(first.total, 2);
  assert.deepEqual(first.executions.map((e) => e.$id), [queued.$id]);
  const second = await fns.listExecutions(fid, 1, undefined, undefined, queued.$id);
  assert.deepEqual(second.executions.map((e) => e.$id), [sync.$id]);
  await expectError(() => fns.listExecutions(fid, 1, undefined, undefined, 'no-such-execution'),
    400, 'general_cursor_not_found');

  const updated = await fns.update(fid, 'Hello again', ['role:all'], { GREETING: 'hola' });
  assert.deepEqual(updated.vars, { GREETING: 'hola' });
  const again = await fns.createExecution(fid, '{}', false);
  assert.equal(JSON.parse(again.response).greeting, 'hola', again.response);

  const broken = archive('broken.tar.gz', { 'index.js': Buffer.from('module.exports = (req, res => {\n') });
  let failed = await fns.createDeployment(fid, 'index.js', sdk.InputFile.fromPath(broken, 'code.tar.gz'), false);
  failed = await waitFor(() => fns.getDeployment(fid, failed.$id),
    (d) => d.status === 'ready' || d.status === 'failed', 'the broken build');
  assert.equal(failed.status, 'failed');
  assert.ok(failed.buildStderr, JSON.stringify(failed));
  await fns.retryBuild(fid, failed.$id, failed.buildId);
  await waitFor(() => fns.getDeployment(fid, failed.$id), (d) => d.status === 'failed',
    'the retried build');
  await expectError(() => fns.retryBuild(fid, did, did), 400, 'build_in_progress');

  await expectError(() => functions('not-a-key').list(), 401, 'user_unauthorized');
  await expectError(() => functions(APPWRITE_KEY, 'no-such-project').list(), 404, 'project_not_found');
  await expectError(() => functions(APPWRITE_READ_KEY).create('read-only', 'x', [], 'node-20.0'),
    401, 'general_unauthorized_scope');
  const badTimeout = await expectError(
    () => fns.create('bad-timeout', 'x', [], 'node-20.0', undefined, undefined, undefined, 901),
    400, 'general_argument_invalid');
  assert.match(badTimeout.message, /timeout/);
  await expectError(() => fns.get('no-such-function'), 404, 'function_not_found');

  await fns.delete(fid);
  await expectError(() => fns.get(fid), 404, 'function_not_found');
  console.log('appwrite node sdk: the whole life of a function passed');
}

main().catch((e) => {
  console.error('FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
