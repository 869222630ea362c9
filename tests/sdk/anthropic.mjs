// Re-exports the official @anthropic-ai/sdk installed in tests/sdk/node_modules (npm ci in
// tests/sdk), so that tests elsewhere can import it by path.
export { default } from '@anthropic-ai/sdk';
export * from '@anthropic-ai/sdk';
