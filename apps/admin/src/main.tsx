import '@shopify/polaris/build/esm/styles.css';
import { AppProvider } from '@shopify/polaris';
import en from '@shopify/polaris/locales/en.json';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { prefetch } from './hooks';
import { HOME_QUERIES } from './home-queries';
import { AppLink, isHome, RouterProvider } from './router';

// Home's data is asked for now, while React and Polaris render the shell.
if (isHome()) for (const path of HOME_QUERIES) prefetch(path);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <RouterProvider>
      <AppProvider i18n={en} linkComponent={AppLink}>
        <App />
      </AppProvider>
    </RouterProvider>
  </StrictMode>,
);
