//! The zip container `torch.save` writes, reproduced byte for byte: PyTorch's `PyTorchStreamWriter` drives
//! miniz with stored (uncompressed) records, each record's data 64-byte aligned by an `FB` extra field padded
//! with `Z`, a data descriptor after every non-empty record, zero timestamps, and a zip64 end record.
//! `torch.load(..., mmap=True)` maps the data in place, which the alignment allows; torch's optional
//! storage-offset calculation (`.format_version` 1) assumes exactly this layout.
//!
//! Files of 4 GiB or more would need miniz's zip64 local headers, which this writer omits (it refuses).

use crate::{error::WriteProblem, stdhash::serialization_id};

/// torch's default `storage_alignment`.
pub(crate) const ALIGNMENT: usize = 64;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const END: u32 = 0x0605_4b50;
/// General-purpose flags: bit 11 (UTF-8 names), plus bit 3 (sizes in a data descriptor) for non-empty data.
const FLAG_UTF8: u16 = 0x0800;
const FLAG_DESCRIPTOR: u16 = 0x0008;

struct Central {
    name: String,
    flags: u16,
    crc: u32,
    size: u32,
    offset: u32,
}

/// An archive being assembled in memory: records are added in order, then `finish` adds torch's closing
/// records (`version`, `.data/serialization_id`) and the central directory.
pub(crate) struct ZipWriter {
    out: Vec<u8>,
    prefix: String,
    central: Vec<Central>,
    /// Every record so far: name without prefix, and the data's CRC-32 if it is not empty (for the id).
    records: Vec<(String, Option<u32>)>,
}

fn too_large(what: &str) -> WriteProblem {
    WriteProblem::TooLarge(what.to_string())
}

impl ZipWriter {
    /// An empty archive whose records live under `prefix/` (torch uses `archive` for buffers).
    pub(crate) fn new(prefix: &str) -> ZipWriter {
        ZipWriter { out: Vec::new(), prefix: prefix.to_string(), central: Vec::new(), records: Vec::new() }
    }

    /// Adds the record `prefix/name` holding `data`.
    pub(crate) fn add(&mut self, name: &str, data: &[u8]) -> Result<(), WriteProblem> {
        let full = format!("{}/{name}", self.prefix);
        let offset = u32::try_from(self.out.len()).map_err(|_| too_large("the file passes 4 GiB"))?;
        let size = u32::try_from(data.len()).map_err(|_| too_large("a record of 4 GiB or more"))?;
        let name_len = u16::try_from(full.len()).map_err(|_| too_large("a record name over 65535 bytes"))?;
        let start = self.out.len() + 30 + full.len() + 4;
        let pad = (ALIGNMENT - start % ALIGNMENT) % ALIGNMENT;
        let crc = crc32fast::hash(data);
        let flags = if data.is_empty() { FLAG_UTF8 } else { FLAG_UTF8 | FLAG_DESCRIPTOR };
        let o = &mut self.out;
        o.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
        // version needed, flags, method (stored), time, date: miniz writes zeros except the flags.
        for v in [0u16, flags, 0, 0, 0] {
            o.extend_from_slice(&v.to_le_bytes());
        }
        o.extend_from_slice(&[0u8; 12]); // crc and sizes follow in the data descriptor
        o.extend_from_slice(&name_len.to_le_bytes());
        o.extend_from_slice(&((pad + 4) as u16).to_le_bytes());
        o.extend_from_slice(full.as_bytes());
        o.extend_from_slice(b"FB");
        o.extend_from_slice(&(pad as u16).to_le_bytes());
        o.extend(std::iter::repeat_n(b'Z', pad));
        o.extend_from_slice(data);
        if !data.is_empty() {
            for v in [DATA_DESCRIPTOR, crc, size, size] {
                o.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.central.push(Central { name: full, flags, crc, size, offset });
        self.records.push((name.to_string(), (!data.is_empty()).then_some(crc)));
        Ok(())
    }

    /// Adds `version` and `.data/serialization_id`, then the central directory and end records.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, WriteProblem> {
        self.add("version", b"3\n")?;
        let id = serialization_id(&self.records);
        self.add(".data/serialization_id", id.as_bytes())?;
        let entries = u16::try_from(self.central.len()).map_err(|_| too_large("more than 65535 records"))?;
        let cd_offset = self.out.len();
        for c in &self.central {
            let o = &mut self.out;
            o.extend_from_slice(&CENTRAL_HEADER.to_le_bytes());
            for v in [0u16, 0, c.flags, 0, 0, 0] {
                o.extend_from_slice(&v.to_le_bytes()); // made by, needed, flags, method, time, date
            }
            for v in [c.crc, c.size, c.size] {
                o.extend_from_slice(&v.to_le_bytes());
            }
            // name length (checked in `add`), extra, comment, disk, internal attributes
            for v in [c.name.len() as u16, 0, 0, 0, 0] {
                o.extend_from_slice(&v.to_le_bytes());
            }
            o.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            o.extend_from_slice(&c.offset.to_le_bytes());
            o.extend_from_slice(c.name.as_bytes());
        }
        let cd_size = self.out.len() - cd_offset;
        self.end_records(entries, cd_offset, cd_size)?;
        Ok(self.out)
    }

    fn end_records(&mut self, entries: u16, cd_offset: usize, cd_size: usize) -> Result<(), WriteProblem> {
        let big = || too_large("the file passes 4 GiB");
        let cd_offset32 = u32::try_from(cd_offset).map_err(|_| big())?;
        let cd_size32 = u32::try_from(cd_size).map_err(|_| big())?;
        let zip64_at = self.out.len() as u64;
        let o = &mut self.out;
        o.extend_from_slice(&ZIP64_END.to_le_bytes());
        o.extend_from_slice(&44u64.to_le_bytes()); // size of the rest of this record
        o.extend_from_slice(&0x031eu16.to_le_bytes()); // made by: unix, 3.0 (miniz)
        o.extend_from_slice(&0x002du16.to_le_bytes()); // needed: 4.5 (zip64)
        o.extend_from_slice(&[0u8; 8]); // this disk, disk with the central directory
        for v in [u64::from(entries), u64::from(entries), cd_size as u64, cd_offset as u64] {
            o.extend_from_slice(&v.to_le_bytes());
        }
        o.extend_from_slice(&ZIP64_LOCATOR.to_le_bytes());
        o.extend_from_slice(&0u32.to_le_bytes());
        o.extend_from_slice(&zip64_at.to_le_bytes());
        o.extend_from_slice(&1u32.to_le_bytes());
        o.extend_from_slice(&END.to_le_bytes());
        for v in [0u16, 0, entries, entries] {
            o.extend_from_slice(&v.to_le_bytes());
        }
        o.extend_from_slice(&cd_size32.to_le_bytes());
        o.extend_from_slice(&cd_offset32.to_le_bytes());
        o.extend_from_slice(&0u16.to_le_bytes());
        Ok(())
    }
}
