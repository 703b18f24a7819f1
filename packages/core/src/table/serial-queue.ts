/**
 * Runs async tasks one at a time, in call order. A failed task does not stop the ones after it;
 * its error goes only to its own caller.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
