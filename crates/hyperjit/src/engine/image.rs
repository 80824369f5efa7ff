//! The warm start, the engine's side: with a cache, the inputs of the
//! first batch are not parsed when added if a program image of them is
//! cached (`link/image.rs`); linking then loads the image. If it cannot be
//! loaded after all (a damaged entry, a callback now registered under a
//! name it references), the deferred inputs are parsed and linked as
//! usual, so an image only ever saves time.

use super::inputs::pending_input;
use super::{Core, State};
use crate::compile::{Key, Source};
use crate::error::Result;
use crate::link::Image;
use std::time::Instant;

impl Core {
    /// Whether added inputs may still become a program image: a cache is
    /// set and no batch is linked yet.
    pub(super) fn tracks_image(&self, state: &State) -> bool {
        self.config.cache.is_some() && state.linker.batches().is_empty()
    }

    /// Adds `source` while the inputs may become an image: deferred if an
    /// image of everything added so far is cached, else parsed (with
    /// anything deferred before).
    pub(super) fn add_toward_image(&self, state: &mut State, source: Source) -> Result<()> {
        state.image_sources.push(source);
        // Once one input is parsed, all are: an image replaces all or none.
        if state.pending.len() + 1 == state.image_sources.len() {
            let key = self.image_key(state);
            let cache = state.linker.codegen().cache();
            if key
                .zip(cache)
                .is_some_and(|(key, cache)| cache.contains(&key))
            {
                return Ok(());
            }
        }
        self.prepare_deferred(state)
    }

    /// The key of the image of the inputs added so far, while they may
    /// still become one (a cache is set, no batch is linked yet).
    pub(super) fn image_key(&self, state: &mut State) -> Option<Key> {
        if state.image_sources.is_empty() {
            return None;
        }
        let settings = format!(
            "-O{} {:?}",
            self.config.opt_level, self.config.ir_optimization
        );
        let sources: Vec<(&str, &[u8])> = state
            .image_sources
            .iter()
            .map(|source| (source.file.as_str(), source.bytes.as_slice()))
            .collect();
        state.linker.codegen().image_key(&settings, &sources).ok()
    }

    /// Parses the deferred inputs, in the order they were added. One that
    /// fails is dropped, with those after it.
    pub(super) fn prepare_deferred(&self, state: &mut State) -> Result<()> {
        while state.image_sources.len() > state.pending.len() {
            let index = state.pending.len();
            let State {
                linker,
                stats,
                image_sources,
                pending,
                ..
            } = state;
            let input = self
                .prepare_with(linker, stats, &image_sources[index], self.config.lazy)
                .map(|prepared| pending_input(&image_sources[index], prepared));
            let checked = input.and_then(|input| {
                linker.check_addable(pending, &input, &self.callbacks)?;
                Ok(input)
            });
            match checked {
                Ok(input) => pending.push(input),
                // Refused as `add` refuses it: the others stay.
                Err(error) => {
                    image_sources.remove(index);
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// Links the first batch from the image cached under `key`; false if
    /// there is none this engine can load.
    pub(super) fn load_image(&self, state: &mut State, key: Option<Key>) -> Result<bool> {
        let started = Instant::now();
        let cache = state.linker.codegen().cache().cloned();
        let Some(image) = key
            .zip(cache)
            .and_then(|(key, cache)| cache.read(&key))
            .and_then(|bytes| Image::decode(&bytes))
        else {
            return Ok(false);
        };
        let files: Vec<&str> = state
            .image_sources
            .iter()
            .map(|s| s.file.as_str())
            .collect();
        let files = files.join(", ");
        let loaded = state
            .linker
            .load_image(image, &self.callbacks, &self.glue(), &files)?;
        if loaded.is_none() {
            return Ok(false);
        }
        state.stats.modules += state.image_sources.len();
        state.stats.images_from_cache += 1;
        state.image_sources.clear();
        state.stats.codegen_link += started.elapsed();
        Ok(true)
    }
}
