//! Any bytes as a post: parsed into an id and text fields, or a bad post
//! with its reason; never a panic.
#![no_main]

use kestrel_core::post::{Pointer, PostSchema};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let schema = PostSchema::new(
        Pointer::parse("/id").unwrap(),
        Some(Pointer::parse("/created_at").unwrap()),
        vec![
            ("text".into(), Pointer::parse("/text").unwrap()),
            ("title".into(), Pointer::parse("/meta/0/title").unwrap()),
        ],
        1 << 20,
    );
    match schema.parse(data) {
        Ok(post) => {
            assert!(!post.id.is_empty());
            assert!(!post.fields.is_empty());
        }
        Err(bad) => {
            assert!(!bad.code().is_empty());
            let _ = bad.to_string();
        }
    }
});
