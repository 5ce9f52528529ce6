/**
 * `@semedit/core/testing`: helpers that drive parity tests from fixture manifests.
 * @module
 */
export * from './fixtures.js';
