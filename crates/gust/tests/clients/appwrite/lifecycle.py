"""The whole life of a function through Appwrite's official Python SDK (appwrite==0.10.0,
the 0.15 generation), against a running Gust: runtimes, create, a chunked deployment, the
build, activation, sync and async executions, paging, an update that changes the vars, a
retried build, the errors the SDK raises, and deletion.

Environment: APPWRITE_ENDPOINT (…/compat/appwrite/v1), APPWRITE_PROJECT, APPWRITE_KEY (all
scopes), APPWRITE_READ_KEY (read only), WORKDIR (a scratch folder).
"""

import io
import json
import os
import sys
import tarfile
import time

from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.input_file import InputFile
from appwrite.services.functions import Functions

ENDPOINT = os.environ["APPWRITE_ENDPOINT"]
PROJECT = os.environ["APPWRITE_PROJECT"]
WORKDIR = os.environ["WORKDIR"]
CHUNK = 5 * 1024 * 1024

HANDLER = b'''
import json
import os

def main(req, res):
    p = json.loads(req.payload) if req.payload.startswith("{") else {}
    print("printed by the function")
    return res.json({
        "hello": p.get("name", "world"),
        "payload": req.payload,
        "greeting": req.env.get("GREETING"),
        "function_id": req.env.get("APPWRITE_FUNCTION_ID"),
        "trigger": req.env.get("APPWRITE_FUNCTION_TRIGGER"),
        "variables_too": req.variables == req.env,
        "process_env": os.environ.get("GREETING"),
    })
'''


def functions(key=os.environ["APPWRITE_KEY"], project=PROJECT):
    client = Client().set_endpoint(ENDPOINT).set_project(project).set_key(key)
    return Functions(client)


