# Gust's Python worker: speaks the worker protocol (docs/worker-protocol.md) on fd 3.
# Started once per worker (or stem cell) as `python3.11 -I -S -c <this file>`; loads the
# function's handler when told to, then serves invocations one at a time, capturing each
# one's stdout and stderr. Kept small: everything here is on every request's path.
import _thread
import json
import os
import sys
import time

_exec_ns = int(os.environ.get("GUST_EXEC_MONOTONIC_NS") or 0)
if json.encoder.c_make_encoder:
    # The same C encoder JSONEncoder.encode builds on every call (with a dict to detect
    # cycles, which a cycle's RecursionError makes redundant), built once: a third less time
    # for a result header.
    _encode = json.encoder.c_make_encoder(None, str, json.encoder.c_encode_basestring, None,
                                          ":", ",", False, False, True)

    def _dumps(value):
        return "".join(_encode(value, 0))
else:  # an interpreter built without the _json accelerator
    _dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode
_scan = json.JSONDecoder().scan_once  # the C scanner, without loads' encoding sniffing


def _loads(line):
    return _scan(line.decode(), 0)[0]


def _send(header):
    with _held_lock:
        _write([_dumps(header).encode("utf-8", "replace"), b"\n"])


class _Capture:
    """sys.stdout / sys.stderr during an invocation: bounded, kept for the result."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, limit):
        self.parts = []
        self.size = 0
        self.limit = limit
        self.truncated = False

    def write(self, text):
        if not isinstance(text, str):
            text = str(text)
        room = self.limit - self.size
        if room <= 0:
            self.truncated = self.truncated or bool(text)
            return len(text)
        if len(text) > room:
            self.truncated = True
            self.parts.append(text[:room])
            self.size = self.limit
        else:
            self.parts.append(text)
            self.size += len(text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def value(self):
        return "".join(self.parts)


class Context:
    """The handler's second argument (attributes read from the invoke frame on demand)."""

    __slots__ = ("_c",)

    def __init__(self, c):
        self._c = c

    function_name = property(lambda self: self._c.get("functionName"))
    execution_id = property(lambda self: self._c.get("executionId"))
    memory_limit_mb = property(lambda self: self._c.get("memoryLimitMb"))
    timeout_ms = property(lambda self: self._c.get("timeoutMs"))
    deadline_ms = property(lambda self: self._c.get("deadlineMs"))

    def get_remaining_time_in_millis(self):
        return max(0, int(self._c.get("deadlineMs", 0) - time.time() * 1000))

    def __getitem__(self, key):
        return self._c[key]

    def get(self, key, default=None):
        # Scaleway's handlers read the context as a dict.
        return self._c.get(key, default)

    def __contains__(self, key):
        return key in self._c


def _response(result):
    """A handler's return value as (status, headers, body bytes)."""
    if type(result) is dict and "statusCode" in result:
        headers = result.get("headers")
        body = result.get("body")
        # The common case, a text body and string headers, without the general path's copies.
        if type(body) is str and not result.get("isBase64Encoded") and (
                headers is None or all(type(v) is str for v in headers.values())):
            return int(result["statusCode"]), headers or {}, body.encode()
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): v if isinstance(v, (str, list)) else str(v)
                   for k, v in (result.get("headers") or {}).items()}
        body = result.get("body", "")
        if body is None:
            body = b""
        elif isinstance(body, (bytes, bytearray)):
            body = bytes(body)
        elif isinstance(body, str):
            if result.get("isBase64Encoded"):
                import base64
                body = base64.b64decode(body)
            else:
                body = body.encode()
        else:
            body = _dumps(body).encode()
            if not any(k.lower() == "content-type" for k in headers):
                headers["content-type"] = "application/json"
        return int(result["statusCode"]), headers, body
    if type(result) is str:
        return 200, {"content-type": _TEXT}, result.encode("utf-8", "replace")
    return 200, {"content-type": "application/json"}, _dumps(result).encode()


def _load(msg):
    env = msg.get("env") or {}
    os.environ.update(env)
    code = msg.get("code_dir") or "/code"
    os.chdir(code)
    sys.path.insert(0, code)
    if msg.get("contract") == "appwrite":
        return _load_appwrite(msg, env)
    # Dependencies vendored into `package/` (Scaleway's layout) import like installed ones.
    package = os.path.join(code, "package")
    if os.path.isdir(package):
        sys.path.insert(1, package)
    # `folder/file.function`: the file's path without `.py`, folders as packages.
    default = "main.main" if msg.get("contract") == "qinling" else "main.handle"
    module_name, _, func_name = (msg.get("handler") or default).rpartition(".")
    module_name = module_name.replace("/", ".")
    started = time.monotonic_ns()
    import importlib
    module = importlib.import_module(module_name or "main")
    func = getattr(module, func_name, None)
    if not callable(func):
        raise AttributeError("module %r has no function %r" % (module_name, func_name))
    return func, (time.monotonic_ns() - started) // 1000


