//! Decoded images of one split, and seeded stratified carving (validation split, subsets).

use crate::error::{DataError, Result};
use crate::rng::{Key, SampleRng};

/// Decoded images of one split: u8 pixels in N×C×H×W order plus labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Pixels, `len = n · c · h · w`, each image planar (C×H×W).
    pub images: Vec<u8>,
    /// One label per image, in `0..classes`.
    pub labels: Vec<u16>,
    /// Channels, height, width of every image.
    pub chw: [usize; 3],
    /// A second label per image where the format has one (CIFAR-100's coarse superclass).
    pub coarse_labels: Option<Vec<u16>>,
}

impl Split {
    /// An empty split of images shaped `chw`.
    #[must_use]
    pub fn empty(chw: [usize; 3]) -> Self {
        Split { images: Vec::new(), labels: Vec::new(), chw, coarse_labels: None }
    }

    /// Number of images.
    #[must_use]
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image.
    #[must_use]
    pub fn image_len(&self) -> usize {
        self.chw.iter().product()
    }

    /// The pixels of image `i` (C×H×W).
    #[must_use]
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// The images at `indices`, in that order.
    #[must_use]
    pub fn select(&self, indices: &[usize]) -> Split {
        let mut images = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Split {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            chw: self.chw,
            coarse_labels: self.coarse_labels.as_ref().map(|c| indices.iter().map(|&i| c[i]).collect()),
        }
    }

    /// Splits off a seeded, stratified sample of `n` images: returns `(sample, rest)`.
    ///
    /// Each class gives its share of `n` (largest remainders break ties by class index); which
    /// images are picked depends only on `seed` and `purpose`, and both parts keep the original order.
    /// The pick is `stratified_indices`, which encoded splits share.
    pub fn stratified(&self, n: usize, seed: u64, purpose: &str) -> Result<(Split, Split)> {
        let (sample, rest) = stratified_indices(&self.labels, n, seed, purpose)?;
        Ok((self.select(&sample), self.select(&rest)))
    }

    /// Images per class, for `classes` classes.
    #[must_use]
    pub fn histogram(&self, classes: usize) -> Vec<usize> {
        label_histogram(&self.labels, classes)
    }

    /// Per-channel mean and standard deviation of the pixels scaled to [0, 1].
    #[must_use]
    pub fn channel_stats(&self) -> Vec<(f64, f64)> {
        let [c, h, w] = self.chw;
        let plane = h * w;
        (0..c)
            .map(|ch| {
                let (mut sum, mut sq) = (0u64, 0u64);
                for i in 0..self.len() {
                    for &p in &self.image(i)[ch * plane..(ch + 1) * plane] {
                        sum += u64::from(p);
                        sq += u64::from(p) * u64::from(p);
                    }
                }
                let count = (self.len() * plane).max(1) as f64;
                let mean = sum as f64 / count / 255.0;
                let var = (sq as f64 / count / (255.0 * 255.0) - mean * mean).max(0.0);
                (mean, var.sqrt())
            })
            .collect()
    }
}

/// Images per class of `labels`, for `classes` classes (labels beyond them are not counted).
pub(crate) fn label_histogram(labels: &[u16], classes: usize) -> Vec<usize> {
    let mut h = vec![0; classes];
    for &l in labels {
        if let Some(slot) = h.get_mut(l as usize) {
            *slot += 1;
        }
    }
    h
}

/// The seeded, stratified pick of `n` of the images labelled `labels`: `(sample, rest)` as indices, each in
/// ascending order. Each class gives its share of `n` (largest remainders break ties by class index); which
/// images of a class are picked depends only on `seed`, `purpose` and the class's members.
pub(crate) fn stratified_indices(
    labels: &[u16],
    n: usize,
    seed: u64,
    purpose: &str,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if n > labels.len() {
        return Err(DataError::Invalid(format!("cannot take {n} images from a split of {}", labels.len())));
    }
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let total = labels.len() as f64;
    let exact: Vec<f64> = by_class.iter().map(|v| n as f64 * v.len() as f64 / total).collect();
    let mut take: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut order: Vec<usize> = (0..classes).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    let missing = n - take.iter().sum::<usize>();
    for &c in order.iter().take(missing) {
        take[c] += 1;
    }
    let mut picked = vec![false; labels.len()];
    for (c, members) in by_class.iter_mut().enumerate() {
        let mut rng = SampleRng::new(Key::new(seed).with_str(purpose).with(c as u64));
        rng.shuffle(members);
        for &i in members.iter().take(take[c]) {
            picked[i] = true;
        }
    }
    Ok((0..labels.len()).partition(|&i| picked[i]))
}

#[cfg(test)]
mod tests {
    use super::Split;

    fn toy() -> Split {
        // 3 classes with 10, 20, 30 images; pixel value = index.
        let labels: Vec<u16> = (0..60)
            .map(|i| {
                if i < 10 {
                    0
                } else if i < 30 {
                    1
                } else {
                    2
                }
            })
            .collect();
        Split { images: (0..60).map(|i| i as u8).collect(), labels, chw: [1, 1, 1], coarse_labels: None }
    }

    #[test]
    fn stratified_keeps_class_shares_and_is_seeded() {
        let s = toy();
        let (val, rest) = s.stratified(12, 5, "val").unwrap();
        assert_eq!(val.histogram(3), vec![2, 4, 6]);
        assert_eq!(rest.len(), 48);
        assert_eq!(s.stratified(12, 5, "val").unwrap().0, val, "same seed, same pick");
        assert_ne!(s.stratified(12, 6, "val").unwrap().0, val, "other seed, other pick");
        let mut all: Vec<u8> = val.images.iter().chain(&rest.images).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..60).collect::<Vec<u8>>(), "a partition");
    }

    #[test]
    fn stratified_edge_sizes() {
        let s = toy();
        assert_eq!(s.stratified(0, 1, "val").unwrap().0.len(), 0);
        assert_eq!(s.stratified(60, 1, "val").unwrap().1.len(), 0);
        assert_eq!(s.stratified(7, 1, "val").unwrap().0.len(), 7);
        assert!(s.stratified(61, 1, "val").is_err());
    }

    #[test]
    fn stats_of_known_pixels() {
        let s = Split { images: vec![0, 255, 0, 255], labels: vec![0, 1], chw: [1, 1, 2], coarse_labels: None };
        let (m, sd) = s.channel_stats()[0];
        assert!((m - 0.5).abs() < 1e-12 && (sd - 0.5).abs() < 1e-12);
    }
}
