/**
 * Small filesystems of their own for brokers in integration tests: a tmpfs (full-disk
 * tests: it returns ENOSPC like any filesystem, though it ignores fsync) or an ext4 image
 * on a loop device (stalled-disk tests: `fsfreeze` makes its writes and fsyncs hang).
 * Needs root; `mountSupport` says why not otherwise, for a one-line skip.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

function run(command: string, ...args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export interface Disk {
  /** Where the filesystem is mounted. */
  mountPoint: string;
  /** The broker's data directory inside it (lost+found stays out of the broker's way). */
  dataDir: string;
  /** ext4 on a loop device only. */
  device?: string;
  image?: string;
  frozen: boolean;
}

/** Undefined when this process may mount filesystems; otherwise why not. */
export function mountSupport(kind: 'tmpfs' | 'loop'): string | undefined {
  if (process.getuid?.() !== 0) return 'mounting a filesystem needs root';
  const probe = join('/tmp', `flotilla-mount-probe-${process.pid}`);
  mkdirSync(probe, { recursive: true });
  try {
    if (kind === 'tmpfs') {
      run('mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe);
      run('umount', probe);
    } else {
      for (const tool of ['losetup', 'mkfs.ext4', 'fsfreeze']) run('sh', '-c', `command -v ${tool}`);
      if (!run('losetup', '-f')) return 'no free loop device';
    }
    return undefined;
  } catch (error) {
    return `cannot make a ${kind} filesystem here: ${String((error as Error).message).split('\n')[0]}`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/**
 * Mounts a filesystem of `sizeMb` at `<root>/disk-<id>` and links `<root>/broker-<id>` (the
 * data directory ProcessCluster gives broker `id`) to a directory inside it.
 */
export function mountBrokerDisk(root: string, id: number, kind: 'tmpfs' | 'loop', sizeMb: number): Disk {
  const mountPoint = join(root, `disk-${id}`);
  mkdirSync(mountPoint, { recursive: true });
  const disk: Disk = { mountPoint, dataDir: join(mountPoint, 'data'), frozen: false };
  if (kind === 'tmpfs') {
    run('mount', '-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', mountPoint);
  } else {
    disk.image = join(root, `disk-${id}.img`);
    run('truncate', '-s', `${sizeMb}M`, disk.image);
    disk.device = run('losetup', '-f', '--show', disk.image);
    run('mkfs.ext4', '-q', disk.device);
    run('mount', disk.device, mountPoint);
  }
  mkdirSync(disk.dataDir);
  symlinkSync(disk.dataDir, join(root, `broker-${id}`));
  return disk;
}

/** Makes every write and fsync on the disk hang (ext4 on a loop device). */
export function freeze(disk: Disk): void {
  run('fsfreeze', '--freeze', disk.mountPoint);
  disk.frozen = true;
}

export function thaw(disk: Disk): void {
  if (!disk.frozen) return;
  run('fsfreeze', '--unfreeze', disk.mountPoint);
  disk.frozen = false;
}

/** Thaws, unmounts and detaches. Call once no process uses the filesystem. */
export function removeDisk(disk: Disk): void {
  thaw(disk);
  try {
    run('umount', disk.mountPoint);
  } catch {
    run('umount', '-l', disk.mountPoint); // still busy: detach it now, freed when unused
  }
  if (disk.device) run('losetup', '-d', disk.device);
  if (disk.image) rmSync(disk.image, { force: true });
}

/** Writes a filler file into the filesystem until it returns ENOSPC; returns its path. */
export function fill(disk: Disk): string {
  const file = join(disk.mountPoint, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(1 << 20, 0x5a);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return file;
}

export function free(file: string): void {
  unlinkSync(file);
}
