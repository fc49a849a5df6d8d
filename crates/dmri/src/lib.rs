//! voxelkit-dmri: diffusion MRI kernels with DIPY 1.12 semantics.
//!
//! * [`gradients`]: gradient tables (`gradient_table` validation and normalisation as DIPY does).
//! * [`fit`]: what every model fit shares, defined once: [`FitOptions`], [`FitStatus`], DIPY's
//!   constants, input checks, tile staging, CPU dispatch, and the generic driver [`fit_model`]
//!   that runs any [`FitModel`] (its docs say what a new model implements).
//! * [`dti`]: the diffusion tensor model (`TensorModel`): design matrix, OLS and two-pass WLS
//!   group fits ([`DtiModel`] implements [`FitModel`]).
//! * [`dki`], [`dki_maps`], [`dki_predict`]: the diffusion kurtosis model
//!   (`DiffusionKurtosisModel`): WLS/OLS group fits ([`DkiModel`] implements [`FitModel`]),
//!   MK/AK/RK/MKT/RTK/KFA, prediction; [`dki_cls`]: the constrained CLS/CWLS step
//!   (semidefinite programs solved by Clarabel).
//! * [`maps`]: scalar and colour maps of a fitted tensor (FA, MD, AD, RD, mode, GA, …).
//! * [`predict`]: signal prediction from fitted tensors.
//! * [`phantom`]: a synthetic DTI phantom with Rician noise (demo and tests).
//!
//! Layout conventions: a 4D series of `nvox` voxels and `n` volumes is stored volume-major,
//! `data[k * nvox + v]` (first axis fastest, as NIfTI). Multi-component outputs put the
//! component axis last: component `c` of voxel `v` is at `c * nvox + v`.

pub mod dki;
pub mod dki_cls;
pub mod dki_maps;
pub mod dki_predict;
pub mod dti;
pub mod dti_nlls;
pub mod dti_restore;
pub mod eig3;
pub mod fit;
pub mod gradients;
mod lanesolve;
pub mod maps;
pub mod phantom;
pub mod predict;

pub use dki::{fit_dki, DkiFit, DkiMethod, DkiModel, DkiOptions};
pub use dti::{fit_dti, DtiFit, DtiMethod, DtiModel, DtiOptions};
pub use fit::{fit_model, numpy_uses_simd_logf, FitModel, FitOptions, FitStatus, ModelFit};
pub use gradients::GradientTable;
