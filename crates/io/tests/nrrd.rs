//! NRRD reading and writing against SimpleITK / pynrrd (fixtures/nrrd, written by
//! fixtures/nrrd/generate.py), the PyRadiomics test volumes in ../shared (skipped with a message
//! when absent), round trips through the writer, and hostile headers.

mod common;

use std::path::{Path, PathBuf};

use common::{as_f64, gzip};

use serde_json::Value;
use voxelkit_core::Code;
use voxelkit_io::{
    read_nifti, read_nrrd, read_nrrd_bytes, read_nrrd_detached_bytes, write_nrrd, write_nrrd_bytes,
    NiftiOptions, NrrdOptions, VolumeData, VolumeFile,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    root().join("fixtures/nrrd")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "Infinity" => f64::INFINITY,
        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        _ => panic!("not a number: {v}"),
    }
}

/// SimpleITK stores direction (unit columns) and spacing separately and we rebuild the affine as
/// their product, while our reader takes the file's direction vectors as they are: the two
/// differ by rounding only (a few ulps of the largest entry).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

fn check_case(v: &VolumeFile, c: &Value, what: &str) {
    let shape: Vec<usize> = c["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(v.shape, shape, "{what}: shape");
    assert_eq!(
        v.data.dtype(),
        c["dtype"].as_str().unwrap(),
        "{what}: dtype"
    );
    let aff: Vec<f64> = c["affine"].as_array().unwrap().iter().map(num).collect();
    for (i, (x, y)) in v.affine.iter().zip(&aff).enumerate() {
        assert!(
            close(*x, *y),
            "{what}: affine[{i}] {x} vs {y}\n{:?}\n{aff:?}",
            v.affine
        );
    }
    let sp: Vec<f64> = c["spacing"].as_array().unwrap().iter().map(num).collect();
    assert_eq!(v.spacing.len(), sp.len(), "{what}: spacing");
    for (x, y) in v.spacing.iter().zip(&sp) {
        assert!(close(*x, *y), "{what}: spacing {:?} vs {sp:?}", v.spacing);
    }
    let data = as_f64(&v.data);
    // The sum is exact for integer data (|values| * count < 2^53 in every fixture).
    if c["sum"].is_i64() || c["sum"].is_u64() {
        let s: f64 = data.iter().sum();
        assert_eq!(s, num(&c["sum"]), "{what}: sum");
    }
    for s in c["samples"].as_array().unwrap() {
        let i = s[0].as_u64().unwrap() as usize;
        let want = num(&s[1]);
        assert!(
            data[i] == want || (data[i].is_nan() && want.is_nan()),
            "{what}: voxel {i}: {} vs {want}",
            data[i]
        );
    }
    if let Some(vals) = c.get("values") {
        let vals: Vec<f64> = vals.as_array().unwrap().iter().map(num).collect();
        assert_eq!(data.len(), vals.len(), "{what}: length");
        for (i, (x, y)) in data.iter().zip(&vals).enumerate() {
            // float32 values are stored as their exact f64 widening, so equality is exact
            assert!(
                x == y || (x.is_nan() && y.is_nan()),
                "{what}: voxel {i}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn small_files_match_simpleitk() {
    let f = load("files.json");
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let name = c["file"].as_str().unwrap();
        let v = read_nrrd(
            &fixtures().join("files").join(name),
            &NrrdOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        check_case(&v, c, name);
    }
}

#[test]
fn nrrd_and_the_nifti_simpleitk_writes_give_the_same_volume() {
    let dir = fixtures().join("files");
    let a = read_nrrd(&dir.join("sitk_oblique_gzip.nrrd"), &NrrdOptions::default()).unwrap();
    let b = read_nifti(
        &dir.join("sitk_oblique_gzip.nii.gz"),
        &NiftiOptions::default(),
    )
    .unwrap();
    assert_eq!(a.shape, b.shape);
    assert_eq!(a.data, b.data);
    // NIfTI stores the sform in float32: equal to that precision.
    for (x, y) in a.affine.iter().zip(&b.affine) {
        assert!(
            (x - y).abs() <= 1e-6 * x.abs().max(1.0),
            "{:?} vs {:?}",
            a.affine,
            b.affine
        );
    }
    for (x, y) in a.spacing.iter().zip(&b.spacing) {
        assert!(
            (x - y).abs() <= 1e-6 * x.abs(),
            "{:?} vs {:?}",
            a.spacing,
            b.spacing
        );
    }
}

#[test]
fn pyradiomics_volumes_match_simpleitk() {
    let dir = root().join("../shared/reference/pyradiomics");
    if !dir.is_dir() {
        eprintln!("SKIPPED: {} is not present", dir.display());
        return;
    }
    let f = load("reference.json");
    for c in f["cases"].as_array().unwrap() {
        let rel = c["file"].as_str().unwrap();
        let path = root().join("../shared").join(rel);
        let v = read_nrrd(&path, &NrrdOptions::default()).unwrap_or_else(|e| panic!("{rel}: {e}"));
        check_case(&v, c, rel);
    }
}

fn vol(shape: &[usize], affine: [f64; 16], data: VolumeData) -> VolumeFile {
    VolumeFile {
        shape: shape.to_vec(),
        spacing: vec![],
        affine,
        data,
    }
}

const OBLIQUE: [f64; 16] = [
    -0.6, 0.3, 0.1, 12.5, 0.2, 0.9, -0.05, -7.0, 0.05, 0.1, 2.5, 33.25, 0.0, 0.0, 0.0, 1.0,
];

#[test]
fn writer_round_trips_every_type_raw_and_gzip() {
    let n: i64 = 4 * 3 * 2;
    let datas = vec![
        VolumeData::U8((0..n).map(|i| (i * 11) as u8).collect()),
        VolumeData::I8((0..n).map(|i| i as i8 - 12).collect()),
        VolumeData::I16((0..n).map(|i| i as i16 * -300).collect()),
        VolumeData::U16((0..n).map(|i| i as u16 * 2000).collect()),
        VolumeData::I32((0..n).map(|i| (i as i32 - 12) * 100_000_000).collect()),
        VolumeData::U32((0..n).map(|i| i as u32 * 17_000_000).collect()),
        VolumeData::I64((0..n).map(|i| i * -(1 << 50)).collect()),
        VolumeData::U64((0..n).map(|i| i as u64 * (1 << 59) / 2).collect()),
        VolumeData::F32((0..n).map(|i| i as f32 * 0.1 - 1.0).collect()),
        VolumeData::F64((0..n).map(|i| (i as f64).sqrt() * -1e-300).collect()),
    ];
    let dir = std::env::temp_dir().join(format!("voxelkit-nrrd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for d in datas {
        for gz in [false, true] {
            let v = vol(&[4, 3, 2], OBLIQUE, d.clone());
            let bytes = write_nrrd_bytes(&v, gz).unwrap();
            let back = read_nrrd_bytes(&bytes, &NrrdOptions::default()).unwrap();
            assert_eq!(back.data, v.data);
            assert_eq!(back.shape, v.shape);
            assert_eq!(back.affine, v.affine, "{}", d.dtype());
            let p = dir.join(format!("{}-{gz}.nrrd", d.dtype()));
            write_nrrd(&p, &v, gz).unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), bytes);
            assert_eq!(read_nrrd(&p, &NrrdOptions::default()).unwrap(), back);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn writer_header_is_what_itk_writes() {
    let v = vol(
        &[2, 1, 1],
        [
            0.5, 0.0, 0.0, -1.0, 0.0, 0.5, 0.0, 2.0, 0.0, 0.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0,
        ],
        VolumeData::I16(vec![1, 2]),
    );
    let b = write_nrrd_bytes(&v, false).unwrap();
    let text = String::from_utf8_lossy(&b[..b.len() - 4]).into_owned();
    assert_eq!(
        text,
        "NRRD0004\n# Complete NRRD file format specification at:\n\
         # http://teem.sourceforge.net/nrrd/format.html\ntype: short\ndimension: 3\n\
         space: left-posterior-superior\nsizes: 2 1 1\n\
         space directions: (-0.5,0,0) (0,-0.5,0) (0,0,2)\nkinds: domain domain domain\n\
         endian: little\nencoding: raw\nspace origin: (1,-2,3)\n\n"
    );
    assert_eq!(&b[b.len() - 4..], &[1, 0, 2, 0]);
}

#[test]
fn four_dimensional_and_two_dimensional_volumes_round_trip() {
    let v4 = vol(
        &[3, 2, 2, 2],
        OBLIQUE,
        VolumeData::F32((0..24).map(|i| i as f32).collect()),
    );
    let b = write_nrrd_bytes(&v4, true).unwrap();
    assert!(String::from_utf8_lossy(&b).contains("kinds: domain domain domain list\n"));
    let back = read_nrrd_bytes(&b, &NrrdOptions::default()).unwrap();
    assert_eq!(back.data, v4.data);
    assert_eq!(back.shape, v4.shape);
    assert_eq!(back.affine, v4.affine);
    // 2D: the two in-plane columns and the origin survive; the third column is completed.
    let a2 = [
        2.0, 0.0, 0.0, 1.0, 0.0, 3.0, 0.0, 2.0, 0.0, 0.0, 1.0, 3.0, 0.0, 0.0, 0.0, 1.0,
    ];
    let v2 = vol(&[3, 2], a2, VolumeData::U8(vec![1, 2, 3, 4, 5, 6]));
    let back = read_nrrd_bytes(
        &write_nrrd_bytes(&v2, false).unwrap(),
        &NrrdOptions::default(),
    )
    .unwrap();
    assert_eq!(back.data, v2.data);
    assert_eq!(back.affine, a2);
    assert_eq!(back.spacing, vec![2.0, 3.0]);
}

fn header(lines: &str) -> Vec<u8> {
    format!("NRRD0004\n{lines}\n").into_bytes()
}

fn code_of(bytes: &[u8]) -> Code {
    match read_nrrd_bytes(bytes, &NrrdOptions::default()) {
        Ok(v) => panic!("expected an error, got shape {:?}", v.shape),
        Err(e) => {
            assert!(!e.message.is_empty());
            e.code
        }
    }
}

const OK: &str = "type: short\ndimension: 3\nsizes: 2 2 2\nendian: little\nencoding: raw\n";

#[test]
fn a_minimal_header_reads() {
    let mut b = header(OK);
    b.extend((0..8i16).flat_map(|x| x.to_le_bytes()));
    let v = read_nrrd_bytes(&b, &NrrdOptions::default()).unwrap();
    assert_eq!(v.data, VolumeData::I16((0..8).collect()));
    // no space: ITK's LPS identity, i.e. diag(-1, -1, 1) in RAS+
    assert_eq!(
        v.affine,
        [-1.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    );
    assert_eq!(v.spacing, vec![1.0, 1.0, 1.0]);
}

#[test]
fn crlf_comments_key_values_and_case_are_accepted() {
    let mut b = b"NRRD0005\r\n# comment\r\nTYPE: Short\r\nmy key:=my: value\r\ndimension: 1\r\nsizes: 2\r\nEndian: big\r\nencoding: RAW\r\n\r\n".to_vec();
    b.extend([0u8, 1, 0, 2]);
    let v = read_nrrd_bytes(&b, &NrrdOptions::default()).unwrap();
    assert_eq!(v.data, VolumeData::I16(vec![1, 2]));
    assert_eq!(v.shape, vec![2]);
}

#[test]
fn leading_vector_axis_moves_last() {
    let h = "type: uchar\ndimension: 3\nsizes: 2 3 1\nspace: RAS\nspace directions: none (1,0,0) (0,1,0)\nkinds: vector domain domain\nencoding: raw\n";
    let mut b = header(h);
    // (c, x) at c + 2x: components of x=0 are 0,1; x=1: 2,3; x=2: 4,5
    b.extend([0u8, 1, 2, 3, 4, 5]);
    let v = read_nrrd_bytes(&b, &NrrdOptions::default()).unwrap();
    assert_eq!(v.shape, vec![3, 1, 2]);
    assert_eq!(v.data, VolumeData::U8(vec![0, 2, 4, 1, 3, 5]));
    assert_eq!(v.spacing, vec![1.0, 1.0, 1.0]);
}

#[test]
fn bad_headers_are_coded_errors() {
    let data = vec![0u8; 64];
    let with = |lines: &str| {
        let mut b = header(lines);
        b.extend(&data);
        b
    };
    let cases: Vec<(&str, Vec<u8>, Code)> = vec![
        ("empty", vec![], Code::Format),
        ("not nrrd", b"P6\n2 2\n255\n".to_vec(), Code::Format),
        ("version 9", b"NRRD0009\ntype: short\n\n".to_vec(), Code::Unsupported),
        ("bad magic", b"NRRDXXXX\n\n".to_vec(), Code::Format),
        ("no end", b"NRRD0004\ntype: short".to_vec(), Code::Format),
        ("missing type", with("dimension: 1\nsizes: 2\nencoding: raw\n"), Code::Format),
        ("missing sizes", with("type: uchar\ndimension: 1\nencoding: raw\n"), Code::Format),
        ("missing encoding", with("type: uchar\ndimension: 1\nsizes: 2\n"), Code::Format),
        ("missing endian", with("type: short\ndimension: 1\nsizes: 2\nencoding: raw\n"), Code::Format),
        ("unknown type", with("type: quad\ndimension: 1\nsizes: 2\nencoding: raw\n"), Code::Format),
        ("block type", with("type: block\ndimension: 1\nsizes: 2\nencoding: raw\n"), Code::Unsupported),
        ("bzip2", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: bzip2\n"), Code::Unsupported),
        ("unknown encoding", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: zstd\n"), Code::Format),
        ("bad endian", with("type: short\ndimension: 1\nsizes: 2\nendian: middle\nencoding: raw\n"), Code::Format),
        ("dimension 0", with("type: uchar\ndimension: 0\nsizes: \nencoding: raw\n"), Code::Format),
        ("dimension 17", with("type: uchar\ndimension: 17\nsizes: 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\nencoding: raw\n"), Code::Format),
        ("negative size", with("type: uchar\ndimension: 2\nsizes: 2 -2\nencoding: raw\n"), Code::Format),
        ("zero size", with("type: uchar\ndimension: 2\nsizes: 2 0\nencoding: raw\n"), Code::Format),
        ("sizes count", with("type: uchar\ndimension: 3\nsizes: 2 2\nencoding: raw\n"), Code::Format),
        ("size overflow", with("type: double\ndimension: 3\nsizes: 4294967296 4294967296 4294967296\nendian: little\nencoding: raw\n"), Code::Format),
        ("huge but no data", with("type: double\ndimension: 3\nsizes: 100000 100000 10\nendian: little\nencoding: raw\n"), Code::Format),
        ("huge gzip", with("type: double\ndimension: 3\nsizes: 1000 1000 1000\nendian: little\nencoding: gzip\n"), Code::Format),
        ("short raw", with("type: uchar\ndimension: 1\nsizes: 65\nencoding: raw\n"), Code::Format),
        ("duplicate field", with("type: uchar\ntype: uchar\ndimension: 1\nsizes: 2\nencoding: raw\n"), Code::Format),
        ("unknown field", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\ncolour: red\n"), Code::Format),
        ("garbage line", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\nhello\n"), Code::Format),
        ("unknown space", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\nspace: mars\n"), Code::Format),
        ("directions count", with("type: uchar\ndimension: 2\nsizes: 2 2\nencoding: raw\nspace: LPS\nspace directions: (1,0,0)\n"), Code::Format),
        ("direction components", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\nspace: LPS\nspace directions: (1,0)\n"), Code::Format),
        ("nan direction", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\nspace: LPS\nspace directions: (nan,0,0)\n"), Code::Format),
        ("zero direction", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\nspace: LPS\nspace directions: (0,0,0)\n"), Code::Format),
        ("directions without space", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\nspace directions: (1,0,0)\n"), Code::Format),
        ("bad origin", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\nspace: LPS\nspace origin: (1,2)\n"), Code::Format),
        ("inf origin", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\nspace: LPS\nspace origin: (1,2,inf)\n"), Code::Format),
        ("unknown kind", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\nkinds: wibble\n"), Code::Format),
        ("kinds count", with("type: uchar\ndimension: 2\nsizes: 2 2\nencoding: raw\nkinds: domain\n"), Code::Format),
        ("byte skip -2", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\nbyte skip: -2\n"), Code::Format),
        ("byte skip -1 gzip", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: gzip\nbyte skip: -1\n"), Code::Format),
        ("byte skip past end", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\nbyte skip: 1000\n"), Code::Format),
        ("line skip past end", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\nline skip: 1000\n"), Code::Format),
        ("detached in memory", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\ndata file: x.raw\n"), Code::Unsupported),
        ("detached absolute", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\ndata file: /etc/passwd\n"), Code::Format),
        ("detached dotdot", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\ndata file: ../../secret.raw\n"), Code::Format),
        ("detached list dotdot", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\ndata file: LIST\nok.raw\n../x.raw\n"), Code::Format),
        ("pattern many files", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: raw\ndata file: s%d.raw 0 100000000 1\n"), Code::Format),
        ("non-utf8 header", b"NRRD0004\ntype: \xff\xfe\n\n".to_vec(), Code::Format),
        ("ascii bad token", b"NRRD0004\ntype: uchar\ndimension: 1\nsizes: 2\nencoding: ascii\n\n1 x\n".to_vec(), Code::Format),
        ("ascii too few", b"NRRD0004\ntype: uchar\ndimension: 1\nsizes: 3\nencoding: ascii\n\n1 2\n".to_vec(), Code::Format),
        ("ascii out of range", b"NRRD0004\ntype: uchar\ndimension: 1\nsizes: 2\nencoding: ascii\n\n1 300\n".to_vec(), Code::Format),
        ("hex bad digit", b"NRRD0004\ntype: uchar\ndimension: 1\nsizes: 2\nencoding: hex\n\n0g11\n".to_vec(), Code::Format),
        ("not gzip", with("type: uchar\ndimension: 1\nsizes: 2\nencoding: gzip\n"), Code::Format),
    ];
    for (what, bytes, want) in cases {
        let t = std::time::Instant::now();
        let got = std::panic::catch_unwind(|| code_of(&bytes))
            .unwrap_or_else(|_| panic!("{what}: panicked"));
        assert_eq!(got, want, "{what}");
        assert!(t.elapsed().as_secs_f64() < 1.0, "{what}: slow");
    }
}

#[test]
fn corrupt_and_truncated_gzip_are_format_errors() {
    let v = vol(
        &[8, 8, 8],
        OBLIQUE,
        VolumeData::I16((0..512).map(|i| (i * 37 % 1000) as i16).collect()),
    );
    let good = write_nrrd_bytes(&v, true).unwrap();
    let hl = good.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    // truncated
    for cut in [hl + 5, hl + (good.len() - hl) / 2, good.len() - 3] {
        assert_eq!(code_of(&good[..cut]), Code::Format, "cut at {cut}");
    }
    // a flipped byte in the deflate data or the CRC
    for pos in [hl + 12, good.len() - 6] {
        let mut bad = good.clone();
        bad[pos] ^= 0x55;
        match read_nrrd_bytes(&bad, &NrrdOptions::default()) {
            Err(e) => assert_eq!(e.code, Code::Format),
            Ok(r) => panic!("flip at {pos} read as {:?}", r.shape),
        }
    }
    // multi-member gzip is fine
    let mut two = good[..hl].to_vec();
    let raw = write_nrrd_bytes(&v, false).unwrap();
    let payload = &raw[raw.windows(2).position(|w| w == b"\n\n").unwrap() + 2..];
    two.extend(gzip(&payload[..100]));
    two.extend(gzip(&payload[100..]));
    assert_eq!(
        read_nrrd_bytes(&two, &NrrdOptions::default()).unwrap().data,
        v.data
    );
}

#[test]
fn max_bytes_applies_before_reading() {
    let v = vol(&[10, 10, 10], OBLIQUE, VolumeData::F64(vec![1.0; 1000]));
    let b = write_nrrd_bytes(&v, false).unwrap();
    let e = read_nrrd_bytes(&b, &NrrdOptions { max_bytes: 7999 }).unwrap_err();
    assert_eq!(e.code, Code::Format);
    assert!(e.message.contains("max_bytes"), "{}", e.message);
    assert!(read_nrrd_bytes(&b, &NrrdOptions { max_bytes: 8000 }).is_ok());
}

#[test]
fn detached_files_outside_the_directory_are_refused_from_disk() {
    let dir = std::env::temp_dir().join(format!("voxelkit-nrrd-esc-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("outside.raw"), [1u8, 2]).unwrap();
    std::fs::write(dir.join("sub/inside.raw"), [3u8, 4]).unwrap();
    let hdr = |name: &str| {
        format!("NRRD0004\ntype: uchar\ndimension: 1\nsizes: 2\nencoding: raw\ndata file: {name}\n")
    };
    std::fs::write(dir.join("sub/esc.nhdr"), hdr("../outside.raw")).unwrap();
    let abs = dir.join("outside.raw");
    std::fs::write(dir.join("sub/abs.nhdr"), hdr(abs.to_str().unwrap())).unwrap();
    std::fs::write(dir.join("sub/ok.nhdr"), hdr("inside.raw")).unwrap();
    std::fs::write(dir.join("sub/missing.nhdr"), hdr("nope.raw")).unwrap();
    let o = NrrdOptions::default();
    assert_eq!(
        read_nrrd(&dir.join("sub/esc.nhdr"), &o).unwrap_err().code,
        Code::Format
    );
    assert_eq!(
        read_nrrd(&dir.join("sub/abs.nhdr"), &o).unwrap_err().code,
        Code::Format
    );
    assert_eq!(
        read_nrrd(&dir.join("sub/missing.nhdr"), &o)
            .unwrap_err()
            .code,
        Code::Io
    );
    assert_eq!(
        read_nrrd(&dir.join("sub/ok.nhdr"), &o).unwrap().data,
        VolumeData::U8(vec![3, 4])
    );
    assert_eq!(
        read_nrrd(&dir.join("nothing.nrrd"), &o).unwrap_err().code,
        Code::Io
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `read_nrrd_detached_bytes` (the data files in memory; the `nrrd_detached` fuzz target's
/// entry) reads what `read_nrrd` reads from the same files on disk, in every encoding and
/// every `data file` form, and refuses the same names.
#[test]
fn detached_data_from_memory_read_as_from_disk() {
    let dir = std::env::temp_dir().join(format!("voxelkit-nrrd-mem-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let vals: Vec<i16> = (-3..9).collect();
    let enc = |e: &str, v: &[i16]| -> Vec<u8> {
        let raw: Vec<u8> = v.iter().flat_map(|x| x.to_be_bytes()).collect();
        match e {
            "raw" => raw,
            "gzip" => gzip(&raw),
            "ascii" => format!(
                "{}\n",
                v.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            )
            .into_bytes(),
            _ => raw
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into_bytes(),
        }
    };
    let o = NrrdOptions::default();
    let base = "NRRD0004\ntype: short\ndimension: 3\nsizes: 2 3 2\nendian: big\n\
                space directions: (1,0,0) (0,1,0) (0,0,2)\nspace: RAS\n";
    for e in ["raw", "gzip", "ascii", "hex"] {
        let (a, b) = (enc(e, &vals[..6]), enc(e, &vals[6..]));
        let whole = enc(e, &vals);
        type Files<'a> = Vec<(&'a str, &'a [u8])>;
        let forms: [(&str, Files); 4] = [
            ("data file: sub/v.dat\n", vec![("sub/v.dat", &whole)]),
            (
                "datafile: ./v.dat\nbyte skip: 0\n",
                vec![("./v.dat", &whole)],
            ),
            (
                "data file: LIST 3\ns0.dat\nsub/s1.dat\n",
                vec![("s0.dat", &a), ("sub/s1.dat", &b)],
            ),
            (
                "data file: s%02d.dat 1 2 1 3\n",
                vec![("s01.dat", &a), ("s02.dat", &b)],
            ),
        ];
        for (form, files) in forms {
            let hdr = format!("{base}encoding: {e}\n{form}");
            std::fs::write(dir.join("h.nhdr"), &hdr).unwrap();
            for (n, d) in &files {
                std::fs::write(dir.join(n), d).unwrap();
            }
            let disk = read_nrrd(&dir.join("h.nhdr"), &o).unwrap();
            let mem = read_nrrd_detached_bytes(hdr.as_bytes(), &files, &o).unwrap();
            assert_eq!(mem.data, VolumeData::I16(vals.clone()), "{e} {form}");
            assert_eq!(
                (&mem.shape, &mem.affine, &mem.data),
                (&disk.shape, &disk.affine, &disk.data)
            );
            // a file missing: ERR_IO, as on disk
            let e2 = read_nrrd_detached_bytes(hdr.as_bytes(), &files[..files.len() - 1], &o);
            assert_eq!(e2.unwrap_err().code, Code::Io);
            // a short file: ERR_FORMAT
            let short: Vec<(&str, &[u8])> =
                files.iter().map(|(n, d)| (*n, &d[..d.len() / 2])).collect();
            assert_eq!(
                read_nrrd_detached_bytes(hdr.as_bytes(), &short, &o)
                    .unwrap_err()
                    .code,
                Code::Format
            );
        }
    }
    // names leaving the header's directory are refused before any lookup, even when given
    let raw = enc("raw", &vals);
    for bad in [
        "../v.dat",
        "/etc/v.dat",
        "sub/../../v.dat",
        "LIST\nok.dat\n../v.dat",
        "../s%d.dat 0 1 1",
    ] {
        let hdr = format!("{base}encoding: raw\ndata file: {bad}\n");
        let files: Vec<(&str, &[u8])> =
            vec![("../v.dat", &raw), ("/etc/v.dat", &raw), ("ok.dat", &raw)];
        let e = read_nrrd_detached_bytes(hdr.as_bytes(), &files, &o).unwrap_err();
        assert_eq!(e.code, Code::Format, "{bad}: {}", e.message);
    }
    // attached data in a .nhdr-style header read from memory
    let mut att = format!("{base}encoding: raw\n\n").into_bytes();
    att.extend(&raw);
    assert_eq!(
        read_nrrd_detached_bytes(&att, &[], &o).unwrap().data,
        VolumeData::I16(vals.clone())
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn writer_refuses_singular_affines() {
    let d = || VolumeData::U8(vec![0; 8]);
    let mut zero_col = OBLIQUE;
    zero_col[1] = 0.0;
    zero_col[5] = 0.0;
    zero_col[9] = 0.0;
    let mut collinear = OBLIQUE;
    for r in 0..3 {
        collinear[4 * r + 2] = 2.0 * collinear[4 * r];
    }
    for a in [zero_col, collinear, [0.0; 16]] {
        let e = write_nrrd_bytes(&vol(&[2, 2, 2], a, d()), false).unwrap_err();
        assert_eq!(e.code, Code::Setting, "{}", e.message);
    }
    // a 2-axis volume needs only its two columns
    let mut flat = OBLIQUE;
    for r in 0..3 {
        flat[4 * r + 2] = 0.0;
    }
    assert!(write_nrrd_bytes(&vol(&[4, 2], flat, d()), false).is_ok());
}
