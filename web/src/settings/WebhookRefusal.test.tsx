import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { renderUI } from '../test/render';
import { WebhookRefusal } from './SettingsPage';

describe('WebhookRefusal', () => {
  it('says the app secret does not match and what to do', () => {
    renderUI(<WebhookRefusal refusal={{ reason: 'signature_mismatch', message: 'X-Hub-Signature-256 does not match the body.', at: '2026-12-07T14:00:00Z' }} />);
    const alert = screen.getByRole('alert');
    expect(alert).toHaveTextContent('Webhook deliveries are being refused');
    expect(alert).toHaveTextContent('If Meta sent it');
    expect(alert).toHaveTextContent('App settings → Basic');
    expect(alert).toHaveTextContent(new Date('2026-12-07T14:00:00Z').toLocaleString());
  });

  it('reads without a time', () => {
    renderUI(<WebhookRefusal refusal={{ reason: 'signature_mismatch' }} />);
    expect(screen.getByRole('alert')).toHaveTextContent('A delivery was signed with another secret');
  });
});