# The `appwrite` contract (Appwrite 0.15's Python runtime): `main(req, res)` in the module
# named by the entrypoint file, answered with res.send or res.json. Nothing here runs for the
# `gust` contract.
_appwrite_env = {}
_TEXT = "text/plain; charset=utf-8"
_NO_ANSWER = "the function returned without calling res.send or res.json"


def _load_appwrite(msg, env):
    global _appwrite_env
    _appwrite_env = dict(env)
    entry = msg.get("entrypoint") or "main.py"
    # As Appwrite imports it: the path without `.py`, folders as packages.
    module_name = (entry[:-3] if entry.endswith(".py") else entry).replace("/", ".")
    started = time.monotonic_ns()
    import importlib
    module = importlib.import_module(module_name)
    func = getattr(module, "main", None)
    if not callable(func):
        raise AttributeError("%s defines no function `main`: Appwrite calls main(req, res)" % entry)
    return func, (time.monotonic_ns() - started) // 1000


class AppwriteRequest:
    """`req`: the body as text, the function's environment, the request's headers."""

    __slots__ = ("payload", "env", "variables", "headers")

    def __init__(self, payload, env, headers):
        self.payload = payload
        self.env = env
        self.variables = env  # the name Appwrite 1.x gives it
        self.headers = headers


def _status(status):
    code = int(status)
    if not 100 <= code <= 599:
        raise ValueError("%r is not an HTTP status code" % (status,))
    return code


class AppwriteResponse:
    """`res`: the first send or json call is the answer; later ones change nothing."""

    __slots__ = ("answer",)

    def __init__(self):
        self.answer = None

    def send(self, text="", status=200):
        if self.answer is None:
            if isinstance(text, (bytes, bytearray)):
                body = bytes(text)
            else:
                body = ("" if text is None else str(text)).encode("utf-8", "replace")
            self.answer = (_status(status), _TEXT, body)
        return self

    def json(self, obj, status=200):
        if self.answer is None:
            self.answer = (_status(status), "application/json",
                           _dumps(obj).encode("utf-8", "replace"))
        return self


def _invoke_appwrite(func, is_async, msg, raw, log_limit):
    """Runs one invocation of main(req, res); returns its result frame."""
    headers = msg["event"]["headers"]
    payload = raw.decode("utf-8", "replace")
    env = dict(_appwrite_env)
    trigger = msg["context"].get("trigger")
    if trigger != "schedule" and trigger != "event":
        trigger = "http"  # Appwrite's name for API and HTTP runs alike
    env["APPWRITE_FUNCTION_TRIGGER"] = trigger
    env["APPWRITE_FUNCTION_DATA"] = payload
    if trigger == "event":
        env["APPWRITE_FUNCTION_EVENT"] = headers.get("x-gust-event", "")
        env["APPWRITE_FUNCTION_EVENT_DATA"] = payload
    res = AppwriteResponse()
    out, err = _Capture(log_limit), _Capture(log_limit)
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    reply = {"type": "result", "id": msg["id"]}
    failure = None
    try:
        result = func(AppwriteRequest(payload, env, headers), res)
        if is_async:
            _loop().run_until_complete(result)
    except Exception:  # the function's failure is the request's, not the worker's
        import traceback
        failure = traceback.format_exc()
        err.write(failure)
    finally:
        sys.stdout, sys.stderr = real_out, real_err
    if res.answer is not None:
        # Answered before any failure: the answer stands, the trace is in the logs.
        status, kind, body = res.answer
    else:
        # Appwrite answers a failure with its trace as the body.
        message = _NO_ANSWER if failure is None else failure.strip().splitlines()[-1]
        status, kind, body = 500, _TEXT, (failure or _NO_ANSWER).encode("utf-8", "replace")
        reply["error"] = message
    reply["status"] = status
    reply["headers"] = {"content-type": kind}
    return _result_frame(reply, out, err, body)


def _frames():
    """Yields (header, body) for each frame on fd 3, and (None, None) before each wait for
    more."""
    buf = b""
    pos = 0
    # Read into one buffer kept for the worker's life: os.read would allocate 256 KiB (an
    # mmap) per read, then shrink and unmap it, a tenth of the worker's time under load.
    chunk = bytearray(1 << 18)
    view = memoryview(chunk)
    while True:
        yield None, None
        size = os.readv(3, [chunk])
        if not size:
            return
        data = bytes(view[:size])
        buf = buf[pos:] + data if pos < len(buf) else data
        pos = 0
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                break
            msg = _loads(buf[pos:nl])
            end = nl + 1 + msg.get("len", 0)
            if end > len(buf):
                break
            yield msg, buf[nl + 1:end]
            pos = end


