// An edge application on Gust, driven by Azion's JS library (npm `azion@3.1.2`, module
// `azion/applications`) through the dialect: the application, its edge functions module,
// function instances and rules; then the requests the application answers.
//
// Reads AZION_TOKEN, AZION_API_URL (used by redirect.cjs), GUST_URL (to send requests to
// /edge/{id}/...) and EDGE_FUNCTION_ID (an edge function made by the test: it answers with
// JSON holding its instance's args). Prints the application's id and `passed` at the end.

const assert = require('node:assert/strict');
const {
  createApplication,
  getApplication,
  getApplications,
  patchApplication,
  putApplication,
} = require('azion/applications');

const env = process.env;
const fn = Number(env.EDGE_FUNCTION_ID);

function ok(result, what) {
  assert.equal(result.error, undefined, `${what}: ${JSON.stringify(result.error)}`);
  return result.data;
}

(async () => {
  // The application, then its edge functions module turned on (Azion's order).
  const created = ok(
    await createApplication({ data: { name: 'shop', delivery_protocol: 'http', application_acceleration: false } }),
    'create application',
  );
  assert.equal(typeof created.id, 'number');
  assert.equal(created.name, 'shop');
  assert.equal(created.edge_functions, false);
  assert.equal(created.active, true);
  const appId = created.id;
  const patched = ok(await patchApplication({ applicationId: appId, data: { edge_functions: true, http3: true } }), 'patch application');
  assert.equal(patched.edge_functions, true);
  assert.equal(patched.http3, true);
  const put = ok(
    await putApplication({ applicationId: appId, data: { name: 'shop front', edge_functions: true, caching: true } }),
    'put application',
  );
  assert.deepEqual([put.name, put.caching, put.http3, put.active], ['shop front', true, false, true]);
  const listed = ok(await getApplications({ params: {} }), 'list applications');
  assert.equal(listed.schema_version, 3);
  assert.ok(listed.results.some((a) => a.id === appId && a.name === 'shop front'));

  const app = ok(await getApplication({ applicationId: appId }), 'get application');
  assert.equal(app.edge_functions, true);

  // Function instances.
  const greeter = ok(
    await app.functions.createFunctionInstance({ data: { name: 'greeter', edge_function_id: fn, args: { greeting: 'hej' } } }),
    'create instance',
  );
  assert.equal(greeter.edge_function_id, fn);
  assert.deepEqual(greeter.args, { greeting: 'hej' });
  const spare = ok(
    await app.functions.createFunctionInstance({ data: { name: 'spare', edge_function_id: fn, args: {} } }),
    'create second instance',
  );
  const all = ok(await app.functions.getFunctionInstances({ params: { page: 1, page_size: 10 } }), 'list instances');
  assert.equal(all.count, 2);
  assert.equal(all.total_pages, 1);
  assert.deepEqual(all.results.map((i) => i.name), ['greeter', 'spare']);
  const second = ok(
    await app.functions.getFunctionInstances({ params: { page: 2, page_size: 1, sort: 'name', order_by: 'id' } }),
    'list second page',
  );
  assert.deepEqual(second.results.map((i) => i.id), [spare.id]);
  assert.equal(second.total_pages, 2);
  assert.ok(second.links.previous.includes('page=1'), second.links.previous);
  assert.equal(second.links.next, null);
  const renamed = ok(
    await app.functions.updateFunctionInstance({ functionInstanceId: greeter.id, data: { args: { greeting: 'hallo' } } }),
    'update instance',
  );
  assert.deepEqual([renamed.name, renamed.args.greeting], ['greeter', 'hallo']);
  const read = ok(await app.functions.getFunctionInstance({ functionInstanceId: greeter.id }), 'get instance');
  assert.deepEqual(read.args, { greeting: 'hallo' });

  // Rules: run the instance under /greet, redirect /old.
  const rule = ok(
    await app.rules.request.createRule({
      data: {
        name: 'greet',
        phase: 'request',
        criteria: [[{ variable: '${uri}', operator: 'starts_with', conditional: 'if', input_value: '/greet' }]],
        behaviors: [{ name: 'run_function', target: String(greeter.id) }],
      },
    }),
    'create rule',
  );
  assert.equal(rule.behaviors[0].target, greeter.id);
  assert.equal(rule.is_active, true);
  const moved = ok(
    await app.rules.request.createRule({
      data: {
        name: 'moved',
        phase: 'request',
        criteria: [[{ variable: '${uri}', operator: 'is_equal', conditional: 'if', input_value: '/old' }]],
        behaviors: [{ name: 'redirect_to_301', target: '/greet/new' }],
      },
    }),
    'create redirect rule',
  );
  const rules = ok(await app.rules.request.getRules({ params: {} }), 'list rules');
  assert.deepEqual(rules.results.map((r) => r.name), ['greet', 'moved']);

  // What the application answers, from the instance's args.
  const answer = await fetch(`${env.GUST_URL}/edge/${appId}/greet?name=ann`);
  assert.equal(answer.status, 200);
  const body = await answer.json();
  assert.equal(body.greeting, 'hallo ann');
  assert.deepEqual(body.args, { greeting: 'hallo' });
  const redirect = await fetch(`${env.GUST_URL}/edge/${appId}/old`, { redirect: 'manual' });
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.get('location'), '/greet/new');

  // Deletes answer 204 with no body, as the seed says; this library expects JSON from every
  // call, so it reports the empty body although the instance is gone.
  const removed = await app.functions.deleteFunctionInstance({ functionInstanceId: spare.id });
  assert.equal(removed.error.message, 'Expected JSON response, but got: ');
  const left = ok(await app.functions.getFunctionInstances({ params: {} }), 'list after delete');
  assert.deepEqual(left.results.map((i) => i.id), [greeter.id]);
  // Refused while a rule runs it.
  const busy = await app.functions.deleteFunctionInstance({ functionInstanceId: greeter.id });
  assert.match(busy.error.message, /Status: 409/);
  await app.rules.request.deleteRule({ ruleId: moved.id });
  const after = ok(await app.rules.request.getRules({ params: {} }), 'list rules after delete');
  assert.deepEqual(after.results.map((r) => r.id), [rule.id]);

  // The library throws, rather than answers an error, when an application is not found.
  await assert.rejects(getApplication({ applicationId: 999999 }), /Status: 404/);

  console.log(`application ${appId}`);
  console.log('passed');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
