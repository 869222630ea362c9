// Re-exports the official openai SDK installed in tests/sdk/node_modules (npm ci in tests/sdk),
// so that tests elsewhere can import it by path.
export { default } from 'openai';
export * from 'openai';
