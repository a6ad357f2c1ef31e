"""The life of a function on Gust, driven by OpenStack Qinling's Python client
(`python-qinlingclient==5.1.1`) through the dialect at $QINLING_URL with a Gust token in
$QINLING_TOKEN.

Also reads WORKDIR (a folder for packages and downloads). Prints `passed` at the end; any
failed check raises."""

import hashlib
import json
import os
import time
import zipfile

import requests
from qinlingclient.common import exceptions as exc
from qinlingclient.v1 import client as qinling

URL = os.environ["QINLING_URL"]
TOKEN = os.environ["QINLING_TOKEN"]
WORKDIR = os.environ["WORKDIR"]

# Code as written for Qinling's Python runtime: the input object's keys as keyword arguments.
CODE = """import time

def main(name="world", times=1, sleep=0, context=None, **kwargs):
    print("hello from %s" % name)
    if name == "boom":
        raise ValueError("boom on purpose")
    time.sleep(sleep)
    return {"greeting": "hello " + name, "times": times, "version": "VERSION",
            "has_context": context is not None}
"""


def package(version):
    path = os.path.join(WORKDIR, "%s.zip" % version)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("main.py", CODE.replace("VERSION", version))
    with open(path, "rb") as f:
        return path, hashlib.md5(f.read()).hexdigest()


def expect(error, status, call, *words):
    try:
        call()
    except error as e:
        text = str(e)
        assert "(HTTP %d)" % status in text, text
        for word in words:
            assert word in text, (word, text)
        return text
    raise AssertionError("expected HTTP %d" % status)


