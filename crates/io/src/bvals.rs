//! FSL-style b-value and b-vector text files, read as DIPY's
//! `dipy.io.gradients.read_bvals_bvecs` reads them.
//!
//! * Tokens are separated by whitespace, tabs or commas (DIPY replaces `,` and `\t` by spaces
//!   before `np.loadtxt`); `#` starts a comment; blank lines are skipped; `nan`, `inf`,
//!   `-inf`, `infinity` (any case) are numbers (values are validated later, by the gradient
//!   table).
//! * Every non-blank line of a file must hold the same number of values (`np.loadtxt`), else
//!   `ERR_FORMAT`; a token that is not a number is `ERR_FORMAT`; a file without any number is
//!   `ERR_FORMAT`.
//! * b-values: one row or one column (any 1 x N or N x 1 table), else `ERR_FORMAT`.
//! * b-vectors: after squeezing singleton axes the table must have an axis of length 3, else
//!   `ERR_FORMAT`. A single row or column of 3 values is one gradient. A 2-D table is
//!   transposed when its number of columns is not 3 (DIPY's `if bvecs.shape[1] != 3:
//!   bvecs = bvecs.T`): so `3 x N` (FSL) and `N x 3` both work, and a `3 x 3` table is read
//!   **as DIPY reads it: one gradient per row** (not the FSL one-component-per-row layout).
//! * The number of b-values must equal the number of b-vectors, else `ERR_GRADIENTS` with
//!   both counts. (DIPY compares `max(bvals.shape)` with `max(bvecs.shape)`, which wrongly
//!   rejects one or two gradients given as a 2-D table; voxelkit compares the real counts.)

use std::path::Path;

use voxelkit_core::{Error, Result};

/// b-values (s/mm²) and b-vectors, one per gradient, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct BvalsBvecs {
    pub bvals: Vec<f64>,
    /// One `[x, y, z]` per gradient.
    pub bvecs: Vec<[f64; 3]>,
}

/// A rectangular table of numbers parsed from text, row-major.
struct Table {
    rows: usize,
    cols: usize,
    values: Vec<f64>,
}

/// Parses numbers the way DIPY feeds text to `np.loadtxt`: `,` and tabs are separators,
/// `#` starts a comment, blank lines are skipped, all rows must have the same length.
fn parse_table(text: &str, what: &str) -> Result<Table> {
    let mut values = Vec::new();
    let mut rows = 0usize;
    let mut cols = 0usize;
    let mut first_line = 0usize;
    for (lineno, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        let before = values.len();
        for tok in line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            let v: f64 = tok.parse().map_err(|_| {
                Error::format(format!(
                    "{what}: expected a number, got {tok:?} on line {}",
                    lineno + 1
                ))
            })?;
            values.push(v);
        }
        let n = values.len() - before;
        if n == 0 {
            continue;
        }
        if rows == 0 {
            cols = n;
            first_line = lineno + 1;
        } else if n != cols {
            return Err(Error::format(format!(
                "{what}: every row must hold the same number of values; line {first_line} has \
                 {cols}, line {} has {n}",
                lineno + 1
            )));
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(Error::format(format!(
            "{what}: expected numbers, got an empty file"
        )));
    }
    Ok(Table { rows, cols, values })
}

/// Parses the contents of a `.bval` and a `.bvec` file (see the [module docs](self)).
pub fn parse_bvals_bvecs(bval_text: &str, bvec_text: &str) -> Result<BvalsBvecs> {
    let bt = parse_table(bval_text, "bval file")?;
    if bt.rows != 1 && bt.cols != 1 {
        return Err(Error::format(format!(
            "bval file: expected one row (or one column) of b-values, got {} rows x {} columns",
            bt.rows, bt.cols
        )));
    }
    let bvals = bt.values;

    let vt = parse_table(bvec_text, "bvec file")?;
    let (r, c) = (vt.rows, vt.cols);
    let v = &vt.values;
    let bvecs: Vec<[f64; 3]> = if r == 1 || c == 1 {
        // np.squeeze gives a 1-D array: one gradient if it has 3 values.
        if v.len() != 3 {
            return Err(Error::format(format!(
                "bvec file: expected 3 rows (x, y, z) or 3 columns, got {r} rows x {c} columns"
            )));
        }
        vec![[v[0], v[1], v[2]]]
    } else if c == 3 {
        // N x 3 (and 3 x 3): one gradient per row, as DIPY.
        v.chunks_exact(3).map(|g| [g[0], g[1], g[2]]).collect()
    } else if r == 3 {
        // 3 x N (FSL): one gradient per column.
        (0..c).map(|j| [v[j], v[c + j], v[2 * c + j]]).collect()
    } else {
        return Err(Error::format(format!(
            "bvec file: expected 3 rows (x, y, z) or 3 columns, got {r} rows x {c} columns"
        )));
    };

    if bvals.len() != bvecs.len() {
        return Err(Error::gradients(format!(
            "the bval file has {} b-values but the bvec file has {} b-vectors; expected the \
             same number",
            bvals.len(),
            bvecs.len()
        )));
    }
    Ok(BvalsBvecs { bvals, bvecs })
}

fn read_text(path: &Path, what: &str) -> Result<String> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::io(format!("cannot read {what} {}: {e}", path.display())))?;
    String::from_utf8(bytes).map_err(|e| {
        Error::format(format!(
            "{what} {}: expected UTF-8 / ASCII text, got invalid byte at offset {}",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Reads a `.bval` and a `.bvec` file (see the [module docs](self)).
pub fn read_bvals_bvecs(bval_path: &Path, bvec_path: &Path) -> Result<BvalsBvecs> {
    let bval = read_text(bval_path, "bval file")?;
    let bvec = read_text(bvec_path, "bvec file")?;
    parse_bvals_bvecs(&bval, &bvec).map_err(|e| {
        voxelkit_core::Error::new(
            e.code,
            format!(
                "{} ({}, {})",
                e.message,
                bval_path.display(),
                bvec_path.display()
            ),
        )
    })
}
