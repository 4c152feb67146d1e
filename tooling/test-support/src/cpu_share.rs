//! Lambda's CPU share, reproduced on this machine: a function configured with `memory_mb` gets CPU in
//! proportion to its memory, one full vCPU at 1,769 MB (Lambda developer guide, "Configuring Lambda
//! function memory"). A 256 MB function has about a seventh of a core, so work that takes 1 s here
//! takes about 7 s there. The benchmarks confine a function's process to that share with a cgroup (v1
//! `cpu` controller: `cpu.cfs_quota_us` per `cpu.cfs_period_us`) to measure its deadlines as Lambda
//! would run them, instead of guessing a factor.

use std::path::{Path, PathBuf};

use crate::SupportError;

/// The memory at which Lambda gives a function one full vCPU.
pub const MB_PER_VCPU: u32 = 1_769;
/// The scheduler period the quota is spent in (the kernel's default).
const PERIOD_US: u64 = 100_000;
/// Where the cgroup v1 `cpu` controller is mounted.
const CPU_CONTROLLER: &str = "/sys/fs/cgroup/cpu";

/// The quota, in microseconds of CPU per [`PERIOD_US`], Lambda would give `memory_mb`: never less
/// than 1 ms (the kernel's minimum), and at most the whole period per vCPU Lambda would give.
pub fn quota_us(memory_mb: u32) -> u64 {
    (PERIOD_US * u64::from(memory_mb) / u64::from(MB_PER_VCPU)).max(1_000)
}

/// A cgroup holding one process at Lambda's CPU share; removed when dropped (once its process has
/// exited, the kernel lets it go).
#[derive(Debug)]
pub struct CpuShare {
    dir: PathBuf,
    /// The share of one core, as a fraction (0.145 at 256 MB).
    pub cores: f64,
}

impl CpuShare {
    /// Whether this machine lets the benchmarks confine a process (cgroup v1 `cpu`, and the right to
    /// make a group in it: tried, then removed).
    pub fn available() -> bool {
        let probe =
            Path::new(CPU_CONTROLLER).join(format!("patchpilot-probe-{}", std::process::id()));
        let made = std::fs::create_dir(&probe).is_ok() && probe.join("cpu.cfs_quota_us").exists();
        let _ = std::fs::remove_dir(&probe);
        made
    }

    /// Moves process `pid` (all its threads) into a new cgroup at `memory_mb`'s CPU share.
    pub fn confine(pid: u32, memory_mb: u32) -> Result<Self, SupportError> {
        let dir = Path::new(CPU_CONTROLLER).join(format!("patchpilot-{pid}"));
        let write = |file: &str, value: String| {
            let path = dir.join(file);
            std::fs::write(&path, value).map_err(SupportError::file(&path))
        };
        std::fs::create_dir_all(&dir).map_err(SupportError::file(&dir))?;
        write("cpu.cfs_period_us", PERIOD_US.to_string())?;
        let quota = quota_us(memory_mb);
        write("cpu.cfs_quota_us", quota.to_string())?;
        write("cgroup.procs", pid.to_string())?;
        Ok(Self {
            dir,
            cores: quota as f64 / PERIOD_US as f64,
        })
    }
}

impl Drop for CpuShare {
    fn drop(&mut self) {
        // Refused while a process is still in it: the host stops its function first, and the
        // process may take a moment to go after its watchdog has.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_follows_lambdas_memory_to_cpu_ratio() {
        assert_eq!(quota_us(MB_PER_VCPU), PERIOD_US, "1,769 MB is one vCPU");
        assert_eq!(quota_us(256), 14_471, "256 MB: about a seventh of a core");
        assert_eq!(quota_us(128), 7_235);
        assert_eq!(quota_us(3_538), 2 * PERIOD_US, "two vCPUs");
        assert_eq!(quota_us(1), 1_000, "the kernel's minimum quota");
    }
}
