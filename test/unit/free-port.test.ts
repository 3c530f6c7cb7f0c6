// freePort (bench/process-cluster.ts) hands brokers ports outside the kernel's ephemeral
// range, so a parallel test's outgoing connection cannot take one before the broker binds it.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import t from 'tap';
import { freePort } from '../../bench/process-cluster.js';

const RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';

t.test('a free port below the ephemeral range, which a server can bind at once', async (t) => {
  const ports = new Set<number>();
  for (let i = 0; i < 20; i++) ports.add(await freePort());
  if (existsSync(RANGE_FILE)) {
    const ephemeralStart = Number(readFileSync(RANGE_FILE, 'utf8').trim().split(/\s+/)[0]);
    t.ok([...ports].every((port) => port >= 10_000 && port < ephemeralStart), `all below ${ephemeralStart}: ${[...ports].join(', ')}`);
  }
  const port = [...ports][0]!;
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  t.equal((server.address() as { port: number }).port, port);
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
