import { Router } from 'express';
import { z } from 'zod';
import { listConsentRecords, listConsentRecordsQuerySchema } from '../../../../domain/consent/list-consent-records';
import { contactCreateSchema, contactPatchSchema } from '../../../../domain/contacts/contact-input';
import { createContact } from '../../../../domain/contacts/create-contact';
import { eraseContact } from '../../../../domain/contacts/erase-contact';
import { getContact } from '../../../../domain/contacts/get-contact';
import { getContactImport } from '../../../../domain/contacts/get-contact-import';
import { listContacts, listContactsQuerySchema } from '../../../../domain/contacts/list-contacts';
import { listImportRejections, listImportRejectionsQuerySchema } from '../../../../domain/contacts/list-import-rejections';
import { contactImportRequestSchema, requestContactImport } from '../../../../domain/contacts/request-contact-import';
import { updateContact } from '../../../../domain/contacts/update-contact';
import { currentTraceId } from '../../../../lib/context';
import type { ApiDeps } from '../deps';
import { idParam } from '../middleware/id-param';
import { idempotency, idempotencyGuardOf } from '../middleware/idempotency';
import { shopOf } from '../middleware/session-auth';
import { validated } from '../middleware/validated';
import { EXACT_ROUTING } from '../router-options';

const noQuery = z.object({}).strict();
// DELETE carries no body; anything sent is a client mistake worth a 400.
const noBody = z.object({}).strict();
const createBody = contactCreateSchema();

export function contactsRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);
  const optionalKey = idempotency(deps, { required: false });

  router.get(
    '/contacts',
    ...validated({ query: listContactsQuerySchema }, async ({ query }, _req, res) => {
      res.json(await listContacts(deps.db, shopOf(res).shopId, query));
    }),
  );

  router.post(
    '/contacts',
    ...validated({ body: createBody, query: noQuery, use: [optionalKey] }, async ({ body }, _req, res) => {
      const { contact, created } = await createContact(deps.db, shopOf(res).shopId, body, idempotencyGuardOf(res));
      if (created) res.setHeader('Location', `/api/contacts/${contact.id}`);
      res.status(created ? 201 : 200).json(contact);
    }),
  );

  router.post(
    '/contacts/import',
    ...validated({ body: contactImportRequestSchema, query: noQuery, use: [idempotency(deps, { required: true })] }, async ({ body }, _req, res) => {
      const result = await requestContactImport(deps.db, deps.producer, { ...body, shopId: shopOf(res).shopId, traceId: currentTraceId() }, idempotencyGuardOf(res));
      res.setHeader('Location', `/api/contacts/imports/${result.importId}`);
      res.status(202).json(result);
    }),
  );

  router.get(
    '/contacts/imports/:id',
    ...validated({ query: noQuery, use: [idParam('Contact import')] }, async (_input, req, res) => {
      res.json(await getContactImport(deps.db, shopOf(res).shopId, String(req.params.id)));
    }),
  );

  router.get(
    '/contacts/imports/:id/rejections',
    ...validated({ query: listImportRejectionsQuerySchema, use: [idParam('Contact import')] }, async ({ query }, req, res) => {
      res.json(await listImportRejections(deps.db, shopOf(res).shopId, String(req.params.id), query));
    }),
  );

  router.get(
    '/contacts/:id',
    ...validated({ query: noQuery, use: [idParam('Contact')] }, async (_input, req, res) => {
      res.json(await getContact(deps.db, shopOf(res).shopId, String(req.params.id)));
    }),
  );

  router.get(
    '/contacts/:id/consent',
    ...validated({ query: listConsentRecordsQuerySchema, use: [idParam('Contact')] }, async ({ query }, req, res) => {
      res.json(await listConsentRecords(deps.db, shopOf(res).shopId, String(req.params.id), query));
    }),
  );
  router.patch(
    '/contacts/:id',
    ...validated({ body: contactPatchSchema, query: noQuery, use: [idParam('Contact'), optionalKey] }, async ({ body }, req, res) => {
      res.json(await updateContact(deps.db, shopOf(res).shopId, String(req.params.id), body, idempotencyGuardOf(res)));
    }),
  );

  router.delete(
    '/contacts/:id',
    ...validated({ body: noBody, query: noQuery, use: [idParam('Contact'), optionalKey] }, async (_input, req, res) => {
      await eraseContact(deps.db, shopOf(res).shopId, String(req.params.id), idempotencyGuardOf(res));
      res.status(204).end();
    }),
  );

  return router;
}
