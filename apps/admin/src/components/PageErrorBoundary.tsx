import { Banner, Box } from '@shopify/polaris';
import { Component, type ReactNode } from 'react';

/**
 * A page that fails to load or render shows a banner instead of a blank
 * app: typically its chunk is gone after a deploy (hashed names change), which
 * a reload fixes. The navigation stays usable; App keys this by path, so
 * going elsewhere starts afresh.
 */
export class PageErrorBoundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  override state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error): { error: Error } {
    return { error };
  }

  override render(): ReactNode {
    if (!this.state.error) return this.props.children;
    return (
      <Box padding="800">
        <Banner tone="critical" title="This page could not be loaded" action={{ content: 'Reload', onAction: () => window.location.reload() }}>
          <p>A newer version of the app may have been published. Reload to get it; your work on the server is kept.</p>
        </Banner>
      </Box>
    );
  }
}
