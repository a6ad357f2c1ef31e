"""Everyday standard-library work a function may do: each step runs and reports "ok" or its
error, so a system call the sandbox wrongly denies shows up as the step that broke."""
import asyncio, concurrent.futures, ctypes, fcntl, hashlib, http.server, json, mmap, os
import platform, pwd, resource, select, shutil, signal, socket, sqlite3, ssl, subprocess
import tempfile, threading, time, urllib.request, zlib


def files():
    root = tempfile.mkdtemp()
    path = os.path.join(root, "a.txt")
    with open(path, "w") as f:
        f.write("hello\n" * 1000)
        f.flush()
        os.fsync(f.fileno())
    shutil.copy(path, path + ".copy")
    os.rename(path + ".copy", path + ".moved")
    os.replace(path + ".moved", path + ".replaced")
    os.chmod(path, 0o600)
    os.utime(path, (1, 1))
    os.symlink(path, path + ".link")
    assert os.readlink(path + ".link") == path
    os.link(path, path + ".hard")
    os.truncate(path + ".hard", 3)
    with open(path, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            assert m[:] == b"hel"  # the hard link's truncation shows: one file
        fcntl.flock(f, fcntl.LOCK_UN)
    os.mkdir(os.path.join(root, "sub"))
    names = sorted(e.name for e in os.scandir(root))
    os.statvfs(root)
    with tempfile.NamedTemporaryFile() as t:
        t.write(b"x")
    shutil.rmtree(root)
    return names


def processes():
    out = subprocess.run(["/bin/sh", "-c", "echo from sh; ls / >/dev/null"], capture_output=True, text=True, check=True)
    proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    echoed, _ = proc.communicate(b"piped", timeout=10)
    caught = []
    signal.signal(signal.SIGUSR1, lambda *_: caught.append(True))
    os.kill(os.getpid(), signal.SIGUSR1)
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    return [out.stdout.strip(), echoed.decode(), caught == [True], os.waitstatus_to_exitcode(status)]


def threads():
    done = threading.Event()
    threading.Thread(target=done.set).start()
    assert done.wait(5)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        squares = list(pool.map(lambda x: x * x, range(8)))
    time.sleep(0.01)
    return squares


class Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"served")

    def log_message(self, *args):
        pass


def network():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "http://localhost:%d/" % server.server_address[1]
    body = urllib.request.urlopen(url, timeout=5).read().decode()
    server.shutdown()
    server.server_close()
    udp_a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_a.bind(("127.0.0.1", 0))
    udp_b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_b.sendto(b"datagram", udp_a.getsockname())
    got, _ = udp_a.recvfrom(100)
    left, right = socket.socketpair()
    left.sendall(b"pair")
    ready, _, _ = select.select([right], [], [], 5)
    poller = select.poll()
    poller.register(right, select.POLLIN)
    poller.poll(1000)
    pair = right.recv(10)
    for s in (udp_a, udp_b, left, right):
        s.close()
    addresses = sorted({a[4][0] for a in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)})
    return [body, got.decode(), pair.decode(), len(ready), addresses[:1]]


def asynchronous():
    async def main():
        async def answer(reader, writer):
            writer.write(await reader.read(5))
            await writer.drain()
            writer.close()
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"async")
        echoed = await reader.read(5)
        writer.close()
        server.close()
        await server.wait_closed()
        offloaded = await asyncio.get_running_loop().run_in_executor(None, sum, [1, 2, 3])
        await asyncio.sleep(0.01)
        return [echoed.decode(), offloaded]
    return asyncio.run(main())


def data():
    db = sqlite3.connect(os.path.join(tempfile.gettempdir(), "everyday.db"))
    db.execute("create table if not exists t (x)")
    db.execute("insert into t values (1)")
    db.commit()
    rows = db.execute("select count(*) from t").fetchone()[0]
    db.close()
    digest = hashlib.sha256(os.urandom(32)).hexdigest()
    packed = zlib.decompress(zlib.compress(b"z" * 10000))
    context = ssl.create_default_context()
    big = bytearray(16 << 20)
    big[-1] = 1
    del big
    return [rows >= 1, len(digest), len(packed), context.verify_mode == ssl.CERT_REQUIRED]


def system():
    libc = ctypes.CDLL(None)
    return {
        "cpus": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "rusage": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0,
        "cpu_time": time.process_time() >= 0,
        "user": pwd.getpwuid(os.getuid()).pw_name,
        "machine": platform.machine(),
        "pid": libc.getpid() == os.getpid(),
        "load": len(os.getloadavg()),
    }


STEPS = {"files": files, "processes": processes, "threads": threads, "network": network,
         "async": asynchronous, "data": data, "system": system}


def handle(event, context):
    results = {}
    for name, step in STEPS.items():
        try:
            results[name] = {"ok": True, "value": step()}
        except Exception as e:
            results[name] = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    return json.loads(json.dumps(results, default=str))
