// Where a command's output goes. Commands print through this rather than process.stdout/stderr so tests
// can run them in-process and read what a user would see.
export interface CliIo {
  /** command output (tables, JSON): stdout */
  out(text: string): void;
  /** diagnostics and errors: stderr */
  err(text: string): void;
  /** stderr is a terminal (progress bars only then) */
  readonly interactive: boolean;
  /** show stack traces and debug details */
  readonly verbose: boolean;
}

export function processIo(options: { verbose?: boolean } = {}): CliIo {
  return {
    out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    interactive: Boolean(process.stderr.isTTY),
    verbose: Boolean(options.verbose) || ['debug', 'trace'].includes((process.env.LOG_LEVEL ?? '').toLowerCase()),
  };
}

/** An io that remembers everything (tests). */
export function memoryIo(options: { verbose?: boolean } = {}): CliIo & { stdout: string[]; stderr: string[]; text(): string } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (text) => void stdout.push(text),
    err: (text) => void stderr.push(text),
    interactive: false,
    verbose: Boolean(options.verbose),
    text: () => [...stdout, ...stderr].join('\n'),
  };
}
