//! The scaling decisions of one function's pool, as plain data under one lock: which worker
//! takes a request, when a request waits and when it is refused, how many workers to start,
//! which to stop. No I/O here, so the rules are unit-tested without processes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::request::ColdStart;
use gust_runtime::NotRun;

/// What the state needs of a worker.
pub trait Member: Clone {
    fn id(&self) -> u64;
    /// Not killed, not dead: may take requests.
    fn usable(&self) -> bool;
}

/// A worker handed to a request; `cold` when the request waited for it to start.
pub struct Lease<W> {
    pub worker: W,
    pub cold: Option<ColdStart>,
}

type Reply<W> = oneshot::Sender<Result<Lease<W>, NotRun>>;

struct Waiter<W> {
    reply: Reply<W>,
    since: Instant,
}

pub struct Slot<W> {
    pub worker: W,
    pub inflight: u32,
    pub last_used: Instant,
}

/// What `acquire` decided.
pub enum Acquire<W> {
    /// A worker with room: go.
    Warm(W),
    /// Queued; `start` says a new worker was counted as starting and must be launched.
    Wait {
        start: bool,
    },
    Overloaded(Duration),
    Draining,
}

pub struct PoolState<W> {
    pub slots: Vec<Slot<W>>,
    /// Workers being launched (not yet in `slots`).
    pub starting: u32,
    waiters: VecDeque<Waiter<W>>,
    pub min: u32,
    pub max: u32,
    pub concurrency: u32,
    pub queue_limit: usize,
    pub draining: bool,
    /// Moving average of request time, µs: the basis of Retry-After.
    avg_us: f64,
    /// After a failed start, the pool's own starts (min_scale, the queue) wait until then,
    /// so a worker that cannot start is not retried in a loop. A request may still try.
    retry_starts_at: Option<Instant>,
}

/// How long the pool's own starts pause after one failed.
const START_RETRY_PAUSE: Duration = Duration::from_secs(1);

impl<W: Member> PoolState<W> {
    pub fn new(min: u32, max: u32, concurrency: u32, queue_limit: usize) -> Self {
        PoolState {
            slots: Vec::new(),
            starting: 0,
            waiters: VecDeque::new(),
            min,
            max: max.max(1),
            concurrency: concurrency.max(1),
            queue_limit,
            draining: false,
            avg_us: 100_000.0,
            retry_starts_at: None,
        }
    }

    fn total(&self) -> u32 {
        self.slots.len() as u32 + self.starting
    }

    pub fn waiting(&mut self) -> usize {
        self.waiters.retain(|w| !w.reply.is_closed());
        self.waiters.len()
    }

    /// Takes a worker with room (oldest first, so idle ones at the end can be stopped), or
    /// queues `reply` (starting a worker when below `max`), or refuses.
    pub fn acquire(&mut self, reply: Reply<W>, now: Instant) -> Acquire<W> {
        if self.draining {
            return Acquire::Draining;
        }
        if let Some(worker) = self.take_warm(now) {
            return Acquire::Warm(worker);
        }
        let waiting = self.waiting();
        let coming = (self.starting * self.concurrency) as usize;
        let start = self.total() < self.max && waiting >= coming;
        if !start && waiting >= self.queue_limit + coming {
            return Acquire::Overloaded(self.retry_after());
        }
        if start {
            self.starting += 1;
        }
        self.waiters.push_back(Waiter { reply, since: now });
        Acquire::Wait { start }
    }

