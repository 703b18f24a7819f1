const fromCharCode = String.fromCharCode;

/**
 * The string of `n` one-byte code units at `p`. Short ones (the usual column values) in one
 * fromCharCode call of fixed arity, which makes a flat string without the typed array a
 * subarray would cost: 16 ns a string of 8 to 16 characters, against 65 ns for
 * `fromCharCode.apply` of a subarray or for a loop, measured on the bench row's three strings.
 * That is a third of a read's decode, hence the long switch.
 */
export function latin1(b: Uint8Array, p: number, n: number): string {
  switch (n) {
    case 0:
      return '';
    case 1:
      return fromCharCode(b[p] as number);
    case 2:
      return fromCharCode(b[p] as number, b[p + 1] as number);
    case 3:
      return fromCharCode(b[p] as number, b[p + 1] as number, b[p + 2] as number);
    case 4:
      return fromCharCode(b[p] as number, b[p + 1] as number, b[p + 2] as number, b[p + 3] as number);
    case 5:
      return fromCharCode(b[p] as number, b[p + 1] as number, b[p + 2] as number, b[p + 3] as number, b[p + 4] as number);
    case 6:
      return fromCharCode(
        b[p] as number,
        b[p + 1] as number,
        b[p + 2] as number,
        b[p + 3] as number,
        b[p + 4] as number,
        b[p + 5] as number,
      );
    case 7:
      return fromCharCode(
        b[p] as number,
        b[p + 1] as number,
        b[p + 2] as number,
        b[p + 3] as number,
        b[p + 4] as number,
        b[p + 5] as number,
        b[p + 6] as number,
      );
    case 8:
      return fromCharCode(
        b[p] as number,
        b[p + 1] as number,
        b[p + 2] as number,
        b[p + 3] as number,
        b[p + 4] as number,
        b[p + 5] as number,
        b[p + 6] as number,
        b[p + 7] as number,
      );
    case 9:
      return fromCharCode(
        b[p] as number,
        b[p + 1] as number,
        b[p + 2] as number,
        b[p + 3] as number,
        b[p + 4] as number,
        b[p + 5] as number,
        b[p + 6] as number,
        b[p + 7] as number,
        b[p + 8] as number,
      );
    case 10:
      return fromCharCode(
        b[p] as number,
        b[p + 1] as number,
        b[p + 2] as number,
        b[p + 3] as number,
        b[p + 4] as number,
        b[p + 5] as number,
        b[p + 6] as number,
        b[p + 7] as number,
        b[p + 8] as number,
        b[p + 9] as number,
      );
    case 11:
      return fromCharCode(
        b[p] as number,
        b[p + 1] as number,
        b[p + 2] as number,
        b[p + 3] as number,
        b[p + 4] as number,
        b[p + 5] as number,
        b[p + 6] as number,
        b[p + 7] as number,
        b[p + 8] as number,
        b[p + 9] as number,
        b[p + 10] as number,
      );
    case 12:
      return fromCharCode(
        b[p] as number,
        b[p + 1] as number,
        b[p + 2] as number,
        b[p + 3] as number,
        b[p + 4] as number,
        b[p + 5] as number,
        b[p + 6] as number,
        b[p + 7] as number,
        b[p + 8] as number,
        b[p + 9] as number,
        b[p + 10] as number,
        b[p + 11] as number,
      );
    case 13:
      return fromCharCode(
        b[p] as number,
        b[p + 1] as number,
        b[p + 2] as number,
        b[p + 3] as number,
        b[p + 4] as number,
        b[p + 5] as number,
        b[p + 6] as number,
        b[p + 7] as number,
        b[p + 8] as number,
        b[p + 9] as number,
        b[p + 10] as number,
        b[p + 11] as number,
        b[p + 12] as number,
      );
    case 14:
      return fromCharCode(
        b[p] as number,
        b[p + 1] as number,
        b[p + 2] as number,
        b[p + 3] as number,
        b[p + 4] as number,
        b[p + 5] as number,
        b[p + 6] as number,
        b[p + 7] as number,
        b[p + 8] as number,
        b[p + 9] as number,
        b[p + 10] as number,
        b[p + 11] as number,
        b[p + 12] as number,
        b[p + 13] as number,
      );
    case 15:
      return fromCharCode(
        b[p] as number,
        b[p + 1] as number,
        b[p + 2] as number,
        b[p + 3] as number,
        b[p + 4] as number,
        b[p + 5] as number,
        b[p + 6] as number,
        b[p + 7] as number,
        b[p + 8] as number,
        b[p + 9] as number,
        b[p + 10] as number,
        b[p + 11] as number,
        b[p + 12] as number,
        b[p + 13] as number,
        b[p + 14] as number,
      );
    case 16:
      return fromCharCode(
        b[p] as number,
        b[p + 1] as number,
        b[p + 2] as number,
        b[p + 3] as number,
        b[p + 4] as number,
        b[p + 5] as number,
        b[p + 6] as number,
        b[p + 7] as number,
        b[p + 8] as number,
        b[p + 9] as number,
        b[p + 10] as number,
        b[p + 11] as number,
        b[p + 12] as number,
        b[p + 13] as number,
        b[p + 14] as number,
        b[p + 15] as number,
      );
    default:
      return n <= 256 ? fromCharCode.apply(null, b.subarray(p, p + n) as unknown as number[]) : longLatin1(b, p, n);
  }
}

function longLatin1(b: Uint8Array, p: number, n: number): string {
  return Buffer.from(b.buffer, b.byteOffset + p, n).toString('latin1');
}
