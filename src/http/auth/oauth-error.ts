// Errors of the token endpoint. OAuth 2.0 (RFC 6749 §5.2) wants `{ error, error_description }` JSON
// there, not an OperationOutcome, so the server's error handler answers these differently.
import { FhirBridgeError } from '../../errors.js';

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope';

export class OAuthError extends FhirBridgeError {
  readonly error: OAuthErrorCode;
  constructor(error: OAuthErrorCode, description: string, options: { cause?: unknown } = {}) {
    super(description, {
      issueCode: error === 'invalid_client' ? 'login' : 'invalid',
      status: error === 'invalid_client' ? 401 : 400,
      ...options,
    });
    this.error = error;
  }
  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.error, error_description: this.message };
  }
}
