// A minimal PNG encoder (8-bit RGB, no interlace) on node:zlib, for previews.
import { crc32, deflateSync } from 'node:zlib'

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(td) >>> 0)
  return Buffer.concat([len, td, crc])
}

/** Encodes `rgb` (row-major, top row first, 3 bytes per pixel) as a PNG file. @internal */
export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // colour type RGB
  const raw = Buffer.alloc((3 * width + 1) * height)
  for (let y = 0; y < height; y++) {
    raw[y * (3 * width + 1)] = 0 // filter: none
    raw.set(rgb.subarray(3 * width * y, 3 * width * (y + 1)), y * (3 * width + 1) + 1)
  }
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  return Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}

/**
 * A preview of one axial slice: FA in grey on the left, colour FA on the right, upscaled by an
 * integer factor so the short side is at least 256 pixels. Anterior (+y) at the top. @internal
 */
export function slicePreview(
  fa: ArrayLike<number>,
  colorFa: ArrayLike<number>,
  shape: number[],
  z: number,
): { width: number; height: number; png: Buffer } {
  const [nx, ny] = shape
  const nz = shape[2] ?? 1
  const nvox = nx * ny * nz
  const scale = Math.max(1, Math.ceil(256 / Math.min(nx, ny)))
  const gapPx = 4
  const width = (2 * nx) * scale + gapPx
  const height = ny * scale
  const rgb = new Uint8Array(width * height * 3)
  const byte = (x: number) => Math.max(0, Math.min(255, Math.round(255 * x)))
  for (let py = 0; py < height; py++) {
    const j = ny - 1 - Math.floor(py / scale)
    for (let px = 0; px < width; px++) {
      const o = 3 * (py * width + px)
      const right = px >= nx * scale + gapPx
      if (!right && px >= nx * scale) continue
      const i = Math.floor((right ? px - nx * scale - gapPx : px) / scale)
      const v = i + nx * (j + ny * z)
      if (right) {
        rgb[o] = byte(colorFa[v])
        rgb[o + 1] = byte(colorFa[nvox + v])
        rgb[o + 2] = byte(colorFa[2 * nvox + v])
      } else {
        rgb[o] = rgb[o + 1] = rgb[o + 2] = byte(fa[v])
      }
    }
  }
  return { width, height, png: encodePng(width, height, rgb) }
}