def _invoke(func, is_async, msg, raw, log_limit):
    """Runs one invocation; returns its result frame."""
    event = msg["event"]
    if event.get("isBase64Encoded"):
        import base64
        event["body"] = base64.b64encode(raw).decode()
    else:
        event["body"] = raw.decode()
    out, err = _Capture(log_limit), _Capture(log_limit)
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    reply = {"type": "result", "id": msg["id"]}
    body = b""
    try:
        result = func(event, Context(msg["context"]))
        if is_async:
            result = _loop().run_until_complete(result)
        reply["status"], reply["headers"], body = _response(result)
    except Exception:  # the function's failure is the request's, not the worker's
        import traceback
        trace = traceback.format_exc()
        err.write(trace)
        reply["error"] = trace.strip().splitlines()[-1]
    finally:
        sys.stdout, sys.stderr = real_out, real_err
    return _result_frame(reply, out, err, body)


def _invoke_qinling(func, is_async, msg, raw, log_limit):
    """The `qinling` contract (Qinling's Python runtime): the body is the input, a JSON
    object's keys as keyword arguments, anything else as one positional argument; `context`
    always as a keyword. The return value is the answer, as JSON."""
    out, err = _Capture(log_limit), _Capture(log_limit)
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    reply = {"type": "result", "id": msg["id"]}
    body = b""
    try:
        text = raw.decode("utf-8", "replace")
        given = None
        if text.strip():
            try:
                given = _loads(raw)
            except ValueError:
                given = None
            if type(given) is not dict:
                given = text
        context = {"os_session": None}
        if given is None:
            result = func(context=context)
        elif type(given) is dict:
            result = func(context=context, **given)
        else:
            result = func(given, context=context)
        if is_async:
            result = _loop().run_until_complete(result)
        reply["status"], reply["headers"] = 200, {"content-type": "application/json"}
        body = _dumps(result).encode()
    except Exception:
        import traceback
        trace = traceback.format_exc()
        err.write(trace)
        reply["error"] = trace.strip().splitlines()[-1]
    finally:
        sys.stdout, sys.stderr = real_out, real_err
    return _result_frame(reply, out, err, body)


def _result_frame(reply, out, err, body):
    """A result frame: the header with what was printed, then the body."""
    if out.parts:
        reply["stdout"] = out.value()
    if err.parts:
        reply["stderr"] = err.value()
    if out.truncated or err.truncated:
        reply["truncated"] = True
    if body:
        reply["len"] = len(body)
    # "replace": a lone surrogate (printed, or in a header) must not make the frame invalid.
    return _dumps(reply).encode("utf-8", "replace") + b"\n" + body


_event_loop = None


def _loop():
    global _event_loop
    if _event_loop is None:
        import asyncio
        _event_loop = asyncio.new_event_loop()
    return _event_loop


def _write(chunks):
    view = memoryview(b"".join(chunks))
    while view:
        view = view[os.write(3, view):]


# Results of the invocations that arrived in one read leave together, before the worker waits
# for more: one write and one wake-up of the host for the lot, which costs the host more per
# result than a hello handler costs here. A result never waits on a later handler for long,
# though: the first one held arms the flusher, which sends whatever is held a millisecond
# later, so a slow or hanging handler cannot keep a finished result from its caller.
_HOLD_S = 0.001
_held = []
_held_lock = _thread.allocate_lock()  # _held, and fd 3's writes
_armed = _thread.allocate_lock()  # released: a result is held and the flusher should run
_armed.acquire()


def _hold(frame):
    with _held_lock:
        if not _held and _armed.locked():
            _armed.release()
        _held.append(frame)


def _flush():
    with _held_lock:
        if _held:
            _write(_held)
            _held.clear()


def _flusher():
    while True:
        _armed.acquire()
        time.sleep(_HOLD_S)
        _flush()


def main():
    now = time.monotonic_ns()
    _send({"type": "hello", "protocol": 1, "runtime": "python3.11",
           "version": sys.version.split()[0],
           "interpreter_us": (now - _exec_ns) // 1000 if _exec_ns else None,
           "exec_ns": _exec_ns or None})
    frames = _frames()
    func = None
    log_limit = 65536
    is_async = False
    invoke = _invoke
    for msg, raw in frames:
        if msg is None:
            _flush()
            continue
        kind = msg.get("type")
        if kind == "invoke" and func is not None:
            _hold(invoke(func, is_async, msg, raw, log_limit))
        elif kind == "load" and func is None:
            try:
                func, import_us = _load(msg)
            except BaseException:
                import traceback
                _send({"type": "error", "message": traceback.format_exc()})
                return
            # CO_COROUTINE, read directly: importing `inspect` would add ~4 ms to cold starts.
            is_async = bool(getattr(getattr(func, "__code__", None), "co_flags", 0) & 0x80)
            log_limit = int(msg.get("log_limit") or 65536)
            if msg.get("contract") == "appwrite":
                invoke = _invoke_appwrite
            elif msg.get("contract") == "qinling":
                invoke = _invoke_qinling
            _send({"type": "loaded", "import_us": import_us})
            _thread.start_new_thread(_flusher, ())


main()
