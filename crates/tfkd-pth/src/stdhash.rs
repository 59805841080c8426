//! torch's `.data/serialization_id`, computed as torch computes it, so written files equal `torch.save`'s.
//!
//! PyTorch's `PyTorchStreamWriter::writeSerializationId` (caffe2/serialize/inline_container.cc) writes 40
//! digits: a 20-digit hash of the record names, then a 20-digit combined CRC-32 of the non-empty records'
//! data in write order, both combined with `c10::hash_combine`. The names are hashed with libstdc++'s
//! `std::hash<std::string>` (`_Hash_bytes`, a MurmurHash2 variant) in the iteration order of the
//! `std::unordered_set` torch keeps them in, so that set's bucket layout is reproduced here: libstdc++'s
//! prime rehash policy (max load factor 1, growth factor 2) and its node-insertion rules.
//! Both halves are checked against files torch 2.11 wrote (tests/fixtures/written, and `check_written.py`).

/// `c10::hash_combine` (Boost's formula on `size_t`).
fn hash_combine(seed: u64, value: u64) -> u64 {
    seed ^ value.wrapping_add(0x9e37_79b9).wrapping_add(seed << 6).wrapping_add(seed >> 2)
}

/// libstdc++'s `std::_Hash_bytes(ptr, len, 0xc70f6907)`, which `std::hash<std::string>` calls (64-bit).
fn hash_bytes(data: &[u8]) -> u64 {
    const MUL: u64 = (0xc6a4_a793_u64 << 32) + 0x5bd1_e995;
    let shift_mix = |v: u64| v ^ (v >> 47);
    let mut hash = 0xc70f_6907_u64 ^ (data.len() as u64).wrapping_mul(MUL);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        hash ^= shift_mix(u64::from_le_bytes(w).wrapping_mul(MUL)).wrapping_mul(MUL);
        hash = hash.wrapping_mul(MUL);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        hash ^= rest.iter().rev().fold(0u64, |acc, &b| (acc << 8) + u64::from(b));
        hash = hash.wrapping_mul(MUL);
    }
    shift_mix(shift_mix(hash).wrapping_mul(MUL))
}

/// libstdc++'s `__prime_list` up to 16.6 million (hashtable-aux.cc), enough for any archive under 65535
/// records; the table's first six entries are skipped by `_M_next_bkt`.
const PRIMES: [u64; 185] = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 103, 109, 113, 127,
    137, 139, 149, 157, 167, 179, 193, 199, 211, 227, 241, 257, 277, 293, 313, 337, 359, 383, 409, 439, 467, 503, 541,
    577, 619, 661, 709, 761, 823, 887, 953, 1031, 1109, 1193, 1289, 1381, 1493, 1613, 1741, 1879, 2029, 2179, 2357,
    2549, 2753, 2971, 3209, 3469, 3739, 4027, 4349, 4703, 5087, 5503, 5953, 6427, 6949, 7517, 8123, 8783, 9497, 10273,
    11113, 12011, 12983, 14033, 15173, 16411, 17749, 19183, 20753, 22447, 24281, 26267, 28411, 30727, 33223, 35933,
    38873, 42043, 45481, 49201, 53201, 57557, 62233, 67307, 72817, 78779, 85229, 92203, 99733, 107897, 116731, 126271,
    136607, 147793, 159871, 172933, 187091, 202409, 218971, 236897, 256279, 277261, 299951, 324503, 351061, 379787,
    410857, 444487, 480881, 520241, 562841, 608903, 658753, 712697, 771049, 834181, 902483, 976369, 1056323, 1142821,
    1236397, 1337629, 1447153, 1565659, 1693859, 1832561, 1982627, 2144977, 2320627, 2510653, 2716249, 2938679,
    3179303, 3439651, 3721303, 4026031, 4355707, 4712381, 5098259, 5515729, 5967347, 6456007, 6984629, 7556579,
    8175383, 8844859, 9569143, 10352717, 11200489, 12117689, 13109983, 14183539, 15345007, 16601593,
];

/// `_Prime_rehash_policy::_M_next_bkt`'s table for small counts.
const FAST_BUCKETS: [u64; 14] = [2, 2, 2, 3, 5, 5, 7, 7, 11, 11, 11, 11, 13, 13];

/// Where a bucket's "before" node is: the list head or a node.
#[derive(Clone, Copy)]
enum Before {
    Head,
    Node(usize),
}

