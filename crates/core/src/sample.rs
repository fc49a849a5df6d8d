//! Element types accepted as voxel data. Computation is always f64.

/// A voxel sample type that converts losslessly (or, for f32, exactly) to f64.
pub trait Sample: Copy + Send + Sync + 'static {
    /// `true` for `f32`: numpy keeps float32 data in float32 through `maximum` and `log`, and
    /// kernels that promise numpy's numbers do the same.
    const IS_F32: bool = false;
    fn to_f64(self) -> f64;
}

macro_rules! impl_sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            #[inline(always)]
            fn to_f64(self) -> f64 { self as f64 }
        }
    )*};
}
impl_sample!(u8, i8, i16, u16, i32, u32, f64);

impl Sample for f32 {
    const IS_F32: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
}
