// A stand-in for the Mercury host: its own config, message and logger types,
// used against the native runner exactly as the host's callers use its
// TypeScript runner. Only type-checked (scripts/typecheck.sh), never run.
import { jest } from "@jest/globals";
import { AgentContainerRunner } from "./container-runner.js";
import { ContainerError, type ContainerFailureReason } from "./container-error.js";

// ---- the host's own types, as the contract writes them ----

export interface MessageAttachment {
  path: string;
  type: "image" | "video" | "audio" | "voice" | "document";
  mimeType: string;
  filename?: string;
  sizeBytes?: number;
}

export interface StoredMessage {
  id: number;
  spaceId: string;
  role: string;
  content: string;
  attachments?: MessageAttachment[];
  createdAt: number;
  updatedAt: number;
}

/** The host's whole config: the runner's fields plus its own. */
export interface AppConfig {
  agentContainerImage: string;
  containerTimeoutMs: number;
  globalDir: string;
  spacesDir: string;
  modelProvider: string;
  authPath?: string;
  port: number;
  // fields the runner does not read
  dbPath: string;
  logLevel: string;
  botUsername: string;
  maxConcurrency: number;
  allowedChats: readonly string[];
}

type LogFields = Record<string, unknown>;

export const logger = {
  lines: [] as string[],
  debug(msg: string, fields?: LogFields): void {
    this.lines.push(`debug ${msg} ${JSON.stringify(fields ?? {})}`);
  },
  info(msg: string, fields?: LogFields): void {
    this.lines.push(`info ${msg} ${JSON.stringify(fields ?? {})}`);
  },
  warn(msg: string, fields?: LogFields): void {
    this.lines.push(`warn ${msg} ${JSON.stringify(fields ?? {})}`);
  },
  error(msg: string, fields?: LogFields): void {
    this.lines.push(`error ${msg} ${JSON.stringify(fields ?? {})}`);
  },
};

/** The host's OAuth-refreshing resolver, shape-wise. */
async function getOAuthToken(provider: string, authPath: string): Promise<string | undefined> {
  return provider === "anthropic" && authPath.endsWith(".json") ? undefined : undefined;
}

export const config: AppConfig = {
  agentContainerImage: "mercury-agent:latest",
  containerTimeoutMs: 10 * 60 * 1000,
  globalDir: ".mercury/global",
  spacesDir: ".mercury/spaces",
  modelProvider: "anthropic",
  port: 8787,
  dbPath: ".mercury/state.db",
  logLevel: "info",
  botUsername: "mercury",
  maxConcurrency: 2,
  allowedChats: [],
};

// ---- construction: both forms ----

export const plain = new AgentContainerRunner(config);

export const runner: AgentContainerRunner = new AgentContainerRunner(config, {
  logger,
  resolveCredential: async ({ provider, authPath }) => {
    const p: string = provider;
    const a: string = authPath;
    return p && a ? undefined : undefined;
  },
  packageRoot: "/x",
});

export const withHostResolver = new AgentContainerRunner(
  { ...config, authPath: "/etc/mercury/auth.json" },
  {
    logger,
    resolveCredential: ({ provider, authPath }) => getOAuthToken(provider, authPath),
  },
);

// Hosts' tests construct the runner with a minimal config and no Docker.
export const testRunner = new AgentContainerRunner({
  agentContainerImage: "test",
  containerTimeoutMs: 1000,
  globalDir: "/tmp/g",
  spacesDir: "/tmp/s",
  modelProvider: "anthropic",
  port: 3000,
});

// ---- every method, with the contract's types ----

export async function startup(r: AgentContainerRunner, image?: string): Promise<void> {
  if (image) r.setImage(image);
  const current: string = r.image;
  logger.info("Agent image", { image: current });
  await r.ensureImage();
  const removed: number = await r.cleanupOrphans();
  logger.info("Orphans", { removed });
}

export function status(r: AgentContainerRunner): { active: number; spaces: string[]; busy: boolean } {
  const active: number = r.activeCount;
  const spaces: string[] = r.getActiveSpaces();
  const first = spaces[0]; // string | undefined under noUncheckedIndexedAccess
  const busy: boolean = first !== undefined && r.isRunning(first);
  return { active, spaces, busy };
}

export function stop(r: AgentContainerRunner, spaceId?: string): boolean {
  if (spaceId !== undefined) {
    const aborted: boolean = r.abort(spaceId);
    return aborted;
  }
  const none: void = r.killAll();
  return none === undefined;
}

