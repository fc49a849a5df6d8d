//! NIfTI reading and writing: round trips, hand-built headers, nibabel reference values and
//! hostile input. Reference numbers come from nibabel 5.4.2 (numpy 2.4.6).

mod common;

use std::io::Write;

use common::{as_f64, assert_close, bytes_of, random_data, reference, scratch, Spec, CODES};
use voxelkit_core::rng::SplitMix64;
use voxelkit_core::Code;
use voxelkit_io::{
    parse_nifti_header, read_nifti, read_nifti_bytes, read_nifti_header, write_nifti,
    write_nifti_bytes, NiftiOptions, VolumeData, VolumeFile,
};

fn opts() -> NiftiOptions {
    NiftiOptions::default()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn err_code(r: voxelkit_core::Result<VolumeFile>) -> Code {
    match r {
        Ok(v) => panic!("expected an error, got a volume of shape {:?}", v.shape),
        Err(e) => {
            assert!(!e.message.is_empty());
            e.code
        }
    }
}

/// An oblique affine with a flip (negative determinant) and anisotropic zooms.
fn oblique_affine() -> [f64; 16] {
    let (s, c) = (0.3f64.sin(), 0.3f64.cos());
    [
        -1.5 * c,
        0.0,
        2.5 * s,
        12.0, //
        0.0,
        2.0,
        0.0,
        -30.5, //
        1.5 * s,
        0.0,
        2.5 * c,
        7.25, //
        0.0,
        0.0,
        0.0,
        1.0,
    ]
}

fn volume(shape: &[usize], code: i16, seed: u64) -> VolumeFile {
    let n = shape.iter().product();
    VolumeFile {
        shape: shape.to_vec(),
        spacing: vec![1.5, 2.0, 2.5],
        affine: oblique_affine(),
        data: random_data(code, n, seed),
    }
}

fn check_round_trip(orig: &VolumeFile, back: &VolumeFile) {
    assert_eq!(back.shape, orig.shape);
    assert_eq!(back.data.dtype(), orig.data.dtype());
    assert_eq!(back.data, orig.data);
    // sform stored as float32.
    assert_close(&back.affine, &orig.affine, 1e-6, "affine");
    let nsp = orig.shape.len().min(3);
    assert_close(&back.spacing, &orig.spacing[..nsp], 1e-6, "spacing");
}

// ---------------------------------------------------------------------------------------------
// Round trips

#[test]
fn round_trip_every_dtype_3d_and_4d_in_memory() {
    for (k, &code) in CODES.iter().enumerate() {
        for shape in [&[5usize, 4, 3][..], &[3, 4, 2, 6][..]] {
            let vol = volume(shape, code, 100 + k as u64);
            let bytes = write_nifti_bytes(&vol).unwrap();
            assert_eq!(bytes.len(), 352 + bytes_of(&vol.data, false).len());
            assert_eq!(&bytes[344..348], b"n+1\0");
            let back = read_nifti_bytes(&bytes, &opts()).unwrap();
            check_round_trip(&vol, &back);
            let h = parse_nifti_header(&bytes).unwrap();
            assert_eq!(
                (h.version, h.qform_code, h.sform_code, h.xyzt_units),
                (1, 1, 1, 2)
            );
            assert_eq!(h.vox_offset, 352.0);
            assert_eq!(h.datatype, code as i32);
            // The qform written alongside describes the same (shear-free) affine.
            assert_close(&h.qform().unwrap(), &vol.affine, 1e-6, "qform");
        }
    }
}

#[test]
fn round_trip_files_nii_and_nii_gz() {
    let dir = scratch("round_trip_files");
    for (k, &code) in CODES.iter().enumerate() {
        for shape in [&[6usize, 5, 4][..], &[4, 3, 5, 7][..]] {
            let vol = volume(shape, code, 200 + k as u64);
            for name in ["v.nii", "v.nii.gz", "V.NII.GZ"] {
                let p = dir.join(format!("{code}_{}_{name}", shape.len()));
                write_nifti(&p, &vol).unwrap();
                let raw = std::fs::read(&p).unwrap();
                let gz = name.to_ascii_lowercase().ends_with(".gz");
                assert_eq!(raw[..2] == [0x1f, 0x8b], gz, "{name}: gzip iff .gz");
                check_round_trip(&vol, &read_nifti(&p, &opts()).unwrap());
                assert_eq!(read_nifti_header(&p).unwrap().datatype, code as i32);
                // Same bytes from memory.
                check_round_trip(&vol, &read_nifti_bytes(&raw, &opts()).unwrap());
            }
        }
    }
}

#[test]
fn gzip_is_detected_by_magic_not_name() {
    let dir = scratch("gzip_by_magic");
    let vol = volume(&[4, 4, 4], 16, 7);
    let gz = dir.join("a.nii.gz");
    write_nifti(&gz, &vol).unwrap();
    let renamed = dir.join("a_really_gzip.nii");
    std::fs::rename(&gz, &renamed).unwrap();
    check_round_trip(&vol, &read_nifti(&renamed, &opts()).unwrap());
    let plain = dir.join("plain_named.nii.gz");
    std::fs::write(&plain, write_nifti_bytes(&vol).unwrap()).unwrap();
    check_round_trip(&vol, &read_nifti(&plain, &opts()).unwrap());
}

#[test]
fn multi_member_gzip_is_read() {
    let vol = volume(&[5, 4, 3], 4, 9);
    let bytes = write_nifti_bytes(&vol).unwrap();
    let mut two = gzip(&bytes[..200]);
    two.extend(gzip(&bytes[200..]));
    check_round_trip(&vol, &read_nifti_bytes(&two, &opts()).unwrap());
}

#[test]
fn round_trip_1d_2d_and_7d_keep_singletons() {
    for shape in [
        &[9usize][..],
        &[4, 1][..],
        &[2, 1, 3, 1, 2, 1, 1][..],
        &[3, 4, 1][..],
    ] {
        let vol = volume(shape, 64, 11);
        let back = read_nifti_bytes(&write_nifti_bytes(&vol).unwrap(), &opts()).unwrap();
        assert_eq!(back.shape, shape, "singleton axes are kept");
        check_round_trip(&vol, &back);
    }
}

#[test]
fn large_dimension_is_written_as_nifti2() {
    let vol = volume(&[40000, 2, 1], 2, 5);
    let bytes = write_nifti_bytes(&vol).unwrap();
    assert_eq!(i32::from_le_bytes(bytes[..4].try_into().unwrap()), 540);
    assert_eq!(&bytes[4..12], b"n+2\0\r\n\x1a\n");
    assert_eq!(bytes.len(), 544 + 80000);
    let h = parse_nifti_header(&bytes).unwrap();
    assert_eq!(
        (h.version, h.vox_offset, h.qform_code, h.sform_code),
        (2, 544.0, 1, 1)
    );
    assert_eq!(h.dim[..4], [3, 40000, 2, 1]);
    let back = read_nifti_bytes(&bytes, &opts()).unwrap();
    assert_eq!(back.shape, vol.shape);
    assert_eq!(back.data, vol.data);
    // NIfTI-2 stores the affine in float64.
    assert_close(&back.affine, &vol.affine, 1e-14, "affine");
}

#[test]
fn writer_qform_strips_shear_like_nibabel() {
    // values from nibabel 5.4.2: Nifti1Header.set_qform(A, code=1), then get_qform().
    let a = [
        -2.0, 0.3, 0.1, 10.0, 0.2, 3.0, -0.4, -20.0, 0.05, 0.5, 4.0, 5.0, 0.0, 0.0, 0.0, 1.0,
    ];
    let vol = VolumeFile {
        shape: vec![2, 2, 2],
        spacing: vec![],
        affine: a,
        data: VolumeData::U8(vec![0; 8]),
    };
    let bytes = write_nifti_bytes(&vol).unwrap();
    let h = parse_nifti_header(&bytes).unwrap();
    assert_close(
        &h.quatern,
        &[
            -0.04929368197917938,
            -0.9965435266494751,
            -0.06586012244224548,
        ],
        1e-6,
        "quatern",
    );
    assert_close(
        &h.pixdim[..4],
        &[
            -1.0,
            2.010596990585327,
            3.0561413764953613,
            4.021193981170654,
        ],
        1e-7,
        "pixdim",
    );
    let want_q = [
        -2.0002888859467642,
        0.3049080500526398,
        0.06651940816715742,
        10.0,
        0.19447346112023134,
        3.0147769747644384,
        -0.532423714280483,
        -20.0,
        0.05936921953795295,
        0.39768201690576743,
        3.9852353996987384,
        5.0,
        0.0,
        0.0,
        0.0,
        1.0,
    ];
    assert_close(&h.qform().unwrap(), &want_q, 1e-6, "qform");
    // The sform keeps the sheared affine, and it wins on reading.
    let back = read_nifti_bytes(&bytes, &opts()).unwrap();
    assert_close(&back.affine, &a, 1e-7, "affine");
}

#[test]
fn writer_rejects_bad_volumes() {
    let good = volume(&[2, 3, 4], 16, 1);
    let mut v = good.clone();
    v.shape = vec![2, 3, 5];
    assert_eq!(write_nifti_bytes(&v).unwrap_err().code, Code::Shape);
    v.shape = vec![];
    assert_eq!(write_nifti_bytes(&v).unwrap_err().code, Code::Shape);
    v.shape = vec![1; 8];
    assert_eq!(write_nifti_bytes(&v).unwrap_err().code, Code::Shape);
    v.shape = vec![24, 0];
    assert_eq!(write_nifti_bytes(&v).unwrap_err().code, Code::Shape);
    let mut v = good.clone();
    v.affine[5] = f64::NAN;
    assert_eq!(write_nifti_bytes(&v).unwrap_err().code, Code::Setting);
    let mut v = good.clone();
    v.affine[1] = 0.0;
    v.affine[5] = 0.0;
    v.affine[9] = 0.0;
    assert_eq!(write_nifti_bytes(&v).unwrap_err().code, Code::Setting);
    let dir = scratch("writer_rejects");
    let e = write_nifti(&dir.join("no_such_dir").join("x.nii"), &good).unwrap_err();
    assert_eq!(e.code, Code::Io);
}

// ---------------------------------------------------------------------------------------------
// Hand-built headers

#[test]
fn hand_built_nifti1_and_nifti2_both_byte_orders() {
    for version in [1u8, 2] {
        for big_endian in [false, true] {
            for (k, &code) in CODES.iter().enumerate() {
                let shape = [3i64, 2, 4, 2];
                let data = random_data(code, 48, 300 + k as u64);
                let mut s = Spec::new(version, &shape, code);
                s.big_endian = big_endian;
                s.pixdim = [1.0, 0.5, 0.75, 1.25, 3.0, 1.0, 1.0, 1.0];
                s.sform_code = 2;
                s.srow = [
                    [0.5, 0.0, 0.0, -1.0],
                    [0.0, 0.75, 0.0, -2.0],
                    [0.0, 0.0, 1.25, -3.0],
                ];
                let file = s.file(&bytes_of(&data, big_endian));
                let vol = read_nifti_bytes(&file, &opts()).unwrap();
                assert_eq!(vol.shape, [3, 2, 4, 2]);
                assert_eq!(vol.data, data, "v{version} be={big_endian} code {code}");
                assert_eq!(vol.spacing, [0.5, 0.75, 1.25]);
                assert_eq!(
                    vol.affine,
                    [
                        0.5, 0.0, 0.0, -1.0, 0.0, 0.75, 0.0, -2.0, 0.0, 0.0, 1.25, -3.0, 0.0, 0.0,
                        0.0, 1.0
                    ]
                );
                let h = parse_nifti_header(&file).unwrap();
                assert_eq!((h.version, h.big_endian), (version, big_endian));
                // And gzip-compressed.
                let vz = read_nifti_bytes(&gzip(&file), &opts()).unwrap();
                assert_eq!(vz, vol);
            }
        }
    }
}

#[test]
fn extensions_before_vox_offset_are_skipped() {
    let data = random_data(4, 24, 3);
    let mut s = Spec::new(1, &[2, 3, 4], 4);
    s.vox_offset = 480.0;
    let mut file = s.encode();
    assert_eq!(file.len(), 480);
    file[348] = 1; // extension flag set; the bytes up to 480 are "extension"
    file[352..360].copy_from_slice(&[128, 0, 0, 0, 6, 0, 0, 0]);
    file.extend(bytes_of(&data, false));
    assert_eq!(read_nifti_bytes(&file, &opts()).unwrap().data, data);
    // Fractional vox_offset is truncated (nibabel: int(vox_offset)).
    let mut s2 = s.clone();
    s2.vox_offset = 480.75;
    let mut f2 = s2.encode();
    f2.truncate(480);
    f2.extend(bytes_of(&data, false));
    assert_eq!(read_nifti_bytes(&f2, &opts()).unwrap().data, data);
}

#[test]
fn scl_slope_inter_follow_nibabel_get_fdata() {
    // values from nibabel 5.4.2: int16 [-32768, -1, 0, 1, 7, 32767] saved with slope 0.1,
    // inter -3.7, read back with get_fdata().
    let raw = VolumeData::I16(vec![-32768, -1, 0, 1, 7, 32767]);
    let want = [
        -3280.5000488758087,
        -3.800000049173832,
        -3.700000047683716,
        -3.6000000461935997,
        -3.000000037252903,
        3273.000048778951,
    ];
    for version in [1u8, 2] {
        let mut s = Spec::new(version, &[6, 1, 1], 4);
        s.scl_slope = 0.1;
        s.scl_inter = -3.7;
        if version == 2 {
            // NIfTI-2 stores float64: the same numbers as float32-then-widened.
            s.scl_slope = 0.1f32 as f64;
            s.scl_inter = -3.7f32 as f64;
        }
        let vol = read_nifti_bytes(&s.file(&bytes_of(&raw, false)), &opts()).unwrap();
        match &vol.data {
            VolumeData::F64(v) => assert_close(v, &want, 1e-15, "scaled"),
            other => panic!("expected float64, got {}", other.dtype()),
        }
    }
    // No scaling: slope 0, NaN, inf, or exactly (1, 0) keep the stored type.
    for (slope, inter) in [
        (0.0, 5.0),
        (f64::NAN, 1.0),
        (f64::INFINITY, 0.0),
        (1.0, 0.0),
    ] {
        let mut s = Spec::new(1, &[6, 1, 1], 4);
        s.scl_slope = slope;
        s.scl_inter = inter;
        let vol = read_nifti_bytes(&s.file(&bytes_of(&raw, false)), &opts()).unwrap();
        assert_eq!(vol.data, raw, "slope {slope}, inter {inter}");
    }
    // (1, 2): offset only, float64.
    let mut s = Spec::new(1, &[6, 1, 1], 4);
    s.scl_slope = 1.0;
    s.scl_inter = 2.0;
    let vol = read_nifti_bytes(&s.file(&bytes_of(&raw, false)), &opts()).unwrap();
    assert_eq!(
        vol.data,
        VolumeData::F64(vec![-32766.0, 1.0, 2.0, 3.0, 9.0, 32769.0])
    );
    // Valid slope, non-finite intercept: nibabel raises.
    s.scl_slope = 2.0;
    s.scl_inter = f64::NAN;
    assert_eq!(
        err_code(read_nifti_bytes(&s.file(&bytes_of(&raw, false)), &opts())),
        Code::Format
    );
    // Big-endian float data with scaling.
    let f = VolumeData::F32(vec![1.5, -2.0, 0.0, 1e3, -7.25, 3.0]);
    let mut s = Spec::new(1, &[6, 1, 1], 16);
    s.big_endian = true;
    s.scl_slope = 2.0;
    s.scl_inter = 0.5;
    let vol = read_nifti_bytes(&s.file(&bytes_of(&f, true)), &opts()).unwrap();
    assert_eq!(
        vol.data,
        VolumeData::F64(vec![3.5, -3.5, 0.5, 2000.5, -14.0, 6.5])
    );
}

fn affine_of(s: &Spec) -> [f64; 16] {
    let n: i64 = s.dim[1..=s.dim[0] as usize].iter().product();
    let data = vec![0u8; n as usize];
    read_nifti_bytes(&s.file(&data), &opts()).unwrap().affine
}

#[test]
fn qform_only_affine_matches_nibabel() {
    // values from nibabel 5.4.2: dims (4,5,6), pixdim [-1, 1.5, 2, 2.5], quatern (0.1, -0.2,
    // 0.3), qoffset (10, -20, 30), qform_code 1, sform_code 0; get_best_affine().
    let want1 = [
        1.1099999749660487,
        -1.1928342604719482,
        0.7773618505128826,
        10.0,
        0.7746256917776824,
        1.599999970197677,
        0.7636809457455381,
        -20.0,
        0.6464171201424961,
        0.13094473037038656,
        -2.2499999925494194,
        30.0,
        0.0,
        0.0,
        0.0,
        1.0,
    ];
    let want2 = [
        1.11,
        -1.1928342194594843,
        0.7773618495495704,
        10.0,
        0.7746256645946134,
        1.6,
        0.7636809247747852,
        -20.0,
        0.6464171097297423,
        0.13094473981982815,
        -2.25,
        30.0,
        0.0,
        0.0,
        0.0,
        1.0,
    ];
    for (version, want) in [(1u8, want1), (2, want2)] {
        let mut s = Spec::new(version, &[4, 5, 6], 2);
        s.pixdim[..4].copy_from_slice(&[-1.0, 1.5, 2.0, 2.5]);
        s.quatern = [0.1, -0.2, 0.3];
        s.qoffset = [10.0, -20.0, 30.0];
        s.qform_code = 1;
        assert_close(&affine_of(&s), &want, 1e-13, "qform-only");
        // An invalid sform_code (7) is ignored like nibabel's header fix (set to 0).
        s.sform_code = 7;
        s.srow = [[9.0; 4]; 3];
        assert_close(&affine_of(&s), &want, 1e-13, "bad sform code");
        // A valid sform wins.
        s.sform_code = 4;
        assert_eq!(affine_of(&s)[0], 9.0);
        // A non-finite sform falls back to the qform (documented deviation).
        s.srow[1][1] = f64::NAN;
        assert_close(&affine_of(&s), &want, 1e-13, "NaN sform");
    }
    // values from nibabel 5.4.2: quatern (0, 0, 1) gives w = 0 exactly; pixdim [1, 1.5, 2, 2.5].
    for version in [1u8, 2] {
        let mut s = Spec::new(version, &[4, 5, 6], 2);
        s.pixdim[..4].copy_from_slice(&[1.0, 1.5, 2.0, 2.5]);
        s.quatern = [0.0, 0.0, 1.0];
        s.qoffset = [1.0, 2.0, 3.0];
        s.qform_code = 1;
        let want = [
            -1.5, 0.0, 0.0, 1.0, 0.0, -2.0, 0.0, 2.0, 0.0, 0.0, 2.5, 3.0, 0.0, 0.0, 0.0, 1.0,
        ];
        assert_close(&affine_of(&s), &want, 1e-15, "w = 0");
    }
}

#[test]
fn base_affine_matches_nibabel() {
    // values from nibabel 5.4.2 get_best_affine() with both codes 0, after nibabel's load-time
    // header fixes (pixdim 0 -> 1, negative -> abs).
    /// (shape, pixdim, affine, spacing)
    type Case = (&'static [i64], &'static [f64], [f64; 16], &'static [f64]);
    let cases: [Case; 3] = [
        (
            &[4, 5, 6],
            &[0.0, 1.5, -2.0, 0.0],
            [
                -1.5, 0.0, 0.0, 2.25, 0.0, 2.0, 0.0, -4.0, 0.0, 0.0, 1.0, -2.5, 0.0, 0.0, 0.0, 1.0,
            ],
            &[1.5, 2.0, 1.0],
        ),
        (
            &[7, 3],
            &[1.0, 0.5, 0.25],
            [
                -0.5, 0.0, 0.0, 1.5, 0.0, 0.25, 0.0, -0.25, 0.0, 0.0, 1.0, -0.0, 0.0, 0.0, 0.0, 1.0,
            ],
            &[0.5, 0.25],
        ),
        (
            &[3, 4, 5, 2],
            &[1.0, 1.2, 1.3, 1.4, 2.0],
            [
                -1.2000000476837158,
                0.0,
                0.0,
                1.2000000476837158,
                0.0,
                1.2999999523162842,
                0.0,
                -1.9499999284744263,
                0.0,
                0.0,
                1.399999976158142,
                -2.799999952316284,
                0.0,
                0.0,
                0.0,
                1.0,
            ],
            &[1.2000000476837158, 1.2999999523162842, 1.399999976158142],
        ),
    ];
    for (shape, pixdim, want, spacing) in cases {
        let mut s = Spec::new(1, shape, 2);
        s.pixdim[..pixdim.len()].copy_from_slice(pixdim);
        let n: i64 = shape.iter().product();
        let vol = read_nifti_bytes(&s.file(&vec![0u8; n as usize]), &opts()).unwrap();
        assert_close(&vol.affine, &want, 1e-15, "base affine");
        assert_close(&vol.spacing, spacing, 1e-15, "spacing");
    }
    // An impossible quaternion (|bcd| > 1, nibabel raises) falls back to the base affine.
    let mut s = Spec::new(1, &[4, 5, 6], 2);
    s.pixdim[..4].copy_from_slice(&[1.0, 1.0, 1.0, 1.0]);
    s.quatern = [1.0, 1.0, 0.0];
    s.qform_code = 1;
    let a = affine_of(&s);
    assert_eq!(
        a,
        [-1.0, 0.0, 0.0, 1.5, 0.0, 1.0, 0.0, -2.0, 0.0, 0.0, 1.0, -2.5, 0.0, 0.0, 0.0, 1.0]
    );
    // NaN pixdim: read as 1, the affine stays finite.
    s.qform_code = 0;
    s.pixdim[2] = f64::NAN;
    assert!(affine_of(&s).iter().all(|v| v.is_finite()));
}

// ---------------------------------------------------------------------------------------------
// Hostile input

#[test]
fn random_bytes_are_format_errors() {
    let mut rng = SplitMix64::new(42);
    for len in [0usize, 1, 2, 3, 4, 100, 347, 348, 352, 540, 600, 5000] {
        for _ in 0..20 {
            let b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            assert_eq!(
                err_code(read_nifti_bytes(&b, &opts())),
                Code::Format,
                "len {len}"
            );
        }
    }
    // Random bytes behind a gzip magic.
    let mut b: Vec<u8> = (0..1000).map(|_| rng.next_u64() as u8).collect();
    b[0] = 0x1f;
    b[1] = 0x8b;
    assert_eq!(err_code(read_nifti_bytes(&b, &opts())), Code::Format);
}

#[test]
fn mutated_headers_never_panic() {
    // Flip random header bytes of valid files (both versions, both byte orders, raw and gzip)
    // and check that the reader returns (Ok or a coded error) without panicking.
    let mut rng = SplitMix64::new(7);
    let small = NiftiOptions { max_bytes: 1 << 20 };
    for version in [1u8, 2] {
        for be in [false, true] {
            let data = random_data(4, 60, 1);
            let mut s = Spec::new(version, &[3, 4, 5], 4);
            s.big_endian = be;
            s.qform_code = 1;
            s.sform_code = 1;
            s.quatern = [0.1, 0.2, 0.3];
            let file = s.file(&bytes_of(&data, be));
            let hsize = if version == 1 { 348 } else { 540 };
            for i in 0..600 {
                let mut f = file.clone();
                for _ in 0..(1 + i % 4) {
                    let pos = 4 + (rng.next_u64() as usize) % (hsize - 4);
                    f[pos] = rng.next_u64() as u8;
                }
                let r = read_nifti_bytes(&f, &small);
                if let Ok(v) = &r {
                    assert_eq!(v.data.len(), v.shape.iter().product::<usize>());
                    assert!(v.affine.iter().all(|x| x.is_finite()));
                }
                if i % 10 == 0 {
                    let _ = read_nifti_bytes(&gzip(&f), &small);
                }
            }
        }
    }
}

#[test]
fn truncated_header_is_format_error() {
    let bytes = write_nifti_bytes(&volume(&[3, 3, 3], 2, 1)).unwrap();
    for len in [0usize, 1, 3, 4, 10, 200, 347] {
        let e = read_nifti_bytes(&bytes[..len], &opts()).unwrap_err();
        assert_eq!(e.code, Code::Format, "len {len}: {e}");
        if len >= 4 {
            assert!(
                e.message.contains("348") && e.message.contains(&len.to_string()),
                "{e}"
            );
        }
        // Also gzip-compressed.
        assert_eq!(
            err_code(read_nifti_bytes(&gzip(&bytes[..len]), &opts())),
            Code::Format
        );
    }
}

#[test]
fn truncated_data_is_format_error_with_counts() {
    let vol = volume(&[4, 4, 4], 16, 2);
    let bytes = write_nifti_bytes(&vol).unwrap();
    assert_eq!(bytes.len(), 352 + 256);
    for len in [348usize, 350, 352, 353, 500, 352 + 255] {
        let e = read_nifti_bytes(&bytes[..len], &opts()).unwrap_err();
        assert_eq!(e.code, Code::Format, "{e}");
        assert!(e.message.contains("256"), "says the expected size: {e}");
        assert!(
            e.message.contains(&(len.saturating_sub(352)).to_string()),
            "says what came: {e}"
        );
        // gzip of a truncated file: the stream ends early.
        let e = read_nifti_bytes(&gzip(&bytes[..len]), &opts()).unwrap_err();
        assert_eq!(e.code, Code::Format, "{e}");
    }
    // Truncated file on disk, raw and gzip.
    let dir = scratch("truncated_data");
    let p = dir.join("t.nii");
    std::fs::write(&p, &bytes[..500]).unwrap();
    let e = read_nifti(&p, &opts()).unwrap_err();
    assert_eq!(e.code, Code::Format);
    assert!(e.message.contains("t.nii"), "names the file: {e}");
    let pz = dir.join("t.nii.gz");
    write_nifti(&pz, &vol).unwrap();
    let z = std::fs::read(&pz).unwrap();
    std::fs::write(&pz, &z[..z.len() / 2]).unwrap();
    assert_eq!(err_code(read_nifti(&pz, &opts())), Code::Format);
}

#[test]
fn corrupt_gzip_is_format_error() {
    let vol = volume(&[20, 20, 20], 16, 3);
    let z = gzip(&write_nifti_bytes(&vol).unwrap());
    let mut rng = SplitMix64::new(5);
    let mut format_errors = 0;
    for _ in 0..50 {
        let mut c = z.clone();
        for _ in 0..8 {
            let pos = 10 + (rng.next_u64() as usize) % (c.len() - 18);
            c[pos] ^= 0xff;
        }
        match read_nifti_bytes(&c, &opts()) {
            Err(e) => {
                assert_eq!(e.code, Code::Format, "{e}");
                format_errors += 1;
            }
            // Damage can, rarely, leave a decodable stream; it must still be well-formed.
            Ok(v) => assert_eq!(v.data.len(), 8000),
        }
    }
    assert!(
        format_errors >= 45,
        "only {format_errors} of 50 corruptions detected"
    );
    // Broken gzip header (bad compression method).
    let mut c = z.clone();
    c[2] = 7;
    assert_eq!(err_code(read_nifti_bytes(&c, &opts())), Code::Format);
    // Truncated gzip streams.
    for len in [2usize, 10, 30, z.len() / 3, z.len() - 9] {
        assert_eq!(
            err_code(read_nifti_bytes(&z[..len], &opts())),
            Code::Format,
            "len {len}"
        );
    }
}

#[test]
fn bad_dims_are_format_errors() {
    let bad: [[i64; 8]; 9] = [
        [0, 4, 4, 4, 1, 1, 1, 1],
        [8, 4, 4, 4, 1, 1, 1, 1],
        [-3, 4, 4, 4, 1, 1, 1, 1],
        [3, 4, 0, 4, 1, 1, 1, 1],
        [3, 4, -4, 4, 1, 1, 1, 1],
        [4, 4, 4, 4, 0, 1, 1, 1],
        [1, -1, 1, 1, 1, 1, 1, 1],
        [3, 4, 4, i64::MIN, 1, 1, 1, 1],
        [32767, 4, 4, 4, 1, 1, 1, 1],
    ];
    for version in [1u8, 2] {
        for dim in bad {
            if version == 1
                && dim
                    .iter()
                    .any(|&d| d < i16::MIN as i64 || d > i16::MAX as i64)
            {
                continue;
            }
            let mut s = Spec::new(version, &[4, 4, 4], 2);
            s.dim = dim;
            let e = read_nifti_bytes(&s.file(&[0u8; 64]), &opts()).unwrap_err();
            assert_eq!(e.code, Code::Format, "v{version} dim {dim:?}: {e}");
            assert!(e.message.contains("dim"), "{e}");
        }
    }
}

#[test]
fn absurd_and_overflowing_sizes_are_format_errors_without_allocating() {
    // NIfTI-1: 32767^7 voxels of float64 overflow u64.
    let mut s = Spec::new(1, &[32767; 7], 64);
    let e = read_nifti_bytes(&s.file(&[0u8; 64]), &opts()).unwrap_err();
    assert_eq!(e.code, Code::Format, "{e}");
    assert!(e.message.contains("overflow"), "{e}");
    // NIfTI-2: i64 dims whose product overflows.
    s = Spec::new(2, &[1 << 40, 1 << 40, 1 << 40], 2);
    let e = read_nifti_bytes(&s.file(&[0u8; 64]), &opts()).unwrap_err();
    assert_eq!(e.code, Code::Format);
    assert!(e.message.contains("overflow"), "{e}");
    // NIfTI-2: product fits but bytes overflow (2^62 elements x 8 bytes).
    s = Spec::new(2, &[1 << 31, 1 << 31], 1280);
    assert_eq!(
        err_code(read_nifti_bytes(&s.file(&[0u8; 64]), &opts())),
        Code::Format
    );
    // Plausible but huge (32767^3 x 8 bytes = 281 TB > max_bytes).
    s = Spec::new(1, &[32767, 32767, 32767], 64);
    let e = read_nifti_bytes(&s.file(&[0u8; 64]), &opts()).unwrap_err();
    assert_eq!(e.code, Code::Format);
    assert!(e.message.contains("max_bytes"), "{e}");
    // Below max_bytes but more than the file holds: caught before allocating.
    s = Spec::new(1, &[1000, 1000, 1000], 64);
    let e = read_nifti_bytes(&s.file(&[0u8; 64]), &opts()).unwrap_err();
    assert_eq!(e.code, Code::Format);
    assert!(
        e.message.contains("8000000000") && e.message.contains("64"),
        "{e}"
    );
    // A tiny max_bytes is honoured.
    let vol = volume(&[10, 10, 10], 2, 1);
    let bytes = write_nifti_bytes(&vol).unwrap();
    let e = read_nifti_bytes(&bytes, &NiftiOptions { max_bytes: 999 }).unwrap_err();
    assert_eq!(e.code, Code::Format);
    assert!(read_nifti_bytes(&bytes, &NiftiOptions { max_bytes: 1000 }).is_ok());
}

#[test]
fn gzip_bomb_claims_are_rejected_or_bounded() {
    // A small gzip whose header claims 8 GB: impossible for its compressed size.
    let s = Spec::new(1, &[1000, 1000, 1000], 64);
    let z = gzip(&s.file(&[0u8; 1000]));
    let e = read_nifti_bytes(&z, &opts()).unwrap_err();
    assert_eq!(e.code, Code::Format, "{e}");
    assert!(e.message.contains("gzip"), "{e}");
    // A real bomb (64 MB of zeros behind a 4-voxel header) decodes only what the header needs.
    let s = Spec::new(1, &[2, 2], 2);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&s.file(&[1, 2, 3, 4])).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    let z = e.finish().unwrap();
    assert!(z.len() < 200_000);
    let vol = read_nifti_bytes(&z, &opts()).unwrap();
    assert_eq!(vol.data, VolumeData::U8(vec![1, 2, 3, 4]));
}

#[test]
fn datatypes_outside_the_supported_set() {
    for (code, want) in [
        (32i16, Code::Unsupported), // complex64
        (128, Code::Unsupported),   // rgb24
        (1536, Code::Unsupported),  // float128
        (1792, Code::Unsupported),  // complex128
        (2304, Code::Unsupported),  // rgba32
        (1, Code::Unsupported),     // binary
        (0, Code::Unsupported),     // DT_UNKNOWN
        (3, Code::Format),          // not a NIfTI code
        (-16, Code::Format),
    ] {
        for version in [1u8, 2] {
            let mut s = Spec::new(version, &[2, 2, 2], 2);
            s.datatype = code;
            let e = read_nifti_bytes(&s.file(&[0u8; 256]), &opts()).unwrap_err();
            assert_eq!(e.code, want, "code {code}: {e}");
            assert!(e.message.contains(&code.to_string()), "names the code: {e}");
        }
    }
}

#[test]
fn bad_vox_offset_magic_and_pairs() {
    for version in [1u8, 2] {
        let min = if version == 1 { 352.0 } else { 544.0 };
        for off in [0.0, -1.0, 100.0, min - 1.0, f64::NAN, f64::INFINITY] {
            if version == 2 && !off.is_finite() {
                continue; // int64 field
            }
            let mut s = Spec::new(version, &[2, 2, 2], 2);
            s.vox_offset = off;
            let e = read_nifti_bytes(&s.file(&[0u8; 600]), &opts()).unwrap_err();
            assert_eq!(e.code, Code::Format, "v{version} vox_offset {off}: {e}");
            assert!(e.message.contains("vox_offset"), "{e}");
        }
        // vox_offset far beyond the end of the file.
        let mut s = Spec::new(version, &[2, 2, 2], 2);
        s.vox_offset = 1e12;
        assert_eq!(
            err_code(read_nifti_bytes(&s.file(&[0u8; 8]), &opts())),
            Code::Format
        );
        assert_eq!(
            err_code(read_nifti_bytes(&gzip(&s.file(&[0u8; 8])), &opts())),
            Code::Format
        );
    }
    // Pair files.
    let mut s = Spec::new(1, &[2, 2, 2], 2);
    s.magic = b"ni1\0".to_vec();
    let e = read_nifti_bytes(&s.file(&[0u8; 8]), &opts()).unwrap_err();
    assert_eq!(e.code, Code::Unsupported);
    assert!(e.message.contains("ni1"), "{e}");
    let mut s = Spec::new(2, &[2, 2, 2], 2);
    s.magic = b"ni2\0\r\n\x1a\n".to_vec();
    assert_eq!(
        err_code(read_nifti_bytes(&s.file(&[0u8; 8]), &opts())),
        Code::Unsupported
    );
    // Bad magic.
    let mut s = Spec::new(1, &[2, 2, 2], 2);
    s.magic = b"abcd".to_vec();
    assert_eq!(
        err_code(read_nifti_bytes(&s.file(&[0u8; 8]), &opts())),
        Code::Format
    );
    s.magic = b"\0\0\0\0".to_vec(); // Analyze 7.5
    assert_eq!(
        err_code(read_nifti_bytes(&s.file(&[0u8; 8]), &opts())),
        Code::Format
    );
    // NIfTI-2 damaged by end-of-line conversion.
    let mut s = Spec::new(2, &[2, 2, 2], 2);
    s.magic = b"n+2\0\n\x1a\n\0".to_vec();
    assert_eq!(
        err_code(read_nifti_bytes(&s.file(&[0u8; 8]), &opts())),
        Code::Format
    );
    s.magic = b"n+2\0\0\0\0\0".to_vec(); // all-zero check bytes: accepted (nibabel fixes)
    assert!(read_nifti_bytes(&s.file(&[0u8; 8]), &opts()).is_ok());
}

#[test]
fn missing_file_is_io_error() {
    let p = scratch("missing").join("nope.nii");
    assert_eq!(err_code(read_nifti(&p, &opts())), Code::Io);
    assert_eq!(read_nifti_header(&p).unwrap_err().code, Code::Io);
}

// ---------------------------------------------------------------------------------------------
// Reference files (values from nibabel 5.4.2, numpy 2.4.6: img.shape, header.get_data_dtype(),
// img.affine, header.get_zooms(), get_fdata() flattened in Fortran order at a few indices, and
// get_fdata().sum()).

struct Expect {
    path: &'static str,
    shape: &'static [usize],
    dtype: &'static str,
    affine: [f64; 16],
    spacing: [f64; 3],
    samples: [(usize, f64); 5],
    sum: f64,
}

fn check_reference(x: &Expect) {
    let Some(p) = reference(x.path) else { return };
    let vol = read_nifti(&p, &opts()).unwrap();
    assert_eq!(vol.shape, x.shape, "{}", x.path);
    assert_eq!(vol.data.dtype(), x.dtype, "{}", x.path);
    assert_close(&vol.affine, &x.affine, 1e-12, x.path);
    assert_close(&vol.spacing, &x.spacing, 1e-12, x.path);
    let v = as_f64(&vol.data);
    for (i, want) in x.samples {
        assert_eq!(v[i], want, "{} voxel {i}", x.path);
    }
    let sum: f64 = v.iter().sum();
    assert!(
        (sum - x.sum).abs() <= 1e-9 * x.sum.abs().max(1.0),
        "{}: sum {sum} vs {}",
        x.path,
        x.sum
    );
    // The in-memory reader agrees.
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(read_nifti_bytes(&bytes, &opts()).unwrap(), vol);
    // And a write/read cycle keeps data and affine.
    let back = read_nifti_bytes(&write_nifti_bytes(&vol).unwrap(), &opts()).unwrap();
    assert_eq!(back.data, vol.data);
    assert_eq!(back.shape, vol.shape);
    assert_close(&back.affine, &vol.affine, 1e-7, "rewritten affine");
}

#[test]
fn reference_dipy_small_64d() {
    check_reference(&Expect {
        path: "dipy/small_64D.nii",
        shape: &[10, 10, 10, 65],
        dtype: "int16",
        affine: [
            0.0,
            -2.0,
            0.0,
            20.0,
            -1.939743995666504,
            0.0,
            -0.487230509519577,
            25.170543670654297,
            -0.48723000288009644,
            0.0,
            1.9397438764572144,
            12.320494651794434,
            0.0,
            0.0,
            0.0,
            1.0,
        ],
        spacing: [2.0, 2.0, 2.0],
        samples: [
            (0, 89.0),
            (1, 154.0),
            (21666, 73.0),
            (32500, 151.0),
            (64999, 151.0),
        ],
        sum: 5967027.0,
    });
    // Its qform (code 1) against nibabel's get_qform().
    let Some(p) = reference("dipy/small_64D.nii") else {
        return;
    };
    let h = read_nifti_header(&p).unwrap();
    let want = [
        -5.421314686060441e-08,
        -1.9999999999999512,
        4.383679007583316e-07,
        20.0,
        -1.9397440755266677,
        -5.421314686060441e-08,
        -0.48722984458999485,
        25.170543670654297,
        -0.48722984458999485,
        4.383679007583316e-07,
        1.9397440755266189,
        12.320494651794434,
        0.0,
        0.0,
        0.0,
        1.0,
    ];
    assert_close(&h.qform().unwrap(), &want, 1e-12, "small_64D qform");
    let base = [
        -2.0, 0.0, 0.0, 9.0, 0.0, 2.0, 0.0, -9.0, 0.0, 0.0, 2.0, -9.0, 0.0, 0.0, 0.0, 1.0,
    ];
    assert_eq!(h.base_affine(), base);
}

#[test]
fn reference_dipy_small_101d() {
    check_reference(&Expect {
        path: "dipy/small_101D.nii.gz",
        shape: &[6, 10, 10, 102],
        dtype: "uint16",
        affine: [
            -2.4996914863586426,
            0.0,
            -0.039267539978027344,
            162.0,
            -6.749997555743903e-05,
            2.4999961853027344,
            0.004364463966339827,
            180.0,
            -0.03926748409867287,
            -0.004365002270787954,
            2.499687671661377,
            90.0,
            0.0,
            0.0,
            0.0,
            1.0,
        ],
        spacing: [2.5, 2.5, 2.5],
        samples: [
            (0, 408.0),
            (1, 326.0),
            (20400, 108.0),
            (30600, 69.0),
            (61199, 33.0),
        ],
        sum: 4809847.0,
    });
    let Some(p) = reference("dipy/small_101D.nii.gz") else {
        return;
    };
    let h = read_nifti_header(&p).unwrap();
    let want = [
        -2.499691486948658,
        5.364256649247957e-07,
        -0.039274292815001284,
        162.0,
        -6.803646390288931e-05,
        2.4999961893623412,
        0.004364463863060513,
        180.0,
        -0.03927423388744577,
        -0.004364994099037135,
        2.4996876767666536,
        90.0,
        0.0,
        0.0,
        0.0,
        1.0,
    ];
    assert_close(&h.qform().unwrap(), &want, 1e-12, "small_101D qform");
}

#[test]
fn reference_dipy_small_25() {
    check_reference(&Expect {
        path: "dipy/small_25.nii.gz",
        shape: &[10, 8, 2, 26],
        dtype: "uint8",
        affine: [
            2.0, 0.0, 0.0, -80.0, 0.0, 2.0, 0.0, -120.0, 0.0, 0.0, 2.0, -60.0, 0.0, 0.0, 0.0, 1.0,
        ],
        spacing: [2.0, 2.0, 2.0],
        samples: [
            (0, 181.0),
            (1, 190.0),
            (1386, 75.0),
            (2080, 104.0),
            (4159, 99.0),
        ],
        sum: 319644.0,
    });
}

#[test]
fn reference_ibsi1_digital_phantom() {
    check_reference(&Expect {
        path: "ibsi1/digital_phantom/image.nii.gz",
        shape: &[5, 4, 4],
        dtype: "int16",
        affine: [
            -2.0, 0.0, 0.0, -0.0, 0.0, -2.0, 0.0, -0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 1.0,
        ],
        spacing: [2.0, 2.0, 2.0],
        samples: [(0, 1.0), (1, 4.0), (26, 1.0), (40, 1.0), (79, 1.0)],
        sum: 173.0,
    });
}

#[test]
fn reference_ibsi1_ct_phantom() {
    check_reference(&Expect {
        path: "ibsi1/ct_phantom/image.nii.gz",
        shape: &[204, 201, 60],
        dtype: "float32",
        affine: [
            -0.9769999980926514,
            0.0,
            0.0,
            174.39450073242188,
            0.0,
            -0.9769999980926514,
            0.0,
            79.62550354003906,
            0.0,
            0.0,
            3.0,
            -100.4000015258789,
            0.0,
            0.0,
            0.0,
            1.0,
        ],
        spacing: [0.9769999980926514, 0.9769999980926514, 3.0],
        samples: [
            (0, -1000.0),
            (1, -1000.0),
            (820080, -1000.0),
            (1230120, -1000.0),
            (2460239, -395.0),
        ],
        sum: -655581056.0,
    });
}
