// USER and --chown names -> numeric ids, looked up in the image's own
// /etc/passwd and /etc/group (never the host's), as Docker does: a name must
// exist there, a number need not; "user" alone takes the user's primary
// group and its supplementary groups, "user:group" only that group.
import fs from 'node:fs/promises';
import { InvalidInput } from '@strata/common';
import type { SourceView } from './rootfs-view.ts';

export interface Ids {
  uid: number;
  gid: number;
  /** Supplementary groups (RUN only). */
  additionalGids: number[];
  /** Home directory from /etc/passwd, if the user is listed there. */
  home?: string;
}

async function readTable(view: SourceView, file: string): Promise<string[][]> {
  const resolved = await view.resolve(file, true);
  const f = await view.lstat(resolved);
  if (!f || !f.stat.isFile()) return [];
  const text = await fs.readFile(f.hostPath, 'utf8');
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
}

const NUM = /^\d+$/;

/** Resolves "user[:group]" against the image at `view`. `what` names the instruction for messages. */
export async function resolveUser(view: SourceView, spec: string, what: string): Promise<Ids> {
  const [userPart, groupPart] = spec.split(':', 2) as [string, string | undefined];
  const passwd = await readTable(view, '/etc/passwd');
  const groups = await readTable(view, '/etc/group');
  let uid: number;
  let gid: number | undefined;
  let name: string | undefined;
  let home: string | undefined;
  if (userPart === '') {
    uid = 0;
  } else if (NUM.test(userPart)) {
    uid = Number(userPart);
    const row = passwd.find((r) => r[2] === userPart);
    if (row) {
      name = row[0];
      gid = Number(row[3]);
      home = row[5];
    }
  } else {
    const row = passwd.find((r) => r[0] === userPart);
    if (!row) throw new InvalidInput(`${what}: unable to find user ${userPart}: no matching entries in passwd file`);
    uid = Number(row[2]);
    gid = Number(row[3]);
    name = userPart;
    home = row[5];
  }
  let additionalGids: number[] = [];
  if (groupPart !== undefined && groupPart !== '') {
    if (NUM.test(groupPart)) {
      gid = Number(groupPart);
    } else {
      const row = groups.find((r) => r[0] === groupPart);
      if (!row) throw new InvalidInput(`${what}: unable to find group ${groupPart}: no matching entries in group file`);
      gid = Number(row[2]);
    }
  } else if (name !== undefined) {
    additionalGids = groups
      .filter((r) => (r[3] ?? '').split(',').includes(name!))
      .map((r) => Number(r[2]))
      .filter((g) => g !== gid);
  }
  return { uid, gid: gid ?? 0, additionalGids, home };
}

/** Resolves a --chown value; `undefined` when the flag was not given. */
export async function resolveChown(view: SourceView, spec: string | undefined, what: string): Promise<{ uid: number; gid: number } | undefined> {
  if (spec === undefined || spec === '') return undefined;
  const [u, g] = spec.split(':', 2) as [string, string | undefined];
  if (!u) throw new InvalidInput(`${what}: --chown needs a user: ${JSON.stringify(spec)}`);
  const ids = await resolveUser(view, g === undefined ? u : `${u}:${g}`, what);
  // "--chown=user" alone: the group is the user's primary group (or = uid if unknown).
  if (g === undefined && NUM.test(u) && !(await readTable(view, '/etc/passwd')).some((r) => r[2] === u)) return { uid: ids.uid, gid: ids.uid };
  return { uid: ids.uid, gid: ids.gid };
}

/** Parses a --chmod value (octal). */
export function parseChmod(spec: string | undefined, what: string): number | undefined {
  if (spec === undefined || spec === '') return undefined;
  if (!/^[0-7]{1,4}$/.test(spec)) throw new InvalidInput(`${what}: invalid --chmod=${spec}: want an octal mode such as 0644`);
  return parseInt(spec, 8);
}
