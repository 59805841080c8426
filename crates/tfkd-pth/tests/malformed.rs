//! Damaged files are errors, never panics: every truncation and many byte changes of real fixtures.

mod common;

use std::{panic, path::Path};

use common::fixture;
use tfkd_pth::from_bytes;

/// Parses `bytes`; a panic fails the test with the mutation that caused it.
fn parse(bytes: &[u8], what: &str) -> bool {
    match panic::catch_unwind(|| from_bytes(Path::new("damaged.pth"), bytes)) {
        Ok(r) => {
            if let Err(e) = &r {
                let msg = tfkd_io::chain(e);
                assert!(msg.starts_with("damaged.pth") || msg.contains("damaged.pth"), "{what}: {msg}");
            }
            r.is_ok()
        }
        Err(_) => panic!("{what}: panicked"),
    }
}

/// Every truncation of the fixture `name` is an error; XOR-ing each byte with each of `flips` parses or errs.
fn mutate(name: &str, flips: &[u8]) {
    let original = std::fs::read(fixture(name)).expect("fixture");
    assert!(parse(&original, name));
    for len in 0..original.len() {
        assert!(!parse(&original[..len], &format!("{name} cut to {len} bytes")), "{name} cut to {len} parsed");
    }
    let mut damaged = original.clone();
    for i in 0..original.len() {
        for &flip in flips {
            damaged[i] = original[i] ^ flip;
            parse(&damaged, &format!("{name} byte {i} ^ {flip:#x}"));
        }
        damaged[i] = original[i];
    }
}

#[test]
fn damaged_zip_files_are_errors() {
    // Records are CRC-checked, so changed bytes mostly exercise the zip layer; one flip per byte suffices.
    mutate("views.zip.pth", &[0xff]);
}

#[test]
fn damaged_legacy_files_are_errors() {
    // No checksums: changed bytes reach the pickle machine and the views' bounds checks.
    mutate("views.legacy.pth", &[0xff, 0x01, 0x80]);
    mutate("checkpoint.legacy.pth", &[0xff]);
}

#[test]
fn garbage_is_an_error() {
    for bytes in [&b""[..], b"\x80", b"\x80\x02", b"PK\x03\x04", b"hello world", &[0x80; 64]] {
        assert!(!parse(bytes, &format!("{bytes:?}")));
    }
}