    /// A worker with room (oldest first), its slot counted as taken; `None` while draining.
    pub fn take_warm(&mut self, now: Instant) -> Option<W> {
        if self.draining {
            return None;
        }
        let concurrency = self.concurrency;
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.inflight < concurrency && s.worker.usable())?;
        slot.inflight += 1;
        slot.last_used = now;
        Some(slot.worker.clone())
    }

    /// A launched worker is ready: it joins and takes waiters up to its concurrency; they
    /// are cold starts, each with its own wait as total.
    pub fn worker_ready(&mut self, worker: W, cold: ColdStart, now: Instant) {
        self.starting = self.starting.saturating_sub(1);
        self.retry_starts_at = None;
        self.slots.push(Slot {
            worker: worker.clone(),
            inflight: 0,
            last_used: now,
        });
        let index = self.slots.len() - 1;
        self.hand_out(index, now, Some(cold));
    }

    /// A launch failed: with no other worker to wait for, waiters get the reason now rather
    /// than an Overloaded later.
    pub fn start_failed(&mut self, reason: &str, now: Instant) {
        self.starting = self.starting.saturating_sub(1);
        self.retry_starts_at = Some(now + START_RETRY_PAUSE);
        if self.slots.iter().all(|s| !s.worker.usable()) && self.starting == 0 {
            for waiter in self.waiters.drain(..) {
                let _ = waiter
                    .reply
                    .send(Err(NotRun::Unavailable(reason.to_string())));
            }
        }
    }

    /// A request is done with its worker; the worker takes the next waiter if it can.
    pub fn release(&mut self, id: u64, elapsed: Duration, now: Instant) {
        self.avg_us = self.avg_us * 0.9 + elapsed.as_micros() as f64 * 0.1;
        if let Some(index) = self.slots.iter().position(|s| s.worker.id() == id) {
            let slot = &mut self.slots[index];
            slot.inflight = slot.inflight.saturating_sub(1);
            slot.last_used = now;
            self.hand_out(index, now, None);
        }
    }

    fn hand_out(&mut self, index: usize, now: Instant, cold: Option<ColdStart>) {
        while self.slots[index].inflight < self.concurrency && self.slots[index].worker.usable() {
            let Some(waiter) = self.waiters.pop_front() else {
                break;
            };
            let cold = cold.map(|c| ColdStart {
                total_us: now.duration_since(waiter.since).as_micros() as u64,
                ..c
            });
            let lease = Lease {
                worker: self.slots[index].worker.clone(),
                cold,
            };
            // A waiter that gave up has dropped its receiver: try the next one.
            if waiter.reply.send(Ok(lease)).is_ok() {
                self.slots[index].inflight += 1;
                self.slots[index].last_used = now;
            }
        }
    }

    /// Forgets a dead or stopped worker.
    pub fn remove(&mut self, id: u64) -> Option<W> {
        let index = self.slots.iter().position(|s| s.worker.id() == id)?;
        Some(self.slots.remove(index).worker)
    }

    /// How many workers to launch now: up to `min`, plus enough for the waiters that the
    /// workers already coming will not absorb, never past `max`. Counts them as starting.
    pub fn plan_starts(&mut self, now: Instant) -> u32 {
        if self.draining || self.retry_starts_at.is_some_and(|at| now < at) {
            return 0;
        }
        let usable = self.slots.iter().filter(|s| s.worker.usable()).count() as u32;
        let total = usable + self.starting;
        let for_min = self.min.saturating_sub(total);
        let coming = (self.starting + for_min) * self.concurrency;
        let unserved = (self.waiting() as u32).saturating_sub(coming);
        let for_queue = unserved.div_ceil(self.concurrency);
        let room = self.max.saturating_sub(total);
        let starts = (for_min + for_queue).min(room);
        self.starting += starts;
        starts
    }

    /// A client asked for `wanted` more warm workers now: counts as many as fit under `max`
    /// (with those live and starting) as starting, and says how many to launch.
    pub fn plan_scale_up(&mut self, wanted: u32) -> u32 {
        if self.draining {
            return 0;
        }
        let usable = self.slots.iter().filter(|s| s.worker.usable()).count() as u32;
        let starts = wanted.min(self.max.saturating_sub(usable + self.starting));
        self.starting += starts;
        starts
    }

    /// A client asked for `wanted` fewer workers: up to that many idle ones, newest first,
    /// never leaving fewer than `min` (the pool would start them again at once). Busy workers
    /// are left to their requests. Removed from the pool; the caller kills them.
    pub fn take_idle(&mut self, wanted: u32) -> Vec<W> {
        let mut stopped = Vec::new();
        let mut index = self.slots.len();
        while index > 0 && (stopped.len() as u32) < wanted {
            index -= 1;
            let usable = self.slots.iter().filter(|s| s.worker.usable()).count() as u32;
            if usable <= self.min {
                break;
            }
            if self.slots[index].inflight == 0 {
                stopped.push(self.slots.remove(index).worker);
            }
        }
        stopped
    }

    /// Idle workers to stop: idle past `idle_timeout` while above `min`, and idle ones above
    /// `max` at once (after a scale-down). Removed from the pool; the caller kills them.
    pub fn take_surplus(&mut self, now: Instant, idle_timeout: Duration) -> Vec<W> {
        let mut stopped = Vec::new();
        // Newest first: the oldest workers take requests first, so the newest go idle first.
        let mut index = self.slots.len();
        while index > 0 {
            index -= 1;
            let count = self.slots.len() as u32;
            let slot = &self.slots[index];
            let idle = slot.inflight == 0;
            let expired = now.duration_since(slot.last_used) >= idle_timeout;
            if idle && ((count > self.min && expired) || count > self.max) {
                stopped.push(self.slots.remove(index).worker);
            }
        }
        stopped
    }

    /// Nothing in flight, waiting or starting: a draining pool may stop.
    pub fn is_quiet(&mut self) -> bool {
        self.starting == 0 && self.waiting() == 0 && self.slots.iter().all(|s| s.inflight == 0)
    }

    /// An estimate of when a refused request could be served: the queue ahead of it at the
    /// average request time, spread over the workers; 1 s to 60 s.
    pub fn retry_after(&self) -> Duration {
        let capacity = (self.max * self.concurrency).max(1) as f64;
        let ahead = self.waiters.len() as f64 + 1.0;
        let seconds = (self.avg_us * ahead / capacity / 1e6).ceil();
        Duration::from_secs(seconds.clamp(1.0, 60.0) as u64)
    }

    /// Every worker, for a detach or the end of a drain.
    pub fn take_all(&mut self) -> Vec<W> {
        self.slots.drain(..).map(|s| s.worker).collect()
    }
}

#[cfg(test)]
mod tests;
