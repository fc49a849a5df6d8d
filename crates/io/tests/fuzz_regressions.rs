//! Regression tests from fuzzing the NIfTI and bval/bvec parsers (see `fuzz/README.md`).
//!
//! Every crash, timeout or out-of-memory input that `cargo fuzz` finds is minimised and added
//! here with the input inlined as bytes. The campaigns so far (listed in `fuzz/README.md`)
//! found none, so this file holds hostile inputs that the fuzz targets' invariants rely on and
//! that `tests/nifti.rs` / `tests/bvals.rs` do not already cover.

mod common;

use std::io::Write;

use common::Spec;
use voxelkit_core::Code;
use voxelkit_io::{parse_bvals_bvecs, read_nifti_bytes, NiftiOptions, VolumeData, VolumeFile};

fn opts() -> NiftiOptions {
    NiftiOptions::default()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The invariants every fuzz target checks on `Ok`.
fn check_invariants(v: &VolumeFile) {
    assert_eq!(v.data.len(), v.shape.iter().product::<usize>());
    assert!(v.affine.iter().all(|x| x.is_finite()), "{:?}", v.affine);
    assert_eq!(v.affine[12..], [0.0, 0.0, 0.0, 1.0]);
    assert!(v.spacing.iter().all(|s| s.is_finite() && *s > 0.0));
}

/// NIfTI-2 stores `vox_offset` as an int64: values past 2^53 (where the reader's f64 stops
/// being exact) and negative values must be rejected, not wrapped or truncated.
#[test]
fn nifti2_vox_offset_beyond_2_pow_53_or_negative_is_format_error() {
    for off in [i64::MAX, (1i64 << 53) + 2, i64::MIN, -544] {
        let mut s = Spec::new(2, &[2, 2], 2);
        s.vox_offset = off as f64;
        let file = s.file(&[1, 2, 3, 4]);
        assert_eq!(
            i64::from_le_bytes(file[168..176].try_into().unwrap()),
            off,
            "the header holds the intended int64"
        );
        for bytes in [file.clone(), gzip(&file)] {
            let e = read_nifti_bytes(&bytes, &opts()).unwrap_err();
            assert_eq!(e.code, Code::Format, "vox_offset {off}: {e}");
            assert!(e.message.contains("vox_offset"), "{e}");
        }
    }
}

/// Bytes after the voxel data: ignored in a raw file (as nibabel), and in a gzip stream as
/// long as they decompress cleanly, within or beyond the 64 KiB the reader peeks at to verify
/// the trailer; a gzip member followed by bytes that are not another member (garbage, or the
/// zero padding some tape/transfer tools add) is `ERR_FORMAT`.
#[test]
fn bytes_after_the_voxel_data_raw_and_gzip() {
    let s = Spec::new(1, &[2, 2], 2);
    let want = VolumeData::U8(vec![1, 2, 3, 4]);
    for extra in [0usize, 10, 64 << 10, 100 << 10] {
        let mut file = s.file(&[1, 2, 3, 4]);
        file.extend_from_slice(&vec![0xabu8; extra]);
        for bytes in [file.clone(), gzip(&file)] {
            let v = read_nifti_bytes(&bytes, &opts()).unwrap();
            check_invariants(&v);
            assert_eq!(v.data, want, "{extra} trailing bytes");
        }
    }
    let z = gzip(&s.file(&[1, 2, 3, 4]));
    for tail in [
        &b"garbage!"[..],
        &[0u8; 512][..],
        &[0x1f][..],
        &[0x1f, 0x8b][..],
    ] {
        let mut bytes = z.clone();
        bytes.extend_from_slice(tail);
        let e = read_nifti_bytes(&bytes, &opts()).unwrap_err();
        assert_eq!(e.code, Code::Format, "tail {tail:?}: {e}");
    }
    // An empty second member is a valid (pigz-style) stream.
    let mut bytes = z.clone();
    bytes.extend_from_slice(&gzip(b""));
    assert_eq!(read_nifti_bytes(&bytes, &opts()).unwrap().data, want);
}

/// Finite but extreme header floats: the quaternion's b² overflows to infinity (qform
/// skipped), the sform holds an infinity (skipped) and `pixdim[1] = f64::MAX` makes the base
/// affine's origin `-(4 - 1) / 2 * MAX` overflow, so the reader falls back to the identity:
/// the affine stays finite, as the fuzz targets assert.
#[test]
fn extreme_nifti2_header_floats_keep_the_affine_finite() {
    let mut s = Spec::new(2, &[4, 1, 1], 2);
    s.pixdim[1] = f64::MAX;
    s.qform_code = 1;
    s.quatern = [1e200, 0.0, 0.0];
    s.sform_code = 1;
    s.srow = [
        [1.0, 0.0, 0.0, f64::INFINITY],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ];
    let file = s.file(&[9, 8, 7, 6]);
    for bytes in [file.clone(), gzip(&file)] {
        let v = read_nifti_bytes(&bytes, &opts()).unwrap();
        check_invariants(&v);
        let mut id = [0.0; 16];
        for i in 0..4 {
            id[i * 5] = 1.0;
        }
        assert_eq!(v.affine, id);
        assert_eq!(v.spacing, [f64::MAX, 1.0, 1.0]);
        assert_eq!(v.data, VolumeData::U8(vec![9, 8, 7, 6]));
    }
}

/// bval/bvec tokens at the edges of number syntax: any Unicode whitespace separates (the
/// parser splits on `char::is_whitespace`; pinned here so a change is deliberate), an exponent beyond f64 is infinity (not an error), and lone signs, dots,
/// bare exponents, doubled signs and hex are `ERR_FORMAT`.
#[test]
fn bval_bvec_token_edge_cases() {
    let g = parse_bvals_bvecs("0\u{3000}1e999", "1 0 0\n0\u{a0}1 -1e-999").unwrap();
    assert_eq!(g.bvals, [0.0, f64::INFINITY]);
    assert_eq!(g.bvecs, [[1.0, 0.0, 0.0], [0.0, 1.0, -0.0]]);
    for bad in ["-", "+", ".", "1e", "e5", "--1", "0x10", "1.2.3"] {
        let e = parse_bvals_bvecs(&format!("0 {bad}"), "1 0 0\n0 1 0").unwrap_err();
        assert_eq!(e.code, Code::Format, "{bad:?}: {e}");
        assert!(e.message.contains(bad), "names the token: {e}");
    }
}
