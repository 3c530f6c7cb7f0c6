/** The SASL exchange (protocol/sasl.ts) over a client connection: its `authenticate` option. */
import { authenticateScram, type SaslCredentials } from '../../protocol/sasl.js';
import type { ClientRequest, ClientResponse } from './api.js';

export function saslAuthenticator(credentials: SaslCredentials): (send: (request: ClientRequest) => Promise<ClientResponse | undefined>) => Promise<void> {
  return (send) =>
    authenticateScram(credentials, async (step) => {
      const response = await send('handshake' in step ? { type: 'saslHandshake', mechanism: step.handshake } : { type: 'saslAuthenticate', bytes: step.authenticate });
      return response?.type === 'saslAuthenticate' ? response.result : Buffer.alloc(0);
    });
}
