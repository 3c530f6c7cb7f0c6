/**
 * Runs kcat (librdkafka's command-line client) against Kafka listeners: resolves with its
 * stdout when it exits 0, rejects with its stderr otherwise, and kills it after 2 minutes.
 */
import { spawn } from 'node:child_process';

export function runKcat(bootstrap: string[], args: string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', ['-b', bootstrap.join(','), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`kcat ${args.join(' ')} exited ${code}: ${err}`));
    });
    child.stdin.end(input);
  });
}
