import { z } from 'zod';

export const faultsSchema = z.strictObject({
  latencyMs: z.number().int().min(0).max(600_000).optional(),
  errorRate: z.number().min(0).max(1).optional(),
  rateLimitRate: z.number().min(0).max(1).optional(),
  hangRate: z.number().min(0).max(1).optional(),
});

export type FaultsInput = z.infer<typeof faultsSchema>;

export interface Faults {
  latencyMs: number;
  errorRate: number;
  rateLimitRate: number;
  hangRate: number;
}

export const NO_FAULTS: Readonly<Faults> = Object.freeze({ latencyMs: 0, errorRate: 0, rateLimitRate: 0, hangRate: 0 });

/** Replaces (does not merge): `{}` clears every fault. */
export function faultsFrom(input: FaultsInput): Faults {
  return {
    latencyMs: input.latencyMs ?? 0,
    errorRate: input.errorRate ?? 0,
    rateLimitRate: input.rateLimitRate ?? 0,
    hangRate: input.hangRate ?? 0,
  };
}

export function roll(rate: number): boolean {
  return rate > 0 && Math.random() < rate;
}
