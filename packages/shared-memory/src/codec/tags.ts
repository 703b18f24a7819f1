/**
 * The first byte of every stored value. Small integers, short one-byte strings, short arrays and
 * objects of the first 32 shapes carry their value or length in that byte; the rest are
 * followed by fixed-size fields (little-endian) or a 32-bit length.
 */
export const FIXINT_MAX = 0x7f;
export const FIXSTR = 0x80; // to 0x9f: a string of 0..31 code units below 256, one byte each
export const FIXSTR_MAX_LENGTH = 31;
export const FIXARRAY = 0xa0; // to 0xaf: an array of 0..15 values
export const FIXARRAY_MAX_LENGTH = 15;
export const NULL = 0xb0;
export const UNDEFINED = 0xb1;
export const FALSE = 0xb2;
export const TRUE = 0xb3;
export const INT8 = 0xb4;
export const INT16 = 0xb5;
export const INT32 = 0xb6;
export const FLOAT64 = 0xb7;
/** A string whose code units are all below 256: a 32-bit length, then one byte each. */
export const LATIN1 = 0xb8;
/** Any other string: a 32-bit count of UTF-16 code units, then two bytes each (lone surrogates too). */
export const UTF16 = 0xb9;
/** A bigint: its hexadecimal digits (with a leading '-' if negative) as a one-byte string. */
export const BIGINT = 0xba;
/** A Date: its time as a float64 (NaN for an invalid Date). */
export const DATE = 0xbb;
export const BYTES = 0xbc;
/** A Node Buffer, so that it comes back a Buffer (pg gives bytea as one). */
export const BUFFER = 0xbd;
export const ARRAY = 0xbe;
/** An object with its property names inline: a 32-bit count, then name and value pairs. */
export const OBJECT = 0xbf;
/** An object of a stored shape (its property names in order): a 32-bit shape id, then the values. */
export const SHAPED = 0xc0;
/** A 24-bit signed integer: ids up to 8 million in 4 bytes. */
export const INT24 = 0xc1;
export const FIXSHAPED = 0xe0; // to 0xff: an object of shape 0..31
export const FIXSHAPED_MAX_ID = 31;
