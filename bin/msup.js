#!/usr/bin/env node
// The installed command: everything lives in the built CLI (one bundle split into chunks: scripts/bundle.js).
import { main } from '../dist/bundle/main.js';

main(process.argv.slice(2));
