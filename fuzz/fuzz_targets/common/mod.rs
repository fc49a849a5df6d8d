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

/// A gzip file of one member per part. Each member is written by hand with *stored* deflate
/// blocks (no compression) unless `compress`: the reader's gzip handling (magic sniffing,
/// multi-member streams, CRC and size trailer, decoded-size bounds) is exercised all the same,
/// without building a deflate compressor per execution. That compressor's state (~300 KiB
/// zeroed per `GzEncoder`) was most of the time of an execution (perf: memset and page faults
/// in `CompressorOxide::default`), and compressing is flate2's business, not voxelkit's. The
/// targets still compress a data-dependent 1 in 16 inputs for real.
#[allow(dead_code)] // nrrd_read writes its gzip through the NRRD writer
pub fn gzip(parts: &[&[u8]], compress: bool) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    for p in parts {
        if compress {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(p).unwrap();
            out.extend_from_slice(&e.finish().unwrap());
            continue;
        }
        // RFC 1952 header: magic, CM = deflate, no flags, mtime 0, XFL 0, OS = unknown.
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        // RFC 1951 stored blocks of at most 65,535 bytes (at least one, the last one final).
        let mut chunks: Vec<&[u8]> = p.chunks(65_535).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        let last = chunks.len() - 1;
        for (i, c) in chunks.iter().enumerate() {
            let len = c.len() as u16;
            out.push(u8::from(i == last));
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(c);
        }
        let mut crc = flate2::Crc::new();
        crc.update(p);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
    }
    out
}

/// A data-dependent 1 in 16 choice (for the inputs compressed for real).
pub fn one_in_16(data: &[u8]) -> bool {
    data.iter().fold(0u8, |a, &b| a.wrapping_add(b)) & 15 == 7
}
