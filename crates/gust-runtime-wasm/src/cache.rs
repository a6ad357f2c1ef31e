//! Loaded components by the sha256 of their code. Functions deployed with the same bytes share
//! one [`Component`](crate::ComponentRef) (one artifact on disk, one mapping of its machine
//! code), and a component no request has used for a while is unloaded: an idle function then
//! holds nothing but its slot, and its next request loads the artifact again, which for a
//! small component takes about a millisecond.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use crate::WasmResult;
use crate::engine::{WasmFunction, WasmRuntime};

/// The slots of every component some function holds, by sha256.
pub(crate) struct Cache {
    slots: Mutex<HashMap<String, Weak<Slot>>>,
    /// Components loaded now (a gauge for `/metrics`).
    pub(crate) loaded: Arc<AtomicI64>,
    /// What `last_used` counts from.
    epoch: Instant,
}

/// One component, loaded or not; shared by every function deployed with its bytes, and freed
/// with the last of them.
pub(crate) struct Slot {
    sha256: String,
    /// The uploaded component, compiled again should its artifact be gone or stale.
    source: PathBuf,
    current: RwLock<Option<WasmFunction>>,
    /// Seconds from the cache's epoch to the last request that used it.
    last_used: AtomicU64,
    /// Held while loading, so concurrent first requests load it once.
    loading: Mutex<()>,
    loaded: Arc<AtomicI64>,
    epoch: Instant,
}

impl Cache {
    pub(crate) fn new() -> Self {
        Self {
            slots: Mutex::default(),
            loaded: Arc::default(),
            epoch: Instant::now(),
        }
    }

    /// The slot of the component with this digest: the one functions hold already, else a new
    /// one, not loaded.
    pub(crate) fn slot(&self, sha256: &str, source: PathBuf) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get(sha256).and_then(Weak::upgrade) {
            return slot;
        }
        let slot = Arc::new(Slot {
            sha256: sha256.to_string(),
            source,
            current: RwLock::new(None),
            last_used: AtomicU64::new(0),
            loading: Mutex::new(()),
            loaded: self.loaded.clone(),
            epoch: self.epoch,
        });
        slots.insert(sha256.to_string(), Arc::downgrade(&slot));
        // Forget the slots nobody holds any more, now and then, so the map stays as small as
        // the set of deployed components.
        if slots.len().is_power_of_two() {
            slots.retain(|_, slot| slot.strong_count() > 0);
        }
        slot
    }

    /// Unload every component no request has used for `idle`; how many were unloaded.
    pub(crate) fn unload_idle(&self, idle: Duration) -> usize {
        let now = self.epoch.elapsed().as_secs();
        let held: Vec<Arc<Slot>> = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.retain(|_, slot| slot.strong_count() > 0);
            slots.values().filter_map(Weak::upgrade).collect()
        };
        held.iter()
            .filter(|slot| {
                now.saturating_sub(slot.last_used.load(Ordering::Relaxed)) >= idle.as_secs()
            })
            .filter(|slot| slot.unload())
            .count()
    }
}

impl Slot {
    /// The loaded component, marked as used now; `None` when it must be loaded first.
    pub(crate) fn current(&self) -> Option<WasmFunction> {
        let current = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        self.touch();
        Some(current)
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    fn touch(&self) {
        let now = self.epoch.elapsed().as_secs();
        // Written only when the second changed: most requests only read the shared line.
        if self.last_used.load(Ordering::Relaxed) != now {
            self.last_used.store(now, Ordering::Relaxed);
        }
    }

    /// Load the component from its artifact (compiling it first if the artifact is missing or
    /// was made by another engine). Blocking: deserializing maps the artifact and checks it.
    pub(crate) fn load(&self, runtime: &WasmRuntime) -> WasmResult<WasmFunction> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let _loading = self.loading.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let function = runtime.load_or_compile(&self.sha256, &self.source)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(function.clone());
        self.loaded.fetch_add(1, Ordering::Relaxed);
        self.touch();
        Ok(function)
    }

    /// Drop the loaded component (requests running keep theirs); false if it was not loaded.
    fn unload(&self) -> bool {
        let _loading = self.loading.lock().unwrap_or_else(|p| p.into_inner());
        let unloaded = self
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .is_some();
        if unloaded {
            self.loaded.fetch_sub(1, Ordering::Relaxed);
        }
        unloaded
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self
            .current
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            self.loaded.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Unloads idle components every quarter of `idle` (at least every 30 s), on a plain thread
/// that ends with the cache.
pub(crate) fn start_unloader(cache: &Arc<Cache>, idle: Duration) {
    let weak = Arc::downgrade(cache);
    let period = (idle / 4).clamp(Duration::from_millis(250), Duration::from_secs(30));
    std::thread::Builder::new()
        .name("gust-wasm-unload".into())
        .spawn(move || {
            loop {
                std::thread::sleep(period);
                let Some(cache) = weak.upgrade() else { return };
                let unloaded = cache.unload_idle(idle);
                if unloaded > 0 {
                    tracing::debug!(unloaded, "unloaded idle components");
                }
            }
        })
        .expect("spawning the unloader thread");
}
