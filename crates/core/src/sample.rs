//! Element types accepted as voxel data. Computation is always f64.

/// A voxel sample type that converts losslessly (or, for f32, exactly) to f64.
pub trait Sample: Copy + Send + Sync + 'static {
    /// `true` for `f32`: numpy keeps float32 data in float32 through `maximum` and `log`, and
    /// kernels that promise numpy's numbers do the same.
    const IS_F32: bool = false;
    /// `true` for floating-point types (which can hold NaN and infinities).
    const IS_FLOAT: bool = false;
    /// For 8- and 16-bit integers: the number of distinct values (2^bits), so that a function of
    /// the value can be tabulated (0 = not tabulable).
    const TABLE_LEN: usize = 0;
    fn to_f64(self) -> f64;
    /// The value `x` stored in this type as ITK's `ResampleImageFilter` stores an interpolated
    /// value (`CastPixelWithBoundsChecking`): integers saturate at the type's range and truncate
    /// toward zero (C++ `static_cast`, NaN gives 0), `f32` clamps to its finite range and rounds
    /// to nearest, `f64` is unchanged.
    fn from_f64_saturating(x: f64) -> Self;
    /// Table index of the value: its bits as an unsigned integer, so negative values of signed
    /// types land in the upper half (only meaningful when `TABLE_LEN > 0`).
    #[inline(always)]
    fn table_index(self) -> usize {
        0
    }
    /// The value whose table index is `i` (inverse of [`Sample::table_index`]).
    #[inline(always)]
    fn from_table_index(_i: usize) -> f64 {
        0.0
    }
}

macro_rules! impl_sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            #[inline(always)]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline(always)]
            fn from_f64_saturating(x: f64) -> Self { x as $t }
        }
    )*};
}
impl_sample!(i32, u32);

impl Sample for f64 {
    const IS_FLOAT: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64_saturating(x: f64) -> Self {
        x
    }
}

macro_rules! impl_table_sample {
    ($($t:ty => $u:ty),*) => {$(
        impl Sample for $t {
            const TABLE_LEN: usize = 1 << <$u>::BITS;
            #[inline(always)]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline(always)]
            fn from_f64_saturating(x: f64) -> Self { x as $t }
            #[inline(always)]
            fn table_index(self) -> usize { self as $u as usize }
            #[inline(always)]
            fn from_table_index(i: usize) -> f64 { i as $u as $t as f64 }
        }
    )*};
}
impl_table_sample!(u8 => u8, i8 => u8, i16 => u16, u16 => u16);

impl Sample for f32 {
    const IS_F32: bool = true;
    const IS_FLOAT: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64_saturating(x: f64) -> Self {
        x.clamp(f32::MIN as f64, f32::MAX as f64) as f32
    }
}
