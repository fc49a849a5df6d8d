// See package.json: voxelkit builds no wasm32 target.
throw new Error('@napi-rs/wasm-tools is stubbed in this checkout (no wasm32 targets)')
