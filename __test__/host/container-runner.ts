// Mercury's src/agent/container-runner.ts after the swap.
export { AgentContainerRunner } from "@mercury-ai/container-runner";
