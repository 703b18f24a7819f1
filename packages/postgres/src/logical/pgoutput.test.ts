import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PgoutputDecodeError } from './logical-errors.js';
import { decodePgoutput, type PgoutputMessage, type TupleData, UNCHANGED_TOAST } from './pgoutput.js';

/** Builds messages as pgoutput writes them (big-endian, NUL-terminated strings). */
class Writer {
  readonly #parts: Buffer[] = [];
  char(c: string): this {
    return this.byte(c.charCodeAt(0));
  }
  byte(value: number): this {
    this.#parts.push(Buffer.from([value]));
    return this;
  }
  uint16(value: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(value);
    this.#parts.push(b);
    return this;
  }
  uint32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value);
    this.#parts.push(b);
    return this;
  }
  int32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(value);
    this.#parts.push(b);
    return this;
  }
  uint64(value: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(value);
    this.#parts.push(b);
    return this;
  }
  /** Milliseconds since the Unix epoch, as microseconds since 2000-01-01. */
  time(ms: number): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(ms - 946_684_800_000) * 1000n);
    this.#parts.push(b);
    return this;
  }
  string(text: string): this {
    this.#parts.push(Buffer.from(text), Buffer.from([0]));
    return this;
  }
  bytes(bytes: Buffer): this {
    this.#parts.push(bytes);
    return this;
  }
  tuple(values: TupleData): this {
    this.uint16(values.length);
    for (const value of values) {
      if (value === null) this.char('n');
      else if (value === UNCHANGED_TOAST) this.char('u');
      else this.char('t').uint32(Buffer.byteLength(value)).bytes(Buffer.from(value));
    }
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

/** Writes a decoded message back: the inverse of the decoder, for round trips. */
function encode(message: PgoutputMessage): Buffer {
  const w = new Writer();
  switch (message.tag) {
    case 'begin':
      return w.char('B').uint64(message.finalLsn).time(message.commitTime).uint32(message.xid).done();
    case 'commit':
      return w.char('C').byte(0).uint64(message.commitLsn).uint64(message.endLsn).time(message.commitTime).done();
    case 'origin':
      return w.char('O').uint64(message.originLsn).string(message.name).done();
    case 'type':
      return w.char('Y').uint32(message.typeId).string(message.schema).string(message.name).done();
    case 'relation': {
      const identity = { default: 'd', nothing: 'n', full: 'f', index: 'i' }[message.replicaIdentity];
      w.char('R').uint32(message.relationId).string(message.schema).string(message.name).char(identity).uint16(message.columns.length);
      for (const c of message.columns)
        w.byte(c.isKey ? 1 : 0)
          .string(c.name)
          .uint32(c.typeId)
          .int32(c.typeMod);
      return w.done();
    }
    case 'insert':
      return w.char('I').uint32(message.relationId).char('N').tuple(message.new).done();
    case 'update':
      w.char('U').uint32(message.relationId);
      if (message.key !== undefined) w.char('K').tuple(message.key);
      if (message.old !== undefined) w.char('O').tuple(message.old);
      return w.char('N').tuple(message.new).done();
    case 'delete':
      w.char('D').uint32(message.relationId);
      return (message.key !== undefined ? w.char('K').tuple(message.key) : w.char('O').tuple(message.old ?? [])).done();
    case 'truncate':
      w.char('T')
        .uint32(message.relationIds.length)
        .byte((message.cascade ? 1 : 0) | (message.restartIdentity ? 2 : 0));
      for (const id of message.relationIds) w.uint32(id);
      return w.done();
    case 'message':
      w.char('M')
        .byte(message.transactional ? 1 : 0)
        .uint64(message.lsn)
        .string(message.prefix);
      return w.uint32(message.content.length).bytes(message.content).done();
  }
}

describe('decodePgoutput', () => {
  test('begin and commit: LSNs as bigints, times in ms since the Unix epoch, xids unsigned', () => {
    const at = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    expect(decodePgoutput(new Writer().char('B').uint64(0x16b3748n).time(at).uint32(0xfffffffe).done())).toEqual({
      tag: 'begin',
      finalLsn: 0x16b3748n,
      commitTime: at,
      xid: 0xfffffffe,
    });
    expect(decodePgoutput(new Writer().char('C').byte(0).uint64(10n).uint64(20n).time(at).done())).toEqual({
      tag: 'commit',
      commitLsn: 10n,
      endLsn: 20n,
      commitTime: at,
    });
  });

  test('relation: columns with types, modifiers and key flags; OIDs above 2^31 stay positive', () => {
    const buffer = new Writer()
      .char('R')
      .uint32(0x80000001)
      .string('public')
      .string('üsers')
      .char('i')
      .uint16(2)
      .byte(1)
      .string('id')
      .uint32(23)
      .int32(-1)
      .byte(0)
      .string('name')
      .uint32(1043)
      .int32(68)
      .done();
    expect(decodePgoutput(buffer)).toEqual({
      tag: 'relation',
      relationId: 0x80000001,
      schema: 'public',
      name: 'üsers',
      replicaIdentity: 'index',
      columns: [
        { name: 'id', typeId: 23, typeMod: -1, isKey: true },
        { name: 'name', typeId: 1043, typeMod: 68, isKey: false },
      ],
    });
  });

  test('insert, update and delete with text, null and unchanged TOAST values', () => {
    const row: TupleData = ['1', null, UNCHANGED_TOAST, 'ünïcode'];
    expect(decodePgoutput(new Writer().char('I').uint32(7).char('N').tuple(row).done())).toEqual({
      tag: 'insert',
      relationId: 7,
      new: row,
    });
    expect(decodePgoutput(new Writer().char('U').uint32(7).char('N').tuple(row).done())).toEqual({
      tag: 'update',
      relationId: 7,
      new: row,
    });
    const key: TupleData = ['1', null, null, null];
    expect(decodePgoutput(new Writer().char('U').uint32(7).char('K').tuple(key).char('N').tuple(row).done())).toEqual({
      tag: 'update',
      relationId: 7,
      key,
      new: row,
    });
    expect(decodePgoutput(new Writer().char('U').uint32(7).char('O').tuple(row).char('N').tuple(row).done())).toMatchObject({ old: row });
    expect(decodePgoutput(new Writer().char('D').uint32(7).char('K').tuple(key).done())).toEqual({ tag: 'delete', relationId: 7, key });
    expect(decodePgoutput(new Writer().char('D').uint32(7).char('O').tuple(row).done())).toEqual({
      tag: 'delete',
      relationId: 7,
      old: row,
    });
  });

  test('truncate, logical message, type and origin', () => {
    expect(decodePgoutput(new Writer().char('T').uint32(2).byte(3).uint32(5).uint32(6).done())).toEqual({
      tag: 'truncate',
      relationIds: [5, 6],
      cascade: true,
      restartIdentity: true,
    });
    const message = decodePgoutput(
      new Writer().char('M').byte(1).uint64(99n).string('tablecache').uint32(1).bytes(Buffer.from('x')).done(),
    );
    expect(message).toEqual({ tag: 'message', transactional: true, lsn: 99n, prefix: 'tablecache', content: Buffer.from('x') });
    expect(decodePgoutput(new Writer().char('Y').uint32(16400).string('public').string('mood').done())).toEqual({
      tag: 'type',
      typeId: 16400,
      schema: 'public',
      name: 'mood',
    });
    expect(decodePgoutput(new Writer().char('O').uint64(5n).string('node_a').done())).toEqual({
      tag: 'origin',
      originLsn: 5n,
      name: 'node_a',
    });
  });

  test.each([
    ['an unknown tag', Buffer.from('Zabc'), /unknown message tag 'Z'/],
    ['an empty message', Buffer.alloc(0), /cut short/],
    ['a message cut short', new Writer().char('B').uint32(1).done(), /cut short/],
    ['bytes left over', new Writer().char('O').uint64(5n).string('a').byte(0).done(), /1 bytes left over/],
    ['a string without NUL', new Writer().char('O').uint64(5n).bytes(Buffer.from('abc')).done(), /terminating NUL/],
    [
      'an unknown replica identity',
      new Writer().char('R').uint32(1).string('s').string('t').char('x').uint16(0).done(),
      /replica identity 'x'/,
    ],
    ['a binary value', new Writer().char('I').uint32(1).char('N').uint16(1).char('b').uint32(0).done(), /binary/],
    ['an unknown value kind', new Writer().char('I').uint32(1).char('N').uint16(1).char('q').done(), /value kind 'q'/],
    ['a missing new-tuple marker', new Writer().char('I').uint32(1).char('X').uint16(0).done(), /expected new tuple marker 'N'/],
    ['a huge column count', new Writer().char('I').uint32(1).char('N').uint16(65535).done(), /65535 columns/],
    ['a huge truncate count', new Writer().char('T').uint32(0xffffffff).byte(0).done(), /4294967295 relations/],
  ])('%s is a PgoutputDecodeError', (_, buffer, message) => {
    expect(() => decodePgoutput(buffer)).toThrow(PgoutputDecodeError);
    expect(() => decodePgoutput(buffer)).toThrow(message);
  });

  const lsn = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  const uint32 = fc.nat({ max: 0xffffffff });
  const ms = fc.integer({ min: -10_000_000_000_000, max: 10_000_000_000_000 });
  const name = fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\0'));
  const tuple = fc.array(fc.oneof(fc.string({ unit: 'grapheme' }), fc.constant(null), fc.constant(UNCHANGED_TOAST)), { maxLength: 8 });
  const message: fc.Arbitrary<PgoutputMessage> = fc.oneof(
    fc.record({ tag: fc.constant('begin' as const), finalLsn: lsn, commitTime: ms, xid: uint32 }),
    fc.record({ tag: fc.constant('commit' as const), commitLsn: lsn, endLsn: lsn, commitTime: ms }),
    fc.record({ tag: fc.constant('origin' as const), originLsn: lsn, name }),
    fc.record({ tag: fc.constant('type' as const), typeId: uint32, schema: name, name }),
    fc.record({
      tag: fc.constant('relation' as const),
      relationId: uint32,
      schema: name,
      name,
      replicaIdentity: fc.constantFrom('default' as const, 'nothing' as const, 'full' as const, 'index' as const),
      columns: fc.array(
        fc.record({ name, typeId: uint32, typeMod: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), isKey: fc.boolean() }),
        {
          maxLength: 6,
        },
      ),
    }),
    fc.record({ tag: fc.constant('insert' as const), relationId: uint32, new: tuple }),
    fc.record({ tag: fc.constant('update' as const), relationId: uint32, new: tuple }),
    fc.record({ tag: fc.constant('update' as const), relationId: uint32, key: tuple, new: tuple }),
    fc.record({ tag: fc.constant('update' as const), relationId: uint32, old: tuple, new: tuple }),
    fc.record({ tag: fc.constant('delete' as const), relationId: uint32, key: tuple }),
    fc.record({ tag: fc.constant('delete' as const), relationId: uint32, old: tuple }),
    fc.record({
      tag: fc.constant('truncate' as const),
      relationIds: fc.array(uint32, { maxLength: 5 }),
      cascade: fc.boolean(),
      restartIdentity: fc.boolean(),
    }),
    fc.record({
      tag: fc.constant('message' as const),
      transactional: fc.boolean(),
      lsn,
      prefix: name,
      content: fc.uint8Array({ maxLength: 32 }).map((bytes) => Buffer.from(bytes)),
    }),
  );

  test('round-trips every message kind (property)', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodePgoutput(encode(m))).toEqual(m);
      }),
    );
  });

  test('garbage, and valid messages cut or corrupted, fail only with PgoutputDecodeError (property)', () => {
    const expectDecodedOrTyped = (buffer: Buffer): void => {
      try {
        decodePgoutput(buffer);
      } catch (error) {
        expect(error).toBeInstanceOf(PgoutputDecodeError);
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expectDecodedOrTyped(Buffer.from(bytes));
      }),
    );
    const startingWithTag = fc.tuple(fc.constantFrom(...'BCORYIUDTM'), fc.uint8Array({ maxLength: 64 }));
    fc.assert(
      fc.property(startingWithTag, ([tag, rest]) => {
        expectDecodedOrTyped(Buffer.concat([Buffer.from(tag), rest]));
      }),
    );
    const mutated = fc.tuple(message, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat());
    fc.assert(
      fc.property(mutated, ([m, at, byte, cut]) => {
        const buffer = encode(m);
        if (buffer.length > 0) buffer[at % buffer.length] = byte;
        expectDecodedOrTyped(buffer.subarray(0, buffer.length - (cut % (buffer.length + 1))));
      }),
    );
  });
});
