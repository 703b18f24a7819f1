#!/usr/bin/env node
// The command runs the build (`pnpm install` builds the workspace through its prepare script).
import '../dist/cli/main.js';
