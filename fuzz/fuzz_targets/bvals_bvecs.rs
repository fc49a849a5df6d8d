//! `parse_bvals_bvecs` on arbitrary text: the input is split at its first 0 byte into the
//! bval and the bvec text (both UTF-8-lossy). Invariants: no panic; errors are `ERR_FORMAT` or
//! `ERR_GRADIENTS`; on Ok there is at least one gradient, as many b-values as b-vectors, and
//! writing the result back (one row of b-values, one row per b-vector) parses to the same
//! values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxelkit_core::Code;
use voxelkit_io::parse_bvals_bvecs;

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fuzz_target!(|data: &[u8]| {
    let cut = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let bval = String::from_utf8_lossy(&data[..cut]);
    let bvec = String::from_utf8_lossy(data.get(cut + 1..).unwrap_or(&[]));
    match parse_bvals_bvecs(&bval, &bvec) {
        Ok(g) => {
            assert!(!g.bvals.is_empty());
            assert_eq!(g.bvals.len(), g.bvecs.len());
            // {:?} prints f64 so that it parses back exactly (NaN/inf as "NaN"/"inf").
            let bval2: Vec<String> = g.bvals.iter().map(|v| format!("{v:?}")).collect();
            let bvec2: Vec<String> = g
                .bvecs
                .iter()
                .map(|v| format!("{:?} {:?} {:?}", v[0], v[1], v[2]))
                .collect();
            let back = parse_bvals_bvecs(&bval2.join(" "), &bvec2.join("\n"))
                .expect("re-parsing a parsed gradient table");
            assert_eq!(back.bvals.len(), g.bvals.len());
            assert!(g.bvals.iter().zip(&back.bvals).all(|(a, b)| same(*a, *b)));
            assert!(g
                .bvecs
                .iter()
                .zip(&back.bvecs)
                .all(|(a, b)| (0..3).all(|k| same(a[k], b[k]))));
        }
        Err(e) => assert!(
            matches!(e.code, Code::Format | Code::Gradients),
            "unexpected code {:?}: {}",
            e.code,
            e.message
        ),
    }
});
