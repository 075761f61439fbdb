//! Finding plugins (the plugin path) and choosing one for a request.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::{DynamicPlugin, PluginError, PluginInfo, ServicePlugin};

/// The environment variable holding the plugin directories (colon-separated, like `PATH`).
pub const PLUGIN_PATH_ENV: &str = "DENYCTL_PLUGIN_PATH";

/// The plugin directories in search order: `$DENYCTL_PLUGIN_PATH`, then `~/.denyctl/plugins`.
pub fn plugin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os(PLUGIN_PATH_ENV)
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        dirs.push(Path::new(&home).join(".denyctl").join("plugins"));
    }
    dirs
}

/// A library on the plugin path that was skipped, and why.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFailure {
    /// The library's path.
    pub path: PathBuf,
    /// Why it was skipped (one line, says what to do).
    pub error: String,
}

fn is_library(p: &Path) -> bool {
    p.is_file() && p.extension().is_some_and(|e| e == "so" || e == "dylib")
}

/// Loads every `*.so` / `*.dylib` in `dirs` (in order, files sorted by name); missing dirs are skipped.
pub fn discover(dirs: &[PathBuf]) -> (Vec<DynamicPlugin>, Vec<LoadFailure>) {
    let mut loaded = Vec::new();
    let mut failed = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| is_library(p)).collect();
        files.sort();
        for f in files {
            match DynamicPlugin::load(&f) {
                Ok(p) => loaded.push(p),
                Err(e) => failed.push(LoadFailure { path: f, error: load_reason(e) }),
            }
        }
    }
    (loaded, failed)
}

fn load_reason(e: PluginError) -> String {
    match e {
        PluginError::Load { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// The plugins available to denyctl, in precedence order, and the libraries that were skipped.
#[derive(Default, Clone)]
pub struct Registry {
    plugins: Vec<Arc<dyn ServicePlugin>>,
    failures: Vec<LoadFailure>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("plugins", &self.list()).field("failures", &self.failures).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds a plugin after the existing ones; a plugin whose name is taken is refused.
    pub fn add(&mut self, plugin: Arc<dyn ServicePlugin>) -> Result<(), PluginError> {
        let name = plugin.info().name;
        if self.plugins.iter().any(|p| p.info().name == name) {
            return Err(PluginError::InvalidInput(format!("a plugin named {name} is already registered")));
        }
        self.plugins.push(plugin);
        Ok(())
    }

    /// Loads the libraries in `dirs` after the existing plugins, recording the ones skipped.
    pub fn load_dirs(&mut self, dirs: &[PathBuf]) {
        let (loaded, failed) = discover(dirs);
        self.failures.extend(failed);
        for p in loaded {
            let path = p.path().to_path_buf();
            if let Err(e) = self.add(Arc::new(p)) {
                self.failures.push(LoadFailure { path, error: format!("skipped: {e}") });
            }
        }
    }

    /// Loads the libraries of the plugin path ([`plugin_dirs`]).
    pub fn load_plugin_path(&mut self) {
        self.load_dirs(&plugin_dirs());
    }

    /// The first plugin that handles `action` on `resource` (built-in plugins come first).
    pub fn for_request(&self, action: &str, resource: &str) -> Option<&dyn ServicePlugin> {
        self.plugins.iter().find(|p| p.handles(action, resource)).map(|p| &**p)
    }

    /// Like [`Registry::for_request`], as a shared handle a spawned task can keep.
    pub fn find(&self, action: &str, resource: &str) -> Option<Arc<dyn ServicePlugin>> {
        self.plugins.iter().find(|p| p.handles(action, resource)).cloned()
    }

    /// The plugin named `name`.
    pub fn get(&self, name: &str) -> Option<&dyn ServicePlugin> {
        self.plugins.iter().find(|p| p.info().name == name).map(|p| &**p)
    }

    /// Every plugin's info, in precedence order.
    pub fn list(&self) -> Vec<PluginInfo> {
        self.plugins.iter().map(|p| p.info()).collect()
    }

    /// The libraries that were skipped, and why.
    pub fn failures(&self) -> &[LoadFailure] {
        &self.failures
    }
}
