"""Sandbox escape attempts: each path tries one thing a function must not be able to do."""
import ctypes, errno, json, mmap, os, platform, socket, struct, time

libc = ctypes.CDLL(None, use_errno=True)
MACHINE = platform.machine()

# Numbers of the system calls tried raw, on x86_64 and aarch64.
SYSCALLS = {
    "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218), "bpf": (321, 280),
    "userfaultfd": (323, 282), "perf_event_open": (298, 241), "unshare": (272, 97),
    "setns": (308, 268), "io_uring_setup": (425, 425), "mount": (165, 40), "umount2": (166, 39),
    "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430), "getpid": (39, 172),
}
CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET = 0x10000000, 0x20000, 0x40000000
NAMESPACES = {"user": CLONE_NEWUSER, "mnt": CLONE_NEWNS, "net": CLONE_NEWNET, "pid": 0x20000000,
              "uts": 0x04000000, "ipc": 0x08000000, "cgroup": 0x02000000}
AT_FDCWD = -100

def raw(name, *args):
    """A system call by number, as a program in C could make it: its result and errno."""
    number = SYSCALLS[name][0 if MACHINE == "x86_64" else 1]
    return raw_number(number, *args)

def raw_number(number, *args):
    converted = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(number), *converted)
    return {"result": result, "errno": ctypes.get_errno() if result == -1 else 0}

