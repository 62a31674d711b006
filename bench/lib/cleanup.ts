/**
 * Everything a run leaves behind (child processes, connections, temp files, the redis-server)
 * registers its undo here, so that it is undone whatever ends the run: the normal end, an error,
 * or Ctrl-C. Undos run last-registered first, like nested `finally` blocks.
 */
export type Undo = () => Promise<void> | void;

export class Cleanup {
  readonly #undos: { name: string; undo: Undo }[] = [];

  /** Registers `undo`; the returned function runs it now (once) and unregisters it. */
  add(name: string, undo: Undo): () => Promise<void> {
    const entry = { name, undo };
    this.#undos.push(entry);
    return async () => {
      const index = this.#undos.indexOf(entry);
      if (index < 0) return;
      this.#undos.splice(index, 1);
      await entry.undo();
    };
  }

  /** Runs every registered undo, last first; a failing one is reported and the rest still run. */
  async runAll(report: (message: string) => void): Promise<void> {
    while (this.#undos.length > 0) {
      const { name, undo } = this.#undos.pop()!;
      try {
        await undo();
      } catch (err) {
        report(`cleanup: ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}
