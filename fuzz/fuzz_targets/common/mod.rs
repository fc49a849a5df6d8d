//! What the volume-reader fuzz targets (`nifti_read`, `nrrd_read`) check alike.

use voxelkit_core::{Code, Result};
use voxelkit_io::{VolumeData, VolumeFile};

/// The invariants of a read: on Ok the shape has 1..=`max_axes` axes >= 1, the data length is
/// the product of the shape, the affine is finite with a `0 0 0 1` last row, the spacing has
/// `min(3, ndim)` finite positive entries; errors are `ERR_FORMAT` or `ERR_UNSUPPORTED` (never
/// `ERR_IO` for in-memory input).
pub fn check(r: &Result<VolumeFile>, max_axes: usize, what: &str) {
    match r {
        Ok(v) => {
            assert!(
                (1..=max_axes).contains(&v.shape.len()),
                "{what}: shape {:?}",
                v.shape
            );
            assert!(
                v.shape.iter().all(|&d| d >= 1),
                "{what}: shape {:?}",
                v.shape
            );
            let count = v
                .shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .expect("shape product overflows usize on Ok");
            assert_eq!(
                v.data.len(),
                count,
                "{what}: data length vs shape {:?}",
                v.shape
            );
            assert!(
                v.affine.iter().all(|x| x.is_finite()),
                "{what}: non-finite affine {:?}",
                v.affine
            );
            assert_eq!(
                v.affine[12..],
                [0.0, 0.0, 0.0, 1.0],
                "{what}: affine last row"
            );
            assert_eq!(
                v.spacing.len(),
                v.shape.len().min(3),
                "{what}: spacing length"
            );
            assert!(
                v.spacing.iter().all(|s| s.is_finite() && *s > 0.0),
                "{what}: spacing {:?}",
                v.spacing
            );
        }
        Err(e) => assert!(
            matches!(e.code, Code::Format | Code::Unsupported),
            "{what}: unexpected error code {:?}: {}",
            e.code,
            e.message
        ),
    }
}

/// Equality that treats NaN voxels with the same bits as equal.
pub fn same_data(a: &VolumeData, b: &VolumeData) -> bool {
    match (a, b) {
        (VolumeData::F32(x), VolumeData::F32(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        (VolumeData::F64(x), VolumeData::F64(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        _ => a == b,
    }
}
