//! Element types accepted as voxel data. Computation is always f64.

/// A voxel sample type that converts losslessly (or, for f32, exactly) to f64.
pub trait Sample: Copy + Send + Sync + 'static {
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
impl_sample!(u8, i8, i16, u16, i32, u32, f32, f64);
