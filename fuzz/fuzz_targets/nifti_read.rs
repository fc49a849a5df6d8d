//! `read_nifti_bytes` on arbitrary bytes, then on the same bytes gzip-wrapped (one member, and
//! split into two members), so that the raw reader, the gzip sniffing, `MultiGzDecoder` and the
//! decompressed-size bounds are all exercised. Invariants: no panic; errors are `ERR_FORMAT` or
//! `ERR_UNSUPPORTED` (never `ERR_IO` for in-memory input); on Ok the data length is the product
//! of the shape, the shape has 1..=7 axes >= 1, the affine is finite with a `0 0 0 1` last row,
//! the spacing is finite and positive; and raw and gzip-wrapped inputs give the same result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxelkit_core::Result;
use voxelkit_io::{read_nifti_bytes, NiftiOptions, VolumeFile};

mod common;
use common::{check, gzip, one_in_16, same_data};

/// NIfTI-1 and NIfTI-2 hold 1 to 7 dimensions.
const MAX_AXES: usize = 7;

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
    check(&raw, MAX_AXES, "raw");
    // Input that is itself gzip is decoded by the raw call; wrapping it again would only test
    // that "1f 8b" is not a NIfTI sizeof_hdr.
    if data.len() >= 2 && data[0] == 0x1f && data[1] == 0x8b {
        return;
    }
    let real = one_in_16(data);
    let gz = read_nifti_bytes(&gzip(&[data], real), &opts);
    check(&gz, MAX_AXES, "gzip");
    same(&raw, &gz, "raw vs gzip");
    if data.len() >= 2 {
        // Two members (pigz / bgzip style), split at a data-dependent point.
        let cut = 1 + (data[data.len() - 1] as usize * 7919) % (data.len() - 1);
        let gz2 = read_nifti_bytes(&gzip(&[&data[..cut], &data[cut..]], real), &opts);
        check(&gz2, MAX_AXES, "gzip, two members");
        same(&raw, &gz2, "raw vs two-member gzip");
    }
});
