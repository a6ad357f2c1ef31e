//! Stand-in for the `gust` binary in tests: it only ever runs as the sandbox spawner.

fn main() {
    gust_sandbox::run_spawner_if_requested();
    eprintln!("gust-sandbox-spawner: run by gust-sandbox's tests as its spawner; not a tool");
    std::process::exit(2);
}
