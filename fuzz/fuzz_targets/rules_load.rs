//! Any bytes as a rule file: loading returns rules or placed errors, never
//! panics; rules that load also build and scan.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use kestrel_core::engine::{Engine, EngineOptions, Matches};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    // A path with no directory of lists beside it: `list:` entries fail to
    // load with an error, as a missing file must.
    let Ok(loaded) = kestrel_core::rules::load_str(Path::new("/nonexistent/fuzz.yaml"), src) else {
        return;
    };
    let Ok(engine) = Engine::build(Arc::new(loaded.set), &EngineOptions::default()) else {
        return;
    };
    let mut scratch = engine.new_scratch();
    let mut m = Matches::default();
    engine.scan(
        &[(
            "text",
            "join us, donate 50 usd: bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        )],
        &mut scratch,
        &mut m,
    );
});
