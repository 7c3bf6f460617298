//! The processes under measurement and what `/proc` says about them: peak and current resident
//! memory, CPU seconds. Measured from outside, so the figures are the process's own, not the
//! harness's.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// A child process that is killed when dropped.
pub struct Process {
    /// What it is (`apiserver`, `controller`, ...), for messages.
    pub name: &'static str,
    child: Child,
    /// Ask it to stop (SIGTERM) and wait before killing it: a profiler around it writes its
    /// report only when it ends by itself.
    pub graceful_stop: bool,
}

/// What `/proc` reports about a process at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats {
    /// Peak resident memory (VmHWM), KiB.
    pub rss_peak_kib: u64,
    /// Resident memory now (VmRSS), KiB.
    pub rss_kib: u64,
    /// User plus system CPU time, seconds.
    pub cpu_seconds: f64,
}

impl Process {
    /// Starts `program args`, with its output in `log`.
    pub fn spawn(name: &'static str, program: &Path, args: &[&str], log: &Path) -> Result<Process> {
        let out =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| {
                format!("starting {name}: {} {}", program.display(), args.join(" "))
            })?;
        Ok(Process {
            name,
            child,
            graceful_stop: false,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited early ({status}); see its log", self.name);
        }
        Ok(())
    }

    /// Its memory and CPU time now.
    pub fn stats(&self) -> Result<ProcStats> {
        read_stats(self.pid())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.graceful_stop {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            for _ in 0..600 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second for `/proc/<pid>/stat` times.
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Reads `/proc/<pid>/status` and `/proc/<pid>/stat`.
pub fn read_stats(pid: u32) -> Result<ProcStats> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_stats(&status, &stat, clock_ticks())
}

fn parse_stats(status: &str, stat: &str, ticks: f64) -> Result<ProcStats> {
    let kib = |field: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    // The command name (field 2) may contain spaces; the fields after its closing parenthesis
    // start at field 3 (state). utime and stime are fields 14 and 15.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("/proc/<pid>/stat has no command name")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let tick = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("/proc/<pid>/stat field {} is missing", i + 3))
    };
    Ok(ProcStats {
        rss_peak_kib: kib("VmHWM:"),
        rss_kib: kib("VmRSS:"),
        cpu_seconds: (tick(11)? + tick(12)?) / ticks,
    })
}

/// Waits until `path` exists (a kubeconfig the server writes once it listens).
pub fn wait_for_file(path: &Path, process: &mut Process, within: Duration) -> Result<()> {
    let deadline = std::time::Instant::now() + within;
    while !path.exists() {
        process.check_running()?;
        if std::time::Instant::now() > deadline {
            bail!("{} did not write {} in time", process.name, path.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_come_from_status_and_stat() {
        let status = "Name:\tfjord\nVmHWM:\t  123456 kB\nVmRSS:\t   65432 kB\n";
        let stat = "4242 (fjord (ctl)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0";
        let s = parse_stats(status, stat, 100.0).unwrap();
        assert_eq!(s.rss_peak_kib, 123456);
        assert_eq!(s.rss_kib, 65432);
        assert!((s.cpu_seconds - 3.0).abs() < 1e-9, "{}", s.cpu_seconds);
    }

    #[test]
    fn this_process_has_stats() {
        let s = read_stats(std::process::id()).unwrap();
        assert!(s.rss_peak_kib > 0 && s.rss_kib > 0);
    }
}
