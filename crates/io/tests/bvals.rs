//! bval/bvec parsing against DIPY's `read_bvals_bvecs` (np.loadtxt) behaviour. Reference
//! numbers come from DIPY's logic run with numpy 2.4.6: `np.squeeze(np.loadtxt(...))` after
//! replacing tabs and commas by spaces, transposed when `shape[1] != 3`.

mod common;

use common::{reference, scratch};
use voxelkit_core::Code;
use voxelkit_io::{parse_bvals_bvecs, read_bvals_bvecs};

fn code(bval: &str, bvec: &str) -> Code {
    match parse_bvals_bvecs(bval, bvec) {
        Ok(g) => panic!("expected an error, got {g:?}"),
        Err(e) => e.code,
    }
}

/// The b-vectors read from a bval and a bvec text that parse.
fn bvecs_of(bval: &str, bvec: &str) -> Vec<[f64; 3]> {
    parse_bvals_bvecs(bval, bvec).unwrap().bvecs
}

#[test]
fn fsl_layout_three_rows() {
    // 3 x 3 is read as DIPY reads it: one gradient per row (no transpose).
    assert_eq!(
        bvecs_of("0 1000 2000\n", "1 0 0\n0 1 0\n0 0 1\n"),
        vec![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    );
    let g = parse_bvals_bvecs("0 1000 2000 3000", "1 2 3 4\n5 6 7 8\n9 10 11 12").unwrap();
    assert_eq!(g.bvals, vec![0.0, 1000.0, 2000.0, 3000.0]);
    assert_eq!(
        g.bvecs,
        vec![
            [1.0, 5.0, 9.0],
            [2.0, 6.0, 10.0],
            [3.0, 7.0, 11.0],
            [4.0, 8.0, 12.0]
        ]
    );
}

#[test]
fn three_by_three_is_row_per_gradient_like_dipy() {
    assert_eq!(
        bvecs_of("0 1 2", "1 2 3\n4 5 6\n7 8 9"),
        vec![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]
    );
}

#[test]
fn column_layouts_separators_and_comments() {
    let bval = "# b-values\n0\n1000\r\n\n1000\t\n2000\n";
    let bvec = "0,0,0\n1\t0\t0  # x\n0, 1, 0\n\n  0 0 1\n";
    let g = parse_bvals_bvecs(bval, bvec).unwrap();
    assert_eq!(g.bvals, vec![0.0, 1000.0, 1000.0, 2000.0]);
    assert_eq!(
        g.bvecs,
        vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    );
    // Empty fields from repeated commas vanish (DIPY turns ',' into ' ').
    let g = parse_bvals_bvecs("5,,10", "1,,0,0\n0 1 0").unwrap();
    assert_eq!(g.bvals, vec![5.0, 10.0]);
    assert_eq!(g.bvecs, vec![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    // Two gradients given 3 x 2 (DIPY itself rejects this through its max(shape) check).
    assert_eq!(
        bvecs_of("0 1000", "1 0\n0 1\n0 0"),
        vec![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    );
}

#[test]
fn single_gradient_row_or_column() {
    let g = parse_bvals_bvecs("1000", "0.6 0.8 0").unwrap();
    assert_eq!(g.bvals, vec![1000.0]);
    assert_eq!(g.bvecs, vec![[0.6, 0.8, 0.0]]);
    assert_eq!(bvecs_of("1000\n", "0.6\n0.8\n0\n"), vec![[0.6, 0.8, 0.0]]);
}

#[test]
fn nan_and_inf_are_numbers() {
    let g = parse_bvals_bvecs("0 inf 1e3", "nan 1 0\nNaN 0 1\n-inf +0.5 .5").unwrap();
    assert_eq!(g.bvals[1], f64::INFINITY);
    // 3 x 3: one gradient per row.
    assert!(g.bvecs[0][0].is_nan() && g.bvecs[1][0].is_nan());
    assert_eq!(g.bvecs[0][1..], [1.0, 0.0]);
    assert_eq!(g.bvecs[2], [f64::NEG_INFINITY, 0.5, 0.5]);
}

#[test]
fn malformed_files() {
    // Ragged rows.
    assert_eq!(code("0 1000", "1 0\n0 1 0\n0 0"), Code::Format);
    assert_eq!(code("0 1\n2", "1 0\n0 1\n0 0"), Code::Format);
    // Non-numeric tokens.
    assert_eq!(code("0 b1000", "1 0\n0 1\n0 0"), Code::Format);
    assert_eq!(code("0 1000", "1 0\n0 x\n0 0"), Code::Format);
    assert_eq!(code("0;1000", "1 0\n0 1\n0 0"), Code::Format);
    // Empty files (blank or comments only).
    assert_eq!(code("", "1 0 0"), Code::Format);
    assert_eq!(code("1000", " \n\n# nothing\n"), Code::Format);
    // bvals as a 2-D table.
    assert_eq!(code("0 1\n2 3", "1 0 0 1\n0 1 0 0\n0 0 1 0"), Code::Format);
    // bvecs without an axis of length 3.
    assert_eq!(code("0 1 2 3", "1 0 0 1\n0 1 0 0"), Code::Format);
    assert_eq!(code("0 1", "1 0\n0 1"), Code::Format);
    assert_eq!(code("0", "1 0 0 1"), Code::Format);
    let e = parse_bvals_bvecs("0 1000", "1 0\n0 x\n0 0").unwrap_err();
    assert!(
        e.message.contains("\"x\"") && e.message.contains("line 2"),
        "{e}"
    );
}

#[test]
fn count_mismatch_is_gradients_error() {
    let e = parse_bvals_bvecs("0 1000 2000", "1 0\n0 1\n0 0").unwrap_err();
    assert_eq!(e.code, Code::Gradients);
    assert!(e.message.contains('3') && e.message.contains('2'), "{e}");
}

#[test]
fn files_and_io_errors() {
    let d = scratch("bvals_files");
    std::fs::write(d.join("a.bval"), "0 1000\n").unwrap();
    std::fs::write(d.join("a.bvec"), "1 0\n0 1\n0 0\n").unwrap();
    let g = read_bvals_bvecs(&d.join("a.bval"), &d.join("a.bvec")).unwrap();
    assert_eq!(g.bvals, vec![0.0, 1000.0]);
    let e = read_bvals_bvecs(&d.join("missing.bval"), &d.join("a.bvec")).unwrap_err();
    assert_eq!(e.code, Code::Io);
    std::fs::write(d.join("bin.bvec"), [0xffu8, 0xfe, 0x00]).unwrap();
    let e = read_bvals_bvecs(&d.join("a.bval"), &d.join("bin.bvec")).unwrap_err();
    assert_eq!(e.code, Code::Format);
}

fn check_dipy(
    name: &str,
    n: usize,
    first_bvals: [f64; 3],
    last_bval: f64,
    bval_sum: f64,
    bvecs: [[f64; 3]; 2],
    last_bvec: [f64; 3],
    bvec_sum: Option<f64>,
) {
    let (Some(bval), Some(bvec)) = (
        reference(&format!("dipy/{name}.bval")),
        reference(&format!("dipy/{name}.bvec")),
    ) else {
        return;
    };
    let g = read_bvals_bvecs(&bval, &bvec).unwrap();
    assert_eq!((g.bvals.len(), g.bvecs.len()), (n, n), "{name}");
    assert_eq!(g.bvals[..3], first_bvals, "{name}");
    assert_eq!(g.bvals[n - 1], last_bval, "{name}");
    let s: f64 = g.bvals.iter().sum();
    assert!(
        (s - bval_sum).abs() < 1e-9 * bval_sum,
        "{name}: bval sum {s} vs {bval_sum}"
    );
    let (i0, i1) = if bvecs[0][0].is_nan() { (1, 1) } else { (0, 1) };
    if i0 == 0 {
        assert_eq!(g.bvecs[0], bvecs[0], "{name}");
    } else {
        assert!(
            g.bvecs[0].iter().all(|v| v.is_nan()),
            "{name}: first bvec is nan nan nan"
        );
    }
    assert_eq!(g.bvecs[i1], bvecs[1], "{name}");
    assert_eq!(g.bvecs[n - 1], last_bvec, "{name}");
    if let Some(want) = bvec_sum {
        let s: f64 = g.bvecs.iter().flatten().sum();
        assert!((s - want).abs() < 1e-9, "{name}: bvec sum {s} vs {want}");
    }
}

#[test]
fn reference_dipy_gradients() {
    // small_64D: 65 x 3 (N rows x 3), first row "nan nan nan".
    check_dipy(
        "small_64D",
        65,
        [0.0, 992.8797843126392, 1001.0215650293118],
        1001.6936582119865,
        63628.329160374306,
        [
            [f64::NAN; 3],
            [
                0.004163478118279528,
                0.9999827048187633,
                -0.004153975602799727,
            ],
        ],
        [0.9530327551768297, -0.265335778380491, 0.14603250416013452],
        None,
    );
    // small_101D: 3 x 102 (FSL layout).
    check_dipy(
        "small_101D",
        102,
        [15.0, 310.0, 310.0],
        3935.0,
        249435.0,
        [
            [0.51103121042251, 0.50123381614685, -0.69829213619232],
            [-0.00053472840227, -0.99942123889923, 0.03401271253824],
        ],
        [0.57221281528472, 0.00144742033444, -0.82010388374328],
        Some(-30.3281146133575),
    );
    // small_25: 3 x 26.
    check_dipy(
        "small_25",
        26,
        [0.0, 2000.0, 2000.0],
        2000.0,
        50000.0,
        [[0.0, 0.0, 0.0], [-0.3347, 0.933, 0.1322]],
        [0.246, -0.1143, 0.9625],
        Some(13.1285),
    );
}
