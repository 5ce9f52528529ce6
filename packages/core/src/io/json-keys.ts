/**
 * Structural scan of JSON bytes that `JSON.parse` has already accepted: finds duplicate object keys (which
 * `JSON.parse` silently collapses, keeping the last) and the byte offset of every top-level key.
 * @module
 */

/**
 * A key of the top-level JSON object and the byte offset of its opening quote.
 *
 * @example
 * ```ts
 * const k: JsonKeyPosition = { key: 'a', offset: 1 };
 * ```
 */
export interface JsonKeyPosition {
  key: string;
  offset: number;
}

/**
 * Result of {@link scanJsonKeys}: top-level keys in file order, or the first duplicate found at any depth.
 *
 * @example
 * ```ts
 * const scan: JsonKeyScan = { keys: [{ key: 'a', offset: 1 }] };
 * ```
 */
export interface JsonKeyScan {
  keys: JsonKeyPosition[];
  /** First key that occurs twice in one object (at any depth), with the offset of its second occurrence. */
  duplicate?: JsonKeyPosition & { depth: number };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const decoder = new TextDecoder('utf-8');

function isWs(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function decodeKey(bytes: Uint8Array, start: number, end: number, escaped: boolean): string {
  const raw = decoder.decode(bytes.subarray(start + 1, end));
  return escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
}

/**
 * Scans UTF-8 JSON bytes (already known to be valid JSON) and lists the top-level object's keys with their byte
 * offsets; stops at the first duplicate key of any object. Iterative, so deeply nested input cannot overflow the
 * stack. Structural characters are ASCII, so multi-byte UTF-8 sequences never confuse the scan.
 *
 * @param bytes valid JSON text as UTF-8
 * @example
 * ```ts
 * scanJsonKeys(new TextEncoder().encode('{"a":1,"a":2}')).duplicate; // { key: 'a', offset: 7, depth: 1 }
 * ```
 */
export function scanJsonKeys(bytes: Uint8Array): JsonKeyScan {
  const keys: JsonKeyPosition[] = [];
  const stack: (Set<string> | null)[] = [];
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      const start = i;
      let escaped = false;
      i++;
      while (i < n && bytes[i] !== QUOTE) {
        if (bytes[i] === BACKSLASH) {
          escaped = true;
          i++;
        }
        i++;
      }
      const top = stack[stack.length - 1];
      if (!top) continue;
      let j = i + 1;
      while (isWs(bytes[j])) j++;
      if (bytes[j] !== 0x3a) continue; // not followed by ':' so it is a value, not a key
      const key = decodeKey(bytes, start, i, escaped);
      if (top.has(key)) return { keys, duplicate: { key, offset: start, depth: stack.length } };
      top.add(key);
      if (stack.length === 1) keys.push({ key, offset: start });
    } else if (c === 0x7b) {
      stack.push(new Set());
    } else if (c === 0x5b) {
      stack.push(null);
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
    }
  }
  return { keys };
}

/**
 * Returns the byte offset of the first invalid UTF-8 sequence, or -1 if the bytes are valid UTF-8 (overlong
 * forms, surrogates and code points above U+10FFFF count as invalid, as for a fatal `TextDecoder`).
 *
 * @param bytes bytes to check
 * @example
 * ```ts
 * firstInvalidUtf8(new Uint8Array([0x61, 0xff])); // 1
 * ```
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let len: number;
    let min: number;
    let cp: number;
    if (b >= 0xc2 && b <= 0xdf) [len, min, cp] = [2, 0x80, b & 0x1f];
    else if (b >= 0xe0 && b <= 0xef) [len, min, cp] = [3, 0x800, b & 0x0f];
    else if (b >= 0xf0 && b <= 0xf4) [len, min, cp] = [4, 0x10000, b & 0x07];
    else return i;
    if (i + len > n) return i;
    for (let k = 1; k < len; k++) {
      const cb = bytes[i + k]!;
      if ((cb & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cb & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return -1;
}
