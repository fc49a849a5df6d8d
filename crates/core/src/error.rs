//! Coded errors. Every failure that can reach a user carries a stable [`Code`].

use std::fmt;

/// Stable error codes; the binding prefixes messages with `[CODE]` and the TypeScript façade
/// turns them into `VoxelkitError.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Shapes or lengths disagree (data vs shape, mask vs image, …).
    Shape,
    /// Unsupported or mismatched element type.
    Dtype,
    /// Gradient table problems (counts, norms, non-finite values, insufficient scheme).
    Gradients,
    /// Malformed file content (bad magic, truncated data, corrupt gzip, …).
    Format,
    /// Invalid option value.
    Setting,
    /// A known option or feature that is not built yet.
    Unsupported,
    /// The call was cancelled.
    Aborted,
    /// Operating-system I/O failure (missing file, permission, …).
    Io,
    /// An internal invariant failed (a caught panic). Always a bug.
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Shape => "ERR_SHAPE",
            Code::Dtype => "ERR_DTYPE",
            Code::Gradients => "ERR_GRADIENTS",
            Code::Format => "ERR_FORMAT",
            Code::Setting => "ERR_SETTING",
            Code::Unsupported => "ERR_UNSUPPORTED",
            Code::Aborted => "ERR_ABORTED",
            Code::Io => "ERR_IO",
            Code::Internal => "ERR_INTERNAL",
        }
    }
}

/// A coded error with a message that says what was expected and what came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
    pub fn aborted() -> Self {
        Self::new(Code::Aborted, "the operation was aborted")
    }
}

/// One constructor per code that carries a message: `Error::shape(m)` is
/// `Error::new(Code::Shape, m)`, and so on.
macro_rules! constructors {
    ($($name:ident => $code:ident),* $(,)?) => {
        impl Error {
            $(
                pub fn $name(m: impl Into<String>) -> Self {
                    Self::new(Code::$code, m)
                }
            )*
        }
    };
}

constructors! {
    shape => Shape,
    dtype => Dtype,
    gradients => Gradients,
    format => Format,
    setting => Setting,
    unsupported => Unsupported,
    io => Io,
    internal => Internal,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io(e.to_string())
    }
}

/// Runs `f`, turning a panic (on this thread or inside a rayon pool it waits on) into
/// `ERR_INTERNAL`, so that no panic ever crosses into the host process.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "unknown panic".to_string()
            };
            Err(Error::internal(format!(
                "internal error (caught panic): {msg}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_carries_code() {
        let e = Error::shape("expected 3, got 4");
        assert_eq!(e.to_string(), "[ERR_SHAPE] expected 3, got 4");
    }

    #[test]
    fn panics_become_internal_errors() {
        let r: Result<()> = catch_panic(|| panic!("boom"));
        let e = r.unwrap_err();
        assert_eq!(e.code, Code::Internal);
        assert!(e.message.contains("boom"));
    }
}
