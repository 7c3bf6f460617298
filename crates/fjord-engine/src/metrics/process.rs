//! The standard process metrics Prometheus clients export (`process_cpu_seconds_total`,
//! `process_start_time_seconds`, `process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_open_fds`), read from `/proc` at each scrape.
//! Argo CD's dashboard uses the first two for uptime and CPU. Elsewhere than Linux nothing
//! is reported.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// `/proc`'s clock ticks per second (USER_HZ, 100 on every Linux architecture).
const USER_HZ: f64 = 100.0;

pub(crate) fn register(registry: &mut Registry) {
    registry.register_collector(Box::new(ProcessCollector));
}

#[derive(Debug)]
struct ProcessCollector;

/// What `/proc` tells about this process.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ProcessStats {
    pub cpu_seconds: f64,
    pub start_time_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub open_fds: usize,
}

/// Parses `/proc/self/stat` (CPU ticks and start ticks), `/proc/stat`'s `btime` and
/// `/proc/self/status` (`VmRSS`, `VmSize` in kB). `None` when a field is missing.
pub(crate) fn parse(stat: &str, boot: &str, status: &str) -> Option<ProcessStats> {
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15, starttime 22.
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    let cpu_seconds = (field(14)? + field(15)?) / USER_HZ;
    let btime = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse::<f64>()
        .ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v * 1024.0)
    };
    Some(ProcessStats {
        cpu_seconds,
        start_time_seconds: btime + field(22)? / USER_HZ,
        resident_bytes: kib("VmRSS:").unwrap_or(0.0),
        virtual_bytes: kib("VmSize:").unwrap_or(0.0),
        open_fds: 0,
    })
}

fn read() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let mut stats = parse(&stat, &boot, &status)?;
    stats.open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0);
    Some(stats)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(stats) = read() else {
            return Ok(());
        };
        let m = encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(stats.cpu_seconds).encode(m)?;
        for (name, help, value) in [
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                stats.start_time_seconds,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                stats.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                stats.virtual_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                stats.open_fds as f64,
            ),
        ] {
            let m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(m)?;
        }
        Ok(())
    }
}