export interface OutgoingFile {
  path: string;
  filename: string;
  mimeType: string;
  sizeBytes: number;
}

export interface HostReply {
  text: string;
  files: OutgoingFile[];
}

export function describeFailure(reason: ContainerFailureReason, exitCode: number | null): string {
  switch (reason) {
    case "timeout":
      return "The agent took too long.";
    case "oom":
      return `The agent ran out of memory (exit ${exitCode ?? "?"}).`;
    case "aborted":
      return "Stopped.";
    case "error":
      return `The agent failed (exit ${exitCode ?? "?"}).`;
    default: {
      const unreachable: never = reason;
      return unreachable;
    }
  }
}

export async function handleMessage(
  r: AgentContainerRunner,
  spaceId: string,
  history: StoredMessage[],
  text: string,
  attachments: MessageAttachment[],
  extensionEnv: Map<string, string>,
): Promise<HostReply | null> {
  const claimedEnvSources = new Set<string>();
  const extraEnv: Record<string, string> = {};
  for (const [name, value] of extensionEnv) {
    claimedEnvSources.add(`MERCURY_${name}`);
    extraEnv[name] = value;
  }
  try {
    const result = await r.reply({
      spaceId,
      spaceWorkspace: `${config.spacesDir}/${spaceId}`,
      messages: history,
      prompt: text,
      callerId: "telegram:42",
      callerRole: "admin",
      authorName: "Ada",
      attachments,
      extraEnv,
      claimedEnvSources,
    });
    const files: OutgoingFile[] = result.files;
    const first = result.files[0];
    if (first) logger.debug("first file", { mimeType: first.mimeType, size: first.sizeBytes });
    result.reply = result.reply.trim(); // a plain, mutable object
    return { text: result.reply, files };
  } catch (err) {
    if (err instanceof ContainerError) {
      const reason: ContainerFailureReason = err.reason;
      const exitCode: number | null = err.exitCode;
      const name: string = err.name;
      const stack: string | undefined = err.stack;
      logger.warn("Container failed", { reason, exitCode, name, stack, message: err.message });
      if (reason === "aborted") return null;
      return { text: describeFailure(reason, exitCode), files: [] };
    }
    if (err instanceof Error) logger.error("Reply failed", { error: err.message });
    throw err;
  }
}

// The minimal call: only the required fields.
export function minimal(r: AgentContainerRunner) {
  return r.reply({ spaceId: "s", spaceWorkspace: "/w", messages: [], prompt: "hi", callerId: "u" });
}

// ---- ContainerError as a value ----

export const errors: ContainerError[] = [
  ContainerError.timeout("s"),
  ContainerError.oom("s", 137),
  ContainerError.aborted("s"),
  ContainerError.error(1, "boom"),
  new ContainerError("error", 125, "engine refused"),
  new ContainerError("timeout", null, "t"),
];
export const asError: Error = errors[0] ?? new Error("none");

// ---- tests replace reply on an instance ----

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export const reasonsMatch: Equals<ContainerFailureReason, "timeout" | "oom" | "aborted" | "error"> = true;

/** bun:test's `mock()`, shape-wise: a callable that records its calls. */
type Mock<T extends (...args: never[]) => unknown> = T & { mock: { calls: Parameters<T>[] } };
function mock<T extends (...args: never[]) => unknown>(impl: T): Mock<T> {
  const calls: Parameters<T>[] = [];
  const fn = ((...args: Parameters<T>) => {
    calls.push(args);
    return impl(...args);
  }) as unknown as Mock<T>;
  fn.mock = { calls };
  return fn;
}

export async function testLikeReplacement(): Promise<void> {
  const r = new AgentContainerRunner(config);

  r.reply = async () => ({ reply: "x", files: [] });

  const bunStyle = mock(async () => ({ reply: "mocked", files: [] }));
  r.reply = bunStyle;
  await r.reply({ spaceId: "s", spaceWorkspace: "/w", messages: [], prompt: "p", callerId: "u" });
  const calls: number = bunStyle.mock.calls.length;

  const jestStyle = jest.fn<AgentContainerRunner["reply"]>(async () => ({ reply: "jest", files: [] }));
  r.reply = jestStyle;
  jestStyle.mockRejectedValueOnce(ContainerError.timeout("s"));
  const [firstCall] = jestStyle.mock.calls;
  const input = firstCall?.[0];
  logger.info("mocked", { calls, spaceId: input?.spaceId });

  const spied = jest.spyOn(r, "reply").mockResolvedValue({ reply: "spied", files: [] });
  spied.mockRestore();
}
