//! The pool's background task: forgets dead workers, keeps `min_scale` started, launches
//! workers for waiting requests, stops idle ones after the idle timeout (and surplus ones
//! after a scale-down). Woken by events; otherwise ticks at a quarter of the idle timeout.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use super::PoolInner;

pub(super) async fn run(
    pool: Weak<PoolInner>,
    changed: Arc<Notify>,
    mut exits: mpsc::UnboundedReceiver<u64>,
) {
    loop {
        let Some(inner) = pool.upgrade() else { return };
        let idle_timeout = inner.runtime.config.idle_timeout;
        let tick = (idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));

        let (stopped, starts) = {
            let mut state = inner.state.lock().unwrap();
            while let Ok(seq) = exits.try_recv() {
                state.remove(seq);
            }
            // Killed workers (timeout) leave now, not when their process is reaped, so
            // replacements are not held back by them.
            let unusable: Vec<u64> = state
                .slots
                .iter()
                .filter(|s| !s.worker.accepts_requests() && s.inflight == 0)
                .map(|s| s.worker.seq)
                .collect();
            for seq in unusable {
                state.remove(seq);
            }
            let now = Instant::now();
            let stopped = state.take_surplus(now, idle_timeout);
            (stopped, state.plan_starts(now))
        };
        for worker in stopped {
            worker.kill("the worker was idle and has been stopped");
        }
        for _ in 0..starts {
            tokio::spawn(inner.clone().start_worker());
        }
        drop(inner);

        tokio::select! {
            exit = exits.recv() => {
                let Some(seq) = exit else { return };
                if let Some(inner) = pool.upgrade() {
                    inner.state.lock().unwrap().remove(seq);
                }
            }
            _ = changed.notified() => {}
            _ = tokio::time::sleep(tick) => {}
        }
    }
}
