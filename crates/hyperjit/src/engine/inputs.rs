//! Adding inputs: files and in-memory IR become prepared modules waiting to
//! be linked (parse errors, verifier failures and clang's diagnostics are
//! reported here; inputs a cached program image replaces are not parsed at
//! all, see `image.rs`), and `load` links one at once while the program
//! runs.

use super::{Core, Engine, State};
use crate::compile::{prepare, PrepareOptions, Prepared, Source};
use crate::error::{Error, Result};
use crate::link::{glue, Input, Linker};
use crate::runtime::{self, Outcome};
use crate::stats::Stats;
use std::path::Path;
use std::sync::atomic::Ordering;

impl Engine {
    /// Adds a `.c`, `.ll` or `.bc` file to the program. Parse errors,
    /// verifier failures and clang's diagnostics are reported here.
    pub fn add_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let source = self.core.read(path.as_ref())?;
        self.core.add(source)
    }

    /// Adds LLVM IR held in memory: text or bitcode (told apart by its
    /// bytes, as LLVM does); `name` stands for the file in messages. A
    /// runtime that generates IR needs no temporary file.
    pub fn add_ir(&self, name: &str, ir: impl AsRef<[u8]>) -> Result<()> {
        self.core.add(Source::in_memory(name, ir.as_ref()))
    }

    /// Drops the inputs added but not linked yet (a program that cannot be
    /// completed: the file defining what they use failed to read, say);
    /// returns how many. What is linked stays.
    pub fn discard_pending(&self) -> usize {
        let mut state = self.core.lock();
        let count = state.pending.len().max(state.image_sources.len());
        state.pending.clear();
        state.image_sources.clear();
        count
    }

    /// Adds the module in `path` (.c, .ll or .bc) to the program and links
    /// it at once, so its symbols can be looked up. Called while the program
    /// runs (from a callback, or as the guest's `hj_load`), the module's
    /// static constructors run at once.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<()> {
        self.core.load(self.core.read(path.as_ref())?)
    }

    /// [`load`](Self::load) for IR held in memory (text or bitcode), named
    /// `name` in messages.
    pub fn load_ir(&self, name: &str, ir: impl AsRef<[u8]>) -> Result<()> {
        self.core.load(Source::in_memory(name, ir.as_ref()))
    }
}

impl Core {
    /// An input's bytes (clang's bitcode for C), with clang's time counted.
    pub(super) fn read(&self, path: &Path) -> Result<Source> {
        let source = Source::read(path, &self.config.clang, self.config.opt_level)?;
        self.lock().stats.clang += source.clang_time;
        Ok(source)
    }

    /// Adds `source` to the program, parsed now — unless a program image
    /// may replace it (`image.rs`).
    pub(super) fn add(&self, source: Source) -> Result<()> {
        self.add_locked(&mut self.lock(), source)
    }

    /// [`add`](Self::add) under the lock.
    fn add_locked(&self, state: &mut State, source: Source) -> Result<()> {
        self.vet(&source)?;
        if self.tracks_image(state) {
            return self.add_toward_image(state, source);
        }
        let prepared = self.prepare(state, &source)?;
        let input = pending_input(&source, prepared);
        state
            .linker
            .check_addable(&state.pending, &input, &self.callbacks)?;
        state.pending.push(input);
        Ok(())
    }

    /// Prepares `source` (see [`prepare`]) under the lock.
    pub(super) fn prepare(&self, state: &mut State, source: &Source) -> Result<Prepared> {
        let State { linker, stats, .. } = state;
        self.prepare_with(linker, stats, source, self.config.lazy)
    }

    /// Prepares `source` with the locked state's `linker`, counting in
    /// `stats`; `lazily` leaves bitcode's bodies unread.
    pub(super) fn prepare_with(
        &self,
        linker: &mut Linker,
        stats: &mut Stats,
        source: &Source,
        lazily: bool,
    ) -> Result<Prepared> {
        let context = std::sync::Arc::clone(linker.context());
        let options = PrepareOptions {
            ir_optimization: self.config.ir_optimization,
            lazily,
            ifunc_suffix: glue::IFUNC_SUFFIX,
            refuse_inline_assembly: !self.config.symbol_policy.searches_process(),
        };
        prepare(&context, linker.codegen(), source, &options, stats)
    }

    /// Adds and links `source` (the `load` service). During a run
    /// its static constructors run at once, as `dlopen` would run them;
    /// otherwise they run with the next run's. A load that fails leaves the
    /// engine as it was: the file is not left pending, where it would fail
    /// every later link.
    pub(super) fn load(&self, source: Source) -> Result<()> {
        let file = source.file.clone();
        let constructors = {
            let mut state = self.lock();
            let pending = (state.pending.len(), state.image_sources.len());
            self.add_locked(&mut state, source)?;
            let before = state.linker.batches().len();
            if let Err(error) = self.link_pending(&mut state) {
                state.pending.truncate(pending.0);
                state.image_sources.truncate(pending.1);
                return Err(error);
            }
            state.linker.batches()[before..]
                .iter()
                .flat_map(|batch| batch.constructors.entries())
                .collect::<Vec<_>>()
        };
        if self.runs_in_progress.load(Ordering::SeqCst) == 0 {
            return Ok(());
        }
        for constructor in constructors {
            // SAFETY: a constructor linked by this engine, `void (void)`
            // (called with main's arguments, which it ignores, as glibc does).
            match unsafe { runtime::call_entry(constructor, 0, std::ptr::null(), std::ptr::null()) }
            {
                Outcome::Returned(_) => {}
                Outcome::Exited(status) | Outcome::ExitedImmediately(status) => {
                    return Err(Error::Unsupported {
                        file,
                        message: format!(
                            "a static constructor called exit({status}) while loading"
                        ),
                    })
                }
                Outcome::Trapped | Outcome::Faulted => {
                    return Err(Error::Unsupported {
                        file,
                        message: "a static constructor trapped while loading".to_string(),
                    })
                }
            }
        }
        Ok(())
    }
}

/// The pending input `source` became once prepared.
pub(super) fn pending_input(source: &Source, prepared: Prepared) -> Input {
    Input::new(source.file.clone(), prepared.module, prepared.ir_level)
        .with_inlining(prepared.inlining)
}