def wait(what, check, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def output(execution):
    return json.loads(execution.result)["output"]


c = qinling.Client(URL, token=TOKEN)

# Runtimes: Gust's, each with an image naming it; registering one names an existing one.
runtimes = c.runtimes.list()
python = [r for r in runtimes if r.image == "python3.11"][0]
assert python.status == "available", python.status
assert c.runtimes.get(python.id).image == "python3.11"
assert c.runtimes.create(image="node20").image == "node20"
expect(exc.HTTPBadRequest, 400, lambda: c.runtimes.create(image="docker/hello"), "docker/hello")

# A package function, checked by its md5; defaults and limits as Qinling's.
v1_path, v1_md5 = package("v1")
with open(v1_path, "rb") as f:
    fn = c.functions.create(
        {"source": "package", "md5sum": v1_md5}, runtime=python.id, package=f,
        name="hello", entry="main.main", memory_size=64 * 1024 * 1024, timeout=3)
assert fn.name == "hello" and fn.runtime_id == python.id
assert fn.code == {"source": "package", "md5sum": v1_md5}, fn.code
assert (fn.cpu, fn.memory_size, fn.timeout) == (100, 64 * 1024 * 1024, 3)
assert fn.count == 0 and fn.latest_version == 0
assert len(fn.created_at) == 19 and fn.created_at[10] == " ", fn.created_at
listed = [f for f in c.functions.list() if f.id == fn.id][0]
assert json.loads(listed.code)["md5sum"] == v1_md5, listed.code
with open(v1_path, "rb") as f:
    expect(exc.HTTPBadRequest, 400, lambda: c.functions.create(
        {"source": "package", "md5sum": "0" * 32}, runtime=python.id, package=f), "md5")
with open(v1_path, "rb") as f:
    expect(exc.HTTPBadRequest, 400, lambda: c.functions.create(
        {"source": "package"}, runtime=python.id, package=f, memory_size=1024), "memory_size")
expect(exc.HTTPBadRequest, 400, lambda: c.functions.create(
    {"source": "image", "image": "docker/hello"}, name="img"), "image")
assert [f.id for f in c.functions.list()] == [fn.id]  # nothing half-made

# Sync and async executions with JSON input; what the code prints is the log.
run = c.function_executions.create(function_id=fn.id, input=json.dumps({"name": "qin", "times": 2}))
assert run.status == "success", (run.status, run.result)
assert output(run) == {"greeting": "hello qin", "times": 2, "version": "v1", "has_context": True}
assert json.loads(run.result)["duration"] >= 0
assert run.sync is True and run.function_id == fn.id
log = requests.get("%s/v1/executions/%s/log" % (URL, run.id), headers={"X-Auth-Token": TOKEN})
assert log.headers["content-type"].startswith("text/plain") and "hello from qin" in log.text, log.text
later = c.function_executions.create(function_id=fn.id, input=json.dumps({"name": "later"}), sync=False)
assert later.status == "running" and later.sync is False
done = wait("the async execution", lambda: (
    lambda e: e if e.status != "running" else None)(c.function_executions.get(later.id)))
assert done.status == "success" and output(done)["greeting"] == "hello later", done.result
failed = c.function_executions.create(function_id=fn.id, input=json.dumps({"name": "boom"}))
assert failed.status == "failed"
assert output(failed) == "Function execution failed.", failed.result
slow = c.function_executions.create(function_id=fn.id, input=json.dumps({"sleep": 10}))
assert slow.status == "failed" and output(slow) == "Function execution timeout.", slow.result
ours = c.function_executions.list(function_id=fn.id)
assert {e.id for e in ours} >= {run.id, later.id, failed.id}, [e.id for e in ours]
assert [e.id for e in c.function_executions.list(function_id=fn.id, status="failed")] == [failed.id, slow.id]
assert {e.id for e in c.function_executions.list(status="in:success,failed")} >= {run.id, failed.id}
c.function_executions.delete(failed.id)
expect(exc.HTTPNotFound, 404, lambda: c.function_executions.get(failed.id), "not found")
assert c.functions.get(fn.id).count == 3

# Versions, and an alias moved between them.
v1 = c.function_versions.create(fn.id, description="first")
assert v1.version_number == 1
expect(exc.HTTPForbidden, 403, lambda: c.function_versions.create(fn.id), "unchanged")
v2_path, v2_md5 = package("v2")
with open(v2_path, "rb") as f:
    updated = c.functions.update(fn.id, code={"source": "package", "md5sum": v2_md5}, package=f)
assert updated.code["md5sum"] == v2_md5
with open(v2_path, "rb") as f:
    expect(exc.HTTPBadRequest, 400, lambda: c.functions.update(fn.id, package=f), "checksum is not changed")
v2 = c.function_versions.create(fn.id, description="second")
assert v2.version_number == 2 and c.functions.get(fn.id).latest_version == 2
assert [v.version_number for v in c.function_versions.list(fn.id)] == [1, 2]
alias = c.function_aliases.create("prod", fn.id, function_version=1, description="live")
assert (alias.function_id, alias.function_version) == (fn.id, 1)
on_alias = c.function_executions.create(function_alias="prod", input=json.dumps({"name": "a"}))
assert output(on_alias)["version"] == "v1" and on_alias.function_alias == "prod"
c.function_aliases.update("prod", function_version=2)
assert output(c.function_executions.create(function_alias="prod", input="{}"))["version"] == "v2"
on_v1 = c.function_executions.create(function_id=fn.id, function_version=1, input="{}")
assert output(on_v1)["version"] == "v1" and on_v1.function_version == 1
assert [a.name for a in c.function_aliases.list()] == ["prod"]

# Workers: scale up, list, scale down (never below one), detach; versions have their own.
c.functions.scaleup(fn.id, count=2)
workers = c.function_workers.list(fn.id)
assert len(workers) == 2 and all(w.function_id == fn.id for w in workers), workers
c.functions.scaledown(fn.id, count=5)
assert len(c.function_workers.list(fn.id)) == 1
c.functions.detach(fn.id)
assert len(c.function_workers.list(fn.id)) == 0
assert output(c.function_executions.create(function_id=fn.id, input="{}"))["version"] == "v2"
assert len(c.function_workers.list(fn.id)) == 1

# A job with a count stops after that many runs and shows `done`.
job = c.jobs.create(function_id=fn.id, name="twice", pattern="@every 1s", count=2,
                    function_input=json.dumps({"name": "job"}))
assert job.status == "running" and job.count == 2 and job.next_execution_time
finished = wait("the job's runs", lambda: (lambda j: j if j.status == "done" else None)(c.jobs.get(job.id)), 20)
assert finished.count == 0, finished.count
by_job = wait("the job's executions", lambda: [
    e for e in c.function_executions.list(function_id=fn.id)
    if e.input and "job" in e.input and e.status == "success"] or None)
assert len(by_job) >= 1
paused = c.jobs.create(function_id=fn.id, pattern="0 0 1 1 *")
assert c.jobs.update(paused.id, status="paused").status == "paused"
assert c.jobs.update(paused.id, status="running").status == "running"
expect(exc.HTTPBadRequest, 400, lambda: c.jobs.create(function_id=fn.id, pattern="not a cron"), "pattern")

# A webhook invoked without a token; the body is the input.
hook = c.webhooks.create(fn.id, description="wh")
assert hook.webhook_url.endswith("/v1/webhooks/%s/invoke" % hook.id), hook.webhook_url
answer = requests.post(hook.webhook_url, json={"name": "hook"})
assert answer.status_code == 202, answer.text
hooked = wait("the webhook's execution", lambda: (
    lambda e: e if e.status != "running" else None)(c.function_executions.get(answer.json()["execution_id"])))
assert output(hooked)["greeting"] == "hello hook", hooked.result

# Download gives the stored zip byte for byte.
downloaded = c.functions.get(fn.id, download=True)
with open(v2_path, "rb") as f:
    assert downloaded.content == f.read()

# Update settings only.
renamed = c.functions.update(fn.id, name="renamed", timeout=20)
assert (renamed.name, renamed.timeout) == ("renamed", 20) and renamed.updated_at

# Delete: 403 while jobs, webhooks or aliases refer to it.
expect(exc.HTTPForbidden, 403, lambda: c.functions.delete(fn.id), "alias prod")
expect(exc.HTTPForbidden, 403, lambda: c.function_versions.delete(fn.id, 2), "prod")
c.function_aliases.delete("prod")
c.function_versions.delete(fn.id, 1)
c.webhooks.delete(hook.id)
c.jobs.delete(paused.id)
c.functions.delete(fn.id)

# Errors as the client raises them.
expect(exc.HTTPNotFound, 404, lambda: c.functions.get(fn.id), "Function not found [id=%s]" % fn.id)
expect(exc.HTTPNotFound, 404, lambda: c.function_aliases.get("prod"))
expect(exc.HTTPBadRequest, 400, lambda: c.function_executions.create(), "function_id")
expect(exc.HTTPUnauthorized, 401, lambda: qinling.Client(URL, token="wrong").functions.list())
print("passed")
