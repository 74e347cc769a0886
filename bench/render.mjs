// Regenerates BENCHMARKS.md from bench/results.json without running anything.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderMarkdown } from './report.mjs';

const results = JSON.parse(readFileSync(new URL('./results.json', import.meta.url), 'utf8'));
writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), renderMarkdown(results));