def archive(name, files):
    path = os.path.join(WORKDIR, name)
    with tarfile.open(path, "w:gz") as tar:
        for file_name, data in files.items():
            info = tarfile.TarInfo(file_name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def expect_error(call, code, kind):
    try:
        call()
    except AppwriteException as e:
        assert e.code == code and e.type == kind, (e.code, e.type, e.message)
        return e
    raise AssertionError(f"expected {code} {kind}, got no error")


def wait_for(read, done, what, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value}"
        time.sleep(0.2)


def main():
    fns = functions()

    runtimes = fns.list_runtimes()
    ids = {r["$id"]: r for r in runtimes["runtimes"]}
    assert runtimes["total"] == len(runtimes["runtimes"])
    for rid in ("python-3.11", "node-20.0"):
        assert rid in ids, ids
        assert set(ids[rid]) >= {"$id", "name", "version", "base", "image", "logo", "supports"}

    created = fns.create("sdk-python", "Hello from Python", ["role:all"], "python-3.11",
                         vars={"GREETING": "hi"}, schedule="0 0 1 1 *", timeout=20)
    assert created["$id"] == "sdk-python", created
    assert created["name"] == "Hello from Python"
    assert created["vars"] == {"GREETING": "hi"}
    assert created["schedule"] == "0 0 1 1 *" and created["timeout"] == 20
    assert created["deployment"] == "" and created["execute"] == ["role:all"]
    assert isinstance(created["$createdAt"], int)
    fid = created["$id"]

    generated = fns.create("unique()", "generated id", [], "python-3.11")
    assert generated["$id"] and generated["$id"] != "unique()", generated
    assert generated["vars"] == {} and generated["timeout"] == 15, generated
    expect_error(lambda: fns.create(fid, "again", [], "python-3.11"), 409, "document_already_exists")

    # A deployment over 5 MiB goes up in chunks; random padding keeps it from compressing.
    big = archive("big.tar.gz", {"main.py": HANDLER, "padding.bin": os.urandom(6 * 1024 * 1024)})
    assert os.path.getsize(big) > CHUNK
    deployment = fns.create_deployment(fid, "main.py", InputFile.from_path(big), True)
    assert deployment["resourceId"] == fid and deployment["entrypoint"] == "main.py", deployment
    assert deployment["size"] == os.path.getsize(big), deployment
    assert deployment["status"] in ("processing", "building", "ready"), deployment
    did = deployment["$id"]
    built = wait_for(lambda: fns.get_deployment(fid, did),
                     lambda d: d["status"] in ("ready", "failed"), "the build")
    assert built["status"] == "ready", built
    assert built["buildStdout"], built

    activated = fns.update_deployment(fid, did)
    assert activated["$id"] == fid and activated["deployment"] == did, activated
    assert activated["scheduleNext"] > time.time(), activated

    sync = fns.create_execution(fid, data=json.dumps({"name": "sdk"}), xasync=False)
    assert sync["status"] == "completed" and sync["statusCode"] == 200, sync
    assert sync["trigger"] == "http" and sync["functionId"] == fid, sync
    assert isinstance(sync["time"], float) and sync["time"] > 0, sync
    answer = json.loads(sync["response"])
    assert answer == {"hello": "sdk", "payload": '{"name": "sdk"}', "greeting": "hi",
                      "function_id": fid, "trigger": "http", "variables_too": True,
                      "process_env": "hi"}, answer

    queued = fns.create_execution(fid, data="plain text")  # async is the default
    assert queued["status"] in ("waiting", "processing", "completed"), queued
    finished = wait_for(lambda: fns.get_execution(fid, queued["$id"]),
                        lambda e: e["status"] in ("completed", "failed"), "the async execution")
    assert finished["status"] == "completed", finished
    assert json.loads(finished["response"])["payload"] == "plain text", finished

    first = fns.list_executions(fid, limit=1)
    assert first["total"] == 2 and len(first["executions"]) == 1, first
    assert first["executions"][0]["$id"] == queued["$id"], "newest first"
    second = fns.list_executions(fid, limit=1, cursor=queued["$id"])
    assert [e["$id"] for e in second["executions"]] == [sync["$id"]], second
    back = fns.list_executions(fid, limit=5, cursor=sync["$id"], cursor_direction="before")
    assert [e["$id"] for e in back["executions"]] == [queued["$id"]], back
    expect_error(lambda: fns.list_executions(fid, cursor="no-such-execution"), 400,
                 "general_cursor_not_found")
    page = fns.list(limit=1, order_type="DESC")
    assert page["total"] >= 2 and len(page["functions"]) == 1, page
    assert any(f["$id"] == fid for f in fns.list(search="Python")["functions"])

    updated = fns.update(fid, "Hello again", ["role:all"], vars={"GREETING": "hola"})
    assert updated["vars"] == {"GREETING": "hola"} and updated["name"] == "Hello again", updated
    assert updated["schedule"] == "" and updated["timeout"] == 15, "a replace resets the rest"
    again = fns.create_execution(fid, data="{}", xasync=False)
    assert json.loads(again["response"])["greeting"] == "hola", again

    broken = archive("broken.tar.gz", {"main.py": b"def main(req, res:\n"})
    failed = fns.create_deployment(fid, "main.py", InputFile.from_path(broken), False)
    failed = wait_for(lambda: fns.get_deployment(fid, failed["$id"]),
                      lambda d: d["status"] in ("ready", "failed"), "the broken build")
    assert failed["status"] == "failed" and failed["buildStderr"], failed
    expect_error(lambda: fns.update_deployment(fid, failed["$id"]), 400, "build_not_ready")
    fns.retry_build(fid, failed["$id"], failed["buildId"])
    retried = fns.get_deployment(fid, failed["$id"])
    assert retried["status"] in ("processing", "building", "failed"), retried
    retried = wait_for(lambda: fns.get_deployment(fid, failed["$id"]),
                       lambda d: d["status"] == "failed", "the retried build")
    assert retried["$updatedAt"] >= failed["$updatedAt"], retried
    expect_error(lambda: fns.retry_build(fid, did, did), 400, "build_in_progress")

    expect_error(lambda: functions(key="not-a-key").list(), 401, "user_unauthorized")
    expect_error(lambda: functions(project="no-such-project").list(), 404, "project_not_found")
    expect_error(lambda: functions(key=os.environ["APPWRITE_READ_KEY"]).create(
        "read-only", "x", [], "python-3.11"), 401, "general_unauthorized_scope")
    error = expect_error(lambda: fns.create("bad-timeout", "x", [], "python-3.11", timeout=0),
                         400, "general_argument_invalid")
    assert "timeout" in error.message, error.message
    error = expect_error(lambda: fns.create("bad-runtime", "x", [], "cobol-1.0"), 400,
                         "general_argument_invalid")
    assert "runtime" in error.message, error.message
    expect_error(lambda: fns.get("no-such-function"), 404, "function_not_found")
    expect_error(lambda: fns.get_execution(fid, "no-such-execution"), 404, "execution_not_found")

    assert fns.delete(fid) in (b"", {}, None)
    expect_error(lambda: fns.get(fid), 404, "function_not_found")
    fns.delete(generated["$id"])
    print("appwrite python sdk: the whole life of a function passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        raise
