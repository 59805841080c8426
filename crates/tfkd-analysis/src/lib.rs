//! Analysis without libtorch: the KD ⇄ LSR relation on soft targets, calibration, and statistics over seeds.
//!
//! * [`calibration`]: expected calibration error, NLL, confidence, entropy and agreement with a teacher.
//! * [`soft`]: entropy and KL-to-uniform of a teacher's softened outputs as the temperature grows
//!   (KD → LSR as T → ∞), the virtual teacher of Tf-KD_reg in both variants, and LSR's target.
//! * [`stats`]: mean, sample sd, 95% confidence intervals, paired differences, and the verdict rule
//!   applied to every claim of every table cell.

pub mod calibration;
pub mod soft;
pub mod stats;
