import { defineConfig } from 'prisma/config';

// Prisma 7 reads the connection from here, not from schema.prisma. Migrations
// are plain SQL applied by scripts/migrate.ts (Prisma's folder layout and
// _prisma_migrations bookkeeping, so `prisma migrate deploy` stays compatible).
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/sms_dev' },
});
