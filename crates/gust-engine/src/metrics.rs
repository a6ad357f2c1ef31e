//! `GET /metrics` in Prometheus text format.
//!
//! Nothing here runs on the invocation path: execution counts, durations and cold starts are
//! counted from each batch of records the recorder commits; queue depths and instance counts
//! are read when scraped; builds and store writes count where they happen.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use gust_core::{Execution, ExecutionStatus};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FunctionLabels {
    namespace: String,
    function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InvocationLabels {
    namespace: String,
    function: String,
    trigger: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    namespace: String,
    function: String,
    runtime: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    runtime: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

/// Whether a record reports the end of a run: finished, or queued again for a retry.
pub fn ended_attempt(e: &Execution) -> bool {
    match e.status {
        ExecutionStatus::Running => false,
        ExecutionStatus::Queued => e.attempts > 0,
        _ => true,
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    invocations: Family<InvocationLabels, Counter>,
    durations: HistogramFamily<FunctionLabels>,
    cold_starts: Family<FunctionLabels, Counter>,
    queue_depth: Family<FunctionLabels, Gauge>,
    async_running: Gauge,
    instances: Family<InstanceLabels, Gauge>,
    builds: Family<BuildLabels, Counter>,
    build_durations: HistogramFamily<BuildLabels>,
    store_latency: HistogramFamily<OperationLabels>,
    /// Wasm instances alive now (one per request in flight), counted by the runtime.
    pub wasm_instances: Arc<AtomicI64>,
    /// Bytes of the data dir (database, log, code), measured every second.
    pub data_bytes: AtomicU64,
    /// The data dir's size ceiling (`GUST_MAX_DATA_MB`), 0 for none.
    pub data_limit_bytes: AtomicU64,
    /// Finished executions deleted because the data dir reached its ceiling.
    pub executions_pruned_for_size: AtomicU64,
    /// Wasm components loaded now (idle ones are unloaded), counted by the runtime.
    wasm_components: std::sync::OnceLock<Arc<AtomicI64>>,
    /// Function id → (namespace name, function name), for labels people can read.
    names: RwLock<HashMap<String, (String, String)>>,
    /// Each function's metrics, found once: counting a record then costs no label building
    /// or hashing of label sets (the writer task counts every record).
    handles: Mutex<HashMap<String, FunctionHandles>>,
}

struct FunctionHandles {
    labels: FunctionLabels,
    /// By (trigger, status).
    invocations: HashMap<(&'static str, &'static str), Counter>,
    duration: Histogram,
    cold_starts: Counter,
}

/// 100 µs to ~100 s in factors of 2: invocations, builds and store writes all fit.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 21))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gust");
        let invocations = Family::<InvocationLabels, Counter>::default();
        registry.register(
            "executions",
            "Executions finished, by function, trigger and status",
            invocations.clone(),
        );
        let durations: HistogramFamily<FunctionLabels> =
            Family::new_with_constructor(seconds_histogram);
        registry.register(
            "execution_duration_seconds",
            "Execution wall time, from start to the end of the response",
            durations.clone(),
        );
        let cold_starts = Family::<FunctionLabels, Counter>::default();
        registry.register(
            "cold_starts",
            "Executions that had to start a fresh worker",
            cold_starts.clone(),
        );
        let queue_depth = Family::<FunctionLabels, Gauge>::default();
        registry.register(
            "queue_depth",
            "Async executions waiting to run, by function",
            queue_depth.clone(),
        );
        let async_running = Gauge::default();
        registry.register(
            "async_running",
            "Async executions running now",
            async_running.clone(),
        );
        let instances = Family::<InstanceLabels, Gauge>::default();
        registry.register(
            "instances",
            "Live instances (Wasm: requests in flight; process runtimes: workers)",
            instances.clone(),
        );
        let builds = Family::<BuildLabels, Counter>::default();
        registry.register(
            "builds",
            "Deployment builds, by runtime and result",
            builds.clone(),
        );
        let build_durations: HistogramFamily<BuildLabels> =
            Family::new_with_constructor(seconds_histogram);
        registry.register(
            "build_duration_seconds",
            "Deployment build time",
            build_durations.clone(),
        );
        let store_latency: HistogramFamily<OperationLabels> =
            Family::new_with_constructor(seconds_histogram);
        registry.register(
            "store_latency_seconds",
            "Time of store operations on the execution path (batched writes, queue reads)",
            store_latency.clone(),
        );
        Self {
            registry,
            invocations,
            durations,
            cold_starts,
            queue_depth,
            async_running,
            instances,
            builds,
            build_durations,
            store_latency,
            wasm_instances: Arc::default(),
            wasm_components: std::sync::OnceLock::new(),
            data_bytes: AtomicU64::new(0),
            data_limit_bytes: AtomicU64::new(0),
            executions_pruned_for_size: AtomicU64::new(0),
            names: RwLock::default(),
            handles: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Report the runtime's count of loaded components as `gust_wasm_components_loaded`.
    pub fn count_wasm_components(&self, loaded: Arc<AtomicI64>) {
        let _ = self.wasm_components.set(loaded);
    }

    /// Remember a function's names for its labels.
    pub fn name_function(&self, function_id: &str, namespace: &str, function: &str) {
        let renamed = {
            let mut names = self.names.write().unwrap_or_else(|p| p.into_inner());
            let renamed = names
                .get(function_id)
                .is_none_or(|(n, f)| n != namespace || f != function);
            if renamed {
                names.insert(
                    function_id.to_string(),
                    (namespace.to_string(), function.to_string()),
                );
            }
            renamed
        };
        // Handles made before the names were known (or under old ones) carry stale labels.
        // Taken after `names` is released: `observe_executions` locks `handles` first.
        if renamed {
            self.handles
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(function_id);
        }
    }

    fn labels(&self, function_id: &str) -> FunctionLabels {
        let names = self.names.read().unwrap_or_else(|p| p.into_inner());
        match names.get(function_id) {
            Some((namespace, function)) => FunctionLabels {
                namespace: namespace.clone(),
                function: function.clone(),
            },
            None => FunctionLabels {
                namespace: String::new(),
                function: function_id.to_string(),
            },
        }
    }

    /// Count a committed batch of execution records (each ended attempt once).
    pub fn observe_executions(&self, batch: &[Execution]) {
        let mut handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        for e in batch {
            if !ended_attempt(e) {
                continue;
            }
            // A record queued again after a run is an attempt that failed and will retry.
            let status = match e.status {
                ExecutionStatus::Queued => ExecutionStatus::Failed,
                other => other,
            };
            let function = match handles.get_mut(&e.function_id) {
                Some(function) => function,
                None => {
                    let labels = self.labels(&e.function_id);
                    let function = FunctionHandles {
                        duration: self.durations.get_or_create(&labels).clone(),
                        cold_starts: self.cold_starts.get_or_create(&labels).clone(),
                        invocations: HashMap::new(),
                        labels,
                    };
                    handles.entry(e.function_id.clone()).or_insert(function)
                }
            };
            let labels = &function.labels;
            function
                .invocations
                .entry((e.trigger.as_str(), status.as_str()))
                .or_insert_with(|| {
                    self.invocations
                        .get_or_create(&InvocationLabels {
                            namespace: labels.namespace.clone(),
                            function: labels.function.clone(),
                            trigger: e.trigger.as_str().to_string(),
                            status: status.as_str().to_string(),
                        })
                        .clone()
                })
                .inc();
            if let Some(us) = e.duration_us {
                function.duration.observe(us as f64 / 1e6);
            }
            if e.cold_start {
                function.cold_starts.inc();
            }
        }
    }

    pub fn observe_build(&self, runtime: &str, succeeded: bool, took: Duration) {
        let labels = BuildLabels {
            runtime: runtime.to_string(),
            status: if succeeded { "ready" } else { "failed" }.to_string(),
        };
        self.builds.get_or_create(&labels).inc();
        self.build_durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub fn observe_store(&self, operation: &str, took: Duration) {
        self.store_latency
            .get_or_create(&OperationLabels {
                operation: operation.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Set the gauges read at scrape time, then render everything.
    pub fn render(
        &self,
        queue_depths: &[(String, usize)],
        async_running: usize,
        instances: &[(String, &'static str, usize)],
    ) -> String {
        self.queue_depth.clear();
        for (function_id, depth) in queue_depths {
            self.queue_depth
                .get_or_create(&self.labels(function_id))
                .set(*depth as i64);
        }
        self.async_running.set(async_running as i64);
        self.instances.clear();
        for (function_id, runtime, count) in instances {
            let labels = self.labels(function_id);
            self.instances
                .get_or_create(&InstanceLabels {
                    namespace: labels.namespace,
                    function: labels.function,
                    runtime: runtime.to_string(),
                })
                .set(*count as i64);
        }
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        text.push_str(&format!(
            "# HELP gust_wasm_instances WebAssembly instances alive now.\n\
             # TYPE gust_wasm_instances gauge\n\
             gust_wasm_instances {}\n",
            self.wasm_instances.load(Ordering::Relaxed)
        ));
        text.push_str(&format!(
            "# HELP gust_data_bytes Bytes of the data dir: database, its log, code and artifacts.\n\
             # TYPE gust_data_bytes gauge\n\
             gust_data_bytes {}\n\
             # HELP gust_data_limit_bytes The data dir's size ceiling (GUST_MAX_DATA_MB); 0: none.\n\
             # TYPE gust_data_limit_bytes gauge\n\
             gust_data_limit_bytes {}\n\
             # HELP gust_executions_pruned_for_size_total Finished executions deleted because \
             the data dir reached its ceiling.\n\
             # TYPE gust_executions_pruned_for_size_total counter\n\
             gust_executions_pruned_for_size_total {}\n",
            self.data_bytes.load(Ordering::Relaxed),
            self.data_limit_bytes.load(Ordering::Relaxed),
            self.executions_pruned_for_size.load(Ordering::Relaxed),
        ));
        if let Some(loaded) = self.wasm_components.get() {
            text.push_str(&format!(
                "# HELP gust_wasm_components_loaded WebAssembly components loaded now; one \
                 per distinct code, none for functions idle past the unload time.\n\
                 # TYPE gust_wasm_components_loaded gauge\n\
                 gust_wasm_components_loaded {}\n",
                loaded.load(Ordering::Relaxed)
            ));
        }
        text
    }
}
