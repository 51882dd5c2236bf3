import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import { renderUI } from '../test/render';
import { ConnectionTestResult } from './SettingsPage';

describe('ConnectionTestResult', () => {
  it('shows the verified name, number and quality', () => {
    renderUI(<ConnectionTestResult result={{ ok: true, verifiedName: 'Acme', displayPhoneNumber: '+1 555 0100', qualityRating: 'GREEN' }} />);
    expect(screen.getByRole('status')).toHaveTextContent('Connected to WhatsApp');
    expect(screen.getByText('Acme')).toBeInTheDocument();
    expect(screen.getByText('+1 555 0100')).toBeInTheDocument();
    expect(screen.getByText('GREEN')).toBeInTheDocument();
  });

  it("shows WhatsApp's error", () => {
    renderUI(
      <ConnectionTestResult
        result={{ ok: false, error: { code: 190, title: 'Access token has expired', message: 'Error validating access token', httpStatus: 401 } }}
      />,
    );
    const alert = screen.getByRole('alert');
    expect(alert).toHaveTextContent('WhatsApp refused the connection');
    expect(alert).toHaveTextContent('Access token has expired');
    expect(alert).toHaveTextContent('Error validating access token');
    expect(alert).toHaveTextContent('Error code 190 · HTTP 401');
  });

  it('says WhatsApp was not reached when nothing answered', () => {
    renderUI(<ConnectionTestResult result={{ ok: false, error: { title: 'Could not reach the Graph API', message: 'Connection refused' } }} />);
    const alert = screen.getByRole('alert');
    expect(alert).toHaveTextContent('Could not reach WhatsApp');
    expect(alert).not.toHaveTextContent('refused the connection');
  });

  it('shows a failed request', () => {
    renderUI(<ConnectionTestResult error={new ApiError(404, 'not_found', 'No WhatsApp config is set.')} />);
    expect(screen.getByRole('alert')).toHaveTextContent('No WhatsApp config is set.');
  });
});
