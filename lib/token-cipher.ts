import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { decodeEncryptionKey } from './production-config';

// Secrets kept at rest (shop access tokens): AES-256-GCM with a random 12-byte
// IV per encryption, the key id written with the ciphertext so a rotated-out
// key still reads what it wrote, and additional authenticated data naming the
// record the value belongs to, so a ciphertext copied to another record does
// not decrypt. Envelope: `v1:<key id>:<iv>:<tag>:<ciphertext>`, base64url
// parts; the key id is the first 8 bytes of SHA-256 of the key, in hex (it
// names the key without revealing anything usable about it).

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface CipherKey {
  id: string;
  key: Buffer;
}

export interface Decrypted {
  plaintext: string;
  keyId: string;
  /** Written under an older key: re-encrypt with the current one. */
  stale: boolean;
}

export interface TokenCipher {
  currentKeyId: string;
  encrypt(plaintext: string, aad: string): string;
  /** null when the envelope is malformed, its key unknown, or it fails authentication (wrong record, tampered). */
  decrypt(envelope: string, aad: string): Decrypted | null;
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

function toKey(encoded: string): CipherKey {
  const key = decodeEncryptionKey(encoded.trim());
  if (!key) throw new Error('encryption key must be 32 bytes as 64 hex characters or base64');
  return { id: keyId(key), key };
}

/** `current` encrypts and decrypts; `previous` (rotated-out keys) only decrypt. */
export function createTokenCipher(current: string, previous: readonly string[] = []): TokenCipher {
  const cur = toKey(current);
  const keys = new Map<string, CipherKey>([[cur.id, cur]]);
  for (const p of previous) {
    if (!p.trim()) continue;
    const k = toKey(p);
    if (!keys.has(k.id)) keys.set(k.id, k);
  }
  return {
    currentKeyId: cur.id,
    encrypt(plaintext, aad) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', cur.key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [VERSION, cur.id, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join(':');
    },
    decrypt(envelope, aad) {
      const parts = envelope.split(':');
      if (parts.length !== 5 || parts[0] !== VERSION) return null;
      const [, id, ivText, tagText, ctText] = parts as [string, string, string, string, string];
      const k = keys.get(id);
      if (!k) return null;
      const iv = Buffer.from(ivText, 'base64url');
      const tag = Buffer.from(tagText, 'base64url');
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return null;
      try {
        const decipher = createDecipheriv('aes-256-gcm', k.key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(tag);
        const plaintext = Buffer.concat([decipher.update(Buffer.from(ctText, 'base64url')), decipher.final()]).toString('utf8');
        return { plaintext, keyId: id, stale: id !== cur.id };
      } catch {
        return null;
      }
    },
  };
}
