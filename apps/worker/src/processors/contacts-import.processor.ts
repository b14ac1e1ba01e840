import { failContactImport } from '../../../../domain/contacts/fail-contact-import';
import { importContacts } from '../../../../domain/contacts/import-contacts';
import { defineHandler } from './types';

export const contactsImportHandler = defineHandler('contacts.import.v1', async (payload, { deps, job }) => {
  try {
    return await importContacts(deps.db, {
      importId: payload.importId,
      onProgress: (p) => job.updateProgress(p),
    });
  } catch (err) {
    // Earlier attempts are retried with backoff and resume where they stopped;
    // only the last one gives up, so the merchant sees `failed`, not `running` forever.
    if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
      await failContactImport(deps.db, payload.importId, 'The import could not be completed; submit it again');
    }
    throw err;
  }
});
