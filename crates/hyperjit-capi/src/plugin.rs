//! Plugins: shared libraries that register callbacks. A plugin exports
//! `int hyperjit_plugin_init(hj_engine *)`, which calls this crate's C
//! functions — resolved against the process that loads it: the `hyperjit`
//! binary exports them, a C host links `libhyperjit_capi`. The library
//! stays loaded as long as the engine, since its callbacks live in it.

use crate::boundary::{self, with_engine};
use crate::engine::hj_engine;
use std::ffi::{c_char, c_int};
use std::path::{Path, PathBuf};

/// The symbol every plugin exports.
const INIT: &str = "hyperjit_plugin_init";

/// Why a plugin could not be loaded; each names the plugin.
#[derive(Debug)]
#[non_exhaustive]
pub enum PluginError {
    /// The library could not be loaded (missing, not a shared library, an
    /// undefined symbol).
    Load {
        /// The plugin's path.
        path: PathBuf,
        /// The dynamic loader's message.
        message: String,
    },
    /// The library does not export `hyperjit_plugin_init`.
    NoInit {
        /// The plugin's path.
        path: PathBuf,
    },
    /// `hyperjit_plugin_init` returned non-zero.
    Refused {
        /// The plugin's path.
        path: PathBuf,
        /// What it returned.
        status: c_int,
        /// The engine's last error on this thread after the call, if the
        /// plugin's own calls failed.
        last_error: Option<String>,
    },
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginError::Load { path, message } => {
                write!(f, "plugin {}: cannot load it: {message}", path.display())
            }
            PluginError::NoInit { path } => write!(
                f,
                "plugin {}: it does not export `int {INIT}(hj_engine *)`",
                path.display()
            ),
            PluginError::Refused {
                path,
                status,
                last_error,
            } => {
                write!(f, "plugin {}: {INIT} returned {status}", path.display())?;
                if let Some(error) = last_error {
                    write!(f, " (the engine's last error: {error})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for PluginError {}

impl hj_engine {
    /// Loads the plugin at `path` and calls its `hyperjit_plugin_init` with
    /// this engine; the library stays loaded as long as the engine.
    pub fn load_plugin(&self, path: &Path) -> Result<(), PluginError> {
        // A bare file name would be searched for on the library path; the
        // user means the file.
        let file = if path.components().count() == 1 {
            Path::new(".").join(path)
        } else {
            path.to_path_buf()
        };
        // SAFETY: loading a library runs its initializers; a plugin is code
        // the user chose to run in this process, as the guest is.
        let library =
            unsafe { libloading::Library::new(&file) }.map_err(|error| PluginError::Load {
                path: path.to_path_buf(),
                message: error.to_string(),
            })?;
        // SAFETY: the symbol's type is the one every plugin exports, which
        // the header declares.
        let init = unsafe {
            library.get::<unsafe extern "C" fn(*mut hj_engine) -> c_int>(INIT.as_bytes())
        }
        .map_err(|_| PluginError::NoInit {
            path: path.to_path_buf(),
        })?;
        let before = self.last_error_text();
        // SAFETY: the plugin's contract: it takes the engine and registers
        // callbacks through the C API. C cannot unwind into Rust.
        let status = unsafe { init(std::ptr::from_ref(self).cast_mut()) };
        if status != 0 {
            let after = self.last_error_text();
            return Err(PluginError::Refused {
                path: path.to_path_buf(),
                status,
                last_error: after.filter(|after| Some(after) != before.as_ref()),
            });
        }
        self.keep_plugin(library);
        Ok(())
    }
}

/// Loads the plugin at `path` into `engine` (what `hyperjit run --plugin`
/// does): calls its `hyperjit_plugin_init`. 0 on success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `path` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_load_plugin(
    engine: *mut hj_engine,
    path: *const c_char,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_load_plugin", engine, |engine| {
            let path = boundary::path(path, "the plugin's path")?;
            engine
                .load_plugin(path)
                .map_err(|error| error.to_string())?;
            Ok(0)
        })
    }
}
