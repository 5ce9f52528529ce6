/**
 * Pickle opcode names (protocols 0-5, as CPython's `pickletools` names them) and the decoders for the text
 * arguments of protocol 0/1 opcodes (decimal ints, `repr` strings, raw-unicode-escape).
 * @module
 */

/**
 * Opcode byte → name, for every opcode of protocols 0-5.
 *
 * @example
 * ```ts
 * OPCODE_NAMES[0x80]; // 'PROTO'
 * ```
 */
export const OPCODE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID',
  0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE',
  0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT',
  0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST',
  0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE',
  0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4',
  0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4',
  0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8',
  0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE',
  0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
});

const TWO_53 = 2n ** 53n;

/**
 * Narrows a Python int to a JS number when exactly representable, else keeps the bigint.
 *
 * @param v the integer
 * @example
 * ```ts
 * pyInt(5n);       // 5
 * pyInt(2n ** 60n); // 1152921504606846976n
 * ```
 */
export function pyInt(v: bigint): number | bigint {
  return v <= TWO_53 && v >= -TWO_53 ? Number(v) : v;
}

/**
 * Decodes a little-endian two's-complement integer (LONG1 / LONG4 payload).
 *
 * @param bytes the payload (empty means 0)
 * @example
 * ```ts
 * decodeLong(new Uint8Array([0xff, 0x00])); // 255
 * decodeLong(new Uint8Array([0xff]));       // -1
 * ```
 */
export function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let hex = '';
  for (let i = bytes.length - 1; i >= 0; i--) hex += bytes[i]!.toString(16).padStart(2, '0');
  let v = BigInt(`0x${hex}`);
  if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(bytes.length * 8);
  return pyInt(v);
}

/**
 * Parses the decimal text of INT / LONG / PUT / GET lines (a trailing `L` allowed); `undefined` if not an integer.
 *
 * @param text the line without its newline
 * @example
 * ```ts
 * parseDecimal('123L'); // 123n
 * ```
 */
export function parseDecimal(text: string): bigint | undefined {
  const t = text.endsWith('L') ? text.slice(0, -1) : text;
  return /^[-+]?\d{1,4300}$/.test(t) ? BigInt(t) : undefined;
}

/**
 * Parses the text of a FLOAT line as Python's `float()` would (decimal, exponent, inf, nan); `undefined` if invalid.
 *
 * @param text the line without its newline
 * @example
 * ```ts
 * parseFloatText('1.5e3'); // 1500
 * ```
 */
export function parseFloatText(text: string): number | undefined {
  const t = text.trim();
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
  if (/^[-+]?(inf|infinity)$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (/^[-+]?nan$/i.test(t)) return NaN;
  return undefined;
}

const SIMPLE_ESCAPES: Record<string, number> = {
  '\\': 0x5c, "'": 0x27, '"': 0x22, a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11,
};

/**
 * Decodes the `repr` of a Python 2 str as the STRING opcode carries it (quoted, with backslash escapes) to bytes;
 * `undefined` if it is not a well-formed quoted literal.
 *
 * @param text the literal, quotes included
 * @example
 * ```ts
 * decodeStringRepr("'a\\n'"); // Uint8Array [0x61, 0x0a]
 * ```
 */
export function decodeStringRepr(text: string): Uint8Array | undefined {
  const q = text[0];
  if (text.length < 2 || (q !== "'" && q !== '"') || text[text.length - 1] !== q) return undefined;
  const body = text.slice(1, -1);
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out.push(body.charCodeAt(i) & 0xff);
      continue;
    }
    const e = body[++i];
    if (e === undefined) return undefined;
    if (e in SIMPLE_ESCAPES) out.push(SIMPLE_ESCAPES[e]!);
    else if (e === '\n') continue;
    else if (e === 'x') {
      const h = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) return undefined;
      out.push(parseInt(h, 16));
      i += 2;
    } else if (/[0-7]/.test(e)) {
      let oct = e;
      while (oct.length < 3 && /[0-7]/.test(body[i + 1] ?? '')) oct += body[++i];
      out.push(parseInt(oct, 8) & 0xff);
    } else out.push(0x5c, body.charCodeAt(i) & 0xff);
  }
  return Uint8Array.from(out);
}

/**
 * Decodes raw-unicode-escape bytes (the UNICODE opcode's argument): `\uXXXX` and `\UXXXXXXXX` are escapes, every
 * other byte is a Latin-1 code point. `undefined` on a malformed escape.
 *
 * @param bytes the argument without its newline
 * @example
 * ```ts
 * decodeRawUnicodeEscape(new TextEncoder().encode('caf\\u00e9')); // 'café'
 * ```
 */
export function decodeRawUnicodeEscape(bytes: Uint8Array): string | undefined {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const next = bytes[i + 1];
    if (b === 0x5c && (next === 0x75 || next === 0x55)) {
      const n = next === 0x75 ? 4 : 8;
      let hex = '';
      for (let k = 0; k < n; k++) hex += String.fromCharCode(bytes[i + 2 + k] ?? 0);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) return undefined;
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) return undefined;
      s += String.fromCodePoint(cp);
      i += 1 + n;
    } else s += String.fromCharCode(b);
  }
  return s;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes UTF-8 strictly; `undefined` when the bytes are not valid UTF-8.
 *
 * @param bytes encoded text
 * @example
 * ```ts
 * decodeUtf8(new Uint8Array([0x68, 0x69])); // 'hi'
 * decodeUtf8(new Uint8Array([0xff]));       // undefined
 * ```
 */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return undefined;
  }
}
