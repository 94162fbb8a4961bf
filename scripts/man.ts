// `npm run man`: write man/man1/r2mirror.1 from the usage texts (src/commands/manpage.ts). Run it after changing a
// usage text or the version; test/unit/docs.test.ts fails until the file matches.

import fs from 'node:fs';
import { manPage } from '../src/commands/manpage.js';

const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
fs.writeFileSync(new URL('../man/man1/r2mirror.1', import.meta.url), manPage(pkg.version));
