// ESM entry: Node's CommonJS export detection cannot see ContainerError (the
// addon defines it at load time), so name both exports here.
import { createRequire } from "node:module";

const binding = createRequire(import.meta.url)("./index.js");

export const AgentContainerRunner = binding.AgentContainerRunner;
export const ContainerError = binding.ContainerError;
export default binding;
