import { NavMenu } from '@shopify/app-bridge-react';
import { Box, InlineStack, Link, Spinner, Text } from '@shopify/polaris';
import { lazy, Suspense, type ReactNode } from 'react';
import { isEmbedded } from './bridge';
import { PageErrorBoundary } from './components/PageErrorBoundary';
import { href, useRouter } from './router';

// One chunk per page, except Home: the page the app opens on is in the
// entry (its modules preloaded with it) rather than a second round trip
// after the entry has run.
import HomePage from './pages/HomePage';
const CampaignsPage = lazy(() => import('./pages/CampaignsPage'));
const ComposerPage = lazy(() => import('./pages/ComposerPage'));
const CampaignDetailPage = lazy(() => import('./pages/CampaignDetailPage'));
const FlowsPage = lazy(() => import('./pages/FlowsPage'));
const FlowEditorPage = lazy(() => import('./pages/FlowEditorPage'));
const FlowDetailPage = lazy(() => import('./pages/FlowDetailPage'));
const ContactsPage = lazy(() => import('./pages/ContactsPage'));
const BillingPage = lazy(() => import('./pages/BillingPage'));
const SettingsPage = lazy(() => import('./pages/SettingsPage'));
const NotFoundPage = lazy(() => import('./pages/NotFoundPage'));

const NAV: { to: string; label: string }[] = [
  { to: '/', label: 'Home' },
  { to: '/campaigns', label: 'Campaigns' },
  { to: '/flows', label: 'Flows' },
  { to: '/contacts', label: 'Contacts' },
  { to: '/billing', label: 'Billing' },
  { to: '/settings', label: 'Settings' },
];

function route(path: string): ReactNode {
  if (path === '/') return <HomePage />;
  if (path === '/campaigns') return <CampaignsPage />;
  if (path === '/campaigns/new') return <ComposerPage />;
  const edit = /^\/campaigns\/([0-9a-f-]{36})\/edit$/.exec(path);
  if (edit) return <ComposerPage campaignId={edit[1]} />;
  const detail = /^\/campaigns\/([0-9a-f-]{36})$/.exec(path);
  if (detail) return <CampaignDetailPage campaignId={detail[1]!} />;
  if (path === '/flows') return <FlowsPage />;
  if (path === '/flows/new') return <FlowEditorPage />;
  const flowEdit = /^\/flows\/([0-9a-f-]{36})\/edit$/.exec(path);
  if (flowEdit) return <FlowEditorPage flowId={flowEdit[1]} />;
  const flow = /^\/flows\/([0-9a-f-]{36})$/.exec(path);
  if (flow) return <FlowDetailPage flowId={flow[1]!} />;
  if (path === '/contacts') return <ContactsPage />;
  if (path === '/billing') return <BillingPage />;
  if (path === '/settings') return <SettingsPage />;
  return <NotFoundPage />;
}

/** Shown when the app is opened outside the Shopify admin (App Bridge's menu lives in the admin's chrome). */
function InPageNav() {
  const { path } = useRouter();
  return (
    <nav aria-label="Main">
      <Box padding="300" background="bg-surface" borderBlockEndWidth="025" borderColor="border">
        <InlineStack gap="400" blockAlign="center">
          <Text as="span" variant="headingSm">
            SMS Marketing
          </Text>
          {NAV.map((n) => {
            const active = n.to === '/' ? path === '/' : path.startsWith(n.to);
            return (
              <Link key={n.to} url={href(n.to)} removeUnderline monochrome={!active}>
                <span aria-current={active ? 'page' : undefined}>{n.label}</span>
              </Link>
            );
          })}
        </InlineStack>
      </Box>
    </nav>
  );
}

export function App() {
  const { path } = useRouter();
  const embedded = isEmbedded();
  // No Polaris <Frame>: it exists for Polaris' toasts, loading bar and save
  // bar, which App Bridge provides here; without it the entry is 28 kB lighter.
  return (
    <>
      {embedded ? (
        <NavMenu>
          <a href={href('/')} rel="home">
            Home
          </a>
          {NAV.slice(1).map((n) => (
            <a key={n.to} href={href(n.to)}>
              {n.label}
            </a>
          ))}
        </NavMenu>
      ) : (
        <InPageNav />
      )}
      <main>
        <PageErrorBoundary key={path}>
          <Suspense
            fallback={
              <Box padding="800">
                <InlineStack align="center">
                  <Spinner accessibilityLabel="Loading" />
                </InlineStack>
              </Box>
            }
          >
            {route(path)}
          </Suspense>
        </PageErrorBoundary>
      </main>
    </>
  );
}
