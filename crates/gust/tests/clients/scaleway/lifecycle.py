"""The life of a function on Gust, driven by Scaleway's Python SDK (`scaleway==2.12.0`) through
the dialect at $SCW_API_URL, with the SDK's own configuration from the environment.

Also reads GUST_URL (the server, for invocations through domain names) and FUNCTIONS_DOMAIN.
Prints `passed` at the end; any failed check raises."""

import io
import json
import os
import zipfile

import requests
from scaleway import Client, ScalewayException
from scaleway.function.v1beta1 import (
    CreateTriggerRequestMnqSqsClientConfig,
    FunctionPrivacy,
    FunctionRuntime,
    FunctionV1Beta1API,
    Secret,
)

GUST = os.environ["GUST_URL"]
DOMAIN = os.environ["FUNCTIONS_DOMAIN"]

HANDLER = """import json
import os

def handle(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({
            "version": "%s",
            "path": event["path"],
            "query": event["queryStringParameters"],
            "ns_var": os.environ.get("NS_VAR"),
            "fn_var": os.environ.get("FN_VAR"),
            "secrets_seen": os.environ.get("NS_SECRET") == "ns-s3cret"
                and os.environ.get("FN_SECRET") == "fn-s3cret",
            "memory": context["memoryLimitInMb"],
        }),
    }
"""


def package(version):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("handler.py", HANDLER % version)
    return out.getvalue()


def invoke(host, path="/", token=None):
    headers = {"Host": host}
    if token:
        headers["X-Auth-Token"] = token
    return requests.get(GUST + path, headers=headers, timeout=30)


def expect_error(status, call, argument=None):
    try:
        call()
    except ScalewayException as e:
        assert e.status_code == status, (e.status_code, e.response.text)
        body = e.response.json()
        if argument:
            names = [d["argument_name"] for d in body["details"]]
            assert argument in names, body
        return body
    raise AssertionError("expected a %d" % status)


client = Client.from_env()
api = FunctionV1Beta1API(client)

runtimes = [r.name for r in api.list_function_runtimes().runtimes]
assert "python311" in runtimes, runtimes

# A namespace with env and a secret: the secret comes back hashed, never as itself.
ns = api.create_namespace(
    name="py-sdk",
    environment_variables={"NS_VAR": "from-namespace"},
    secret_environment_variables=[Secret(key="NS_SECRET", value="ns-s3cret")],
)
ns = api.wait_for_namespace(namespace_id=ns.id)
assert ns.status == "ready", ns.status
assert ns.project_id == os.environ["SCW_DEFAULT_PROJECT_ID"], ns.project_id
assert ns.region == os.environ["SCW_DEFAULT_REGION"], ns.region
(secret,) = ns.secret_environment_variables
assert secret.key == "NS_SECRET" and secret.hashed_value and "ns-s3cret" not in secret.hashed_value
ns = api.update_namespace(namespace_id=ns.id, description="made by the SDK")
assert ns.description == "made by the SDK"

# A function: created without code, then uploaded through a presigned URL and deployed.
fn = api.create_function(
    namespace_id=ns.id,
    name="hello",
    runtime=FunctionRuntime.PYTHON311,
    memory_limit=256,
    min_scale=0,
    max_scale=2,
    timeout="30s",
    handler="handler.handle",
    privacy=FunctionPrivacy.PUBLIC,
    environment_variables={"FN_VAR": "from-function"},
    secret_environment_variables=[Secret(key="FN_SECRET", value="fn-s3cret")],
)
assert fn.status == "created", fn.status
assert fn.timeout == "30s" and fn.memory_limit == 256 and fn.cpu_limit == 140, fn
assert fn.domain_name.endswith("." + DOMAIN), fn.domain_name

code = package("v1")
upload = api.get_function_upload_url(function_id=fn.id, content_length=len(code))
put = requests.put(
    upload.url, data=code, headers={k: v[0] for k, v in upload.headers.items()}, timeout=30
)
assert put.status_code == 200, (put.status_code, put.text)
assert api.get_function(function_id=fn.id).status == "created"
deployed = api.deploy_function(function_id=fn.id)
assert deployed.status in ("pending", "ready"), deployed.status
fn = api.wait_for_function(function_id=fn.id)
assert fn.status == "ready", (fn.status, fn.error_message, fn.build_message)
assert fn.ready_at is not None

# Invoked through its domain name: env and secrets reach the code, never a response.
answer = invoke(fn.domain_name, "/greet?name=sdk")
assert answer.status_code == 200, (answer.status_code, answer.text)
seen = answer.json()
assert seen["version"] == "v1" and seen["path"] == "/greet", seen
assert seen["query"] == {"name": "sdk"}, seen
assert seen["ns_var"] == "from-namespace" and seen["fn_var"] == "from-function", seen
assert seen["secrets_seen"] is True and seen["memory"] == 256, seen
raw = requests.get(
    "%s/functions/v1beta1/regions/%s/functions/%s"
    % (os.environ["SCW_API_URL"], os.environ["SCW_DEFAULT_REGION"], fn.id),
    headers={"X-Auth-Token": os.environ["SCW_SECRET_KEY"]},
    timeout=30,
)
assert "fn-s3cret" not in raw.text and "FN_SECRET" in raw.text, raw.text

