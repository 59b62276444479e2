//! Peak resident memory (`VmHWM`) of a process, reset between phases through `clear_refs`.

use std::path::PathBuf;

/// Which process to watch: this one or a child.
#[derive(Debug, Clone, Copy)]
pub enum Process {
    /// The benchmark itself.
    Own,
    /// A child process by id.
    Child(u32),
}

impl Process {
    fn proc_file(self, name: &str) -> PathBuf {
        match self {
            Process::Own => PathBuf::from("/proc/self").join(name),
            Process::Child(pid) => PathBuf::from(format!("/proc/{pid}")).join(name),
        }
    }

    /// Starts a new peak: the kernel resets `VmHWM` to the current resident size. Without
    /// `/proc` (or permission) the next peak is the process's lifetime peak.
    pub fn reset_peak(self) {
        let _ = std::fs::write(self.proc_file("clear_refs"), "5");
    }

    /// The peak resident size since the last reset, in MiB; `None` without `/proc`.
    pub fn peak_mib(self) -> Option<f64> {
        let status = std::fs::read_to_string(self.proc_file("status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
}
