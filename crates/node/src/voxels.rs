//! Voxel data crossing the boundary: one input type ([`VolumeIn`], whose `data` is a TypedArray
//! of any of the eight computable element types of `voxelkit_core::for_each_dtype!`; 64-bit
//! integers are `ERR_DTYPE` at every entry) and one output type ([`VoxelOut`], any of the ten:
//! readers return 64-bit integers where a file stores them). The element-type table is the
//! core's; nothing here lists types by hand.

use crate::owned::{Kind, Out};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use voxelkit_core::{Error, VoxelBuf, Voxels};

macro_rules! define_arrays {
    ($($v:ident $t:ident $name:literal $s:ident;)*) => {
        /// A JS TypedArray of any supported element type, read in place (no copy).
        pub enum VoxelArray {
            $($v(<$t as Kind>::Array),)*
        }

        impl VoxelArray {
            /// The borrowed kernel view.
            pub fn voxels(&self) -> Voxels<'_> {
                match self {
                    $(VoxelArray::$v(a) => Voxels::$v(a),)*
                }
            }
        }

        impl FromNapiValue for VoxelArray {
            unsafe fn from_napi_value(env: sys::napi_env, v: sys::napi_value) -> napi::Result<Self> {
                let mut is = false;
                // SAFETY: env and v come from napi for this call.
                check_status!(unsafe { sys::napi_is_typedarray(env, v, &mut is) })?;
                if !is {
                    return Err(bad_type("a value that is not a TypedArray"));
                }
                let mut ty = 0;
                let mut len = 0;
                let mut data = std::ptr::null_mut();
                let mut buf = std::ptr::null_mut();
                let mut off = 0;
                // SAFETY: v is a TypedArray (checked); napi writes the out-parameters.
                check_status!(unsafe {
                    sys::napi_get_typedarray_info(env, v, &mut ty, &mut len, &mut data, &mut buf, &mut off)
                })?;
                $(
                    if ty == <$t as Kind>::TYPE as i32 {
                        if !voxelkit_core::Dtype::$v.is_sample() {
                            let e = voxelkit_core::voxels::not_a_sample("voxel", voxelkit_core::Dtype::$v);
                            return Err(crate::js_err(e));
                        }
                        // SAFETY: forwarded; the array has this element type.
                        return Ok(VoxelArray::$v(unsafe { <<$t as Kind>::Array as FromNapiValue>::from_napi_value(env, v) }?));
                    }
                )*
                Err(bad_type("a Uint8ClampedArray or another unsupported TypedArray"))
            }
        }

        impl ToNapiValue for VoxelOut {
            unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
                match val.0 {
                    // SAFETY: forwarded from the caller.
                    $(VoxelBuf::$v(v) => unsafe { Out::to_napi_value(env, Out(v)) },)*
                }
            }
        }
    };
}
voxelkit_core::for_each_dtype!(define_arrays);

fn bad_type(what: &str) -> napi::Error {
    let names: Vec<&str> = voxelkit_core::Dtype::ALL.iter().map(|d| d.name()).collect();
    napi::Error::new(
        Status::InvalidArg,
        format!(
            "[ERR_DTYPE] voxel data must be a TypedArray of one of {}; got {what}",
            names.join(", ")
        ),
    )
}

impl TypeName for VoxelArray {
    fn type_name() -> &'static str {
        "TypedArray"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for VoxelArray {}

/// An owned array handed to JS as the TypedArray of its element type (see [`Out`]).
pub struct VoxelOut(pub VoxelBuf);

impl TypeName for VoxelOut {
    fn type_name() -> &'static str {
        "TypedArray"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

/// Voxel data with its shape (first axis fastest) and, where the call needs a grid, its
/// voxel-to-world affine. Every entry that takes voxels takes this.
#[napi(object, object_to_js = false)]
pub struct VolumeIn {
    #[napi(
        ts_type = "Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array"
    )]
    pub data: VoxelArray,
    /// Sizes, first axis fastest (fields: the spatial shape of the grid).
    pub shape: Vec<u32>,
    /// 4x4 row-major voxel-to-world (RAS+ mm), where the call needs a grid.
    pub affine: Option<Vec<f64>>,
    /// Voxel sizes (mm), where the call needs them (radiomics).
    pub spacing: Option<Vec<f64>>,
}

impl VolumeIn {
    /// The shape as sizes.
    pub fn dims(&self) -> Vec<usize> {
        self.shape.iter().map(|&s| s as usize).collect()
    }

    /// The affine, which this call requires.
    pub fn affine(&self, what: &str) -> voxelkit_core::Result<&[f64]> {
        self.affine
            .as_deref()
            .ok_or_else(|| Error::shape(format!("{what} needs an affine")))
    }
}
