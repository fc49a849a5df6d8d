//! Voxel arrays in their element types: the one place that lists the types voxelkit handles.
//!
//! * [`Dtype`]: the name of an element type (`"uint8"`, …, `"float64"`), as the JS TypedArray
//!   families and numpy call them.
//! * [`Voxels`]: a borrowed array of any supported type (what a kernel call receives).
//! * [`VoxelBuf`]: an owned array of any supported type (what a reader returns, a writer takes).
//! * [`with_samples!`](crate::with_samples): calls generic code with the typed slice of a
//!   [`Voxels`] whose type is a [`Sample`](crate::Sample).
//!
//! The file readers return all ten types; every entry point that takes voxels (the kernels,
//! and the writers, so that what is written is what can be processed) takes the eight
//! [`Sample`](crate::Sample) types and answers `ERR_DTYPE` for 64-bit integers, which float64
//! arithmetic cannot hold exactly (convert them to float64 first). Adding an element type means one line in
//! [`for_each_dtype!`](crate::for_each_dtype) (and, for kernels, a [`Sample`](crate::Sample)
//! impl).

use crate::Error;

/// Invokes `$m!` with the table of element types: `Variant rust_type "name" sample;` rows,
/// where `sample` is `yes` for the [`Sample`](crate::Sample) types kernels compute on.
#[macro_export]
macro_rules! for_each_dtype {
    ($m:ident) => {
        $m! {
            U8 u8 "uint8" yes;
            I8 i8 "int8" yes;
            I16 i16 "int16" yes;
            U16 u16 "uint16" yes;
            I32 i32 "int32" yes;
            U32 u32 "uint32" yes;
            I64 i64 "int64" no;
            U64 u64 "uint64" no;
            F32 f32 "float32" yes;
            F64 f64 "float64" yes;
        }
    };
}

macro_rules! define_voxel_types {
    ($($v:ident $t:ident $name:literal $s:ident;)*) => {
        /// An element type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Dtype {
            $($v,)*
        }

        impl Dtype {
            /// Every element type, in the table's order.
            pub const ALL: &'static [Dtype] = &[$(Dtype::$v,)*];

            /// The lower-case name (`"int16"`, `"float32"`, …).
            pub fn name(self) -> &'static str {
                match self {
                    $(Dtype::$v => $name,)*
                }
            }

            /// Bytes per element.
            pub fn size(self) -> usize {
                match self {
                    $(Dtype::$v => std::mem::size_of::<$t>(),)*
                }
            }

            /// Whether kernels compute on this type (see the module docs).
            pub fn is_sample(self) -> bool {
                match self {
                    $(Dtype::$v => define_voxel_types!(@yes $s),)*
                }
            }
        }

        impl std::fmt::Display for Dtype {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        /// Compares with a name (`Dtype::I16 == "int16"`).
        impl PartialEq<&str> for Dtype {
            fn eq(&self, other: &&str) -> bool {
                self.name() == *other
            }
        }

        impl std::str::FromStr for Dtype {
            type Err = Error;
            fn from_str(s: &str) -> crate::Result<Self> {
                match s {
                    $($name => Ok(Dtype::$v),)*
                    _ => Err(Error::dtype(format!(
                        "unknown element type '{s}' ({})",
                        Dtype::ALL.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")
                    ))),
                }
            }
        }

        /// A borrowed voxel array of any supported element type.
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum Voxels<'a> {
            $($v(&'a [$t]),)*
        }

        /// An owned voxel array of any supported element type.
        #[derive(Debug, Clone, PartialEq)]
        pub enum VoxelBuf {
            $($v(Vec<$t>),)*
        }

        $(
            impl<'a> From<&'a [$t]> for Voxels<'a> {
                fn from(s: &'a [$t]) -> Self {
                    Voxels::$v(s)
                }
            }
            impl From<Vec<$t>> for VoxelBuf {
                fn from(v: Vec<$t>) -> Self {
                    VoxelBuf::$v(v)
                }
            }
        )*

        impl Voxels<'_> {
            /// Number of elements.
            pub fn len(&self) -> usize {
                match self {
                    $(Voxels::$v(s) => s.len(),)*
                }
            }
            /// Whether there are no elements.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }
            /// The element type.
            pub fn dtype(&self) -> Dtype {
                match self {
                    $(Voxels::$v(_) => Dtype::$v,)*
                }
            }
            /// An owned copy.
            pub fn to_buf(&self) -> VoxelBuf {
                match self {
                    $(Voxels::$v(s) => VoxelBuf::$v(s.to_vec()),)*
                }
            }
        }

        impl VoxelBuf {
            /// Number of elements.
            pub fn len(&self) -> usize {
                self.voxels().len()
            }
            /// Whether there are no elements.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }
            /// The element type.
            pub fn dtype(&self) -> Dtype {
                self.voxels().dtype()
            }
            /// A borrowed view.
            pub fn voxels(&self) -> Voxels<'_> {
                match self {
                    $(VoxelBuf::$v(v) => Voxels::$v(v),)*
                }
            }
        }
    };
    (@yes yes) => { true };
    (@yes no) => { false };
}
for_each_dtype!(define_voxel_types);

