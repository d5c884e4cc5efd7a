//! SIGHUP: re-reads the configuration file, applies what can change while
//! running (the log level), and says which other changes need a restart.

use crate::config::{self, Config};

/// Reloads from the file `current` came from; keeps `current` on any error.
pub fn on_sighup(current: &mut Config) {
    let Some(path) = current.loaded_from.clone() else {
        log::warn!("SIGHUP: configuration was not loaded from a file; nothing to re-read");
        return;
    };
    let new = match Config::load(&path) {
        Ok(new) => new,
        Err(errors) => {
            // Errors name file, line and key; never values such as sources.
            log::error!("SIGHUP: configuration not reloaded, it has errors:\n{errors}");
            return;
        }
    };
    if new.log.level != current.log.level
        && let Some(level) = config::log_level(&new.log.level)
    {
        crate::logging::set_level(level);
        log::info!("SIGHUP: log level is now {}", new.log.level);
    }
    let restart = needs_restart(current, &new);
    if restart.is_empty() {
        log::info!("SIGHUP: configuration re-read");
    } else {
        log::warn!(
            "SIGHUP: changes to {} take effect only after a restart (systemctl restart anprd)",
            restart.join(", ")
        );
    }
    let level = new.log.level.clone();
    current.log.level = level;
}

/// The sections that differ and cannot be applied live. Compared through
/// their Debug form: the config types are plain data.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let differs =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") != format!("{b:?}");
    let mut out = Vec::new();
    for (name, changed) in [
        ("gateway", differs(&old.gateway, &new.gateway)),
        ("camera", differs(&old.cameras, &new.cameras)),
        ("mqtt", differs(&old.mqtt, &new.mqtt)),
        ("spool", differs(&old.spool, &new.spool)),
        ("recognise", differs(&old.recognise, &new.recognise)),
        ("group", differs(&old.group, &new.group)),
        ("health", differs(&old.health, &new.health)),
    ] {
        if changed {
            out.push(name);
        }
    }
    out
}
