//! `read_nrrd_bytes` (attached NRRD from memory) and `parse_nrrd_header` on arbitrary bytes.
//! Invariants: no panic; errors are `ERR_FORMAT` or `ERR_UNSUPPORTED` (never `ERR_IO` for
//! in-memory input); on Ok the shape has 1..=16 axes >= 1, the data length is the product of
//! the shape, the affine is finite with a `0 0 0 1` last row, the spacing has `min(3, ndim)`
//! finite positive entries; and the volume written back by `write_nrrd_bytes` (raw and gzip)
//! reads back with the same shape, affine and bit-identical data (or, for a singular affine,
//! the writer refuses it with `ERR_SETTING`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxelkit_core::{Code, Result};
use voxelkit_io::{
    parse_nrrd_header, read_nrrd_bytes, write_nrrd_bytes, NrrdOptions, VolumeData, VolumeFile,
};

fn check(r: &Result<VolumeFile>, what: &str) {
    match r {
        Ok(v) => {
            assert!(
                (1..=16).contains(&v.shape.len()),
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
                "{what}: affine {:?}",
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

fn same_data(a: &VolumeData, b: &VolumeData) -> bool {
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

fuzz_target!(|data: &[u8]| {
    // Keep the decoded size small so that one input cannot spend the run on allocation.
    let opts = NrrdOptions { max_bytes: 1 << 24 };
    let _ = parse_nrrd_header(data, true);
    let r = read_nrrd_bytes(data, &opts);
    check(&r, "read");
    if let Ok(v) = r {
        for gz in [false, true] {
            let bytes = match write_nrrd_bytes(&v, gz) {
                Ok(b) => b,
                // collinear directions give a singular affine, which the writer refuses
                Err(e) => {
                    assert_eq!(e.code, Code::Setting, "write: {}", e.message);
                    return;
                }
            };
            let back = read_nrrd_bytes(&bytes, &opts).expect("what we wrote reads back");
            assert_eq!(back.shape, v.shape, "round trip shape");
            assert_eq!(back.affine, v.affine, "round trip affine");
            assert!(same_data(&back.data, &v.data), "round trip data");
        }
    }
});
