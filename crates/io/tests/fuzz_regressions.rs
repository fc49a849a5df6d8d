//! Regression tests from fuzzing the NIfTI, NRRD and bval/bvec parsers (see `fuzz/README.md`).
//!
//! Every crash, timeout or out-of-memory input that `cargo fuzz` finds is minimised and added
//! here with the input inlined as bytes. The campaigns so far (listed in `fuzz/README.md`)
//! found none, so this file holds hostile inputs that the fuzz targets' invariants rely on and
//! that `tests/nifti.rs` / `tests/bvals.rs` do not already cover.

mod common;

use common::{gzip, Spec};
use voxelkit_core::Code;
use voxelkit_io::{
    parse_bvals_bvecs, read_nifti_bytes, read_nrrd_bytes, write_nrrd_bytes, NiftiOptions,
    NrrdOptions, VolumeData, VolumeFile,
};

fn opts() -> NiftiOptions {
    NiftiOptions::default()
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

// ---------------------------------------------------------------------------------------------
// NRRD (`nrrd_read` target; its campaigns found nothing: these are the inputs its invariants
// lean on hardest)

fn nrrd(bytes: &[u8]) -> voxelkit_core::Result<VolumeFile> {
    read_nrrd_bytes(bytes, &NrrdOptions { max_bytes: 1 << 24 })
}

/// A header that never ends (no empty line within the 4 MiB cap) is refused without scanning
/// further, and a text header of comments followed by binary bytes is not decoded as a header.
#[test]
fn nrrd_header_without_end_or_with_binary_lines() {
    let mut b = b"NRRD0004\n".to_vec();
    while b.len() < (5 << 20) {
        b.extend_from_slice(b"# a comment line that goes on\n");
    }
    let t = std::time::Instant::now();
    assert_eq!(nrrd(&b).unwrap_err().code, Code::Format);
    assert!(t.elapsed().as_secs_f64() < 2.0);
    let mut b = b"NRRD0004\ntype: uchar\n".to_vec();
    b.extend_from_slice(&[0x80, 0xff, b'\n', b'\n']);
    assert_eq!(nrrd(&b).unwrap_err().code, Code::Format);
}

/// Text encodings promise at most one value per two bytes: sizes beyond that are refused before
/// allocating, a token without whitespace is read in bounded pieces, and hex needs two digits
/// per byte.
#[test]
fn nrrd_text_encodings_are_bounded_by_their_bytes() {
    let h = |enc: &str, sizes: &str| {
        format!("NRRD0004\ntype: double\ndimension: 1\nsizes: {sizes}\nendian: big\nencoding: {enc}\n\n")
    };
    let mut b = h("ascii", "1000000000").into_bytes();
    b.extend_from_slice(b"1 2 3\n");
    assert_eq!(nrrd(&b).unwrap_err().code, Code::Format);
    let mut b = h("ascii", "3").into_bytes();
    b.extend(std::iter::repeat_n(b'7', 100_000));
    assert_eq!(nrrd(&b).unwrap_err().code, Code::Format);
    let mut b = h("hex", "2").into_bytes();
    b.extend_from_slice(b"3ff0000000000000 400000000000000\n");
    assert_eq!(nrrd(&b).unwrap_err().code, Code::Format);
    let mut b = h("hex", "2").into_bytes();
    b.extend_from_slice(b"3ff0000000000000\n4000 0000 0000 0000\n");
    let v = nrrd(&b).unwrap();
    check_invariants(&v);
    assert_eq!(v.data, VolumeData::F64(vec![1.0, 2.0]));
}

/// A gzip byte skip counts decompressed bytes: past the end of the stream it is `ERR_FORMAT`;
/// and a gzip stream whose promise exceeds `max_bytes` is refused before decoding.
#[test]
fn nrrd_gzip_byte_skip_and_limits() {
    let head = |skip: usize, sizes: &str| {
        format!(
            "NRRD0004\ntype: uchar\ndimension: 1\nsizes: {sizes}\nencoding: gzip\nbyte skip: {skip}\n\n"
        )
        .into_bytes()
    };
    let mut b = head(3, "4");
    b.extend(gzip(b"abc\x01\x02\x03\x04"));
    assert_eq!(nrrd(&b).unwrap().data, VolumeData::U8(vec![1, 2, 3, 4]));
    let mut b = head(30, "4");
    b.extend(gzip(b"abc\x01\x02\x03\x04"));
    assert_eq!(nrrd(&b).unwrap_err().code, Code::Format);
    let mut b = head(0, "20000000");
    b.extend(gzip(&vec![0u8; 1 << 16]));
    let e = nrrd(&b).unwrap_err();
    assert_eq!(e.code, Code::Format);
    assert!(e.message.contains("max_bytes"), "{e}");
}

/// What the target checks on every accepted input: a volume read from an unusual layout (RAS,
/// two spatial axes and a leading vector axis, a time space) writes and reads back identically.
#[test]
fn nrrd_unusual_layouts_round_trip_through_the_writer() {
    let files: [&[u8]; 3] = [
        b"NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 3 2\nspace: RAS\nspace directions: none (0,2,0) (-1.5,0,0.5)\nkinds: vector domain domain\nencoding: raw\n\n012345678901",
        b"NRRD0004\ntype: uchar\ndimension: 2\nsizes: 3 2\nspace: right-anterior-superior-time\nspace directions: (1,0,0,0) (0,0,0,2)\nspace origin: (1,2,3,4)\nencoding: raw\n\n012345",
        b"NRRD0004\ntype: uchar\ndimension: 1\nsizes: 3\nspacings: nan\nencoding: raw\n\n012",
    ];
    for f in files {
        let v = nrrd(f).unwrap();
        check_invariants(&v);
        let back = nrrd(&write_nrrd_bytes(&v, false).unwrap()).unwrap();
        assert_eq!(back.shape, v.shape);
        assert_eq!(back.affine, v.affine);
        assert_eq!(back.data, v.data);
    }
}

/// crash-d1a521db (nrrd_read, 2026-12-06, the first finding of the 10^7-execution campaign):
/// a `space directions` value with a 2-byte UTF-8 character straddling byte 4 made the `none`
/// test slice the string inside a char (a panic). Now a format error; `none` still parses.
#[test]
fn nrrd_space_directions_with_multibyte_text_is_a_format_error() {
    let h = |dirs: &str| {
        let mut b = format!(
            "NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\n\
             space directions: {dirs}\nsizes: 2 3 2\nencoding: raw\nendian: big\n\n"
        )
        .into_bytes();
        b.extend(std::iter::repeat_n(0u8, 24));
        b
    };
    for dirs in [
        "(0.\u{27e}1249,0 )99 (1,0,0)",
        "non\u{27e}",
        "\u{27e}\u{27e}",
        "(1,0,0) no\u{e9}e (0,0,1)",
    ] {
        let e = nrrd(&h(dirs)).unwrap_err();
        assert_eq!(e.code, Code::Format, "{dirs}: {}", e.message);
    }
    let v = nrrd(&h("(1,0,0) (0,1,0) (0,0,1)")).unwrap();
    assert_eq!(v.shape, vec![2, 3, 2]);
    // the minimised fuzz input itself
    let mut b = b"NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nspace directions: (0.".to_vec();
    b.extend_from_slice(&[0xc9, 0xbe]);
    b.extend_from_slice(
        b"12499999999999989,0 )99.60937499\nsizes: 2 3 2\nencoding: raw\nendian: big\n\n",
    );
    b.extend(std::iter::repeat_n(0u8, 24));
    assert_eq!(nrrd(&b).unwrap_err().code, Code::Format);
}
