//! Detached NRRD (`.nhdr` with `data file:`) through `read_nrrd_detached_bytes`: the reader of
//! `read_nrrd` for a `.nhdr` path, its data files given in memory instead of the header's
//! directory (no file written per input).
//!
//! Input: the header up to the first 0 byte, then the data files, each a little-endian u16
//! length and that many bytes (the last one clipped to what is left). File k is given under the
//! k-th distinct name the header names (one name, `LIST`, or a `%d` pattern); a name beyond
//! the files given is missing. When the header's encoding is gzip and a file does not start
//! with the gzip magic, the file is wrapped as one gzip member (stored blocks; 1 input in 16
//! compressed for real), so that mutations of the payload reach the decoder; files that start
//! with the magic are given as they are (damaged streams).
//!
//! Invariants: no panic; errors are `ERR_FORMAT` or `ERR_UNSUPPORTED`, or `ERR_IO` only when a
//! named file is missing; names that escape the header's directory (absolute, `..`) are
//! `ERR_FORMAT` whatever the files; on Ok the volume checks of `nrrd_read`; and with one data
//! file named on the `data file` line, the header without that line followed by an empty line
//! and the data (the attached twin, `read_nrrd_bytes`) reads to the same volume (shape,
//! affine, bit-identical data) or fails with the same code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxelkit_core::Code;
use voxelkit_io::nrrd::{DataFiles, NrrdEncoding};
use voxelkit_io::{parse_nrrd_header, read_nrrd_bytes, read_nrrd_detached_bytes, NrrdOptions};

mod common;
use common::{check, gzip, one_in_16, same_data};

const MAX_AXES: usize = 16;

/// Whether a header line is the `data file` field (as the header parser reads field names).
fn is_data_file_line(line: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(line) else {
        return false;
    };
    if s.starts_with('#') {
        return false;
    }
    if let Some(i) = s.find(":=") {
        if !s[..i].contains(": ") {
            return false;
        }
    }
    let Some(name) = s
        .split_once(": ")
        .map(|p| p.0)
        .or_else(|| s.strip_suffix(':'))
    else {
        return false;
    };
    matches!(
        name.trim().to_ascii_lowercase().as_str(),
        "data file" | "datafile"
    )
}

/// The attached twin of a one-file detached header: its lines up to the header's end without
/// the `data file` line, an empty line, the data.
fn attached_twin(header: &[u8], header_len: usize, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_len + data.len() + 2);
    let mut dropped = false;
    for line in header[..header_len].split(|&b| b == b'\n') {
        let bare = line.strip_suffix(b"\r").unwrap_or(line);
        if bare.is_empty() {
            break;
        }
        if !dropped && is_data_file_line(bare) {
            dropped = true;
            continue;
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

fuzz_target!(|data: &[u8]| {
    // As nrrd_read: 1 MiB of decoded data at most (the cap is tested in crates/io/tests/nrrd.rs).
    let opts = NrrdOptions { max_bytes: 1 << 20 };
    let (header, mut rest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let mut chunks: Vec<&[u8]> = Vec::new();
    while !rest.is_empty() {
        let (len, body) = if rest.len() >= 2 {
            (u16::from_le_bytes([rest[0], rest[1]]) as usize, &rest[2..])
        } else {
            (rest.len(), rest)
        };
        let len = len.min(body.len());
        chunks.push(&body[..len]);
        rest = &body[len..];
    }
    let parsed = parse_nrrd_header(header, true);
    let names: Vec<String> = match &parsed {
        Ok(h) => match &h.data {
            DataFiles::Detached { names, .. } => {
                let mut u: Vec<String> = Vec::new();
                for n in names {
                    if !u.contains(n) {
                        u.push(n.clone());
                    }
                }
                u
            }
            DataFiles::Attached => Vec::new(),
        },
        Err(_) => Vec::new(),
    };
    let gz = matches!(&parsed, Ok(h) if h.encoding == NrrdEncoding::Gzip);
    let real = one_in_16(data);
    let owned: Vec<Vec<u8>> = chunks
        .iter()
        .map(|c| {
            if gz && !c.starts_with(&[0x1f, 0x8b]) {
                gzip(&[c], real)
            } else {
                c.to_vec()
            }
        })
        .collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&owned)
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let missing = names.len() > files.len();

    let r = read_nrrd_detached_bytes(header, &files, &opts);
    match &r {
        Err(e) if e.code == Code::Io => {
            assert!(missing, "ERR_IO with every file given: {}", e.message)
        }
        _ => check(&r, MAX_AXES, "detached read"),
    }
    if let Err(e) = &parsed {
        let re = r
            .as_ref()
            .expect_err("the header failed to parse, the read did not");
        assert_eq!(re.code, e.code, "read and header parse disagree");
    }

    // The attached twin of a header naming one file on its `data file` line.
    let Ok(h) = &parsed else { return };
    let one_line = matches!(&h.data, DataFiles::Detached { names, .. }
        if names.len() == 1 && !header[..h.header_len].windows(4).any(|w| w == b"LIST"));
    if !one_line || files.len() != 1 {
        return;
    }
    let twin = attached_twin(header, h.header_len, files[0].1);
    let a = read_nrrd_bytes(&twin, &opts);
    match (&r, &a) {
        (Ok(d), Ok(t)) => {
            assert_eq!(d.shape, t.shape, "twin shape");
            assert_eq!(d.affine, t.affine, "twin affine");
            assert!(same_data(&d.data, &t.data), "twin data");
        }
        (Err(d), Err(t)) => assert_eq!(d.code, t.code, "twin error: {} / {}", d.message, t.message),
        (d, t) => panic!(
            "detached and attached twin disagree: {:?} / {:?}",
            d.as_ref().map(|v| &v.shape).map_err(|e| &e.message),
            t.as_ref().map(|v| &v.shape).map_err(|e| &e.message)
        ),
    }
});
