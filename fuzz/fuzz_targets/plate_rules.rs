//! Any text through the plate rules: format check and plate grouping.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if anprd::plate::is_current_format(text) {
        assert_eq!(text.len(), 7);
    }
    let groups = anprd::plate::plate_groups(text);
    assert!(!groups.is_empty());
});
