//! Checking untrusted inputs in a child process first.
//!
//! LLVM crashes on some corrupt bitcode (about 1 in 430 bit-flipped files:
//! its reader dies by SIGSEGV, as `llvm-dis` and `lli` do) and on rare
//! valid IR. A crash inside the host's process takes the host down, fault
//! reports or not. So an isolated engine ([`EngineBuilder::isolate_inputs`])
//! has `hyperjit check` read, verify and compile each input in a child
//! process before it does the same itself: LLVM's crashes are deterministic,
//! so an input that passes there passes here, and one that crashes there is
//! an [`Error::Isolated`] here. The cost is the work done twice, plus a
//! process start (BENCHMARKS.md).
//!
//! [`EngineBuilder::isolate_inputs`]: crate::EngineBuilder::isolate_inputs

use super::plan::levels_an_input_reaches;
use super::{Core, Engine};
use crate::compile::{Prepared, Source};
use crate::error::{Error, Result};
use crate::runtime;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a check may take before it counts as a hang.
const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

impl Engine {
    /// Reads `path` as [`add_file`](Self::add_file) would, and generates
    /// its code at the engine's level (and at the baseline, -O0, if the
    /// engine tiers), without adding it to the program: whether the engine
    /// would take it. What `hyperjit check` runs.
    pub fn check_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let source = self.core.read(path.as_ref())?;
        self.core.check(&source)
    }
}

impl Core {
    /// Prepares `source` on its own and generates its code, discarded.
    fn check(&self, source: &Source) -> Result<()> {
        let mut state = self.lock();
        let super::State { linker, stats, .. } = &mut *state;
        let Prepared { mut module, .. } = self.prepare_with(linker, stats, source, false)?;
        module
            .materialize_all()
            .map_err(|message| Error::InvalidIr {
                file: source.file.clone(),
                message,
            })?;
        let levels = levels_an_input_reaches(self.tiering.is_some(), self.config.opt_level);
        let _phase = runtime::Phase::enter(&format!("compiling {}", source.file));
        for level in levels {
            linker
                .codegen()
                .emit(&module, Some(level))
                .map_err(Error::llvm(format!("{}: generating code", source.file)))?;
        }
        Ok(())
    }

    /// With isolation, has `hyperjit check` take `source` in a child
    /// process first; its crash, hang or error is this input's error.
    pub(super) fn vet(&self, source: &Source) -> Result<()> {
        let Some(checker) = &self.config.isolate else {
            return Ok(());
        };
        let isolated = |what: String| Error::Isolated {
            file: source.file.clone(),
            what,
        };
        let dir = tempfile::tempdir().map_err(|error| isolated(error.to_string()))?;
        let extension = if source.is_bitcode() { "bc" } else { "ll" };
        let copy = dir.path().join(format!("input.{extension}"));
        std::fs::write(&copy, &source.bytes).map_err(|error| isolated(error.to_string()))?;
        let mut command = Command::new(checker);
        command
            .arg("check")
            .arg("-O")
            .arg(self.config.opt_level.to_string());
        if self.tiering.is_some() {
            command.arg("--tier");
        }
        let mut child = command
            .arg(&copy)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| isolated(format!("cannot start {}: {error}", checker.display())))?;
        // Read while the child runs: a report longer than the pipe holds
        // (3,000 functions the verifier rejects: 243 KB) would block it.
        let reader = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                use std::io::Read;
                let mut stderr = Vec::new();
                let _ = pipe.read_to_end(&mut stderr);
                String::from_utf8_lossy(&stderr).into_owned()
            })
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > CHECK_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(isolated(format!(
                        "checking it did not finish in {} s",
                        CHECK_TIMEOUT.as_secs()
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Err(error) => return Err(isolated(error.to_string())),
            }
        };
        let stderr = reader
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        // The child named its copy: name the input instead.
        let message = stderr
            .trim_end()
            .trim_start_matches("hyperjit: error: ")
            .replace(&copy.display().to_string(), &source.file);
        use std::os::unix::process::ExitStatusExt;
        Err(isolated(match status.signal() {
            Some(signal) => format!("checking it killed the checker (signal {signal}) {message}"),
            None => message,
        }))
    }
}
