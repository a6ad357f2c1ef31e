//! CPU time of a server and every process under it (Gust's workers, sandbox inits), read from
//! /proc: what a request costs the machine, which a shared machine's noise moves far less than
//! the request rate.

use std::collections::HashMap;

/// Microseconds of CPU (user + system) that `root` and its live descendants have used.
pub fn tree_cpu_us(root: u32) -> u64 {
    let mut parent_and_ticks: HashMap<u32, (u32, u64)> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some(stat) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| parse_stat(&s))
        {
            parent_and_ticks.insert(pid, stat);
        }
    }
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &(parent, _)) in &parent_and_ticks {
        children.entry(parent).or_default().push(pid);
    }
    let mut ticks = 0;
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        ticks += parent_and_ticks.get(&pid).map_or(0, |&(_, t)| t);
        todo.extend(children.get(&pid).into_iter().flatten());
    }
    ticks * 1_000_000 / rustix::param::clock_ticks_per_second()
}

/// (parent pid, utime + stime in clock ticks) from a `/proc/PID/stat` line. The command
/// name may hold spaces and parentheses, so fields are counted from its closing `)`.
fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // After the name: state (field 3 of the line), ppid (4), … utime (14), stime (15).
    let parent = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((parent, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parent_and_cpu_past_a_name_with_spaces_and_parentheses() {
        let line = "42 (a (b) c) S 7 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_stat(line), Some((7, 281)));
    }

    #[test]
    fn a_busy_process_is_seen_using_cpu() {
        // Spins until a clock tick lands on it (10 ms on most kernels), for at most 5 s.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while tree_cpu_us(std::process::id()) == 0 && started.elapsed().as_secs() < 5 {
            for i in 0..1_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
        }
        std::hint::black_box(x);
        assert!(tree_cpu_us(std::process::id()) > 0);
    }
}
