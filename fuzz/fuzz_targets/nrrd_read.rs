//! `read_nrrd_bytes` (attached NRRD from memory) and `parse_nrrd_header` on arbitrary bytes.
//! Invariants: no panic; errors are `ERR_FORMAT` or `ERR_UNSUPPORTED` (never `ERR_IO` for
//! in-memory input); on Ok the shape has 1..=16 axes >= 1, the data length is the product of
//! the shape, the affine is finite with a `0 0 0 1` last row, the spacing has `min(3, ndim)`
//! finite positive entries; and the volume written back by `write_nrrd_bytes` (raw and gzip)
//! reads back with the same shape, affine and bit-identical data (or, for a singular affine,
//! the writer refuses it with `ERR_SETTING`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxelkit_core::Code;
use voxelkit_io::{parse_nrrd_header, read_nrrd_bytes, write_nrrd_bytes, NrrdOptions};

mod common;
use common::{check, one_in_16, same_data};

/// NRRD holds 1 to 16 axes.
const MAX_AXES: usize = 16;

fuzz_target!(|data: &[u8]| {
    // Keep the decoded size small so that one input cannot spend the run on allocation.
    // 1 MiB of decoded data at most: enough for every header and encoding path, and it keeps
    // executions fast (a 16 MiB cap let inputs that claim huge sizes decode for milliseconds).
    // The cap itself is tested in crates/io/tests/nrrd.rs (max_bytes_applies_before_reading).
    let opts = NrrdOptions { max_bytes: 1 << 20 };
    let _ = parse_nrrd_header(data, true);
    let r = read_nrrd_bytes(data, &opts);
    check(&r, MAX_AXES, "read");
    if let Ok(v) = r {
        // The gzip write (a deflate compressor per call) for 1 input in 16; raw always.
        let encodings: &[bool] = if one_in_16(data) {
            &[false, true]
        } else {
            &[false]
        };
        for &gz in encodings {
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
