//! The parser must never panic, whatever the bytes; findings must serialise and give advice.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = denyctl_denial::parse(data) {
        for f in &parsed.findings {
            assert!(f.kind.is_some());
            let _ = f.advice();
            let _ = serde_json::to_string(f).expect("a finding serialises");
        }
    }
});
