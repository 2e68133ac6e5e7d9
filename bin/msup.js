#!/usr/bin/env node
// The installed command: everything lives in the built CLI.
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2));
