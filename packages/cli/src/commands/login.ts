// `strata login HOST`: checks credentials against the registry (the same
// auth flow push and pull use) and only then stores them, 0600, in
// ~/.config/strata/auth.json.
import { createInterface } from 'node:readline';
import { UsageError } from '@strata/common';
import { RegistryClient, saveCredentials, hasRegistryHost } from '@strata/registry';
import { bool, positionals, str, type Command } from '../command.ts';
import { clientOptions, registryOptions, registryUsage } from '../registry-options.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function prompt(question: string, hidden: boolean): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (hidden) {
    // Echo nothing of what is typed after the question.
    const w = rl as unknown as { _writeToOutput: (s: string) => void };
    let asked = false;
    w._writeToOutput = (s: string) => {
      if (!asked) { process.stderr.write(s); asked = true; }
    };
  }
  try {
    return await new Promise((resolve) => rl.question(question, resolve));
  } finally {
    if (hidden) process.stderr.write('\n');
    rl.close();
  }
}

export const login: Command = {
  name: 'login',
  summary: 'Log in to a registry (credentials stored 0600 in ~/.config/strata/auth.json)',
  usage: [
    'Usage: strata login [-u USER] [-p PASSWORD | --password-stdin] HOST[:PORT]',
    '',
    'Verifies the credentials against the registry, then stores them in',
    '$XDG_CONFIG_HOME/strata/auth.json (default ~/.config/strata/auth.json), mode 0600.',
    'Credentials in ~/.docker/config.json "auths" are used too, without logging in.',
    '',
    'Options:',
    '  -u, --username USER',
    '  -p, --password PASSWORD           (visible in the process list; prefer --password-stdin)',
    '  --password-stdin                  read the password from standard input',
    ...registryUsage,
  ].join('\n'),
  options: {
    username: { type: 'string', short: 'u' },
    password: { type: 'string', short: 'p' },
    'password-stdin': { type: 'boolean' },
    ...registryOptions,
  },
  async run(args, ctx) {
    const [host] = positionals(this, args, 1);
    const registry = host!.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
    if (!hasRegistryHost(`${registry}/x`)) throw new UsageError(`strata login: ${JSON.stringify(host)} is not a registry host (HOST[:PORT])`);
    const tty = Boolean(process.stdin.isTTY);
    let username = str(args, 'username');
    let password = str(args, 'password');
    if (bool(args, 'password-stdin')) {
      if (password !== undefined) throw new UsageError('strata login: --password and --password-stdin exclude each other');
      password = await readStdin();
    }
    if (username === undefined && tty) username = await prompt('Username: ', false);
    if (password === undefined && tty) password = await prompt('Password: ', true);
    if (!username || password === undefined) throw new UsageError(`strata login: a username and password are needed (-u USER and -p or --password-stdin)\n\n${this.usage}`);
    const client = new RegistryClient(registry, { ...clientOptions(args), credentials: { username, password }, retries: 2 });
    try {
      await client.ping();
    } finally {
      client.close();
    }
    const file = await saveCredentials(registry, { username, password });
    ctx.stdout.write(`Login succeeded: ${username}@${registry} (saved in ${file})\n`);
  },
};
