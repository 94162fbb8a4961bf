// CORS policy files: what parseCorsPolicy accepts (R2's dashboard array and the Cloudflare API's {rules}), and
// that every refusal names the file, the rule and the field. Pure: no server.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CorsPolicyError, formatCorsPolicy, jsonSyntaxError, parseCorsPolicy } from '../../src/remote/cors.js';
import { parseCorsArgs } from '../../src/commands/cors.js';

const parse = (v: unknown) => parseCorsPolicy(typeof v === 'string' ? v : JSON.stringify(v), 'cors.json');

/** The problem lines of a refused policy (fails the test when it is accepted). */
function problems(v: unknown): string[] {
  try {
    parse(v);
  } catch (err) {
    assert.ok(err instanceof CorsPolicyError, String(err));
    return [...err.problems];
  }
  assert.fail(`accepted ${JSON.stringify(v)}`);
}

test('accepts the R2 docs example and keeps every field', () => {
  assert.deepEqual(parse([{ AllowedOrigins: ['http://localhost:3000'], AllowedMethods: ['GET'] }]), [
    { AllowedOrigins: ['http://localhost:3000'], AllowedMethods: ['GET'] },
  ]);
  const full = {
    AllowedOrigins: ['https://app.example.com', '*', 'https://*.example.com'], AllowedMethods: ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'],
    AllowedHeaders: ['x-requested-by', 'Content-Type', '*'], ExposeHeaders: ['ETag', 'cf-cache-status'], MaxAgeSeconds: 0, ID: 'uploads',
  };
  assert.deepEqual(parse([full]), [full]);
});

test('accepts the Cloudflare API form {"rules": [{"allowed": {...}}]} and maps it to the same rules', () => {
  const api = { rules: [{ allowed: { origins: ['http://localhost:3000'], methods: ['GET'], headers: ['x-requested-by'] }, id: 'Allow Local Development', exposeHeaders: ['Content-Encoding'], maxAgeSeconds: 3600 }] };
  assert.deepEqual(parse(api), [{
    AllowedOrigins: ['http://localhost:3000'], AllowedMethods: ['GET'], AllowedHeaders: ['x-requested-by'],
    ExposeHeaders: ['Content-Encoding'], MaxAgeSeconds: 3600, ID: 'Allow Local Development',
  }]);
});

test('a UTF-8 BOM is tolerated', () => {
  assert.equal(parse('\uFEFF[{"AllowedOrigins":["*"],"AllowedMethods":["GET"]}]').length, 1);
});

