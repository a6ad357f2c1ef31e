//! Escape attempts, each run as real function code inside the sandbox; each must fail, and
//! each asserts what really happened (the secret's bytes never come back, the host process
//! lives on, the connection never arrives). Controls show the probes work where allowed.

use std::time::Duration;

use gust_core::RuntimeId;
use gust_runtime_process::{FunctionPool, Outcome, PoolSpec};

use crate::{Env, build, call, code, env_with, get, json};

const PROBE: &str = r#"
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
"#;

/// A runtime whose data dir holds an admin token, and a probe function in its own folder.
async fn probe(tweak: impl FnOnce(&mut PoolSpec)) -> (Env, FunctionPool, tempfile::TempDir) {
    let env = env_with(|c| {
        c.tmp_mb = 16;
        c.pids = 64;
    })
    .await;
    let dir = code(&[("main.py", PROBE)]);
    build(&env, RuntimeId::Python311, dir.path()).await.unwrap();
    let mut spec = crate::spec(RuntimeId::Python311, dir.path());
    spec.timeout = Duration::from_secs(20);
    tweak(&mut spec);
    let pool = env.runtime.pool(spec);
    (env, pool, dir)
}

fn secret() -> String {
    format!("gust-secret-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn assert_secret_absent(response: &gust_runtime_process::ProcessResponse, secret: &str) {
    let everything = format!(
        "{}{}{}",
        String::from_utf8_lossy(&response.body),
        response.logs.stdout,
        response.logs.stderr
    );
    assert!(
        !everything.contains(secret),
        "the secret leaked: {everything}"
    );
}

#[tokio::test]
async fn the_data_dir_and_its_admin_token_are_out_of_reach() {
    let (env, pool, _dir) = probe(|_| {}).await;
    let secret = secret();
    let token = env.data.path().join("admin-token");
    std::fs::write(&token, &secret).unwrap();
    // Even a world-readable copy stays out of reach: the data dir is not in the sandbox at all.
    let open_copy = env.data.path().join("readable-copy");
    std::fs::write(&open_copy, &secret).unwrap();
    std::fs::set_permissions(
        &open_copy,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();

    for path in [
        token.display().to_string(),
        open_copy.display().to_string(),
        "/root/.bash_history".into(),
        "/etc/shadow".into(),
    ] {
        let response = call(&pool, get(&format!("/read?path={path}"))).await;
        assert_eq!(
            json(&response)["ok"],
            false,
            "{path}: {}",
            crate::body(&response)
        );
        assert_secret_absent(&response, &secret);
    }
    let listing = call(
        &pool,
        get(&format!("/list?path={}", env.data.path().display())),
    )
    .await;
    assert_eq!(json(&listing)["ok"], false);
    let search = call(&pool, get(&format!("/find?needle={secret}"))).await;
    assert_eq!(
        json(&search),
        serde_json::json!([]),
        "the secret is nowhere in the sandbox's filesystem"
    );
    assert_secret_absent(&search, &secret);
    let data_name = env
        .data
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for name in [data_name.as_str(), "admin-token"] {
        let search = call(&pool, get(&format!("/find?needle={name}"))).await;
        assert_eq!(
            json(&search),
            serde_json::json!([]),
            "{name} is not in the sandbox"
        );
    }

    // Control: the probe does find what it may see.
    let own = call(&pool, get("/find?needle=def fork_bomb")).await;
    assert!(
        json(&own)
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "/code/main.py")
    );
}

#[tokio::test]
async fn another_functions_code_is_out_of_reach() {
    let (_env, pool, _dir) = probe(|_| {}).await;
    let secret = secret();
    let other = code(&[("main.py", &format!("SECRET = '{secret}'\n"))]);
    let path = other.path().join("main.py");
    let response = call(&pool, get(&format!("/read?path={}", path.display()))).await;
    assert_eq!(json(&response)["ok"], false);
    assert_secret_absent(&response, &secret);
    let search = call(&pool, get(&format!("/find?needle={secret}"))).await;
    assert_eq!(json(&search), serde_json::json!([]));
    let other_name = other
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let search = call(&pool, get(&format!("/find?needle={other_name}"))).await;
    assert_eq!(
        json(&search),
        serde_json::json!([]),
        "the other function's folder is not there"
    );
}

#[tokio::test]
async fn nothing_outside_tmp_is_writable() {
    let (_env, pool, dir) = probe(|_| {}).await;
    for path in [
        "/code/main.py",
        "/code/new.py",
        "/etc/passwd",
        "/usr/bin/evil",
        "/evil",
        "/dev/evil",
        "/root/.pyenv/versions/3.11.7/evil",
    ] {
        let response = call(&pool, get(&format!("/write?path={path}"))).await;
        assert_eq!(json(&response)["ok"], false, "{path} was writable");
    }
    assert!(!dir.path().join("new.py").exists());
    assert!(
        std::fs::read_to_string(dir.path().join("main.py"))
            .unwrap()
            .contains("def fork_bomb")
    );
    let control = call(&pool, get("/write?path=/tmp/ok")).await;
    assert_eq!(json(&control)["ok"], true);
}

#[tokio::test]
async fn a_fork_bomb_stops_at_the_pids_limit_and_the_host_is_unaffected() {
    let (_env, pool, _dir) = probe(|_| {}).await;
    let response = call(&pool, get("/forkbomb")).await;
    let result = json(&response);
    let children = result["children"].as_u64().unwrap();
    assert!(children < 64, "{result}");
    assert_eq!(result["errno"], libc_eagain(), "{result}");
    // The host still starts processes.
    let status = std::process::Command::new("true").status().unwrap();
    assert!(status.success());
    // Detaching ends every process the bomb left (the sandbox's pid namespace goes with it).
    let pid = response.worker_pid;
    pool.detach().await;
    let proc_path = format!("/proc/{pid}");
    assert!(
        crate::eventually(Duration::from_secs(5), || !std::path::Path::new(&proc_path)
            .exists())
        .await
    );
}

fn libc_eagain() -> serde_json::Value {
    serde_json::json!(11)
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit_and_says_so() {
    let (_env, pool, _dir) = probe(|spec| spec.memory_mb = 64).await;
    let response = call(&pool, get("/memory")).await;
    assert!(
        matches!(&response.outcome, Outcome::Failed(m) if m.contains("memory limit of 64 MiB")),
        "{:?}",
        response.outcome
    );
    assert_eq!(response.status, 500);
    assert_eq!(
        call(&pool, get("/whoami")).await.outcome,
        Outcome::Completed,
        "a new worker takes over"
    );
}

#[tokio::test]
async fn filling_tmp_stops_at_its_size_limit() {
    let (_env, pool, _dir) = probe(|_| {}).await;
    let result = json(&call(&pool, get("/filltmp")).await);
    let written = result["written"].as_u64().unwrap();
    assert!(written <= 16 << 20, "{result}");
    assert!(
        written >= 8 << 20,
        "the limit is the tmpfs's, not something smaller: {result}"
    );
    assert_eq!(result["errno"], 28, "ENOSPC: {result}");
}

#[tokio::test]
async fn ptrace_mount_and_new_namespaces_are_denied() {
    let (_env, pool, _dir) = probe(|_| {}).await;
    let ptrace = json(&call(&pool, get("/ptrace")).await);
    for case in ["attach", "traceme"] {
        assert_eq!(ptrace[case]["result"], -1, "{ptrace}");
        assert_eq!(ptrace[case]["errno"], 1, "EPERM from the filter: {ptrace}");
    }
    let mount = json(&call(&pool, get("/mount")).await);
    assert_eq!(
        (mount["result"].as_i64(), mount["errno"].as_i64()),
        (Some(-1), Some(1)),
        "{mount}"
    );
    let unshare = json(&call(&pool, get("/unshare")).await);
    assert_eq!(
        (unshare["result"].as_i64(), unshare["errno"].as_i64()),
        (Some(-1), Some(1)),
        "{unshare}"
    );
}

#[tokio::test]
async fn a_process_outside_the_sandbox_cannot_be_killed_or_seen() {
    let (_env, pool, _dir) = probe(|_| {}).await;
    let mut host = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let response = call(&pool, get(&format!("/kill?pid={}", host.id()))).await;
    assert_eq!(json(&response)["ok"], false, "{}", crate::body(&response));
    assert!(
        host.try_wait().unwrap().is_none(),
        "the host process lives on"
    );
    let me = json(&call(&pool, get("/whoami")).await);
    assert_eq!(me["hostname"], "gust");
    assert_eq!(me["uid"], 1000);
    assert!(
        me["procs"].as_array().unwrap().len() <= 3,
        "only the sandbox's processes: {me}"
    );
    let _ = host.kill();
    let _ = host.wait();
}

#[tokio::test]
async fn with_the_network_off_no_connection_leaves_the_sandbox() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();

    let (_env, pool, _dir) = probe(|spec| spec.network = false).await;
    let response = call(&pool, get(&format!("/connect?port={port}"))).await;
    assert_eq!(json(&response)["ok"], false, "{}", crate::body(&response));
    assert!(listener.accept().is_err(), "nothing connected");

    // Control: with the network on, the same probe reaches the host's loopback.
    let (_env, open, _dir) = probe(|_| {}).await;
    let response = call(&open, get(&format!("/connect?port={port}"))).await;
    assert_eq!(json(&response)["ok"], true, "{}", crate::body(&response));
    assert!(listener.accept().is_ok());
}

#[tokio::test]
async fn running_past_the_timeout_is_stopped() {
    let (_env, pool, _dir) = probe(|spec| spec.timeout = Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let response = call(&pool, get("/spin")).await;
    assert_eq!(response.outcome, Outcome::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
    let proc_path = format!("/proc/{}", response.worker_pid);
    assert!(
        crate::eventually(Duration::from_secs(5), || !std::path::Path::new(&proc_path)
            .exists())
        .await
    );
}
