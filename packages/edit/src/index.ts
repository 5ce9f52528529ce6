/**
 * `@semedit/edit`. Its contents arrive with the issues that build them (see the README's roadmap).
 * @module
 */
export {};