/// The `ERR_DTYPE` error for an array that a computing kernel does not take.
pub fn not_a_sample(what: &str, dtype: Dtype) -> Error {
    Error::dtype(format!(
        "{what} data of type {dtype} are not supported: computation is in float64, which cannot \
         hold every 64-bit integer exactly; convert to float64 first (supported: {})",
        Dtype::ALL
            .iter()
            .filter(|d| d.is_sample())
            .map(|d| d.name())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Evaluates `$body` with `$s` bound to the typed slice of the [`Voxels`] `$v` when its element
/// type is a [`Sample`](crate::Sample); otherwise returns `Err(ERR_DTYPE)` naming `$what`.
/// `$body` must evaluate to a `Result`.
///
/// ```
/// use voxelkit_core::{with_samples, Sample, Voxels};
/// fn sum<T: Sample>(s: &[T]) -> f64 { s.iter().map(|x| x.to_f64()).sum() }
/// let data = [1i16, 2, 3];
/// let v = Voxels::from(&data[..]);
/// let total: voxelkit_core::Result<f64> = with_samples!(v, "image", |s| Ok(sum(s)));
/// assert_eq!(total.unwrap(), 6.0);
/// ```
#[macro_export]
macro_rules! with_samples {
    ($v:expr, $what:expr, |$s:ident| $body:expr) => {
        match $v {
            $crate::Voxels::U8($s) => $body,
            $crate::Voxels::I8($s) => $body,
            $crate::Voxels::I16($s) => $body,
            $crate::Voxels::U16($s) => $body,
            $crate::Voxels::I32($s) => $body,
            $crate::Voxels::U32($s) => $body,
            $crate::Voxels::F32($s) => $body,
            $crate::Voxels::F64($s) => $body,
            other => Err($crate::voxels::not_a_sample($what, other.dtype())),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sample;

    fn first<T: Sample>(s: &[T]) -> crate::Result<f64> {
        Ok(s[0].to_f64())
    }

    #[test]
    fn table_and_dispatch() {
        assert_eq!(Dtype::ALL.len(), 10);
        for d in Dtype::ALL {
            assert_eq!(d.name().parse::<Dtype>().unwrap(), *d);
        }
        assert_eq!(Dtype::F32.size(), 4);
        assert!(!Dtype::I64.is_sample() && Dtype::U8.is_sample());
        let a = [7u16, 8];
        let v = Voxels::from(&a[..]);
        assert_eq!(v.dtype(), Dtype::U16);
        assert_eq!(with_samples!(v, "x", |s| first(s)).unwrap(), 7.0);
        let b = VoxelBuf::from(vec![1i64]);
        let e = with_samples!(b.voxels(), "image", |s| first(s)).unwrap_err();
        assert_eq!(e.code, crate::Code::Dtype);
        assert!(e.to_string().contains("image data of type int64"));
        assert_eq!(v.to_buf(), VoxelBuf::U16(vec![7, 8]));
        assert_eq!(
            "float16".parse::<Dtype>().unwrap_err().code,
            crate::Code::Dtype
        );
    }
}
