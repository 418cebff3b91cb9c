//! Figures about this process and its disk, read from the OS: resident memory and CPU time
//! from `/proc/self`, open descriptors and their limit, and the space free under a path
//! (`statvfs`). On systems without `/proc` the process figures read as zero.

use std::path::Path;

/// A reading of the process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    /// User plus system CPU time since start, in seconds.
    pub cpu_seconds: f64,
    pub open_files: u64,
    /// The soft `RLIMIT_NOFILE` (0 when unlimited).
    pub open_files_limit: u64,
}

/// Space on the filesystem holding a path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Available to an unprivileged user.
    pub free_bytes: u64,
    pub total_bytes: u64,
}

pub fn process() -> ProcessStats {
    ProcessStats {
        resident_bytes: resident_bytes().unwrap_or(0),
        cpu_seconds: cpu_seconds().unwrap_or(0.0),
        open_files: std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count() as u64),
        open_files_limit: crate::connections::descriptors::descriptor_limit().unwrap_or(0),
    }
}

/// `/proc/self/statm`'s second field is resident pages.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

/// `/proc/self/stat`'s fields 14 and 15 (utime, stime) in clock ticks. The command name
/// (field 2) may hold spaces, so fields are counted after its closing parenthesis.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second();
    Some((user + system) as f64 / ticks as f64)
}

pub fn disk(path: &Path) -> DiskStats {
    match rustix::fs::statvfs(path) {
        Ok(stat) => DiskStats {
            free_bytes: stat.f_bavail.saturating_mul(stat.f_frsize),
            total_bytes: stat.f_blocks.saturating_mul(stat.f_frsize),
        },
        Err(_) => DiskStats::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_cpu_and_descriptors_and_its_disk_has_room() {
        let stats = process();
        if cfg!(target_os = "linux") {
            assert!(stats.resident_bytes > 1024 * 1024, "{stats:?}");
            assert!(stats.open_files >= 3, "{stats:?}");
            assert!(stats.cpu_seconds >= 0.0);
        }
        let disk = disk(Path::new("."));
        assert!(
            disk.total_bytes >= disk.free_bytes && disk.total_bytes > 0,
            "{disk:?}"
        );
    }
}
