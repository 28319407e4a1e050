/**
 * The iroh N-API binding. Loaded by its `index.js`: the package's `main` field points at a
 * file it does not ship, and its bare name prints a deprecation warning.
 */
import iroh = require('@number0/iroh/index.js');

export = iroh;
