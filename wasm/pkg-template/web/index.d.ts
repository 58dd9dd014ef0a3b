export * from './vecgate.js';
