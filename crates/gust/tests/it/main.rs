//! Integration tests: each starts a real `gust serve` on 127.0.0.1:0 with its own data dir and
//! drives it over HTTP (and through the CLI in `cli`).

mod harness;

mod appwrite;
mod async_exec;
mod auth;
mod azion;
mod bad_input;
mod blobs;
mod browser;
mod cli;
mod cluster;
mod console;
mod contracts;
mod crash;
mod domains;
mod edge;
mod function_metrics;
mod hostile_requests;
mod idle;
mod lifecycle;

mod limits;
mod migrate;
mod network;
mod observe;
mod postgres;
mod process;
mod qinling;
mod restart;
mod retention;
mod sandbox;
mod scaleway;
mod scaling;
mod schedules;
mod schema_fuzz;
mod scratch;
mod security;
mod settings;
mod signed_urls;
mod test_requests;
mod triggers;
mod uploads;
mod versions;
mod webhooks;
