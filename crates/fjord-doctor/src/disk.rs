//! etcd's disk check, natively: the workload of
//! `fio --rw=write --ioengine=sync --fdatasync=1 --size=22m --bs=2300`, i.e. sequential 2,300-byte
//! writes to a fresh file, each followed by `fdatasync`, and the latency distribution of those
//! `fdatasync` calls. etcd's guidance: the 99th percentile should be under 10 ms.
//!
//! Like fio (which lays the file out before the run) and like etcd (whose WAL segments are
//! preallocated), the file is written once in full first, so the measured `fdatasync`s cover data,
//! not the metadata of a growing file.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// etcd's threshold for the 99th percentile of fdatasync latency.
pub const ETCD_P99_LIMIT: Duration = Duration::from_millis(10);

/// What to measure.
#[derive(Debug, Clone)]
pub struct DiskCheck {
    /// Directory to write in (the file is created fresh and removed afterwards).
    pub dir: PathBuf,
    /// Bytes per write (fio's `--bs`; etcd's WAL entries are about 2,300 bytes).
    pub block_size: usize,
    /// Total bytes (fio's `--size`; 22 MiB by default).
    pub total_bytes: u64,
}

impl DiskCheck {
    /// etcd's recommended parameters in `dir`.
    pub fn etcd(dir: &Path) -> DiskCheck {
        DiskCheck {
            dir: dir.to_path_buf(),
            block_size: 2300,
            total_bytes: 22 * 1024 * 1024,
        }
    }
}

/// The result.
#[derive(Debug, Clone)]
pub struct DiskReport {
    /// Number of write + fdatasync pairs.
    pub writes: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// fdatasync latency percentiles: 50, 90, 99, 99.9.
    pub fdatasync_p50: Duration,
    /// 90th percentile.
    pub fdatasync_p90: Duration,
    /// 99th percentile.
    pub fdatasync_p99: Duration,
    /// 99.9th percentile.
    pub fdatasync_p999: Duration,
    /// Slowest fdatasync.
    pub fdatasync_max: Duration,
}

impl DiskReport {
    /// Write+fdatasync operations per second.
    pub fn iops(&self) -> f64 {
        self.writes as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Whether the disk meets etcd's guidance.
    pub fn meets_etcd_guidance(&self) -> bool {
        self.fdatasync_p99 < ETCD_P99_LIMIT
    }

    /// The report as people read it.
    pub fn render(&self, dir: &Path) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let verdict = if self.meets_etcd_guidance() {
            format!(
                "OK: the 99th percentile of fdatasync is under etcd's {} ms guidance",
                ETCD_P99_LIMIT.as_millis()
            )
        } else {
            format!(
                "TOO SLOW: the 99th percentile of fdatasync is {:.2} ms, over etcd's {} ms guidance; put the API server's data on a faster disk",
                ms(self.fdatasync_p99),
                ETCD_P99_LIMIT.as_millis()
            )
        };
        format!(
            "disk check in {}: {} sequential writes of {} bytes ({:.1} MiB), fdatasync after each\n\
             IOPS: {:.0}\n\
             fdatasync latency: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms\n\
             {verdict}\n",
            dir.display(),
            self.writes,
            self.bytes.checked_div(self.writes).unwrap_or(0),
            self.bytes as f64 / (1024.0 * 1024.0),
            self.iops(),
            ms(self.fdatasync_p50),
            ms(self.fdatasync_p90),
            ms(self.fdatasync_p99),
            ms(self.fdatasync_p999),
            ms(self.fdatasync_max),
        )
    }
}

/// A failed disk check.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The parameters make no sense.
    #[error("invalid disk check: {0}")]
    Invalid(&'static str),
    /// Creating, writing or syncing the test file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Runs the check (blocking: call it from a thread, not an async task).
///
/// Guarantees: the test file is removed afterwards, also on failure.
pub fn run(check: &DiskCheck) -> Result<DiskReport, DiskError> {
    if check.block_size == 0 || check.total_bytes < check.block_size as u64 {
        return Err(DiskError::Invalid(
            "the total size must be at least one block",
        ));
    }
    let path = check
        .dir
        .join(format!("fjord-doctor-disk-{}.tmp", std::process::id()));
    let io = |action: &'static str| {
        let path = path.clone();
        move |source| DiskError::Io {
            action,
            path,
            source,
        }
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io("creating"))?;
    let guard = RemoveOnDrop(path.clone());
    let writes = check.total_bytes / check.block_size as u64;
    let layout = vec![0u8; 1 << 20];
    let mut left = writes * check.block_size as u64;
    while left > 0 {
        let n = left.min(layout.len() as u64) as usize;
        file.write_all(&layout[..n]).map_err(io("laying out"))?;
        left -= n as u64;
    }
    file.sync_all().map_err(io("syncing the laid-out file"))?;
    file.seek(SeekFrom::Start(0)).map_err(io("rewinding"))?;
    let block = vec![0x5au8; check.block_size];
    let mut latencies = Vec::with_capacity(writes as usize);
    let start = Instant::now();
    for _ in 0..writes {
        file.write_all(&block).map_err(io("writing"))?;
        let t = Instant::now();
        file.sync_data().map_err(io("syncing (fdatasync)"))?;
        latencies.push(t.elapsed());
    }
    let elapsed = start.elapsed();
    drop(file);
    drop(guard);
    latencies.sort();
    let pct = |p: f64| {
        let idx = ((latencies.len() as f64) * p).ceil() as usize;
        latencies[idx.clamp(1, latencies.len()) - 1]
    };
    Ok(DiskReport {
        writes,
        bytes: writes * check.block_size as u64,
        elapsed,
        fdatasync_p50: pct(0.50),
        fdatasync_p90: pct(0.90),
        fdatasync_p99: pct(0.99),
        fdatasync_p999: pct(0.999),
        fdatasync_max: *latencies.last().unwrap_or(&Duration::ZERO),
    })
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_reports_sane_numbers_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let check = DiskCheck {
            dir: dir.path().to_path_buf(),
            block_size: 2300,
            total_bytes: 2300 * 200,
        };
        let r = run(&check).unwrap();
        assert_eq!(r.writes, 200);
        assert_eq!(r.bytes, 2300 * 200);
        assert!(r.fdatasync_p50 <= r.fdatasync_p90);
        assert!(r.fdatasync_p90 <= r.fdatasync_p99);
        assert!(r.fdatasync_p99 <= r.fdatasync_p999);
        assert!(r.fdatasync_p999 <= r.fdatasync_max);
        assert!(r.fdatasync_max <= r.elapsed);
        assert!(r.iops() > 0.0);
        let text = r.render(dir.path());
        assert!(text.contains("p99.9") && (text.contains("OK") || text.contains("TOO SLOW")));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the test file is removed"
        );
    }

    #[test]
    fn nonsense_parameters_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let check = DiskCheck {
            dir: dir.path().to_path_buf(),
            block_size: 0,
            total_bytes: 10,
        };
        assert!(run(&check).is_err());
        let missing = DiskCheck::etcd(&dir.path().join("missing"));
        let e = run(&missing).unwrap_err();
        assert!(e.to_string().contains("creating"), "{e}");
    }
}
