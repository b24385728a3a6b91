//! Killing server processes when the test process exits: [`ExitReaper`].
//!
//! A deployment shared by every test of a binary lives in a `static`, and
//! statics are never dropped, so `Drop` cannot stop its processes. An
//! [`ExitReaper`] is a small `sh` watchdog that polls the test process every
//! half second and, once it is gone, SIGKILLs the given processes. It fires
//! however the test process ends: normally, on a panic, or killed.

use std::fmt;
use std::io;
use std::process::{Child, Command, Stdio};

/// A watchdog that kills processes once this process has exited; dropping
/// it stops the watchdog (the processes are left alone then).
pub struct ExitReaper {
    watchdog: Child,
    pids: Vec<u32>,
}

impl fmt::Debug for ExitReaper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExitReaper")
            .field("watchdog", &self.watchdog.id())
            .field("pids", &self.pids)
            .finish()
    }
}

/// The deployment in `cell`, started by the first caller with `start`; its
/// processes (`pids`) are killed when the test binary exits. What every
/// `shared()` of the harness is made of.
///
/// # Panics
/// When `start` panics (the next caller tries again), or `sh` cannot run.
pub(crate) fn shared_until_exit<T>(
    cell: &'static std::sync::OnceLock<(T, ExitReaper)>,
    start: impl FnOnce() -> T,
    pids: impl FnOnce(&T) -> Vec<u32>,
) -> &'static T {
    &cell
        .get_or_init(|| {
            let deployment = start();
            let reaper = ExitReaper::spawn(&pids(&deployment))
                .unwrap_or_else(|e| panic!("cannot start the exit watchdog: {e}"));
            (deployment, reaper)
        })
        .0
}

impl ExitReaper {
    /// Starts a watchdog that kills `pids` when this process exits.
    ///
    /// # Errors
    /// When `sh` cannot be run.
    pub fn spawn(pids: &[u32]) -> io::Result<ExitReaper> {
        Self::watching(std::process::id(), pids)
    }

    /// Starts a watchdog that kills `pids` when process `watched` is gone.
    fn watching(watched: u32, pids: &[u32]) -> io::Result<ExitReaper> {
        // `$0` is the process to watch, `$@` the processes to kill. The
        // watchdog's output goes nowhere, so a test runner that waits for the
        // test's output pipes to close never waits for it.
        let script = r#"while kill -0 "$0" 2>/dev/null; do sleep 0.5; done; kill -9 "$@" 2>/dev/null; exit 0"#;
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(watched.to_string())
            .args(pids.iter().map(u32::to_string))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(ExitReaper {
            watchdog,
            pids: pids.to_vec(),
        })
    }

    /// The processes it will kill.
    pub fn pids(&self) -> &[u32] {
        &self.pids
    }
}

impl Drop for ExitReaper {
    fn drop(&mut self) {
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn reaper_kills_its_processes_once_the_watched_process_is_gone() {
        let mut watched = Command::new("sleep").arg("0.2").spawn().unwrap();
        let mut victim = Command::new("sleep").arg("60").spawn().unwrap();
        let _reaper = ExitReaper::watching(watched.id(), &[victim.id()]).unwrap();
        watched.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while victim.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the victim was not killed");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn dropping_the_reaper_spares_the_processes() {
        let mut victim = Command::new("sleep").arg("60").spawn().unwrap();
        let reaper = ExitReaper::spawn(&[victim.id()]).unwrap();
        assert_eq!(reaper.pids(), &[victim.id()]);
        drop(reaper);
        assert!(victim.try_wait().unwrap().is_none());
        victim.kill().unwrap();
        victim.wait().unwrap();
    }
}
