// See package.json: install the real @napi-rs/cross-toolchain to use `napi build --use-napi-cross`.
throw new Error('@napi-rs/cross-toolchain is stubbed in this checkout: run `npm install --no-save @napi-rs/cross-toolchain@1.0.5` first')
