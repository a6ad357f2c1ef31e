"""Sandbox escape attempts: each path tries one thing a function must not be able to do."""
import ctypes, errno, os, socket, time

libc = ctypes.CDLL(None, use_errno=True)

def attempt(action):
    try:
        return {"ok": True, "value": action()}
    except OSError as e:
        return {"ok": False, "errno": e.errno, "error": str(e)}

def read(path):
    with open(path, "rb") as f:
        return f.read(1 << 20).decode("latin-1")

def write(path):
    with open(path, "w") as f:
        f.write("escaped")
    return path

SYSTEM = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/root/.pyenv", "/etc/ssl", "/etc/alternatives")

def find(needle):
    """Paths whose name holds `needle` anywhere, or whose content does outside the system's
    read-only trees (scanning all of /usr would take minutes)."""
    hits = []
    for root, dirs, files in os.walk("/", onerror=lambda e: None):
        if root.startswith(("/proc", "/sys")):
            dirs[:] = []
            continue
        for name in dirs + files:
            if needle in name:
                hits.append(os.path.join(root, name))
        if root.startswith(SYSTEM):
            continue
        for name in files:
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as f:
                    if needle.encode() in f.read(1 << 20):
                        hits.append(path)
            except OSError:
                pass
    return hits

def fork_bomb():
    children, failure = 0, None
    while children < 10000:
        try:
            pid = os.fork()
        except OSError as e:
            failure = e.errno
            break
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
    return {"children": children, "errno": failure}

def fill_tmp():
    written, chunk = 0, b"x" * (1 << 20)
    try:
        with open("/tmp/fill", "wb") as f:
            while written < (1 << 30):
                f.write(chunk)
                f.flush()
                written += len(chunk)
    except OSError as e:
        return {"written": written, "errno": e.errno}
    return {"written": written, "errno": None}

def syscall_errno(result):
    return {"result": result, "errno": ctypes.get_errno()}

def handle(event, context):
    q = event["queryStringParameters"]
    p = event["path"]
    if p == "/read":
        return attempt(lambda: read(q["path"]))
    if p == "/list":
        return attempt(lambda: os.listdir(q["path"]))
    if p == "/find":
        return find(q["needle"])
    if p == "/write":
        return attempt(lambda: write(q["path"]))
    if p == "/forkbomb":
        return fork_bomb()
    if p == "/memory":
        hog = []
        while True:
            hog.append(bytearray(8 << 20))
    if p == "/filltmp":
        return fill_tmp()
    if p == "/ptrace":
        return {"attach": syscall_errno(libc.ptrace(16, 1, 0, 0)), "traceme": syscall_errno(libc.ptrace(0, 0, 0, 0))}
    if p == "/mount":
        return syscall_errno(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
    if p == "/unshare":
        return syscall_errno(libc.unshare(0x10000000))
    if p == "/kill":
        return attempt(lambda: os.kill(int(q["pid"]), 9))
    if p == "/connect":
        def connect():
            s = socket.create_connection(("127.0.0.1", int(q["port"])), timeout=2)
            s.sendall(b"escaped")
            s.close()
        return attempt(connect)
    if p == "/spin":
        while True:
            pass
    if p == "/whoami":
        return {"uid": os.getuid(), "pid": os.getpid(), "hostname": socket.gethostname(),
                "root": sorted(os.listdir("/")), "procs": sorted(x for x in os.listdir("/proc") if x.isdigit())}
    return "unknown probe"
