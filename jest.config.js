module.exports = {
  testEnvironment: "node",
  testMatch: ["<rootDir>/__test__/**/*.test.js"],
  testTimeout: 90_000,
};
