//! The same augmentations as [`crate::augment`], as batched tensor ops on any tch device.
//!
//! The whole split lives on the device as u8; a batch is gathered, cropped (pad + gather),
//! flipped (`where`) and rotated (gathers through the CPU path's sampling maps) there. The random
//! draws and the rotation maps are the CPU path's, so both paths give the same pixels (tested).

use tch::{Device, Kind, Tensor};

use crate::{
    augment::{rotation_map, Augment, Draw, Interpolation, Normalize, RotationMap},
    error::{DataError, Result},
    split::Split,
};

/// Copies a small per-batch host tensor (indices, draws) to `device` without waiting for the device: from
/// pageable memory the bytes are staged at once, so the copy is queued behind the running work instead of
/// draining the queue first, as a blocking copy would.
fn upload(t: Tensor, device: Device) -> tch::Result<Tensor> {
    t.f_to_device_(device, t.kind(), true, false)
}

/// A split resident on a device as u8 N×C×H×W, plus labels.
#[derive(Debug)]
pub struct DeviceSplit {
    images: Tensor,
    labels: Tensor,
    chw: [usize; 3],
}

impl DeviceSplit {
    /// Copies `split` to `device`.
    pub fn new(split: &Split, device: Device) -> Result<Self> {
        let [c, h, w] = split.chw.map(|d| d as i64);
        let images = Tensor::f_from_slice(&split.images)?.f_view([split.len() as i64, c, h, w])?.f_to_device(device)?;
        let labels: Vec<i64> = split.labels.iter().map(|&l| i64::from(l)).collect();
        Ok(DeviceSplit { images, labels: Tensor::f_from_slice(&labels)?.f_to_device(device)?, chw: split.chw })
    }

    /// The augmented, normalised batch of the samples at `indices` in `epoch` (N×C×H×W f32) and their labels.
    pub fn batch(
        &self,
        indices: &[usize],
        augment: &Augment,
        seed: u64,
        epoch: u64,
        norm: &Normalize,
    ) -> Result<(Tensor, Tensor)> {
        let device = self.images.device();
        let idx = upload(Tensor::f_from_slice(&indices.iter().map(|&i| i as i64).collect::<Vec<_>>())?, device)?;
        let mut x = self.images.f_index_select(0, &idx)?.f_to_kind(Kind::Float)?;
        let draws: Vec<Vec<Draw>> =
            indices.iter().map(|&i| crate::augment::draws(augment, seed, epoch, i as u64)).collect();
        for (op, _) in augment.ops.iter().enumerate() {
            let column: Vec<Draw> = draws.iter().map(|d| d[op]).collect();
            x = match column[0] {
                Draw::Crop { padding, .. } => crop(&x, &column, padding as i64)?,
                Draw::Flip(_) => {
                    let mask: Vec<bool> = column.iter().map(|d| matches!(d, Draw::Flip(true))).collect();
                    let mask = upload(Tensor::f_from_slice(&mask)?, device)?.f_view([-1, 1, 1, 1])?;
                    x.f_flip([3])?.f_where_self(&mask, &x)?
                }
                Draw::Rotate(_) => {
                    let angles: Vec<f64> =
                        column.iter().map(|d| if let Draw::Rotate(a) = d { *a } else { 0.0 }).collect();
                    rotate(&x, &angles, augment.interpolation)?
                }
            };
        }
        let labels = self.labels.f_index_select(0, &idx)?;
        Ok((normalize(&x, norm, self.chw[0])?, labels))
    }
}

fn crop(x: &Tensor, draws: &[Draw], padding: i64) -> Result<Tensor> {
    let (n, c, h, w) = x.size4()?;
    let device = x.device();
    let (tops, lefts): (Vec<i64>, Vec<i64>) = draws
        .iter()
        .map(|d| if let Draw::Crop { top, left, .. } = d { (*top as i64, *left as i64) } else { (padding, padding) })
        .unzip();
    let padded = x.f_constant_pad_nd([padding, padding, padding, padding])?;
    let opts = (Kind::Int64, device);
    let rows = upload(Tensor::f_from_slice(&tops)?, device)?
        .f_view([n, 1])?
        .f_add(&Tensor::f_arange(h, opts)?.f_view([1, h])?)?;
    let cols = upload(Tensor::f_from_slice(&lefts)?, device)?
        .f_view([n, 1])?
        .f_add(&Tensor::f_arange(w, opts)?.f_view([1, w])?)?;
    let wp = w + 2 * padding;
    let rows_idx = rows.f_view([n, 1, h, 1])?.f_expand([n, c, h, wp], false)?;
    let picked_rows = padded.f_gather(2, &rows_idx, false)?;
    let cols_idx = cols.f_view([n, 1, 1, w])?.f_expand([n, c, h, w], false)?;
    Ok(picked_rows.f_gather(3, &cols_idx, false)?)
}

