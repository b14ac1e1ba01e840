/** The name a text signs with: the shop's own name, else its myshopify handle. */
export const shopDisplayName = (name: string | null, domain: string): string => name ?? domain.replace(/\.myshopify\.com$/, '');
