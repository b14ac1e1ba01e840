import { Router } from 'express';
import { z } from 'zod';
import { getWallet } from '../../../../domain/credits/get-wallet';
import { listWalletTransactions } from '../../../../domain/credits/list-wallet-transactions';
import type { ApiDeps } from '../deps';
import { shopOf } from '../middleware/session-auth';
import { validated } from '../middleware/validated';
import { EXACT_ROUTING } from '../router-options';

const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).max(500).optional(),
});

export function walletRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);
  router.get('/wallet', async (_req, res) => {
    res.json(await getWallet(deps.db, shopOf(res).shopId));
  });
  router.get(
    '/wallet/transactions',
    ...validated({ query: listQuery }, async ({ query }, _req, res) => {
      res.json(await listWalletTransactions(deps.db, shopOf(res).shopId, query));
    }),
  );
  return router;
}
