//! Output arrays whose memory the JS engine owns.
//!
//! napi's `Float64Array::new(vec)` hands the Rust vector to JS as an *external* ArrayBuffer,
//! without a copy; but Node-API runs the finalizers of external buffers only after the event
//! loop turns, so a synchronous loop of `…Sync` calls keeps every output alive until it yields,
//! even after a GC (about 0.6 MiB per small DTI fit with its maps). [`Out`] instead copies the
//! result into an ArrayBuffer that V8 allocates and frees itself: collected by the next GC like
//! any JS array. The copy is one `memcpy` of the output; outputs larger than [`COPY_LIMIT`] are
//! still handed over without a copy (external), so peak memory never doubles for big volumes.

use napi::bindgen_prelude::*;
use napi::sys;
use std::ptr;

/// Outputs up to this size (bytes) are copied into engine-owned memory; larger ones move.
///
/// 4 MiB: the outputs that pile up in synchronous loops are the many small ones (a 1,000-call
/// loop of small fits grew by 590 MiB before); for larger outputs the copy costs more than it
/// saves (reading a 48 MiB NIfTI took twice as long as nibabel with a 64 MiB limit), and a
/// synchronous loop that creates many of them without yielding is memory-bound anyway.
/// Predictions, the largest outputs, are written straight into arrays the façade allocates.
pub const COPY_LIMIT: usize = 4 << 20;

/// Element types and their TypedArray.
pub trait Kind: Copy + 'static {
    /// The JS array type, as napi converts it.
    type Array: FromNapiValue + std::ops::Deref<Target = [Self]> + Send;
    const TYPE: TypedArrayType;
    const TS: &'static str;
    /// Hands `v` to JS as an external buffer (no copy).
    ///
    /// # Safety
    /// `env` must be the valid env of the current call.
    unsafe fn external(env: sys::napi_env, v: Vec<Self>) -> napi::Result<sys::napi_value>;
}

macro_rules! kind {
    ($($t:ty => $arr:ident, $ty:ident);* $(;)?) => {$(
        impl Kind for $t {
            type Array = $arr;
            const TYPE: TypedArrayType = TypedArrayType::$ty;
            const TS: &'static str = stringify!($arr);
            unsafe fn external(env: sys::napi_env, v: Vec<Self>) -> napi::Result<sys::napi_value> {
                // SAFETY: forwarded from the caller.
                unsafe { <$arr as ToNapiValue>::to_napi_value(env, $arr::new(v)) }
            }
        }
    )*};
}
kind! {
    u8 => Uint8Array, Uint8;
    i8 => Int8Array, Int8;
    i16 => Int16Array, Int16;
    u16 => Uint16Array, Uint16;
    i32 => Int32Array, Int32;
    u32 => Uint32Array, Uint32;
    f32 => Float32Array, Float32;
    f64 => Float64Array, Float64;
    i64 => BigInt64Array, BigInt64;
    u64 => BigUint64Array, BigUint64;
}

/// A result vector that becomes a TypedArray in engine-owned memory (see the module docs).
pub struct Out<T: Kind>(pub Vec<T>);

impl<T: Kind> TypeName for Out<T> {
    fn type_name() -> &'static str {
        T::TS
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl<T: Kind> ToNapiValue for Out<T> {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let v = val.0;
        let len = v.len();
        let bytes = std::mem::size_of_val(&v[..]);
        // WebAssembly (emnapi): an ArrayBuffer's memory lies outside the module's linear memory,
        // so the pointer `napi_create_arraybuffer` hands back is a staging copy that the copy
        // below would fill without reaching JS; napi-rs's own conversion moves the data over.
        if bytes > COPY_LIMIT || cfg!(target_family = "wasm") {
            // SAFETY: forwarded from the caller.
            return unsafe { T::external(env, v) };
        }
        let mut data: *mut std::ffi::c_void = ptr::null_mut();
        let mut ab = ptr::null_mut();
        // SAFETY: `env` is valid (caller); napi writes the new buffer's address and value.
        check_status!(
            unsafe { sys::napi_create_arraybuffer(env, bytes, &mut data, &mut ab) },
            "cannot allocate an ArrayBuffer of {} bytes",
            bytes
        )?;
        if bytes > 0 {
            // SAFETY: `data` points to `bytes` writable bytes just allocated by the engine; the
            // source is the vector's initialised elements (plain numbers, no padding).
            unsafe { ptr::copy_nonoverlapping(v.as_ptr().cast::<u8>(), data.cast::<u8>(), bytes) };
        }
        drop(v);
        let mut out = ptr::null_mut();
        // SAFETY: `ab` holds exactly `len` elements of T at offset 0.
        check_status!(
            unsafe { sys::napi_create_typedarray(env, T::TYPE as i32, len, ab, 0, &mut out) },
            "cannot create a TypedArray"
        )?;
        Ok(out)
    }
}
