import { createMittoProvider, type MittoProvider, type ProviderRequestOutcome } from './mitto';

export * from './provider';
export { createMittoProvider, parseRetryAfterMs } from './mitto';
export type { MittoProvider, MittoProviderOptions, ProviderRequestOutcome } from './mitto';
export { signSimulatorPayload, verifySimulatorSignature, SIMULATOR_SIGNATURE_HEADER } from './simulator-signature';

export interface ProviderConfig {
  SMS_PROVIDER: 'simulator' | 'mitto';
  SMS_PROVIDER_URL: string;
  SMS_PROVIDER_API_KEY: string;
  SMS_PROVIDER_DEDUPS_BY_REFERENCE: boolean;
}

export interface ProviderRuntimeOptions {
  timeoutMs?: number;
  dedupsByReference?: boolean;
  onRequest?: (outcome: ProviderRequestOutcome, seconds: number) => void;
}

// The simulator speaks Mitto's wire format, so both names share one adapter;
// the name only changes metric labels and error messages. Whether a repeated
// reference is safe is configuration, never assumed from the name: the
// simulator can run either way (SIMULATOR_DEDUPS_BY_REFERENCE).
export function createProviderFromConfig(config: ProviderConfig, runtime: ProviderRuntimeOptions = {}): MittoProvider {
  return createMittoProvider({
    baseUrl: config.SMS_PROVIDER_URL,
    apiKey: config.SMS_PROVIDER_API_KEY,
    name: config.SMS_PROVIDER,
    dedupsByReference: config.SMS_PROVIDER_DEDUPS_BY_REFERENCE,
    ...runtime,
  });
}