// [what, policy, expected problem lines (exact, in order)]
const REFUSED: [string, unknown, string[]][] = [
  ['a method R2 does not know', [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'] }, { AllowedOrigins: ['*'], AllowedMethods: ['PATCH'] }],
    ['cors.json: rule 2: AllowedMethods: "PATCH" is not one of GET, PUT, POST, DELETE, HEAD']],
  ['a lower-case method', [{ AllowedOrigins: ['*'], AllowedMethods: ['get'] }],
    ['cors.json: rule 1: AllowedMethods: "get" is not one of GET, PUT, POST, DELETE, HEAD (write it in capitals: GET)']],
  ['no origins', [{ AllowedOrigins: [], AllowedMethods: ['GET'] }], ['cors.json: rule 1: AllowedOrigins: must not be empty']],
  ['missing origins and methods', [{}], ['cors.json: rule 1: AllowedOrigins: missing', 'cors.json: rule 1: AllowedMethods: missing']],
  ['an empty origin', [{ AllowedOrigins: [''], AllowedMethods: ['GET'] }], ['cors.json: rule 1: AllowedOrigins: "" is empty']],
  ['an origin with a trailing slash', [{ AllowedOrigins: ['https://static.example.com/'], AllowedMethods: ['GET'] }],
    ['cors.json: rule 1: AllowedOrigins: "https://static.example.com/" is not an origin: use scheme://host[:port] without a path or trailing slash (e.g. https://app.example.com), or *']],
  ['an origin with a path', [{ AllowedOrigins: ['https://static.example.com/fonts/a.woff2'], AllowedMethods: ['GET'] }],
    ['cors.json: rule 1: AllowedOrigins: "https://static.example.com/fonts/a.woff2" is not an origin: use scheme://host[:port] without a path or trailing slash (e.g. https://app.example.com), or *']],
  ['an origin without a scheme', [{ AllowedOrigins: ['example.com'], AllowedMethods: ['GET'] }],
    ['cors.json: rule 1: AllowedOrigins: "example.com" is not an origin: use scheme://host[:port] without a path or trailing slash (e.g. https://app.example.com), or *']],
  ['two wildcards in an origin', [{ AllowedOrigins: ['https://*.*.example.com'], AllowedMethods: ['GET'] }],
    ['cors.json: rule 1: AllowedOrigins: "https://*.*.example.com" has more than one * wildcard']],
  ['origins as a string', [{ AllowedOrigins: '*', AllowedMethods: ['GET'] }],
    ['cors.json: rule 1: AllowedOrigins: must be a list of strings (["..."]), not "*"']],
  ['a number among the origins', [{ AllowedOrigins: [42], AllowedMethods: ['GET'] }], ['cors.json: rule 1: AllowedOrigins: number 42 is not a string']],
  ['an unknown key, with a suggestion', [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], AllowedMethod: ['PUT'] }],
    ['cors.json: rule 1: unknown key "AllowedMethod" (did you mean "AllowedMethods"?) (keys: AllowedOrigins, AllowedMethods, AllowedHeaders, ExposeHeaders, MaxAgeSeconds, ID)']],
  ['a shortened key, with a suggestion', [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], MaxAge: 60 }],
    ['cors.json: rule 1: unknown key "MaxAge" (did you mean "MaxAgeSeconds"?) (keys: AllowedOrigins, AllowedMethods, AllowedHeaders, ExposeHeaders, MaxAgeSeconds, ID)']],
  ['a key in the wrong case, with a suggestion', [{ allowedorigins: ['*'], AllowedOrigins: ['*'], AllowedMethods: ['GET'] }],
    ['cors.json: rule 1: unknown key "allowedorigins" (did you mean "AllowedOrigins"?) (keys: AllowedOrigins, AllowedMethods, AllowedHeaders, ExposeHeaders, MaxAgeSeconds, ID)']],
  ['an unknown key', [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], AllowCredentials: true }],
    ['cors.json: rule 1: unknown key "AllowCredentials" (keys: AllowedOrigins, AllowedMethods, AllowedHeaders, ExposeHeaders, MaxAgeSeconds, ID)']],
  ['a negative MaxAgeSeconds', [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], MaxAgeSeconds: -1 }],
    ['cors.json: rule 1: MaxAgeSeconds: must be a whole number of seconds, 0 or more (got number -1)']],
  ['a fractional MaxAgeSeconds', [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], MaxAgeSeconds: 1.5 }],
    ['cors.json: rule 1: MaxAgeSeconds: must be a whole number of seconds, 0 or more (got number 1.5)']],
  ['MaxAgeSeconds as a string', [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], MaxAgeSeconds: '3600' }],
    ['cors.json: rule 1: MaxAgeSeconds: must be a whole number of seconds, 0 or more (got "3600")']],
  ['a header name with a space', [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], AllowedHeaders: ['x user'] }],
    ['cors.json: rule 1: AllowedHeaders: "x user" is not a header name']],
  ['* in ExposeHeaders', [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], ExposeHeaders: ['*'] }],
    ['cors.json: rule 1: ExposeHeaders: "*" is not a header name']],
  ['an empty ID', [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], ID: '' }],
    ['cors.json: rule 1: ID: must be a string of 1 to 255 characters (got "")']],
  ['a rule that is not an object', [['*']], ['cors.json: rule 1: must be an object with AllowedOrigins and AllowedMethods, not a list']],
  ['no rules', [], ['cors.json: the policy has no rules (to remove a bucket\'s policy, use r2mirror cors clear)']],
  ['a bare object', { AllowedOrigins: ['*'], AllowedMethods: ['GET'] },
    ['cors.json: expected an array of CORS rules, or {"rules": [...]} as the Cloudflare API takes it, not an object']],
  ['the AWS CLI layout', { CORSRules: [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'] }] },
    ['cors.json: expected an array of CORS rules, or {"rules": [...]} as the Cloudflare API takes it, not an object ("CORSRules" is the AWS CLI layout: put its array alone in the file)']],
  ['a string', 'null', ['cors.json: expected an array of CORS rules, or {"rules": [...]} as the Cloudflare API takes it, not null']],
  ['API form: a bad method and an unknown allowed key', { rules: [{ allowed: { origins: ['*'], methods: ['PATCH'], header: ['x'] } }] }, [
    'cors.json: rule 1: unknown key "allowed.header" (did you mean "allowed.headers"?) (keys: allowed.origins, allowed.methods, allowed.headers)',
    'cors.json: rule 1: allowed.methods: "PATCH" is not one of GET, PUT, POST, DELETE, HEAD',
  ]],
  ['API form: no allowed', { rules: [{ maxAgeSeconds: 5 }] }, [
    'cors.json: rule 1: allowed: missing (an object with origins and methods)',
    'cors.json: rule 1: allowed.origins: missing', 'cors.json: rule 1: allowed.methods: missing',
  ]],
  ['API form: dashboard keys inside rules', { rules: [{ AllowedOrigins: ['*'], allowed: { origins: ['*'], methods: ['GET'] } }] },
    ['cors.json: rule 1: unknown key "AllowedOrigins" (did you mean "allowed"?) (keys: allowed, exposeHeaders, maxAgeSeconds, id)']],
  ['API form: rules not a list', { rules: {} },
    ['cors.json: expected an array of CORS rules, or {"rules": [...]} as the Cloudflare API takes it, not an object ("rules" must be an array and the only key)']],
];

for (const [what, policy, expected] of REFUSED) {
  test(`refuses ${what}`, () => assert.deepEqual(problems(policy), expected));
}

test('every problem of every rule is reported, at most 20 lines plus a count', () => {
  const many = Array.from({ length: 25 }, () => ({ AllowedOrigins: ['*'], AllowedMethods: ['PATCH'] }));
  const p = problems(many);
  assert.equal(p.length, 21);
  assert.equal(p[19], 'cors.json: rule 20: AllowedMethods: "PATCH" is not one of GET, PUT, POST, DELETE, HEAD');
  assert.equal(p[20], 'cors.json: ... and 5 more problems');
});

test('invalid JSON is reported with line and column (the same on every Node version)', () => {
  // line 3 is `  "AllowedMethods": ["GET",]`: the ']' after a trailing comma is column 28
  const text = '[{\n  "AllowedOrigins": ["*"],\n  "AllowedMethods": ["GET",]\n}]\n';
  assert.deepEqual(problems(text), ["cors.json:3:28: invalid JSON: unexpected ']': JSON allows no comma before it"]);
  assert.deepEqual(problems(''), ['cors.json:1:1: invalid JSON: expected a value, found the end of the file']);
  assert.deepEqual(problems('[{"AllowedOrigins": ["*"]'), ["cors.json:1:26: invalid JSON: expected ',' or '}', found the end of the file"]);
});

test('jsonSyntaxError: positions and messages', () => {
  assert.equal(jsonSyntaxError('[{"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"]}]'), undefined);
  assert.equal(jsonSyntaxError(' \n{}\n'), undefined);
  assert.deepEqual(jsonSyntaxError("{'a': 1}"), { line: 1, col: 2, message: 'expected a "quoted" key, found \'\'\'' });
  assert.deepEqual(jsonSyntaxError('{"a" 1}'), { line: 1, col: 6, message: "expected ':' after the key, found '1'" });
  assert.deepEqual(jsonSyntaxError('[1 2]'), { line: 1, col: 4, message: "expected ',' or ']', found '2'" });
  assert.deepEqual(jsonSyntaxError('{"a": 1,}'), { line: 1, col: 9, message: "unexpected '}': JSON allows no comma before it" });
  assert.deepEqual(jsonSyntaxError('["a\nb"]'), { line: 1, col: 4, message: 'control character (a raw line break?) inside a string' });
  assert.deepEqual(jsonSyntaxError('["\\x"]'), { line: 1, col: 4, message: 'invalid escape \\x' });
  assert.deepEqual(jsonSyntaxError('["abc'), { line: 1, col: 6, message: 'unterminated string' });
  assert.deepEqual(jsonSyntaxError('[]\n]'), { line: 2, col: 1, message: "unexpected ']' after the end of the JSON value" });
  assert.deepEqual(jsonSyntaxError('[\n  01]'), { line: 2, col: 4, message: "expected ',' or ']', found '1'" });
  assert.deepEqual(jsonSyntaxError('[\n  tru]'), { line: 2, col: 3, message: "expected a value, found 't'" });
  // whatever the scanner accepts, JSON.parse accepts too
  for (const t of ['[]', '{"a":{"b":[{}]}}', '"s"', '-0', '1E+2']) {
    assert.equal(jsonSyntaxError(t), undefined, t);
    JSON.parse(t);
  }
});

test('formatCorsPolicy prints the array form that parseCorsPolicy reads back', () => {
  const rules = parse({ rules: [{ allowed: { methods: ['GET'], origins: ['*'] }, maxAgeSeconds: 60 }] });
  const text = formatCorsPolicy(rules);
  assert.equal(text, '[\n  {\n    "AllowedOrigins": [\n      "*"\n    ],\n    "AllowedMethods": [\n      "GET"\n    ],\n    "MaxAgeSeconds": 60\n  }\n]\n');
  assert.deepEqual(parse(text), rules);
  assert.equal(formatCorsPolicy([]), '[]\n');
});

test('parseCorsArgs: actions, --bucket, usage errors', () => {
  assert.deepEqual(parseCorsArgs(['get', '--bucket', 'b', '-c', '/c.yaml'], {}), { action: 'get', config: '/c.yaml', bucket: 'b', json: false, verbosity: 0 });
  assert.deepEqual(parseCorsArgs(['set', 'p.json', '--json'], { R2MIRROR_CONFIG: '/e.yaml' }), { action: 'set', file: 'p.json', config: '/e.yaml', bucket: undefined, json: true, verbosity: 0 });
  assert.equal(parseCorsArgs(['clear', '-b', 'x'], {}).action, 'clear');
  assert.throws(() => parseCorsArgs([], {}), /cors: say get, set FILE or clear/);
  assert.throws(() => parseCorsArgs(['put', 'x'], {}), /cors: unknown action "put" \(get, set FILE, clear\)/);
  assert.throws(() => parseCorsArgs(['set'], {}), /cors set: name the policy file/);
  assert.throws(() => parseCorsArgs(['get', 'extra'], {}), /cors get: unexpected argument "extra"/);
});
