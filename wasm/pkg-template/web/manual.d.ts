export * from './vecgate.js';
export { default } from './vecgate.js';
