//! `read_nifti_bytes` on arbitrary bytes, then on the same bytes gzip-wrapped (one member, and
//! split into two members), so that the raw reader, the gzip sniffing, `MultiGzDecoder` and the
//! decompressed-size bounds are all exercised. Invariants: no panic; errors are `ERR_FORMAT` or
//! `ERR_UNSUPPORTED` (never `ERR_IO` for in-memory input); on Ok the data length is the product
//! of the shape, the shape has 1..=7 axes >= 1, the affine is finite with a `0 0 0 1` last row,
//! the spacing is finite and positive; and raw and gzip-wrapped inputs give the same result.
#![no_main]

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use libfuzzer_sys::fuzz_target;
use voxelkit_core::{Code, Result};
use voxelkit_io::{read_nifti_bytes, NiftiOptions, VolumeData, VolumeFile};

fn gzip(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(p).unwrap();
        out.extend_from_slice(&e.finish().unwrap());
    }
    out
}

fn check(r: &Result<VolumeFile>, what: &str) {
    match r {
        Ok(v) => {
            assert!(
                (1..=7).contains(&v.shape.len()),
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

fn same(a: &Result<VolumeFile>, b: &Result<VolumeFile>, what: &str) {
    match (a, b) {
        (Ok(x), Ok(y)) => {
            assert_eq!(x.shape, y.shape, "{what}: shape");
            assert_eq!(x.affine, y.affine, "{what}: affine");
            assert_eq!(x.spacing, y.spacing, "{what}: spacing");
            assert!(same_data(&x.data, &y.data), "{what}: data differ");
        }
        (Err(x), Err(y)) => assert_eq!(x.code, y.code, "{what}: {} vs {}", x.message, y.message),
        (x, y) => panic!(
            "{what}: raw gives {:?}, gzip gives {:?}",
            x.as_ref().map(|v| &v.shape),
            y.as_ref().map(|v| &v.shape)
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let opts = NiftiOptions::default();
    let raw = read_nifti_bytes(data, &opts);
    check(&raw, "raw");
    // Input that is itself gzip is decoded by the raw call; wrapping it again would only test
    // that "1f 8b" is not a NIfTI sizeof_hdr.
    if data.len() >= 2 && data[0] == 0x1f && data[1] == 0x8b {
        return;
    }
    let gz = read_nifti_bytes(&gzip(&[data]), &opts);
    check(&gz, "gzip");
    same(&raw, &gz, "raw vs gzip");
    if data.len() >= 2 {
        // Two members (pigz / bgzip style), split at a data-dependent point.
        let cut = 1 + (data[data.len() - 1] as usize * 7919) % (data.len() - 1);
        let gz2 = read_nifti_bytes(&gzip(&[&data[..cut], &data[cut..]]), &opts);
        check(&gz2, "gzip, two members");
        same(&raw, &gz2, "raw vs two-member gzip");
    }
});
