/**
 * Opens one of the broker's ports (--listen, --kafka-listen, --http-listen). A port that
 * cannot be had is a configuration error naming the flag and the address, so that the
 * broker stops at once with a line the operator can act on.
 */
import type { Server } from 'node:net';
import { FlotillaError } from '../../protocol/errors.js';
import { parseHostPort } from '../config.js';

const WHY: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (another broker or program listens there)',
  EADDRNOTAVAIL: 'no interface of this machine has that address',
  EACCES: 'this user may not listen on that port',
};

export async function listenAt(server: Server, address: string, flag: string): Promise<void> {
  const { host, port } = parseHostPort(address, flag);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (!(code in WHY)) throw error;
    throw new FlotillaError('INVALID_CONFIG', `cannot listen on ${address} (${flag}): ${WHY[code]} [${code}]`);
  }
}