# An update with redeploy: new code serves once the function is ready again.
api.update_function(function_id=fn.id, environment_variables={"FN_VAR": "changed"}, redeploy=False)
code = package("v2")
upload = api.get_function_upload_url(function_id=fn.id, content_length=len(code))
requests.put(upload.url, data=code, headers={k: v[0] for k, v in upload.headers.items()}, timeout=30)
updated = api.update_function(function_id=fn.id, redeploy=True)
assert updated.status in ("pending", "ready"), updated.status
fn = api.wait_for_function(function_id=fn.id)
assert fn.status == "ready", (fn.status, fn.error_message)
seen = invoke(fn.domain_name).json()
assert seen["version"] == "v2" and seen["fn_var"] == "changed", seen

# The download URL serves exactly the bytes uploaded.
download = api.get_function_download_url(function_id=fn.id)
assert requests.get(download.url, timeout=30).content == code

# Crons.
cron = api.create_cron(function_id=fn.id, schedule="*/5 * * * *", args={"a": 1}, name="c1")
assert cron.schedule == "*/5 * * * *" and cron.args == {"a": 1} and cron.status == "ready", cron
cron = api.update_cron(cron_id=cron.id, schedule="0 * * * *")
assert cron.schedule == "0 * * * *", cron
assert [c.id for c in api.list_crons_all(function_id=fn.id)] == [cron.id]
expect_error(400, lambda: api.create_cron(function_id=fn.id, schedule="not a cron"), "schedule")
deleted = api.delete_cron(cron_id=cron.id)
assert deleted.id == cron.id
assert api.list_crons_all(function_id=fn.id) == []

# Paged listing: the SDK's *_all helper walks the pages until a short or empty one.
for i in range(4):
    api.create_function(namespace_id=ns.id, name="extra-%d" % i, runtime=FunctionRuntime.PYTHON311)
listed = api.list_functions_all(namespace_id=ns.id, page_size=2)
assert sorted(f.name for f in listed) == ["extra-0", "extra-1", "extra-2", "extra-3", "hello"], listed
page = api.list_functions(namespace_id=ns.id, page=3, page_size=2)
assert page.total_count == 5 and len(page.functions) == 1, page
assert [n.id for n in api.list_namespaces_all() if n.name == "py-sdk"] == [ns.id]

# A custom domain routes to the function.
domain = api.create_domain(hostname="py-sdk.example.test", function_id=fn.id)
assert domain.hostname == "py-sdk.example.test" and domain.status == "ready", domain
assert invoke("py-sdk.example.test").json()["version"] == "v2"
assert [d.id for d in api.list_domains_all(function_id=fn.id)] == [domain.id]

# A private function answers only to a token made for it.
api.update_function(function_id=fn.id, privacy=FunctionPrivacy.PRIVATE, redeploy=False)
assert invoke(fn.domain_name).status_code in (401, 403)
token = api.create_token(function_id=fn.id, description="for the test")
assert token.token and token.function_id == fn.id, token
assert invoke(fn.domain_name, token=token.token).status_code == 200
other = api.get_function(function_id=[f for f in listed if f.name == "extra-0"][0].id)
assert [t.id for t in api.list_tokens_all(function_id=fn.id)] == [token.id]
api.delete_token(token_id=token.id)
assert invoke(fn.domain_name, token=token.token).status_code == 401

# A queue trigger is kept, and says why it cannot fire.
trigger = api.create_trigger(
    name="orders",
    function_id=fn.id,
    scw_sqs_config=CreateTriggerRequestMnqSqsClientConfig(
        queue="orders", mnq_project_id=os.environ["SCW_DEFAULT_PROJECT_ID"], mnq_region="fr-par"
    ),
)
assert trigger.status == "error" and "message broker" in trigger.error_message, trigger
assert trigger.scw_sqs_config.queue == "orders", trigger
assert [t.id for t in api.list_triggers_all(function_id=fn.id)] == [trigger.id]

# Errors as the SDK raises them.
body = expect_error(404, lambda: api.get_function(function_id="00000000-0000-0000-0000-000000000001"))
assert body["type"] == "not_found" and body["resource"] == "function", body
expect_error(
    400,
    lambda: api.create_function(namespace_id=ns.id, name="big", runtime="python311", memory_limit=999999),
    "memory_limit",
)
expect_error(400, lambda: api.create_function(namespace_id=ns.id, name="cobol", runtime="go122"), "runtime")
expect_error(
    400,
    lambda: api.create_function(namespace_id=ns.id, name="neg", runtime="python311", min_scale=-1),
    "min_scale",
)
expect_error(400, lambda: api.list_functions(namespace_id=ns.id, region="paris"), "region")

# Deletes answer with the object, on its way out.
gone = api.delete_function(function_id=other.id)
assert gone.status == "deleting", gone.status
expect_error(404, lambda: api.get_function(function_id=other.id))
assert api.delete_namespace(namespace_id=ns.id).status == "deleting"
expect_error(404, lambda: api.get_namespace(namespace_id=ns.id))

print("passed")
