//! Digests as text.

/// Lowercase hex of a digest.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The detail of a cache whose bytes `from..to` do not match their recorded CRC-32: one checksum covers them
/// all, so the damage is somewhere in that range, not at one known byte.
#[must_use]
pub(crate) fn checksum_mismatch(from: u64, to: u64, got: u32, recorded: u32) -> String {
    format!(
        "bytes {from}–{to} (its metadata and contents) do not match their checksum (CRC-32 {got:08x}, recorded \
         {recorded:08x}): the damage is somewhere in them"
    )
}
