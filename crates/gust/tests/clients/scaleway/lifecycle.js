// The life of a function on Gust, driven by Scaleway's JS SDK (`@scaleway/sdk-function@1.7.0`
// with `@scaleway/sdk-client`) through the dialect at $SCW_API_URL.
//
// Also reads GUST_URL (the server, for invocations through domain names), FUNCTIONS_DOMAIN and
// ZIP_V1 / ZIP_V2 (paths of two packages of the same handler). Prints `passed` at the end.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const { createClient } = require('@scaleway/sdk-client');
const { Functionv1beta1 } = require('@scaleway/sdk-function');

const env = process.env;
const client = createClient({
  accessKey: env.SCW_ACCESS_KEY,
  secretKey: env.SCW_SECRET_KEY,
  apiURL: env.SCW_API_URL,
  defaultRegion: env.SCW_DEFAULT_REGION,
  defaultProjectId: env.SCW_DEFAULT_PROJECT_ID,
});
const api = new Functionv1beta1.API(client);
const fast = { minDelay: 1, maxDelay: 1, timeout: 120 };

async function invoke(host, path = '/', token) {
  const headers = { host };
  if (token) headers['x-auth-token'] = token;
  // fetch() does not let a Host header through; node:http does.
  const http = require('node:http');
  const url = new URL(env.GUST_URL + path);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, headers }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function upload(functionId, file) {
  const code = fs.readFileSync(file);
  const target = await api.getFunctionUploadURL({ functionId, contentLength: code.length });
  const headers = Object.fromEntries(Object.entries(target.headers).map(([k, v]) => [k, v[0]]));
  const put = await fetch(target.url, { method: 'PUT', body: code, headers });
  assert.equal(put.status, 200, await put.text());
  return code;
}

async function expectError(status, call, name) {
  try {
    await call();
  } catch (e) {
    assert.equal(e.status, status, String(e));
    if (name) assert.equal(e.name, name, String(e));
    return e;
  }
  assert.fail(`expected a ${status}`);
}

(async () => {
  const runtimes = await api.listFunctionRuntimes();
  assert.ok(runtimes.runtimes.some((r) => r.name === 'node20'), JSON.stringify(runtimes));

  let ns = await api.createNamespace({
    name: 'js-sdk',
    environmentVariables: { NS_VAR: 'from-namespace' },
    secretEnvironmentVariables: [{ key: 'NS_SECRET', value: 'ns-s3cret' }],
  });
  ns = await api.waitForNamespace({ namespaceId: ns.id }, fast);
  assert.equal(ns.status, 'ready');
  assert.ok(ns.createdAt instanceof Date);
  assert.equal(ns.secretEnvironmentVariables[0].key, 'NS_SECRET');
  assert.ok(!JSON.stringify(ns).includes('ns-s3cret'));

  let fn = await api.createFunction({
    namespaceId: ns.id,
    name: 'hello',
    runtime: 'node20',
    memoryLimit: 256,
    minScale: 0,
    maxScale: 2,
    timeout: '30s',
    handler: 'handler.handle',
    privacy: 'public',
    environmentVariables: { FN_VAR: 'from-function' },
    secretEnvironmentVariables: [{ key: 'FN_SECRET', value: 'fn-s3cret' }],
  });
  assert.equal(fn.status, 'created');
  assert.ok(fn.domainName.endsWith('.' + env.FUNCTIONS_DOMAIN), fn.domainName);

  await upload(fn.id, env.ZIP_V1);
  await api.deployFunction({ functionId: fn.id });
  fn = await api.waitForFunction({ functionId: fn.id }, fast);
  assert.equal(fn.status, 'ready', fn.errorMessage);
  let seen = JSON.parse((await invoke(fn.domainName, '/greet?name=js')).text);
  assert.equal(seen.version, 'v1');
  assert.equal(seen.path, '/greet');
  assert.deepEqual(seen.query, { name: 'js' });
  assert.equal(seen.ns_var, 'from-namespace');
  assert.equal(seen.fn_var, 'from-function');
  assert.equal(seen.secrets_seen, true);
  assert.ok(!JSON.stringify(await api.getFunction({ functionId: fn.id })).includes('fn-s3cret'));

  // Update with redeploy.
  const code = await upload(fn.id, env.ZIP_V2);
  await api.updateFunction({ functionId: fn.id, redeploy: true, environmentVariables: { FN_VAR: 'changed' } });
  fn = await api.waitForFunction({ functionId: fn.id }, fast);
  assert.equal(fn.status, 'ready', fn.errorMessage);
  seen = JSON.parse((await invoke(fn.domainName)).text);
  assert.equal(seen.version, 'v2');
  assert.equal(seen.fn_var, 'changed');

  const download = await api.getFunctionDownloadURL({ functionId: fn.id });
  const bytes = Buffer.from(await (await fetch(download.url)).arrayBuffer());
  assert.ok(bytes.equals(code), 'the download is the upload');

  // Crons.
  const cron = await api.createCron({ functionId: fn.id, schedule: '*/10 * * * *', args: { b: 2 }, name: 'js-cron' });
  assert.deepEqual(cron.args, { b: 2 });
  const crons = await api.listCrons({ functionId: fn.id }).all();
  assert.deepEqual(crons.map((c) => c.id), [cron.id]);
  await api.deleteCron({ cronId: cron.id });

  // Paging: the helper walks the pages by total_count.
  for (let i = 0; i < 3; i++) await api.createFunction({ namespaceId: ns.id, name: `more-${i}`, runtime: 'node20' });
  const all = await api.listFunctions({ namespaceId: ns.id, pageSize: 2, orderBy: 'name_asc' }).all();
  assert.deepEqual(all.map((f) => f.name), ['hello', 'more-0', 'more-1', 'more-2']);

  // A private function and its token.
  await api.updateFunction({ functionId: fn.id, privacy: 'private', redeploy: false });
  assert.ok([401, 403].includes((await invoke(fn.domainName)).status));
  const token = await api.createToken({ functionId: fn.id, description: 'js' });
  assert.equal((await invoke(fn.domainName, '/', token.token)).status, 200);

  // Errors become the SDK's typed errors.
  await expectError(404, () => api.getFunction({ functionId: '00000000-0000-0000-0000-000000000002' }), 'ResourceNotFoundError');
  const invalid = await expectError(400, () => api.createFunction({ namespaceId: ns.id, name: 'big', runtime: 'node20', memoryLimit: 999999 }), 'InvalidArgumentsError');
  assert.ok(String(invalid).includes('memory_limit'), String(invalid));
  await expectError(401, () => new Functionv1beta1.API(createClient({
    accessKey: env.SCW_ACCESS_KEY, secretKey: '11111111-2222-4333-8444-555555555555',
    apiURL: env.SCW_API_URL, defaultRegion: env.SCW_DEFAULT_REGION,
  })).listNamespaces(), 'DeniedAuthenticationError');

  const gone = await api.deleteFunction({ functionId: fn.id });
  assert.equal(gone.status, 'deleting');
  await expectError(404, () => api.getFunction({ functionId: fn.id }));
  await api.deleteNamespace({ namespaceId: ns.id });
  console.log('passed');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
