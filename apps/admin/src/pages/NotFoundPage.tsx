import { Button, Card, EmptyState, Page } from '@shopify/polaris';
import { href } from '../router';

export default function NotFoundPage() {
  return (
    <Page title="Page not found">
      <Card>
        <EmptyState heading="This page does not exist" image="">
          <Button url={href('/')}>Go to Home</Button>
        </EmptyState>
      </Card>
    </Page>
  );
}
