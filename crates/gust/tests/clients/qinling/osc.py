"""The `openstack function ...` commands (python-openstackclient with the Qinling plugin of
`python-qinlingclient==5.1.1`) against Gust's Qinling dialect at $QINLING_URL, authenticated
with the Gust token in $QINLING_TOKEN through the `admin_token` auth type (no Keystone).

$OPENSTACK is the `openstack` program; $WORKDIR a folder for the code file. Prints `passed`
at the end; any failed check raises."""

import json
import os
import subprocess

URL = os.environ["QINLING_URL"]
TOKEN = os.environ["QINLING_TOKEN"]
OPENSTACK = os.environ["OPENSTACK"]
WORKDIR = os.environ["WORKDIR"]


def openstack(*args, ok=True):
    command = [OPENSTACK, "--os-auth-type", "admin_token", "--os-token", TOKEN,
               "--os-endpoint", URL, *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=WORKDIR)
    if ok:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def json_of(*args):
    return json.loads(openstack(*args, "-f", "json").stdout)


runtimes = json_of("runtime", "list")
python = [r for r in runtimes if r["Image"] == "python3.11"][0]

# `--file` gives one Python file; the command zips it and sends its md5.
source = os.path.join(WORKDIR, "main.py")
with open(source, "w") as f:
    f.write("def main(name='world', **kwargs):\n"
            "    print('hello from the cli, ' + name)\n"
            "    return 'hello ' + name\n")
created = json_of("function", "create", "--runtime", python["Id"], "--entry", "main.main",
                  "--file", source, "--name", "cli-hello", "--timeout", "7")
fid = created["id"]
assert created["name"] == "cli-hello" and created["timeout"] == 7, created

listed = json_of("function", "list")
assert [f["Id"] for f in listed] == [fid], listed
shown = json_of("function", "show", fid)
assert shown["entry"] == "main.main" and shown["runtime_id"] == python["Id"], shown

run = json_of("function", "execution", "create", "--function", fid, "--input", '{"name": "osc"}')
assert run["status"] == "success", run
assert json.loads(run["result"])["output"] == "hello osc", run["result"]
log = openstack("function", "execution", "log", "show", run["id"]).stdout
assert "hello from the cli, osc" in log, log

# Errors come back as the command's failure, with Qinling's message.
missing = openstack("function", "show", "00000000-0000-4000-8000-000000000000", ok=False)
assert missing.returncode != 0 and "not found" in missing.stderr.lower(), missing.stderr

openstack("function", "delete", fid)
assert json_of("function", "list") == []
print("passed")
