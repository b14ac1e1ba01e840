import '@shopify/polaris/build/esm/styles.css';
import { AppProvider } from '@shopify/polaris';
import en from '@shopify/polaris/locales/en.json';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { AppLink, RouterProvider } from './router';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <RouterProvider>
      <AppProvider i18n={en} linkComponent={AppLink}>
        <App />
      </AppProvider>
    </RouterProvider>
  </StrictMode>,
);
