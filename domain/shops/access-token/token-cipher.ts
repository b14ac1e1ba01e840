import type { Config } from '../../../lib/config';
import { createTokenCipher, type TokenCipher } from '../../../lib/token-cipher';

const ciphers = new WeakMap<Config, TokenCipher>();

/** The process's cipher of shop tokens (current key + rotated-out keys), one per config object. */
export function shopTokenCipher(config: Pick<Config, 'SHOP_TOKEN_ENCRYPTION_KEY' | 'SHOP_TOKEN_ENCRYPTION_KEYS_PREVIOUS'>): TokenCipher {
  let c = ciphers.get(config as Config);
  if (!c) {
    c = createTokenCipher(config.SHOP_TOKEN_ENCRYPTION_KEY, (config.SHOP_TOKEN_ENCRYPTION_KEYS_PREVIOUS ?? '').split(','));
    ciphers.set(config as Config, c);
  }
  return c;
}

/** Binds a ciphertext to its shop: copied to another shop's row, it does not decrypt. */
export const tokenAad = (shopId: string): string => `shop:${shopId}`;
