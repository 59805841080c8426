//! Counter-based randomness: every draw is a pure function of (seed, epoch, sample index, purpose).
//!
//! Nothing depends on thread scheduling or batch boundaries: sample i of epoch e gets the same
//! crop, flip and angle whichever thread assembles it and whichever batch it lands in.

/// A 64-bit key built by hashing the parts that identify a stream of draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(u64);

fn mix(mut z: u64) -> u64 {
    // splitmix64 finaliser.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Key {
    /// A key from a seed.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Key(mix(seed ^ 0x7466_6b64_5f72_6e67))
    }

    /// Extends the key with a number (epoch, sample index, class, …).
    #[must_use]
    pub fn with(self, part: u64) -> Self {
        Key(mix(self.0.wrapping_add(0x9e37_79b9_7f4a_7c15) ^ mix(part)))
    }

    /// The 64 key bits, e.g. to seed another generator.
    #[must_use]
    pub fn value(self) -> u64 {
        self.0
    }

    /// Extends the key with a label such as "shuffle" or "augment".
    #[must_use]
    pub fn with_str(self, part: &str) -> Self {
        part.bytes().fold(self.with(part.len() as u64), |k, b| k.with(u64::from(b)))
    }
}

/// A small deterministic generator (splitmix64) seeded from a [`Key`].
#[derive(Debug, Clone)]
pub struct SampleRng(u64);

impl SampleRng {
    /// A generator for the stream named by `key`.
    #[must_use]
    pub fn new(key: Key) -> Self {
        SampleRng(key.0)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in `0..=max` (unbiased by rejection).
    pub fn below_inclusive(&mut self, max: u64) -> u64 {
        let span = max + 1;
        let zone = u64::MAX - (u64::MAX % span);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % span;
            }
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below_inclusive(i as u64) as usize;
            items.swap(i, j);
        }
    }
}

/// The visiting order of `n` samples in `epoch`: a permutation that depends on (seed, epoch) only.
#[must_use]
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    SampleRng::new(Key::new(seed).with_str("shuffle").with(epoch)).shuffle(&mut order);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_permutations_and_seeded() {
        let a = epoch_order(1000, 1, 0);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(1000, 1, 0));
        assert_ne!(a, epoch_order(1000, 1, 1));
        assert_ne!(a, epoch_order(1000, 2, 0));
    }

    #[test]
    fn draws_are_roughly_uniform() {
        let mut rng = SampleRng::new(Key::new(3));
        let mut counts = [0u32; 9];
        for _ in 0..90_000 {
            counts[rng.below_inclusive(8) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
        let mean = (0..10_000).map(|_| rng.unit()).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.01);
    }
}
