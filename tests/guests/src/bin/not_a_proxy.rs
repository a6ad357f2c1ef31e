//! A wasi:cli command component: valid WebAssembly, but not a wasi:http proxy. Gust must refuse
//! to deploy it with a message saying so.

fn main() {
    println!("I am a command, not an HTTP handler");
}
