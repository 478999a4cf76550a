// ESM entry: the same module as main.js, with its exports named for Node's ESM loader.
import { createRequire } from "node:module";

const binding = createRequire(import.meta.url)("./main.js");

export const AgentContainerRunner = binding.AgentContainerRunner;
export const ContainerError = binding.ContainerError;
export const scanOutbox = binding.scanOutbox;
export const __napiBindingTarget = binding.__napiBindingTarget;
export default binding;
