//! `vectorscan-baseline PATTERNS FILE…`: for every JSONL line, parse it with
//! serde_json into a `Value`, take `text`, and count vectorscan matches of the
//! literals in PATTERNS (one per line, matched case-insensitively). Prints
//! posts, matching posts and matches. `--threads N` splits the lines over N
//! threads, each with its own scratch.

use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CString};
use std::ptr;

#[repr(C)]
struct HsCompileError {
    message: *const c_char,
    expression: c_int,
}

enum HsDatabase {}
enum HsScratch {}

type MatchHandler = extern "C" fn(c_uint, c_ulonglong, c_ulonglong, c_uint, *mut c_void) -> c_int;

extern "C" {
    fn hs_compile_multi(
        expressions: *const *const c_char,
        flags: *const c_uint,
        ids: *const c_uint,
        elements: c_uint,
        mode: c_uint,
        platform: *const c_void,
        db: *mut *mut HsDatabase,
        error: *mut *mut HsCompileError,
    ) -> c_int;
    fn hs_alloc_scratch(db: *const HsDatabase, scratch: *mut *mut HsScratch) -> c_int;
    fn hs_clone_scratch(src: *const HsScratch, dest: *mut *mut HsScratch) -> c_int;
    fn hs_scan(
        db: *const HsDatabase,
        data: *const c_char,
        length: c_uint,
        flags: c_uint,
        scratch: *mut HsScratch,
        on_event: MatchHandler,
        context: *mut c_void,
    ) -> c_int;
}

const HS_MODE_BLOCK: c_uint = 1;
const HS_FLAG_CASELESS: c_uint = 1;

extern "C" fn on_match(_id: c_uint, _from: c_ulonglong, _to: c_ulonglong, _f: c_uint, ctx: *mut c_void) -> c_int {
    unsafe { *(ctx as *mut u64) += 1 };
    0
}

struct Db(*mut HsDatabase);
unsafe impl Send for Db {}
unsafe impl Sync for Db {}
struct Scratch(*mut HsScratch);
unsafe impl Send for Scratch {}

fn escape(lit: &str) -> String {
    let mut s = String::new();
    for c in lit.chars() {
        if c.is_ascii_alphanumeric() || !c.is_ascii() {
            s.push(c);
        } else {
            s.push_str(&format!("\\x{:02x}", c as u32));
        }
    }
    s
}

fn scan_lines(db: &Db, scratch: &Scratch, lines: &[&str]) -> (u64, u64, u64) {
    let (mut posts, mut hit_posts, mut matches) = (0u64, 0u64, 0u64);
    for line in lines {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let Some(text) = v.get("text").and_then(|t| t.as_str()) else { continue };
        posts += 1;
        let mut n: u64 = 0;
        let rc = unsafe {
            hs_scan(db.0, text.as_ptr() as *const c_char, text.len() as c_uint, 0, scratch.0, on_match, &mut n as *mut u64 as *mut c_void)
        };
        assert_eq!(rc, 0, "hs_scan failed");
        if n > 0 {
            hit_posts += 1;
        }
        matches += n;
    }
    (posts, hit_posts, matches)
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut threads = 1;
    if args.first().map(String::as_str) == Some("--threads") {
        threads = args[1].parse().expect("--threads N");
        args.drain(..2);
    }
    let patterns: Vec<String> = std::fs::read_to_string(&args[0])
        .expect("patterns file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(escape)
        .collect();
    let cstrs: Vec<CString> = patterns.iter().map(|p| CString::new(p.as_str()).unwrap()).collect();
    let ptrs: Vec<*const c_char> = cstrs.iter().map(|c| c.as_ptr()).collect();
    let flags = vec![HS_FLAG_CASELESS; ptrs.len()];
    let ids: Vec<c_uint> = (0..ptrs.len() as c_uint).collect();
    let mut db = ptr::null_mut();
    let mut err = ptr::null_mut();
    let rc = unsafe {
        hs_compile_multi(ptrs.as_ptr(), flags.as_ptr(), ids.as_ptr(), ptrs.len() as c_uint, HS_MODE_BLOCK, ptr::null(), &mut db, &mut err)
    };
    assert_eq!(rc, 0, "hs_compile_multi failed");
    let db = Db(db);
    let mut proto = ptr::null_mut();
    assert_eq!(unsafe { hs_alloc_scratch(db.0, &mut proto) }, 0);
    let mut data = String::new();
    for f in &args[1..] {
        data.push_str(&std::fs::read_to_string(f).expect("input file"));
    }
    let lines: Vec<&str> = data.lines().collect();
    let chunk = lines.len().div_ceil(threads).max(1);
    let totals = std::thread::scope(|s| {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .map(|part| {
                let mut sc = ptr::null_mut();
                assert_eq!(unsafe { hs_clone_scratch(proto, &mut sc) }, 0);
                let sc = Scratch(sc);
                let db = &db;
                s.spawn(move || scan_lines(db, &sc, part))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
    });
    eprintln!("posts {} matching posts {} matches {}", totals.0, totals.1, totals.2);
}