/// The iteration order of a libstdc++ `std::unordered_set<std::string>` after inserting `hashes` (distinct
/// keys) in order, as indices into `hashes`.
fn unordered_set_order(hashes: &[u64]) -> Vec<usize> {
    let mut set = Set { hashes, next: vec![None; hashes.len()], head: None, buckets: vec![None], next_resize: 0 };
    for i in 0..hashes.len() {
        if let Some(n) = set.need_rehash(i) {
            set.rehash(n);
        }
        set.insert(i);
    }
    let mut order = Vec::with_capacity(hashes.len());
    let mut p = set.head;
    while let Some(i) = p {
        order.push(i);
        p = set.next[i];
    }
    order
}

struct Set<'a> {
    hashes: &'a [u64],
    next: Vec<Option<usize>>,
    head: Option<usize>,
    buckets: Vec<Option<Before>>,
    next_resize: u64,
}

impl Set<'_> {
    fn bucket(&self, i: usize, n: usize) -> usize {
        // n <= 16.6 million, so the remainder fits usize.
        (self.hashes[i] % n as u64) as usize
    }

    fn next_of(&self, b: Before) -> Option<usize> {
        match b {
            Before::Head => self.head,
            Before::Node(j) => self.next[j],
        }
    }

    fn set_next(&mut self, b: Before, v: Option<usize>) {
        match b {
            Before::Head => self.head = v,
            Before::Node(j) => self.next[j] = v,
        }
    }

    /// `_M_need_rehash(bucket_count, count, 1)`: the new bucket count, if inserting one more needs it.
    fn need_rehash(&mut self, count: usize) -> Option<usize> {
        let wanted = count as u64 + 1;
        if wanted <= self.next_resize {
            return None;
        }
        let min_buckets = wanted.max(if self.next_resize == 0 { 11 } else { 0 });
        let n = self.buckets.len() as u64;
        if min_buckets >= n {
            return Some(self.next_bucket((min_buckets + 1).max(n * 2)) as usize);
        }
        self.next_resize = n;
        None
    }

    /// `_M_next_bkt(n)`, with `_M_next_resize` updated as a side effect, as libstdc++ does.
    fn next_bucket(&mut self, n: u64) -> u64 {
        if let Some(&b) = usize::try_from(n).ok().and_then(|i| FAST_BUCKETS.get(i)) {
            self.next_resize = b;
            return b;
        }
        let tail = &PRIMES[6..];
        let b = tail[tail.partition_point(|&p| p < n).min(tail.len() - 1)];
        self.next_resize = b;
        b
    }

    /// `_M_rehash_aux(n, true_type)`: relinks every node into `n` buckets.
    fn rehash(&mut self, n: usize) {
        let mut buckets: Vec<Option<Before>> = vec![None; n];
        let mut p = self.head.take();
        let mut begin_bucket = 0;
        while let Some(i) = p {
            p = self.next[i];
            let b = self.bucket(i, n);
            match buckets[b] {
                None => {
                    self.next[i] = self.head;
                    self.head = Some(i);
                    buckets[b] = Some(Before::Head);
                    if self.next[i].is_some() {
                        buckets[begin_bucket] = Some(Before::Node(i));
                    }
                    begin_bucket = b;
                }
                Some(before) => {
                    self.next[i] = self.next_of(before);
                    self.set_next(before, Some(i));
                }
            }
        }
        self.buckets = buckets;
    }

    /// `_M_insert_bucket_begin(bucket, node)`.
    fn insert(&mut self, i: usize) {
        let n = self.buckets.len();
        let b = self.bucket(i, n);
        match self.buckets[b] {
            Some(before) => {
                self.next[i] = self.next_of(before);
                self.set_next(before, Some(i));
            }
            None => {
                self.next[i] = self.head;
                self.head = Some(i);
                if let Some(j) = self.next[i] {
                    let jb = self.bucket(j, n);
                    self.buckets[jb] = Some(Before::Node(i));
                }
                self.buckets[b] = Some(Before::Head);
            }
        }
    }
}

/// The 40-digit serialization id of an archive whose records were written in this order: each record's
/// name without the archive folder, and its data's CRC-32 unless the data is empty (torch skips those).
pub(crate) fn serialization_id(records: &[(String, Option<u32>)]) -> String {
    let hashes: Vec<u64> = records.iter().map(|(name, _)| hash_bytes(name.as_bytes())).collect();
    let names = unordered_set_order(&hashes).into_iter().fold(0, |acc, i| hash_combine(acc, hashes[i]));
    let crcs = records.iter().filter_map(|(_, crc)| *crc).fold(0, |acc, crc| hash_combine(acc, u64::from(crc)));
    format!("{names:020}{crcs:020}")
}
