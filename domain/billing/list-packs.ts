import { creditPacks, type Config, type CreditPack } from '../../lib/config';

export interface PackView {
  id: string;
  credits: number;
  amount: number;
  currency: string;
}

export function listCreditPacks(config: Config): PackView[] {
  return creditPacks(config).map((p: CreditPack) => ({ id: p.id, credits: p.credits, amount: p.amount, currency: p.currency }));
}

export function findCreditPack(config: Config, packId: string): CreditPack | undefined {
  return creditPacks(config).find((p) => p.id === packId);
}
