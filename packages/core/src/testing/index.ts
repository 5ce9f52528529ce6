/**
 * `@semedit/core/testing`: helpers that drive parity tests from fixture manifests and compare tensors.
 * @module
 */
export * from '../fixtures/index.js';
export {
  compareTensorsToExpected, tolerancesFromChecks, loadExpectedTable, readJsonPath, tensorSumF64, tensorFirst4,
  tensorValueAt, type ExpectedTensor, type ExpectedTensorTable, type Tolerance, type ExpectedTolerances,
} from './expected-json.js';
export * from './manifest-checks.js';
export * from './fuzz.js';
export * from './token-fold.js';
export * from './pipeline.js';
