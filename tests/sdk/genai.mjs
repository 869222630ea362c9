// Re-exports the official SDK installed in tests/sdk/node_modules (npm ci in tests/sdk), so
// that tests elsewhere can import it by path.
export * from '@google/genai';
