//! Failed authentications per client address: a token bucket per address (IPv6 by /64, which
//! one host usually holds whole). Each failure takes a token; tokens come back one per
//! `refill`, up to `burst`. An address with none left is answered 429 with `Retry-After` (the
//! wait for its next token) before its secret is even looked at; no other address notices.
//!
//! Memory is bounded: at most `max_addresses` buckets. A bucket that has refilled completely
//! holds nothing worth keeping, so a full table first drops those (at most once per `refill`);
//! if every bucket is still draining, new addresses go uncounted until some refill: a storm
//! from that many addresses at once is beyond what a per-address limit can stop anyway.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailureLimits {
    /// Failures an address may make in a row.
    pub burst: u32,
    /// How often an address gets one failure back.
    pub refill: Duration,
    /// Most addresses counted at once (about 64 bytes each).
    pub max_addresses: usize,
}

impl Default for FailureLimits {
    /// 10 in a row, then one every 6 seconds (10 a minute); 65 536 addresses, about 4 MiB.
    fn default() -> Self {
        Self {
            burst: 10,
            refill: Duration::from_secs(6),
            max_addresses: 65_536,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Failures still allowed, at `updated`.
    tokens: f64,
    updated: Instant,
}

#[derive(Default)]
struct Table {
    buckets: HashMap<IpAddr, Bucket>,
    last_sweep: Option<Instant>,
}

pub struct FailureLimiter {
    limits: FailureLimits,
    table: Mutex<Table>,
    /// The table's size, read without the lock: while no address has failed lately, which is
    /// the usual case, checking costs one atomic load.
    counted: AtomicUsize,
}

impl Default for FailureLimiter {
    fn default() -> Self {
        Self::new(FailureLimits::default())
    }
}

/// The bucket an address counts in: IPv6 addresses by their /64.
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::V6(octets.into())
            }
        },
    }
}

impl FailureLimiter {
    pub fn new(limits: FailureLimits) -> Self {
        Self {
            limits,
            table: Mutex::new(Table::default()),
            counted: AtomicUsize::new(0),
        }
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed / self.limits.refill.as_secs_f64().max(1e-3))
            .min(f64::from(self.limits.burst))
    }

    /// 429 when `ip` has no failure left.
    pub fn check(&self, ip: IpAddr) -> Result<(), Error> {
        if self.counted.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bucket) = table.buckets.get(&bucket_key(ip)) else {
            return Ok(());
        };
        let tokens = self.refilled(bucket, now);
        if tokens >= 1.0 {
            return Ok(());
        }
        let wait = (1.0 - tokens) * self.limits.refill.as_secs_f64();
        Err(Error::too_many_requests(
            "too many failed authentications from this address; retry later",
            wait.ceil().max(1.0) as u64,
        ))
    }

    /// Count a failure of `ip`.
    pub fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let key = bucket_key(ip);
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = table.buckets.get(&key).copied() {
            let tokens = (self.refilled(&bucket, now) - 1.0).max(0.0);
            table.buckets.insert(
                key,
                Bucket {
                    tokens,
                    updated: now,
                },
            );
            return;
        }
        if table.buckets.len() >= self.limits.max_addresses {
            let due = table
                .last_sweep
                .is_none_or(|at| now.duration_since(at) >= self.limits.refill);
            if due {
                let full = f64::from(self.limits.burst);
                let buckets = std::mem::take(&mut table.buckets);
                table.buckets = buckets
                    .into_iter()
                    .filter(|(_, b)| self.refilled(b, now) < full)
                    .collect();
                table.last_sweep = Some(now);
            }
            if table.buckets.len() >= self.limits.max_addresses {
                self.counted.store(table.buckets.len(), Ordering::Relaxed);
                return;
            }
        }
        table.buckets.insert(
            key,
            Bucket {
                tokens: f64::from(self.limits.burst) - 1.0,
                updated: now,
            },
        );
        self.counted.store(table.buckets.len(), Ordering::Relaxed);
    }

    /// Addresses counted now.
    pub fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .buckets
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_is_refused_after_its_burst_and_others_are_not() {
        let limiter = FailureLimiter::new(FailureLimits {
            burst: 3,
            refill: Duration::from_secs(60),
            max_addresses: 100,
        });
        let attacker = ip("192.0.2.1");
        for _ in 0..3 {
            limiter.check(attacker).unwrap();
            limiter.failed(attacker);
        }
        let refused = limiter.check(attacker).unwrap_err();
        assert_eq!(refused.status, 429);
        assert!((1..=60).contains(&refused.retry_after.unwrap()));
        limiter.check(ip("192.0.2.2")).unwrap();
        // One host's IPv6 /64 counts as one address.
        for _ in 0..3 {
            limiter.failed(ip("2001:db8::1"));
        }
        assert!(limiter.check(ip("2001:db8::ffff")).is_err());
        assert!(limiter.check(ip("2001:db8:0:1::1")).is_ok());
    }

    #[test]
    fn failures_come_back_with_time() {
        let limiter = FailureLimiter::new(FailureLimits {
            burst: 1,
            refill: Duration::from_millis(50),
            max_addresses: 100,
        });
        let a = ip("198.51.100.7");
        limiter.failed(a);
        assert!(limiter.check(a).is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(limiter.check(a).is_ok());
    }

    #[test]
    fn the_table_never_holds_more_than_its_bound() {
        let limiter = FailureLimiter::new(FailureLimits {
            burst: 2,
            refill: Duration::from_secs(60),
            max_addresses: 50,
        });
        for n in 0..200u32 {
            limiter.failed(IpAddr::from(n.to_be_bytes()));
        }
        assert_eq!(limiter.len(), 50);
        let refill = FailureLimiter::new(FailureLimits {
            burst: 1,
            refill: Duration::from_millis(10),
            max_addresses: 10,
        });
        for n in 0..10u32 {
            refill.failed(IpAddr::from(n.to_be_bytes()));
        }
        std::thread::sleep(Duration::from_millis(20));
        // Refilled buckets make room for new addresses.
        refill.failed(ip("203.0.113.9"));
        assert_eq!(refill.len(), 1);
        assert!(refill.check(ip("203.0.113.9")).is_err());
    }
}