def in_child(action):
    """Runs `action` in a forked child, so what it changes (its namespaces) stays there."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            out = json.dumps(action())
        except BaseException as e:
            out = json.dumps({"error": repr(e)})
        os.write(write_end, out.encode())
        os._exit(0)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 65536):
        data += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    return json.loads(data)

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

def open_socket(family, kind, proto):
    try:
        socket.socket(family, kind, proto).close()
        return {"ok": True}
    except OSError as e:
        return {"ok": False, "errno": e.errno}

def raw_sockets():
    """Sockets that see or forge whole packets; also after making a user and network namespace
    of its own, where it would hold CAP_NET_RAW."""
    all_frames = socket.htons(3)  # ETH_P_ALL
    def in_own_namespace():
        return {"unshare": raw("unshare", CLONE_NEWUSER | CLONE_NEWNET),
                "packet": open_socket(socket.AF_PACKET, socket.SOCK_RAW, all_frames)}
    return {
        "packet": open_socket(socket.AF_PACKET, socket.SOCK_RAW, all_frames),
        "packet_dgram": open_socket(socket.AF_PACKET, socket.SOCK_DGRAM, all_frames),
        "inet_raw": open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
        "inet6_raw": open_socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),
        "own_namespace": in_child(in_own_namespace),
    }

def kernel_surface():
    """Calls an unprivileged process may make on a stock kernel, each a source of exploits."""
    map_create = ctypes.create_string_buffer(struct.pack("<IIII", 2, 4, 4, 1), 128)  # array map
    map_lookup = ctypes.create_string_buffer(struct.pack("<I", 0), 128)  # fd 0: not a map
    perf = ctypes.create_string_buffer(struct.pack("<IIQQQQQ", 1, 128, 0, 0, 0, 0, 1 | 1 << 5 | 1 << 6), 128)
    io_uring = ctypes.create_string_buffer(120)
    return {
        "keyctl": raw("keyctl", 0, -3, 1),  # KEYCTL_GET_KEYRING_ID of the session keyring
        "add_key": raw("add_key", b"user", b"gust-probe", b"secret", 6, -2),
        "request_key": raw("request_key", b"user", b"gust-probe", None, 0),
        "bpf_map_create": raw("bpf", 0, map_create, 128),
        "bpf_map_lookup": raw("bpf", 1, map_lookup, 128),
        "userfaultfd": raw("userfaultfd", os.O_CLOEXEC | 1),  # UFFD_USER_MODE_ONLY
        "perf_event_open": raw("perf_event_open", perf, 0, -1, -1, 0),  # own CPU clock, user only
        "io_uring_setup": raw("io_uring_setup", 8, io_uring),
    }

def namespaces():
    """New namespaces of every kind, each with a user namespace (which would give it the
    capabilities the others need), and joining the ones at /proc/1 (the sandbox's init, or
    this process's own when init's are out of reach)."""
    def join():
        joined = {}
        for name in NAMESPACES:
            try:
                fd, source = os.open("/proc/1/ns/" + name, os.O_RDONLY), "/proc/1"
            except OSError:
                fd, source = os.open("/proc/self/ns/" + name, os.O_RDONLY), "/proc/self"
            joined[name] = dict(raw("setns", fd, 0), source=source)
            os.close(fd)
        return joined
    made = {name: in_child(lambda flag=flag: raw("unshare", CLONE_NEWUSER | flag))
            for name, flag in NAMESPACES.items()}
    return {"unshare": made, "setns": in_child(join)}

def proc_writes():
    """Writes that change the process itself: its LSM label (now, at exec), its OOM score."""
    def write(path, data):
        try:
            fd = os.open(path, os.O_WRONLY)
        except OSError as e:
            return {"ok": False, "errno": e.errno}
        try:
            os.write(fd, data)
            return {"ok": True}
        except OSError as e:
            return {"ok": False, "errno": e.errno, "opened": True}
        finally:
            os.close(fd)
    return {"current": write("/proc/self/attr/current", b"unconfined"),
            "exec": write("/proc/self/attr/exec", b"exec unconfined"),
            "oom_score_adj": write("/proc/self/oom_score_adj", b"1000")}

def mount_over_code():
    """Mounting over /code, with the old and the new mount API, after making a user and mount
    namespace of its own (where mounting would be allowed)."""
    def attempt():
        return {
            "unshare": raw("unshare", CLONE_NEWUSER | CLONE_NEWNS),
            "mount": raw("mount", b"none", b"/code", b"tmpfs", 0, None),
            "umount2": raw("umount2", b"/code", 2),  # MNT_DETACH
            "open_tree": raw("open_tree", AT_FDCWD, b"/code", 1),  # OPEN_TREE_CLONE
            "fsopen": raw("fsopen", b"tmpfs", 0),
            "move_mount": raw("move_mount", -1, b"", AT_FDCWD, b"/code", 4),
        }
    result = in_child(attempt)
    result["code"] = sorted(os.listdir("/code"))
    return result

def confinement():
    """What the process was left with: capabilities, no_new_privs, seccomp, rlimits (and what
    they stop: a file past RLIMIT_FSIZE, descriptors past RLIMIT_NOFILE)."""
    import resource
    status = dict(line.split(":", 1) for line in read("/proc/self/status").splitlines() if ":" in line)
    fields = ["NoNewPrivs", "Seccomp", "Seccomp_filters", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
    limits = {name: resource.getrlimit(getattr(resource, "RLIMIT_" + name))[0]
              for name in ("NOFILE", "FSIZE", "CORE")}
    def too_big():
        with open("/tmp/too-big", "wb") as f:
            f.write(b"x" * (limits["FSIZE"] + 1))
    opened = []
    def too_many():
        while len(opened) < 100000:
            opened.append(os.open("/dev/null", os.O_RDONLY))
    result = {"status": {f: status.get(f, "").strip() for f in fields}, "limits": limits,
              "too_big": attempt(too_big), "too_many": attempt(too_many)}
    for fd in opened:
        os.close(fd)
    os.unlink("/tmp/too-big")
    return result

def x32():
    """getpid through the x32 entry (its number with bit 30 set), which a deny-list by number
    would miss."""
    if MACHINE != "x86_64":
        return None
    return raw_number(0x40000000 | SYSCALLS["getpid"][0])

def int80():
    """getpid through the 32-bit entry (`int 0x80`), from machine code in an executable page."""
    code = bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3])  # mov eax, 20; int 0x80; ret
    page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    function = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
    return {"pid": function()}

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
    if p == "/raw-sockets":
        return raw_sockets()
    if p == "/kernel-surface":
        return kernel_surface()
    if p == "/namespaces":
        return namespaces()
    if p == "/proc-writes":
        return proc_writes()
    if p == "/mount-code":
        return mount_over_code()
    if p == "/confinement":
        return confinement()
    if p == "/x32":
        return x32()
    if p == "/int80":
        return int80() if MACHINE == "x86_64" else None
    if p == "/affinity":
        # Outside the allow-list, and not caught: the PermissionError is the function's failure.
        os.sched_setaffinity(0, os.sched_getaffinity(0))
        return "set"
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
