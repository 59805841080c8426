//! Byte mutations of seed inputs, seeded: the same seed gives the same inputs on every machine.
//!
//! Not coverage-guided (that needs an instrumented build of every dependency, minutes that CI's fuzz budget
//! does not have): each input is one to four stacked mutations of a seed — bit flips, boundary integers, cut,
//! repeated and spliced ranges, and for text formats the tokens that break parsers (tabs, anchors, huge numbers).

/// A small seeded generator (splitmix64): fast, and the same sequence everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// The largest input a mutation makes: parsers must bound what they allocate for far larger claims than this.
pub const MAX_INPUT: usize = 4 << 20;

/// Integers at the edges of what parsers compute with.
const BOUNDARY: [u64; 10] = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fff_ffff, 0xffff_ffff, u64::MAX];

/// Tokens that break text parsers: YAML's tab, anchors, tags and flow syntax, JSON's nesting and numbers out of
/// range, CSV's separators, and NUL.
const TOKENS: [&str; 24] = [
    "\t",
    "\n",
    ": ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "'",
    "\"",
    "&a ",
    "*a",
    "!!binary ",
    "~",
    "\0",
    ",",
    "99999999999999999999",
    "-1",
    "1e308",
    "-1e308",
    "NaN",
    ".inf",
    "<<: *a",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
];

/// One to four stacked mutations of `seed`; `other` is another seed for splicing, `text` adds the text-format
/// mutations.
#[must_use]
pub fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8], text: bool) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let kinds = if text { 12 } else { 9 };
        match rng.below(kinds) {
            0 => flip_bit(rng, &mut data),
            1 => set_byte(rng, &mut data),
            2 => set_boundary(rng, &mut data),
            3 => delete_range(rng, &mut data),
            4 => repeat_range(rng, &mut data),
            5 => insert_random(rng, &mut data),
            6 => data.truncate(rng.below(data.len() + 1)),
            7 => splice(rng, &mut data, other),
            8 => set_byte(rng, &mut data),
            9 => insert_token(rng, &mut data),
            10 => replace_number(rng, &mut data),
            _ => edit_line(rng, &mut data),
        }
        data.truncate(MAX_INPUT);
    }
    data
}

fn flip_bit(rng: &mut Rng, data: &mut [u8]) {
    if !data.is_empty() {
        let i = rng.below(data.len());
        data[i] ^= 1 << rng.below(8);
    }
}

fn set_byte(rng: &mut Rng, data: &mut [u8]) {
    if !data.is_empty() {
        let i = rng.below(data.len());
        data[i] = rng.next_u64() as u8;
    }
}

/// Overwrites 1, 2, 4 or 8 bytes with a boundary integer, little- or big-endian.
fn set_boundary(rng: &mut Rng, data: &mut [u8]) {
    let width = 1 << rng.below(4);
    if data.len() < width {
        return;
    }
    let value = BOUNDARY[rng.below(BOUNDARY.len())];
    let bytes = if rng.below(2) == 0 { value.to_le_bytes() } else { value.to_be_bytes() };
    let at = rng.below(data.len() - width + 1);
    let from = if rng.below(2) == 0 { 0 } else { 8 - width };
    data[at..at + width].copy_from_slice(&bytes[from..from + width]);
}

/// A range of up to a quarter of the input (at least a few bytes).
fn range(rng: &mut Rng, len: usize) -> (usize, usize) {
    let start = rng.below(len);
    let most = (len / 4).max(4).min(len - start);
    (start, start + 1 + rng.below(most))
}

fn delete_range(rng: &mut Rng, data: &mut Vec<u8>) {
    if !data.is_empty() {
        let (a, b) = range(rng, data.len());
        data.drain(a..b);
    }
}

/// Repeats a range once, or many times (inputs that claim or hold far more than they should).
fn repeat_range(rng: &mut Rng, data: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    let (a, b) = range(rng, data.len());
    let times = if rng.below(4) == 0 { 1 + rng.below(256) } else { 1 };
    let chunk = data[a..b].to_vec();
    let at = rng.below(data.len() + 1);
    let repeated: Vec<u8> = chunk.iter().copied().cycle().take(chunk.len() * times).collect();
    data.splice(at..at, repeated);
}

fn insert_random(rng: &mut Rng, data: &mut Vec<u8>) {
    let at = rng.below(data.len() + 1);
    let bytes: Vec<u8> = (0..1 + rng.below(32)).map(|_| rng.next_u64() as u8).collect();
    data.splice(at..at, bytes);
}

/// The start of this input and the rest of another from a random point.
fn splice(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    let cut = rng.below(data.len() + 1);
    let from = rng.below(other.len() + 1);
    data.truncate(cut);
    data.extend_from_slice(&other[from..]);
}

fn insert_token(rng: &mut Rng, data: &mut Vec<u8>) {
    let token = TOKENS[rng.below(TOKENS.len())];
    let at = rng.below(data.len() + 1);
    data.splice(at..at, token.bytes());
}

/// Replaces a run of digits with an out-of-range or odd number.
fn replace_number(rng: &mut Rng, data: &mut Vec<u8>) {
    let digits: Vec<usize> = (0..data.len()).filter(|&i| data[i].is_ascii_digit()).collect();
    if digits.is_empty() {
        return insert_token(rng, data);
    }
    let start = digits[rng.below(digits.len())];
    let end = (start..data.len()).find(|&i| !data[i].is_ascii_digit()).unwrap_or(data.len());
    let numbers = ["0", "-1", "99999999999999999999", "1e308", "-0", "4294967296", "NaN", "1.5", "65536"];
    data.splice(start..end, numbers[rng.below(numbers.len())].bytes());
}

/// Deletes or repeats one line.
fn edit_line(rng: &mut Rng, data: &mut Vec<u8>) {
    let starts: Vec<usize> =
        std::iter::once(0).chain((0..data.len()).filter(|&i| data[i] == b'\n').map(|i| i + 1)).collect();
    let start = starts[rng.below(starts.len())];
    let end = (start..data.len()).find(|&i| data[i] == b'\n').map_or(data.len(), |i| i + 1);
    if rng.below(2) == 0 {
        data.drain(start..end);
    } else {
        let line = data[start..end].to_vec();
        data.splice(start..start, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        let seed = b"name: smoke\ntrain:\n  epochs: 2\n";
        let run = |s| {
            let mut rng = Rng::new(s);
            (0..200).map(|_| mutate(&mut rng, seed, b"other", true)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(7).iter().all(|m| m.len() <= MAX_INPUT));
        assert!(run(7).iter().any(|m| m.as_slice() != seed), "mutations change the input");
    }

    #[test]
    fn mutating_nothing_is_no_panic() {
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            let text = rng.below(2) == 0;
            let _ = mutate(&mut rng, b"", b"", text);
        }
    }
}
