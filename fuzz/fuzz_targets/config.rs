//! Any text as anprd.toml: a located error or a config, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(errors) = anprd::config::Config::parse(text, std::path::Path::new("fuzz.toml")) {
        assert!(!errors.0.is_empty());
        let _ = errors.to_string();
    }
});
