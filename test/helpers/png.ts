/**
 * Minimal PNG reading for the tests: the IHDR size, and a decoder (8-bit, non-interlaced,
 * greyscale/RGB/grey+alpha/RGBA — what resvg writes) to check that a rendered chart is not blank.
 */
import { inflateSync } from 'node:zlib';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Channels per colour type (3 = palette is not supported). */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlace: number;
}

export interface DecodedPng {
  width: number;
  height: number;
  /** 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. */
  channels: number;
  /** Row-major pixels, `channels` bytes each, no filter bytes. */
  data: Uint8Array;
}

function view(png: Uint8Array): DataView {
  return new DataView(png.buffer, png.byteOffset, png.byteLength);
}

function chunkType(png: Uint8Array, at: number): string {
  return String.fromCharCode(png[at]!, png[at + 1]!, png[at + 2]!, png[at + 3]!);
}

function checkSignature(png: Uint8Array): void {
  if (png.length < 33 || SIGNATURE.some((b, i) => png[i] !== b))
    throw new Error('not a PNG (bad signature or too short)');
  if (chunkType(png, 12) !== 'IHDR') throw new Error('not a PNG (first chunk is not IHDR)');
}

/** The header fields of a PNG's IHDR chunk. */
export function pngHeader(png: Uint8Array): PngHeader {
  checkSignature(png);
  const v = view(png);
  return {
    width: v.getUint32(16),
    height: v.getUint32(20),
    bitDepth: png[24]!,
    colorType: png[25]!,
    interlace: png[28]!,
  };
}

/** Width and height from the IHDR chunk. */
export function pngInfo(png: Uint8Array): { width: number; height: number } {
  const { width, height } = pngHeader(png);
  return { width, height };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Decodes an 8-bit, non-interlaced, non-palette PNG (CRCs are not checked). */
export function decodePng(png: Uint8Array): DecodedPng {
  const h = pngHeader(png);
  const channels = CHANNELS[h.colorType];
  if (channels === undefined) throw new Error(`unsupported PNG colour type ${h.colorType}`);
  if (h.bitDepth !== 8) throw new Error(`unsupported PNG bit depth ${h.bitDepth}`);
  if (h.interlace !== 0) throw new Error('interlaced PNGs are not supported');
  const v = view(png);
  const idat: Uint8Array[] = [];
  for (let at = 8; at + 8 <= png.length;) {
    const length = v.getUint32(at);
    const type = chunkType(png, at + 4);
    if (at + 12 + length > png.length) throw new Error(`truncated PNG chunk ${type}`);
    if (type === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + length));
    if (type === 'IEND') break;
    at += 12 + length;
  }
  if (idat.length === 0) throw new Error('PNG has no IDAT chunk');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = h.width * channels;
  if (raw.length < h.height * (stride + 1))
    throw new Error(`PNG image data too short: ${raw.length} < ${h.height * (stride + 1)}`);
  const out = new Uint8Array(h.height * stride);
  const bpp = channels;
  for (let y = 0; y < h.height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp]! : 0;
      const b = y > 0 ? out[prev + x]! : 0;
      const c = x >= bpp && y > 0 ? out[prev + x - bpp]! : 0;
      let pred: number;
      switch (filter) {
        case 0:
          pred = 0;
          break;
        case 1:
          pred = a;
          break;
        case 2:
          pred = b;
          break;
        case 3:
          pred = (a + b) >> 1;
          break;
        case 4:
          pred = paeth(a, b, c);
          break;
        default:
          throw new Error(`bad PNG filter type ${filter} in row ${y}`);
      }
      out[row + x] = (raw[src + x]! + pred) & 0xff;
    }
  }
  return { width: h.width, height: h.height, channels, data: out };
}

/**
 * True when every pixel has the same value (an empty render); fully transparent pixels count as
 * equal whatever their colour bytes.
 */
export function pngIsBlank(png: Uint8Array): boolean {
  const { channels, data } = decodePng(png);
  const alpha = channels === 2 || channels === 4 ? channels - 1 : -1;
  const firstClear = alpha >= 0 && data[alpha] === 0;
  for (let i = channels; i < data.length; i += channels) {
    if (firstClear && data[i + alpha] === 0) continue;
    for (let k = 0; k < channels; k++) if (data[i + k] !== data[k]) return false;
  }
  return true;
}
