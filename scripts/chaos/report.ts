// What a scenario proves: named checks with PASS/FAIL and the numbers behind
// them, printed as they are decided, and one closing line per scenario.

export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

export const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

export class ScenarioReport {
  readonly checks: Check[] = [];
  readonly notes: string[] = [];
  private readonly started = Date.now();

  constructor(
    readonly id: string,
    readonly title: string,
  ) {}

  /** Records and prints one invariant. */
  check(name: string, pass: boolean, detail: string): boolean {
    this.checks.push({ name, pass, detail });
    out(`  ${pass ? 'PASS' : 'FAIL'}  ${name}: ${detail}`);
    return pass;
  }

  /** Context that is not an invariant (timings, what the chaos did). */
  note(line: string): void {
    this.notes.push(line);
    out(`  ..    ${line}`);
  }

  get failed(): Check[] {
    return this.checks.filter((c) => !c.pass);
  }

  private ended?: number;

  /** Stops the clock: the summary shows the scenario's own duration, however late it is printed. */
  finish(): void {
    this.ended ??= Date.now();
  }

  get elapsedMs(): number {
    return (this.ended ?? Date.now()) - this.started;
  }

  summary(error?: string): string {
    const passed = this.checks.length - this.failed.length;
    const verdict = error ? 'ERROR' : this.failed.length > 0 || this.checks.length === 0 ? 'FAIL' : 'PASS';
    const seconds = (this.elapsedMs / 1000).toFixed(1);
    const why = error ? ` — ${error}` : this.failed.length > 0 ? ` — failed: ${this.failed.map((c) => c.name).join('; ')}` : '';
    return `${this.id} ${verdict}: ${passed}/${this.checks.length} invariants hold, ${seconds} s${why}`;
  }

  get ok(): boolean {
    return this.checks.length > 0 && this.failed.length === 0;
  }
}
