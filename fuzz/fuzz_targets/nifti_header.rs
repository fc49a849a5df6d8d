//! `parse_nifti_header` on arbitrary bytes (and gzip-wrapped), then every header method.
//! Invariants: no panic; errors are `ERR_FORMAT`; on Ok the version, size and magic agree, the
//! validated accessors keep their documented guarantees (shape of `dim[0]` axes >= 1, data
//! offset >= header + 4, finite scaling, finite positive spacing, finite best affine) and the
//! gzip-wrapped bytes give the same header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxelkit_core::Code;
use voxelkit_io::{parse_nifti_header, NiftiHeader};

#[allow(dead_code)] // the volume checks are the readers'
mod common;

fn check(h: &NiftiHeader) {
    assert!(h.version == 1 || h.version == 2);
    assert_eq!(h.header_size(), if h.version == 1 { 348 } else { 540 });
    assert_eq!(h.magic.len(), if h.version == 1 { 4 } else { 8 });
    if let Err(e) = h.check_magic() {
        assert!(matches!(e.code, Code::Format | Code::Unsupported), "{e:?}");
    }
    match h.shape() {
        Ok(s) => {
            assert_eq!(s.len() as i64, h.dim[0]);
            assert!(s.iter().all(|&d| d >= 1));
        }
        Err(e) => assert_eq!(e.code, Code::Format),
    }
    if let Err(e) = h.dtype() {
        assert!(matches!(e.code, Code::Format | Code::Unsupported), "{e:?}");
    }
    match h.data_offset() {
        Ok(off) => assert!(off >= h.header_size() as u64 + 4, "offset {off}"),
        Err(e) => assert_eq!(e.code, Code::Format),
    }
    match h.scaling() {
        Ok(Some((s, i))) => assert!(s.is_finite() && s != 0.0 && i.is_finite()),
        Ok(None) => {}
        Err(e) => assert_eq!(e.code, Code::Format),
    }
    let sp = h.spacing();
    assert_eq!(sp.len(), h.dim[0].clamp(0, 3) as usize);
    assert!(
        sp.iter().all(|s| s.is_finite() && *s > 0.0),
        "spacing {sp:?}"
    );
    let _ = h.sform();
    let _ = h.qform();
    let _ = h.base_affine();
    let a = h.best_affine();
    assert!(a.iter().all(|x| x.is_finite()), "best affine {a:?}");
    assert_eq!(a[12..], [0.0, 0.0, 0.0, 1.0]);
}

fuzz_target!(|data: &[u8]| {
    let raw = parse_nifti_header(data);
    match &raw {
        Ok(h) => check(h),
        Err(e) => assert_eq!(e.code, Code::Format, "{e:?}"),
    }
    if data.len() >= 2 && data[0] == 0x1f && data[1] == 0x8b {
        return;
    }
    // Only the header is read: compress no more than that (plus a little).
    let head = &data[..data.len().min(600)];
    let gz = parse_nifti_header(&common::gzip(&[head], common::one_in_16(data)));
    match (&raw, &gz) {
        // Debug compares NaN fields as equal, unlike PartialEq.
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(a), Err(b)) => assert_eq!(a.code, b.code),
        (a, b) => panic!("raw {a:?} vs gzip {b:?}"),
    }
});
