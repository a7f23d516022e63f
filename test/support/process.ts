/** The gateway in a process of its own, as a user starts it; resolves once its ready line names the URL. */
import { type ChildProcess, spawn } from 'node:child_process';

export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly url: string;
  output(): string;
}

export async function startGatewayProcess(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  options: { detached?: boolean } = {},
): Promise<GatewayProcess> {
  const child = spawn(command, args, {
    // The pass-through path without a warm-up, unless the test asks for them: most of these tests count
    // upstream calls or time a request, and the index's reads and the warm-up's queries would be in them.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PORT: '0',
      LEADGRAPH_INDEX: 'off',
      LEADGRAPH_WARM_UP: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line in 20 s:\n${output}`)), 20_000);
    const onData = (chunk: Buffer) => {
      output += String(chunk);
      const match = /"url":"(http:\/\/127\.0\.0\.1:\d+\/graphql)"/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', () => reject(new Error(`exited early:\n${output}`)));
  });
  return { child, url, output: () => output };
}

/** Runs a command to its exit (killed after `timeoutMs`), with only PATH from this environment plus `env`. */
export function runToExit(
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += String(chunk);
  });
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
