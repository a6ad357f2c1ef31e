//! The scaling rules, with numbered stand-ins for workers.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::*;

#[derive(Clone, Debug, PartialEq)]
struct Fake(u64);

impl Member for Fake {
    fn id(&self) -> u64 {
        self.0
    }
    fn usable(&self) -> bool {
        true
    }
}

type Rx = oneshot::Receiver<Result<Lease<Fake>, NotRun>>;

fn ask(state: &mut PoolState<Fake>, now: Instant) -> (Acquire<Fake>, Rx) {
    let (tx, rx) = oneshot::channel();
    (state.acquire(tx, now), rx)
}

#[test]
fn the_first_request_starts_a_worker_and_waits_for_it() {
    let now = Instant::now();
    let mut state = PoolState::new(0, 2, 1, 10);
    let (decision, mut rx) = ask(&mut state, now);
    assert!(matches!(decision, Acquire::Wait { start: true }));
    state.worker_ready(
        Fake(1),
        ColdStart::default(),
        now + Duration::from_millis(5),
    );
    let lease = rx.try_recv().unwrap().unwrap();
    assert_eq!(lease.worker, Fake(1));
    assert_eq!(lease.cold.unwrap().total_us, 5000);
    // The worker is busy (concurrency 1): the next request starts the second worker.
    assert!(matches!(
        ask(&mut state, now).0,
        Acquire::Wait { start: true }
    ));
}

#[test]
fn max_scale_is_never_exceeded_and_the_queue_is_bounded() {
    let now = Instant::now();
    let mut state = PoolState::new(0, 2, 2, 3);
    let mut receivers = Vec::new();
    let mut starts = 0;
    let mut overloaded = 0;
    for _ in 0..20 {
        let (decision, rx) = ask(&mut state, now);
        match decision {
            Acquire::Wait { start } => starts += start as u32,
            Acquire::Overloaded(retry) => {
                overloaded += 1;
                assert!(retry >= Duration::from_secs(1));
            }
            _ => panic!("unexpected decision"),
        }
        receivers.push(rx);
    }
    assert_eq!(starts, 2);
    // Two workers coming with room for 2 each, plus 3 queued: 7 wait, 13 are refused.
    assert_eq!(overloaded, 13);
}

#[test]
fn a_released_worker_takes_the_next_waiter() {
    let now = Instant::now();
    let mut state = PoolState::new(1, 1, 1, 10);
    assert_eq!(state.plan_starts(now), 1);
    state.worker_ready(Fake(1), ColdStart::default(), now);
    assert!(matches!(ask(&mut state, now).0, Acquire::Warm(Fake(1))));
    let (decision, mut rx) = ask(&mut state, now);
    assert!(matches!(decision, Acquire::Wait { start: false }));
    state.release(1, Duration::from_millis(1), now);
    let lease = rx.try_recv().unwrap().unwrap();
    assert!(
        lease.cold.is_none(),
        "waiting for a busy worker is not a cold start"
    );
}

#[test]
fn min_scale_is_started_and_kept_and_idle_workers_above_it_stop() {
    let now = Instant::now();
    let mut state = PoolState::new(1, 3, 1, 10);
    assert_eq!(state.plan_starts(now), 1);
    assert_eq!(state.plan_starts(now), 0, "already starting");
    state.worker_ready(Fake(1), ColdStart::default(), now);
    let (_, _rx) = ask(&mut state, now); // busy worker 1: starts worker 2
    state.worker_ready(Fake(2), ColdStart::default(), now);
    state.release(2, Duration::ZERO, now);
    let later = now + Duration::from_secs(61);
    let stopped = state.take_surplus(later, Duration::from_secs(60));
    assert_eq!(stopped, vec![Fake(2)]);
    assert_eq!(state.slots.len(), 1, "min_scale stays");
}

#[test]
fn scaling_down_stops_idle_workers_above_the_new_max() {
    let now = Instant::now();
    let mut state = PoolState::new(3, 3, 1, 10);
    assert_eq!(state.plan_starts(now), 3);
    for id in 1..=3 {
        state.worker_ready(Fake(id), ColdStart::default(), now);
    }
    state.min = 0;
    state.max = 1;
    assert_eq!(state.take_surplus(now, Duration::from_secs(300)).len(), 2);
}

#[test]
fn a_failed_start_with_no_other_worker_fails_the_waiters_at_once() {
    let now = Instant::now();
    let mut state = PoolState::new(0, 1, 1, 10);
    let (_, mut rx) = ask(&mut state, now);
    state.start_failed("import error", now);
    assert_eq!(
        rx.try_recv().unwrap().err(),
        Some(NotRun::Unavailable("import error".into()))
    );
}

#[test]
fn a_draining_pool_takes_no_new_request() {
    let mut state = PoolState::<Fake>::new(0, 1, 1, 10);
    state.draining = true;
    assert!(matches!(
        ask(&mut state, Instant::now()).0,
        Acquire::Draining
    ));
    assert!(state.is_quiet());
}

#[test]
fn after_a_failed_start_the_pool_waits_before_starting_again() {
    let now = Instant::now();
    let mut state: PoolState<Fake> = PoolState::new(1, 1, 1, 10);
    assert_eq!(state.plan_starts(now), 1);
    state.start_failed("import error", now);
    assert_eq!(state.plan_starts(now), 0, "no retry at once");
    assert_eq!(state.plan_starts(now + Duration::from_secs(2)), 1);
}

#[test]
fn scaling_up_stays_under_max_and_scaling_down_stops_only_idle_workers_above_min() {
    let now = Instant::now();
    let mut state = PoolState::new(1, 3, 1, 10);
    assert_eq!(state.plan_scale_up(5), 3);
    assert_eq!(state.plan_scale_up(1), 0, "three are already starting");
    for id in 1..=3 {
        state.worker_ready(Fake(id), ColdStart::default(), now);
    }
    assert_eq!(state.starting, 0);
    // Worker 1 takes a request: busy, it is not stopped.
    assert_eq!(state.take_warm(now), Some(Fake(1)));
    assert_eq!(state.take_idle(1), vec![Fake(3)]);
    // Min 1: of the two left, only the idle one may go, and only down to one worker.
    assert_eq!(state.take_idle(5), vec![Fake(2)]);
    assert!(state.take_idle(5).is_empty());
    assert_eq!(state.slots.len(), 1);
    state.draining = true;
    assert_eq!(state.plan_scale_up(1), 0);
}
