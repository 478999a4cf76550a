// Mercury's src/agent/container-error.ts after the swap.
export { ContainerError, type ContainerFailureReason } from "@mercury-ai/container-runner";
