module.exports = {
  testEnvironment: "node",
  testMatch: ["<rootDir>/__test__/**/*.test.js"],
  testTimeout: 90_000,
  // Each suite file checks, at its end, that it left no container of its own behind.
  setupFilesAfterEnv: ["<rootDir>/__test__/left-nothing.js"],
};
