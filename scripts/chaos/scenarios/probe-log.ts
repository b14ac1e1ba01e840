import type { ApiClient, ApiResponse } from '../api-client';

// What the API answered while a dependency was down, per route.

export interface Probe {
  name: string;
  call(api: ApiClient): Promise<ApiResponse>;
}

/** `status CODE` for every answer, `no answer (…)` when the request itself failed. */
export class ProbeLog {
  readonly answers = new Map<string, Map<string, number>>();

  async round(api: ApiClient, probes: Probe[]): Promise<void> {
    await Promise.all(
      probes.map(async (p) => {
        let label: string;
        try {
          const res = await p.call(api);
          const code = (res.body as { error?: { code?: string } } | null)?.error?.code;
          const health = (res.body as { status?: string } | null)?.status;
          label = `${res.status}${code ? ` ${code}` : health && p.name.includes('health') ? ` ${health}` : ''}`;
        } catch (err) {
          label = `no answer (${(err as Error).name === 'TimeoutError' ? 'timeout' : (err as Error).message})`;
        }
        const byLabel = this.answers.get(p.name) ?? new Map<string, number>();
        byLabel.set(label, (byLabel.get(label) ?? 0) + 1);
        this.answers.set(p.name, byLabel);
      }),
    );
  }

  /** Every answer of every probe, e.g. `GET /api/campaigns/:id/stats: 7× 503 DEPENDENCY_UNAVAILABLE`. */
  lines(): string[] {
    return [...this.answers.entries()].map(([name, byLabel]) => `${name}: ${[...byLabel.entries()].map(([l, n]) => `${n}× ${l}`).join(', ')}`);
  }

  /** Labels matching `bad` (e.g. any 500, or no answer at all). */
  offending(bad: (label: string) => boolean): string[] {
    const out: string[] = [];
    for (const [name, byLabel] of this.answers) for (const [label, n] of byLabel) if (bad(label)) out.push(`${name}: ${n}× ${label}`);
    return out;
  }

  get total(): number {
    let n = 0;
    for (const byLabel of this.answers.values()) for (const c of byLabel.values()) n += c;
    return n;
  }
}