/// Rotation through the CPU path's sampling maps ([`rotation_map`]): the four neighbours of every output
/// pixel are gathered and blended in f64 exactly as [`blend`] does (a nearest map is a blend with zero
/// weights), so both paths give Pillow's pixels.
fn rotate(x: &Tensor, angles: &[f64], interpolation: Interpolation) -> Result<Tensor> {
    let (n, c, h, w) = x.size4()?;
    let hw = (h * w) as usize;
    let mut idx = vec![vec![0i64; angles.len() * hw]; 4];
    let (mut dx, mut dy, mut inside) =
        (vec![0f64; angles.len() * hw], vec![0f64; angles.len() * hw], vec![0f64; angles.len() * hw]);
    for (i, &angle) in angles.iter().enumerate() {
        match rotation_map(h as usize, w as usize, angle, interpolation) {
            RotationMap::Nearest(map) => {
                for (p, s) in map.into_iter().enumerate() {
                    if let Some(s) = s {
                        for k in &mut idx {
                            k[i * hw + p] = i64::from(s);
                        }
                        inside[i * hw + p] = 1.0;
                    }
                }
            }
            RotationMap::Bilinear(map) => {
                for (p, m) in map.into_iter().enumerate() {
                    if let Some((nb, ddx, ddy)) = m {
                        for (k, s) in idx.iter_mut().zip(nb) {
                            k[i * hw + p] = i64::from(s);
                        }
                        (dx[i * hw + p], dy[i * hw + p], inside[i * hw + p]) = (ddx, ddy, 1.0);
                    }
                }
            }
        }
    }
    let device = x.device();
    let field = |v: &[f64]| -> Result<Tensor> { Ok(upload(Tensor::f_from_slice(v)?, device)?.f_view([n, 1, h * w])?) };
    let xd = x.f_to_kind(Kind::Double)?.f_view([n, c, h * w])?;
    let gather = |k: &[i64]| -> Result<Tensor> {
        let index = upload(Tensor::f_from_slice(k)?, device)?.f_view([n, 1, h * w])?.f_expand([n, c, h * w], false)?;
        Ok(xd.f_gather(2, &index, false)?)
    };
    let [p00, p01, p10, p11] = [gather(&idx[0])?, gather(&idx[1])?, gather(&idx[2])?, gather(&idx[3])?];
    let (dx, dy, inside) = (field(&dx)?, field(&dy)?, field(&inside)?);
    let top = (&p01 - &p00).f_mul(&dx)?.f_add(&p00)?;
    let bottom = (&p11 - &p10).f_mul(&dx)?.f_add(&p10)?;
    let v = (&bottom - &top).f_mul(&dy)?.f_add(&top)?.f_trunc()?.f_mul(&inside)?;
    Ok(v.f_to_kind(x.kind())?.f_view([n, c, h, w])?)
}

/// `(x/255 − mean)/std` per channel.
pub(crate) fn normalize(x: &Tensor, norm: &Normalize, channels: usize) -> Result<Tensor> {
    if norm.mean.len() != channels || norm.std.len() != channels {
        return Err(DataError::Invalid(format!(
            "normalisation has {} means and {} stds for {channels}-channel images",
            norm.mean.len(),
            norm.std.len()
        )));
    }
    let device = x.device();
    let mean = upload(Tensor::f_from_slice(&norm.mean)?, device)?.f_view([1, -1, 1, 1])?;
    let std = upload(Tensor::f_from_slice(&norm.std)?, device)?.f_view([1, -1, 1, 1])?;
    Ok(x.f_div_scalar(255.0)?.f_sub(&mean)?.f_div(&std)?)
}
