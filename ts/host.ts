// What the host gives besides the binding. Internal. Node has a file system; the browser bundle
// (scripts/build-browser.mjs) puts a module without one in this one's place, as it puts the WASI
// browser loader in place of ../native/index.js.

/** Throws `ERR_UNSUPPORTED` where the host has no file system (a browser); `fn` names the caller. @internal */
export function needFileSystem(_fn: string): void {}
