// Preload (node --import) that prints every module the process resolved, as "LOADED [urls]" on stderr at exit:
// the CLI test checks that --version and --help load neither the AWS SDK nor SQLite.
import { registerHooks } from 'node:module';

const seen = [];
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    seen.push(result.url);
    return result;
  },
});
process.on('exit', () => process.stderr.write(`LOADED ${JSON.stringify(seen)}\n`));
