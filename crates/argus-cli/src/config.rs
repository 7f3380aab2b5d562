//! The config as the commands read it: `argus_node::config` does the
//! reading and checking; this adds the data directory a command falls back
//! to and prints every problem.

use std::path::{Path, PathBuf};

pub(crate) use argus_node::config::{Diagnostics, Loaded, load, load_without_secrets};

/// [`load`] for a command: the config and the data directory it names (the
/// global one when it names none), or `None` after printing every problem
/// on stderr.
pub(crate) fn load_for(path: &Path, global: &crate::GlobalArgs) -> Option<(Loaded, PathBuf)> {
    with_data_dir(load(path), global)
}

/// [`load_for`] without looking up the notifiers' secrets.
pub(crate) fn load_for_reading(
    path: &Path,
    global: &crate::GlobalArgs,
) -> Option<(Loaded, PathBuf)> {
    with_data_dir(load_without_secrets(path), global)
}

fn with_data_dir(
    loaded: Result<Loaded, Diagnostics>,
    global: &crate::GlobalArgs,
) -> Option<(Loaded, PathBuf)> {
    match loaded {
        Ok(loaded) => {
            let data_dir = loaded
                .data_dir
                .clone()
                .unwrap_or_else(|| global.data_dir.clone());
            Some((loaded, data_dir))
        }
        Err(diagnostics) => {
            sh_eprint!("{diagnostics}");
            None
        }
    }
}
