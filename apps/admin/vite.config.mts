import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * The dev server (`npm run dev`) serves index.html itself: fill App Bridge's
 * api key as the api does for the built page (admin.routes.ts). The build
 * keeps the placeholder, filled per request by the api.
 */
function apiKeyInDev(): Plugin {
  return {
    name: 'sms-admin-api-key',
    apply: 'serve',
    transformIndexHtml: (html) => html.replaceAll('%SHOPIFY_API_KEY%', process.env.SHOPIFY_API_KEY ?? 'dev-shopify-api-key'),
    configureServer(server) {
      // The app's home is `/app?shop=…` (as the api serves it); Vite answers only under `/app/`.
      server.middlewares.use((req, _res, next) => {
        if (req.url === '/app' || req.url?.startsWith('/app?')) req.url = `/app/${req.url.slice(4)}`;
        next();
      });
    },
  };
}

// Built to apps/admin/dist (gitignored) and served by the api at /app, so
// every asset URL is under /app/ and hashed (the api caches them for a year).
// In development the Vite dev server (hot module replacement) serves /app
// on ADMIN_DEV_PORT and hands /api and the dev sign-in to the api on PORT.
const api = `http://127.0.0.1:${process.env.PORT ?? '3000'}`;

export default defineConfig({
  root,
  base: '/app/',
  plugins: [react(), apiKeyInDev()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 900,
  },
  server: {
    host: '127.0.0.1',
    port: Number(process.env.ADMIN_DEV_PORT ?? 5173),
    strictPort: true,
    proxy: {
      '/api': { target: api },
      '/app/dev-login': { target: api },
    },
  },
});
