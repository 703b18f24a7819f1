const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface ReadWhileResult {
  /** What the reads found wrong; empty when every read was right. */
  readonly problems: string[];
  /** Reads that finished while `work` was still running: proof the readers were busy. */
  readonly readsDuring: number;
}

/**
 * Keeps `readers` loops reading while `work` runs, a turn of the event loop between reads, and
 * collects what they find wrong. `read` checks its own result and returns a description of a
 * problem or undefined (plain comparisons: `expect` is too slow for thousands of reads). The
 * readers start a turn before `work` does.
 */
export async function readWhile(
  work: () => Promise<void>,
  read: (reader: number, round: number) => Promise<string | undefined>,
  readers = 4,
): Promise<ReadWhileResult> {
  let working = true;
  let readsDuring = 0;
  const problems: string[] = [];
  const loops = Array.from({ length: readers }, async (_, reader) => {
    for (let round = 0; working; round++) {
      const problem = await read(reader, round);
      if (working) readsDuring++;
      if (problem !== undefined) problems.push(problem);
      await nextTurn();
    }
  });
  await nextTurn();
  try {
    await work();
  } finally {
    working = false;
    await Promise.all(loops);
  }
  return { problems, readsDuring };
}
