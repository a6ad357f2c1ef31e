//! Stand-in for the `gust` binary in this crate's tests and examples: it only ever runs as the
//! sandbox spawner (see `gust_sandbox::run_spawner_if_requested`).

fn main() {
    gust_sandbox::run_spawner_if_requested();
    eprintln!("gust-process-spawner: started by gust-runtime-process's tests as their spawner");
    std::process::exit(2);
}
