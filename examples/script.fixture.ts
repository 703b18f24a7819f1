// Test support: an example run as a script, as its `pnpm example:*` command runs it. Not part of the build.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface RunningScript {
  readonly child: ChildProcess;
  /** Everything it wrote, stdout and stderr as they came. */
  output(): string;
  /** Its exit code and signal. */
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** Polls `check` until it gives a value; throws with the output if the script exits or 30 s pass first. */
  until<T>(what: string, check: (output: string) => Promise<T | undefined> | T | undefined): Promise<T>;
  /** Kills it if it still runs. */
  stop(): Promise<void>;
}

/** Runs `examples/<file>` with tsx, `PORT=0` and `DATABASE_URL` (empty: the script makes a PGlite of its own). */
export function runExample(file: string, databaseUrl: string): RunningScript {
  const tsx = createRequire(import.meta.url).resolve('tsx/cli');
  const script = fileURLToPath(new URL(`./${file}`, import.meta.url));
  const child = spawn(process.execPath, [tsx, script], {
    env: { ...process.env, NODE_OPTIONS: '', PORT: '0', DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (text: string) => {
    output += text;
  };
  child.stdout.setEncoding('utf8').on('data', collect);
  child.stderr.setEncoding('utf8').on('data', collect);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return {
    child,
    output: () => output,
    exited,
    async until(what, check) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const value = await check(output);
        if (value !== undefined) return value;
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the script did not ${what}:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
