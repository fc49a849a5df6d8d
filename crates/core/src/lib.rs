//! voxelkit-core: the pieces every kernel crate shares.
//!
//! * [`Error`]: a coded error (`ERR_SHAPE`, `ERR_DTYPE`, …) that the binding maps to a JS
//!   `VoxelkitError` with the same `code`.
//! * [`Control`]: cancellation flag and progress counters shared between a running kernel and
//!   its caller (checked between tiles).
//! * [`par`]: thread-pool selection and deterministic tiling over voxels.
//! * [`fnv`]: FNV-1a digests of output bits (the bit-identity examples).
//! * [`rng`]: a small seeded generator for simulations and tests (reproducible everywhere).
//! * [`voxels`]: the element types voxelkit handles ([`Dtype`], borrowed [`Voxels`], owned
//!   [`VoxelBuf`]) and the one dispatch macro [`with_samples!`].

pub mod error;
pub mod fnv;
pub mod par;
pub mod rng;
pub mod sample;
pub mod vmath;
pub mod voxels;

pub use error::{Code, Error, Result};
pub use par::{Control, TILE};
pub use sample::Sample;
pub use voxels::{Dtype, VoxelBuf, Voxels};
